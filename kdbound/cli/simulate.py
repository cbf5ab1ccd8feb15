"""`kdbound simulate`: check Theorems 1 and 10 by Monte Carlo in the linear-Gaussian model.

Parse and check every option (and every point of a sweep) before any work, call
the engine, build a Report (or rows for a sweep), render; optionally write the
simulated runs (``--runs-out``) and a plot.
"""

from __future__ import annotations

import math

import numpy as np

from ..engine import simulate as S
from ..errors import InputError
from ..formats import FILE_FORMATS, Format, from_extension
from ..io.arrays import load_array
from ..io.atomic import resolve_output
from ..render import Check, Environment, Report, non_finite_notes, render_report, render_rows
from ..render import plot
from ..render.progress import Progress
from ..render.values import table_text
from .lingauss import parse_sigma_s
from .options import Common, check_combination, environment, output_format, parse_sweep

THEOREM = "Theorems 1 and 10 (Li and He, ISIT 2026), checked by Monte Carlo in the linear-Gaussian model"
FORMULA = "gen_T - sigma sqrt(2K) <= gen_S <= gen_T + sigma sqrt(2K)"

#: the parameters a --sweep may vary, and which of them are whole numbers
SWEEPABLE = ("n", "d", "k", "rank", "lam", "beta_t", "noise", "beta_s", "clip", "kl_scale", "datasets")
INTEGER = ("n", "d", "k", "rank", "datasets")

#: the result keys, in the order they are printed (JSON ``results``)
RESULT_KEYS = ("gen_t", "gen_t_se", "gen_s", "gen_s_se", "gen_s_real", "gen_s_real_se", "kl", "kl_se", "sigma",
               "sigma_hat", "upper_bound", "upper_bound_hat", "lower_bound", "dv_optimum", "slack_used", "z_upper",
               "z_lower", "vacuous")
#: the sweep columns a table shows, most important first, as many as the terminal fits (all in other formats)
TABLE_SWEEP = ("gen_t", "gen_s", "verdict_upper", "verdict_lower", "kl", "upper_bound_hat", "upper_bound",
               "lower_bound", "gen_t_se", "gen_s_se", "dv_optimum", "z_upper", "z_lower", "gen_s_real")


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


def _sweep_grid(common: Common, opts: dict, w_path):
    """(name, values, log axis) of --sweep, integers rounded (duplicates dropped), checked against the options."""
    name, grid = parse_sweep(common.sweep, SWEEPABLE)
    if opts.get(name) is not None:
        raise InputError(f"{{sweep}} {name}: conflicts with {{{name}}}; leave the swept parameter out",
                         refs=("sweep", name))
    if name in ("d", "k") and w_path is not None:
        raise InputError(f"{{sweep}} {name}: the shape comes from {{w_star}}; sweep n, rank or a hyperparameter",
                         refs=("sweep", "w_star"))
    if name in INTEGER:
        rounded = [int(v) for v in np.rint(grid)]
        seen = []
        for v in rounded:
            if v not in seen:
                seen.append(v)
        values = seen
    else:
        values = [float(v) for v in grid]
    return name, values, "log:" in common.sweep


def _point(opts: dict, name: str, value) -> dict:
    return _filled({**opts, name: value})


# --------------------------------------------------------------------------- the command

def run_simulate(opts: dict, common: Common, env: Environment | None) -> int:
    env = environment(env, common)
    if common.input is not None:
        raise InputError("simulate draws its own training sets and reads no batch; use {sweep} PARAM=START:STOP:NUM "
                         "for a grid of settings", "input", refs=("sweep",))
    check_combination(common)
    fmt = output_format(common, env)
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
    if opts["student"] not in ("kernel", "refit"):
        raise InputError(f"must be kernel or refit (got {opts['student']!r})", "student")
    w_path = opts["w_star"]
    w_star = None if w_path is None else load_array(w_path, "w_star")
    sigma_text = opts["sigma_s"]
    if sigma_text is not None:
        opts["sigma_s"] = parse_sigma_s(sigma_text)
    if common.sweep is not None:
        return _run_sweep(opts, common, env, fmt, w_star, w_path, sigma_text)
    opts = _filled(opts)
    model = S.sim_model(**_model_args(opts, w_star))
    datasets = _datasets(opts, model)
    S.check_run(datasets, opts["seed"], opts["kl_scale"])
    progress = Progress(env, "simulating training sets")
    try:
        if runs_out is None:
            res = _simulate(model, opts, datasets, progress)
        else:
            res = _simulate_with_runs(model, opts, datasets, progress, runs_out, runs_fmt)
    finally:
        progress.close()
    report = build_report(res, model, opts, datasets, w_path, sigma_text, fmt)
    render_report(report, fmt, env)
    if runs_out is not None:
        env.warn(f"wrote {runs_out} ({2 * datasets} runs: a teacher and a student run per training set)")
    return 0


#: seconds a default run (or a whole default sweep) is sized for
BUDGET_S, SWEEP_BUDGET_S = 1.5, 4.0


def _datasets(opts: dict, model, budget_s: float = BUDGET_S) -> int:
    datasets = opts["datasets"]
    return S.default_datasets(model.n, model.d, model.k, budget_s) if datasets is None else datasets


def _simulate(model, opts, datasets, progress, on_block=None):
    return S.simulate(model=model, datasets=datasets, seed=opts["seed"], kl_scale=opts["kl_scale"],
                      progress=progress, on_block=on_block)


def _simulate_with_runs(model, opts, datasets, progress, path, fmt):
    from ..io.tables import TableWriter, make_table, text_column  # pyarrow (~0.1 s), only for --runs-out

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

        return _simulate(model, opts, datasets, progress, on_block=write)


# --------------------------------------------------------------------------- the report

def _sigma_s_text(model, sigma_text):
    if model.student != "kernel":
        return None
    if isinstance(model.sigma_s, str):
        return "teacher"
    if isinstance(model.sigma_s, float):
        return model.sigma_s
    return sigma_text


def build_report(res, model, opts: dict, datasets: int, w_path, sigma_text, fmt) -> Report:
    source = (f"file {w_path}" if w_path is not None
              else f"synthetic, seed {opts['seed']}")
    inputs = {"w_star": source, "n": model.n, "d": model.d, "k": model.k, "lam": model.lam, "beta_t": model.beta_t,
              "noise": model.noise, "student": model.student}
    if model.student == "kernel":
        inputs.update(rank=model.rank, sigma_s=_sigma_s_text(model, sigma_text))
    else:
        inputs["beta_s"] = model.beta_s
    inputs.update(clip=model.clip, datasets=datasets, seed=opts["seed"], kl_scale=res.kl_scale)
    results = {key: getattr(res, key) for key in RESULT_KEYS if key != "vacuous"}
    results["vacuous"] = bool(res.upper_bound >= 1.0)
    verdict = {"upper": res.verdict_upper, "lower": res.verdict_lower}
    notes = _notes(res, model)
    notes += [n for n in non_finite_notes(results) if not any(n.split()[0] in m for m in notes)]
    labels = {
        "gen_t": f"SE {res.gen_t_se:.2g}", "gen_s": f"SE {res.gen_s_se:.2g}, pseudo data",
        "gen_s_real": f"SE {res.gen_s_real_se:.2g}, real labels", "kl": f"{res.kl_kind}, SE {res.kl_se:.2g}",
        "sigma": "certified", "sigma_hat": "plug-in, not certified",
        "upper_bound": "Theorem 1, sigma", "upper_bound_hat": "with sigma_hat",
        "lower_bound": "two-sided, sigma", "dv_optimum": "plug-in, on gen_S - gen_T",
        "z_upper": res.verdict_upper, "z_lower": res.verdict_lower,
    }
    if fmt in (Format.CSV, Format.TSV):     # machine rows of key, value: the verdict as rows too
        results.update(kl_kind=res.kl_kind, verdict_upper=res.verdict_upper, verdict_lower=res.verdict_lower)
    extra = {"kl_kind": res.kl_kind, "verdict": verdict} if fmt != Format.TABLE else {}
    return Report(command="simulate", theorem=THEOREM, formula=FORMULA, inputs=inputs, results=results,
                  checks=_checks(res, model, datasets), notes=notes, extra=extra, labels=labels)


def _notes(res, model) -> list[str]:
    notes = []
    if res.kl_scale != 1.0:
        notes.append(f"--kl-scale {res.kl_scale!r}: the bounds use K x {res.kl_scale!r}, not K, so they are not the "
                     "theorems' bounds (an experiment; a violation below 1 is expected and tests the verdict).")
    if model.kl_kind == "bound-tight":
        notes.append(f"the kernel student has a rank bottleneck (rank {model.rank} < min(k, d) = "
                     f"{min(model.k, model.d)}): K has no closed form, so kl is kl_bound_tight (exact dataset "
                     "shift + Cov + Apx + Spread, docs/theory.md), an upper bound on K; the bounds stay valid.")
    if res.upper_bound >= 1.0:
        notes.append(f"upper_bound {res.upper_bound:.4g} >= 1 = b - a: with the certified sigma = 1 Theorem 1 says "
                     "nothing here (every gap is in [-1, 1]); vacuous = true.")
    if res.lower_bound <= -1.0:
        notes.append(f"lower_bound {res.lower_bound:.4g} <= -1: the two-sided lower bound says nothing here.")
    notes.append("dv_optimum = inf over l > 0 of (K + log E exp(l (h - gen_T))) / l from the simulated teacher gaps h: "
                 "a bound on gen_S - gen_T with the plug-in CGF (not certified).")
    if math.isnan(res.slack_used):
        notes.append("slack_used is undefined: the slack sigma sqrt(2K) is 0 (K = 0 or kl_scale = 0).")
    if not math.isfinite(res.kl):
        notes.insert(0, "kl is not finite: K given X could not be computed in float64 for these hyperparameters (for "
                        "example beta_s far above beta_t); the bounds are infinite (printed as null) and say "
                        "nothing.")
    elif not math.isfinite(res.upper_bound):
        notes.insert(0, "sigma sqrt(2 kl x kl_scale) is beyond float64: the bounds are infinite (printed as null) and "
                        "say nothing.")
    if res.saturated:
        notes.append(f"the loss saturates: in {res.saturated} of {res.datasets} training sets a population loss is "
                     "within 1e-4 of 1 (clip far below the residual variance); the gaps are then averages of rare "
                     "events and their standard errors (and the verdicts) are unreliable; raise --clip.")
    for key, z, margin in (("z_upper", res.z_upper, res.margin_upper), ("z_lower", res.z_lower, res.margin_lower)):
        if not math.isfinite(margin):
            notes.append(f"{key} is infinite (printed as null): the bound is infinite.")
        elif math.isinf(z):
            notes.append(f"{key} is infinite (printed as null): the margin has standard error 0; the verdict "
                         "follows its sign.")
        elif math.isnan(z):
            notes.append(f"{key} is undefined: the margin and its standard error are both 0 (verdict inconclusive).")
    return notes


def _checks(res, model, datasets: int) -> list:
    checks = [
        Check.verified(True, "loss in [0, 1], so every gap h in [-1, 1]",
                       "sigma = 1 is a certified sub-Gaussian proxy (Hoeffding's lemma)"),
        Check.verified(True, "K exact given X" if res.kl_kind == "exact" else "K replaced by kl_bound_tight >= K",
                       "closed form per dataset, averaged over the simulated X" if res.kl_kind == "exact"
                       else "rank bottleneck: no closed form; a valid upper bound keeps the bounds valid"),
        Check.verified(res.kl_scale == 1.0, f"kl_scale = {res.kl_scale:g}", "the bounds use the true K"
                       if res.kl_scale == 1.0 else "K is scaled: the bounds are not the theorems' bounds"),
        Check.assumed("sigma_hat from the empirical CGF of the simulated teacher gaps",
                      "plug-in, not certified; upper_bound_hat and dv_optimum inherit this"),
        Check.verified(datasets >= 100, f"{datasets} independent training sets",
                       f"gaps are Monte Carlo means with standard errors; verdicts at ±{S.Z_VERDICT:g} SE"
                       if datasets >= 100 else "few training sets: the standard errors themselves are rough"),
    ]
    return checks


# --------------------------------------------------------------------------- sweeps

def _run_sweep(opts, common, env, fmt, w_star, w_path, sigma_text) -> int:
    name, values, log_axis = _sweep_grid(common, opts, w_path)
    points = []
    for v in values:                      # every point is checked before any is computed
        o = _point(opts, name, v)
        model = S.sim_model(**_model_args(o, w_star))
        datasets = _datasets(o, model, SWEEP_BUDGET_S / len(values))
        S.check_run(datasets, o["seed"], o["kl_scale"])
        points.append((v, o, model, datasets))
    total = sum(p[3] for p in points)
    bar = Progress(env, f"sweep of {name}")
    rows = []
    try:
        done = 0
        for v, o, model, datasets in points:
            res = _simulate(model, o, datasets, lambda i, n, base=done: bar(base + i, total))
            done += datasets
            rows.append((v, res, datasets))
    finally:
        bar.close()
    columns = _sweep_columns(name, rows)
    if common.plot is not None:  # before the results: a plot that cannot be written leaves stdout empty
        scales = sorted({res.kl_scale for _, res, _ in rows} - {1.0})
        caveat = (f"K x kl_scale ({', '.join(f'{v:g}' for v in scales)}): not the theorems' bounds" if scales
                  else None)
        plot.plot_simulate(columns, name, common.plot, log_x=log_axis, caveat=caveat)
        env.warn(f"wrote {common.plot}")
    if common.output is not None:
        from ..io.tables import TableWriter, arrow_column, make_table, text_column  # pyarrow, only for -o

        table = make_table({k: (text_column(v) if isinstance(v, list) else arrow_column(v) if v.dtype.kind == "f"
                                else v) for k, v in columns.items()})   # whole numbers stay int64
        with TableWriter(common.output, fmt) as writer:
            writer.write(table)
        env.warn(f"wrote {common.output}")
    elif fmt == Format.TABLE:
        keep = _fit_columns(columns, [name, *TABLE_SWEEP], env.console().width)
        render_rows({k: columns[k] for k in columns if k in keep}, fmt, env, title=f"kdbound simulate: sweep of {name}")
        left = [k for k in columns if k not in keep]
        env.warn(f"note: {len(left)} more columns ({', '.join(left[:4])}{', ...' if len(left) > 4 else ''}) with "
                 "--format tsv, csv or json, or a wider terminal.")
    else:
        render_rows(columns, fmt, env, title=f"kdbound simulate: sweep of {name}")
    for note in _sweep_notes(rows, [p[2] for p in points], columns):
        env.warn(f"note: {note}")
    return 0


def _sweep_notes(rows, models, columns: dict) -> list[str]:
    """The notes of the sweep's points, each said once; the ones about a single value are summarised."""
    notes = []
    vacuous = sum(res.upper_bound >= 1.0 for _, res, _ in rows)
    if vacuous:
        notes.append(f"the certified upper bound is >= 1 (vacuous: every gap is in [-1, 1]) at {vacuous} of "
                     f"{len(rows)} points.")
    for (_, res, _), model in zip(rows, models):
        for note in _notes(res, model):
            if not note.startswith(("upper_bound ", "lower_bound ", "z_upper", "z_lower", "the loss saturates",
                                    "--kl-scale")) and note not in notes:
                notes.append(note)
    scaled = sum(res.kl_scale != 1.0 for _, res, _ in rows)
    if scaled:
        notes.append(f"kl_scale != 1 at {scaled} of {len(rows)} points: there the bounds use K x kl_scale and are not "
                     "the theorems' bounds (an experiment).")
    saturated = sum(res.saturated > 0 for _, res, _ in rows)
    if saturated:
        notes.append(f"the loss saturates (a population loss within 1e-4 of 1) at {saturated} of {len(rows)} points: "
                     "there the gaps are averages of rare events and their standard errors are unreliable; raise "
                     "--clip.")
    for key, values in columns.items():
        if isinstance(values, np.ndarray) and values.dtype.kind == "f":
            bad = int(np.sum(~np.isfinite(values)))
            if bad:
                notes.append(f"{key} is not finite at {bad} of {len(values)} points: printed as null.")
    return notes


def _fit_columns(columns: dict, priority: list, width: int) -> set:
    """The columns, in priority order, whose values (6 significant digits) fit ``width`` whole."""
    keep, used = set(), 4
    for key in priority:
        values = columns[key]
        cell = max([len(key)] + [len(table_text(v)) for v in values]) + 3
        if used + cell > width and keep:
            break
        keep.add(key)
        used += cell
    return keep


def _sweep_columns(name: str, rows) -> dict:
    cols: dict = {name: np.array([r[0] for r in rows])}
    for key in RESULT_KEYS:
        if key == "vacuous":
            cols[key] = np.array([r[1].upper_bound >= 1.0 for r in rows])
        else:
            cols[key] = np.array([getattr(r[1], key) for r in rows], dtype=float)
    cols["kl_kind"] = [r[1].kl_kind for r in rows]
    cols["verdict_upper"] = [r[1].verdict_upper for r in rows]
    cols["verdict_lower"] = [r[1].verdict_lower for r in rows]
    cols["datasets"] = np.array([r[2] for r in rows])
    return cols
