"""`kdbound simulate`: check Theorems 1 and 10 by Monte Carlo in the linear-Gaussian model.

Parse and check every option (and every point of a sweep) before any work, call
the engine, hand the result to :mod:`kdbound.render.explain_simulate` (a report, or the
rows of a sweep); optionally write the simulated runs (``--runs-out``) and a plot.
"""

from __future__ import annotations

import contextlib
import logging

import numpy as np

from ..engine import simulate as S
from ..errors import InputError
from ..formats import FILE_FORMATS, Format, from_extension
from ..io.arrays import load_array
from ..io.arrow import require_pyarrow
from ..io.atomic import resolve_output
from ..render import Environment, plot
from ..render.explain_simulate import (plot_caveat, render_sweep, runs_written, simulate_report, sweep_columns,
                                       sweep_notes)
from ..render.progress import Progress
from .lingauss import parse_sigma_s
from .options import (Common, check_combination, check_output, emit_report, environment, output_format, parse_sweep,
                      plot_curves, select_columns, select_report, whole_points)

#: the parameters a --sweep may vary, and which of them are whole numbers
SWEEPABLE = ("n", "d", "k", "rank", "lam", "beta_t", "noise", "beta_s", "clip", "kl_scale", "datasets")
INTEGER = ("n", "d", "k", "rank", "datasets")

# --------------------------------------------------------------------------- options -> models

#: defaults of the options a sweep may vary (None on the command line means "not given")
DEFAULTS = {"n": S.DEFAULT_N, "lam": 1.0, "beta_t": 1.0, "noise": 1.0, "clip": S.DEFAULT_CLIP, "kl_scale": 1.0}


def _filled(opts: dict) -> dict:
    """The options with the defaults of those not given."""
    return {**opts, **{k: v for k, v in DEFAULTS.items() if opts.get(k) is None}}


def _model_args(opts: dict, w_star) -> dict:
    return dict(w_star=w_star, n=opts["n"], d=opts["d"], k=opts["k"], lam=opts["lam"], beta_t=opts["beta_t"],
                noise=opts["noise"], student=opts["student"], rank=opts["rank"], sigma_s=opts["sigma_s"],
                beta_s=opts["beta_s"], clip=opts["clip"], seed=opts["seed"])


def _runs_format(path: str) -> Format:
    fmt = from_extension(path, FILE_FORMATS)
    if fmt is None:
        raise InputError(f"cannot tell the format from the extension of {path!r}; use .csv, .tsv, .jsonl or "
                         ".parquet", "runs_out")
    return fmt


def _sweep_grid(text: str, opts: dict, w_path):
    """(name, values, log axis) of a --sweep, integers rounded (duplicates dropped), checked against the options."""
    name, grid = parse_sweep(text, SWEEPABLE)
    if opts.get(name) is not None:
        raise InputError(f"{{sweep}} {name}: conflicts with {{{name}}}; leave the swept parameter out",
                         refs=("sweep", name))
    if name in ("d", "k") and w_path is not None:
        raise InputError(f"{{sweep}} {name}: the shape comes from {{w_star}}; sweep n, rank or a hyperparameter",
                         refs=("sweep", "w_star"))
    if name in INTEGER:
        inside = set(whole_points(grid, name).tolist())  # rounding stays within START..STOP
        rounded = [int(v) for v in np.rint(grid) if v in inside]
        seen = []
        for v in rounded:
            if v not in seen:
                seen.append(v)
        values = seen
    else:
        values = [float(v) for v in grid]
    return name, values, "log:" in text


def _point(opts: dict, name: str, value) -> dict:
    return _filled({**opts, name: value})


# --------------------------------------------------------------------------- the command

def _parallel(opts: dict):
    """``(backend, jobs, scheduler)`` of --backend, --jobs and --scheduler, checked; None for the default, one
    process drawing its blocks itself."""
    backend, jobs, scheduler = opts.pop("backend"), opts.pop("jobs"), opts.pop("scheduler")
    from ..experiment.executor import check_executor  # the executor's module is light; its libraries load later

    jobs = check_executor(backend, 1 if jobs is None else jobs, scheduler)
    if backend == "joblib" and jobs == 1:
        return None
    return backend, jobs, scheduler


@contextlib.contextmanager
def _block_sources(parallel, points):
    """``source(p)``: the ``blocks`` argument of :func:`kdbound.engine.simulate.simulate` for point ``p`` of
    ``points`` ((model, seed, datasets) each): None to draw them here, else blocks drawn by the executor's
    workers and merged in block order, whichever finishes first."""
    if parallel is None:
        yield lambda p: None
        return
    from ..experiment.executor import TaskLost, in_order, open_executor  # the executors, only with --jobs/--backend
    from ..experiment.workers import core_versions

    backend, jobs, scheduler = parallel
    if backend == "dask":  # Dask's own log lines are not for the user
        logging.getLogger("distributed").setLevel(logging.ERROR)
    job = S.BlockJob([(model, seed, S.block_plan(model, datasets)[0][2]) for model, seed, datasets in points])
    executor = open_executor(S.block_task, job, backend=backend, jobs=jobs, scheduler=scheduler,
                             versions=(core_versions, core_versions()))

    def source(point):
        def blocks(model, seed, plan):
            tasks = [((point, index), point, index, start, m) for index, start, m in plan]
            for key, blk in in_order(executor, tasks):
                if isinstance(blk, TaskLost):
                    raise InputError(f"a worker died while drawing block {key[1]} ({blk.message})", "jobs")
                yield blk
        return blocks

    try:
        yield source
    finally:
        executor.close()


def run_simulate(opts: dict, common: Common, env: Environment | None) -> int:
    env = environment(env, common)
    parallel = _parallel(opts)
    if common.input is not None:
        raise InputError("simulate draws its own training sets and reads no batch; use {sweep} PARAM=START:STOP:NUM "
                         "for a grid of settings", "input", refs=("sweep",))
    check_combination(common)
    fmt = output_format(common, env)
    check_output(common, ("runs_out", opts["runs_out"], ()), ("w_star", opts["w_star"], ()))
    if common.output is not None:
        require_pyarrow("output")
    if common.plot is not None:
        if common.sweep is None:
            raise InputError("needs {sweep} (the curves are the bounds and the measured gaps against the swept "
                             "parameter)", "plot", refs=("sweep",))
        plot.check_simulate_plot(common.plot)
    runs_out = opts.pop("runs_out")
    if runs_out is not None:
        if common.sweep is not None:
            raise InputError("only for a single simulation, not with {sweep}", "runs_out", refs=("sweep",))
        runs_fmt = _runs_format(runs_out)
        resolve_output(runs_out, "runs_out")
        require_pyarrow("runs_out")
    if opts["student"] not in ("kernel", "refit"):
        raise InputError(f"must be kernel or refit (got {opts['student']!r})", "student")
    w_path = opts["w_star"]
    w_star = None if w_path is None else load_array(w_path, "w_star")
    sigma_text = opts["sigma_s"]
    if sigma_text is not None:
        opts["sigma_s"] = parse_sigma_s(sigma_text)
    if common.sweep is not None:
        return _run_sweep(opts, common, env, fmt, w_star, w_path, sigma_text, parallel)
    opts = _filled(opts)
    model = S.sim_model(**_model_args(opts, w_star))
    datasets = _datasets(opts, model)
    S.check_run(datasets, opts["seed"], opts["kl_scale"])
    progress = Progress(env, "simulating training sets")
    try:
        with _block_sources(parallel, [(model, opts["seed"], datasets)]) as source:
            if runs_out is None:
                res = _simulate(model, opts, datasets, progress, blocks=source(0))
            else:
                res = _simulate_with_runs(model, opts, datasets, progress, runs_out, runs_fmt, source(0))
    finally:
        progress.close()
    report = simulate_report(res, model, opts, datasets, w_path, sigma_text, fmt)
    emit_report(select_report(report, common), fmt, common, env)
    if runs_out is not None:
        env.warn(f"kdbound: {runs_written(runs_out, datasets)}")
    return 0


#: seconds a default run (or a whole default sweep) is sized for
BUDGET_S, SWEEP_BUDGET_S = 1.5, 4.0


def _datasets(opts: dict, model, budget_s: float = BUDGET_S) -> int:
    datasets = opts["datasets"]
    return S.default_datasets(model.n, model.d, model.k, budget_s) if datasets is None else datasets


def _simulate(model, opts, datasets, progress, on_block=None, blocks=None):
    return S.simulate(model=model, datasets=datasets, seed=opts["seed"], kl_scale=opts["kl_scale"],
                      progress=progress, on_block=on_block, blocks=blocks)


def _simulate_with_runs(model, opts, datasets, progress, path, fmt, blocks=None):
    from ..io.table_write import TableWriter, make_table, text_column  # pyarrow (~0.1 s), only for --runs-out

    seed = opts["seed"]

    with TableWriter(path, fmt, option="runs_out") as writer:
        def write(blk) -> None:
            m = blk.teacher_gap.size
            both = lambda t, s: np.column_stack([t, s]).ravel()  # noqa: E731  (teacher row, then student row)
            ids = np.repeat(np.arange(blk.start, blk.start + m, dtype=np.int64), 2)
            writer.write(make_table({
                "role": text_column(["teacher", "student"] * m),
                "train_loss": both(blk.teacher_train, blk.student_train),
                "test_loss": both(blk.teacher_test, blk.student_test),
                "gap": both(blk.teacher_gap, blk.student_gap),
                "dataset": ids,
                "seed": np.full(2 * m, seed, dtype=np.int64),
            }))

        return _simulate(model, opts, datasets, progress, on_block=write, blocks=blocks)


# --------------------------------------------------------------------------- sweeps

def _run_sweep(opts, common, env, fmt, w_star, w_path, sigma_text, parallel=None) -> int:
    name, values, log_axis = _sweep_grid(common.sweep, opts, w_path)
    by, by_values = None, [None]
    if common.sweep_by is not None:  # a grid: every value of the first sweep at each value of the second
        by, by_values, _ = _sweep_grid(common.sweep_by, opts, w_path)
        if by == name:
            raise InputError(f"names {name} twice; sweep two different parameters", "sweep")
        if common.plot is not None:
            plot_curves(len(by_values))
    points, outer = [], []
    for v, b in ((v, b) for b in by_values for v in values):  # every point is checked before any is computed
        o = _point(opts, name, v) if by is None else _point({**opts, by: b}, name, v)
        outer.append(b)
        model = S.sim_model(**_model_args(o, w_star))
        datasets = _datasets(o, model, SWEEP_BUDGET_S / (len(values) * len(by_values)))
        S.check_run(datasets, o["seed"], o["kl_scale"])
        points.append((v, o, model, datasets))
    total = sum(p[3] for p in points)
    bar = Progress(env, f"sweep of {name}")
    rows = []
    try:
        with _block_sources(parallel, [(model, o["seed"], datasets) for _, o, model, datasets in points]) as source:
            done = 0
            for p, (v, o, model, datasets) in enumerate(points):
                res = _simulate(model, o, datasets, lambda i, n, base=done: bar(base + i, total), blocks=source(p))
                done += datasets
                rows.append((v, res, datasets))
    finally:
        bar.close()
    columns = sweep_columns(name, rows)
    if by is not None:  # the second sweep's column beside the first
        columns = {name: columns.pop(name), by: np.array(outer), **columns}
    chosen = select_columns(common, list(columns))
    if common.plot is not None:  # before the results: a plot that cannot be written leaves stdout empty
        plot.plot_simulate(columns, name, common.plot, log_x=log_axis, caveat=plot_caveat(rows),
                           fixed=_fixed(points[0], (name, by)), by=by)
        env.warn(f"kdbound: wrote {common.plot}")
    shown = columns if chosen is None else {k: columns[k] for k in chosen}
    if common.output is not None:
        _write_sweep(shown, common.output, fmt)
        env.warn(f"kdbound: wrote {common.output}")
    else:
        render_sweep(shown, name, fmt, env)
    for note in sweep_notes(rows, [p[2] for p in points], columns):
        env.note(f"{note}")
    return 0


def _fixed(point, swept) -> dict:
    """What a sweep's figure holds fixed (its subtitle): the model's sizes and hyperparameters but the swept one."""
    _, o, model, _ = point
    fixed = {"student": o["student"], "n": model.n, "d": model.d, "k": model.k, "lam": o["lam"],
             "beta_t": o["beta_t"], "noise": o["noise"]}
    if o["student"] == "refit" and o.get("beta_s") is not None:
        fixed["beta_s"] = o["beta_s"]
    return {k: v for k, v in fixed.items() if k not in swept}


def _write_sweep(columns: dict, path: str, fmt: Format) -> None:
    from ..io.table_write import TableWriter, arrow_column, make_table, text_column  # pyarrow, only for -o

    table = make_table({k: (text_column(v) if isinstance(v, list) else arrow_column(v) if v.dtype.kind == "f"
                            else v) for k, v in columns.items()})   # whole numbers stay int64
    with TableWriter(path, fmt) as writer:
        writer.write(table)
