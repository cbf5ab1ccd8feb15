"""`kdbound linear-gaussian`: load the arrays, call the engine, render the decomposition.

What the command says about its result is :mod:`kdbound.render.explain_lingauss`'s.
"""

from __future__ import annotations

import math
import os
import re

import numpy as np

from ..engine import bounds as B
from ..engine._checks import finite, nonneg
from ..engine.lingauss import check_hyper, check_memory, check_rank_sweep, linear_gaussian
from ..engine.synthetic import synthetic_problem
from ..errors import InputError, ParameterError
from ..io.arrays import load_array
from ..formats import Format
from ..render import Environment, plot, render_rows
from ..render.report import check_table_rows
from ..render.explain_lingauss import lingauss_report, noise_warning
from ..render.progress import Progress as _Progress
from .options import (Common, check_output, emit_report, environment, is_log_sweep, option_name, output_format,
                      parse_sweep, plot_curves, select_columns, select_report, sweep_grid, whole_points)

SOURCE_WIDTH = 32             # a file name longer than this is shortened in the inputs


def parse_rank_sweep(text: str) -> list[int]:
    """``START:STOP`` (inclusive) or a comma list ``1,2,4``; ranks >= 1, as many as the engine allows."""
    t = text.strip()
    bad = InputError(f"must be START:STOP or a comma list of integers (got {text!r})", "rank_sweep")
    m = re.fullmatch(r"(\d+)\s*:\s*(\d+)", t)
    if m:
        lo, hi = int(m.group(1)), int(m.group(2))
        if lo > hi:
            raise InputError(f"START must be <= STOP (got {text!r})", "rank_sweep")
        if lo < 1:
            raise InputError(f"ranks must be >= 1 (got {text!r})", "rank_sweep")
        return check_rank_sweep(range(lo, hi + 1))
    parts = [p.strip() for p in t.split(",")]
    if not all(re.fullmatch(r"\d+", p) for p in parts):
        raise bad
    ranks = check_rank_sweep([int(p) for p in parts])
    if min(ranks) < 1:
        raise InputError(f"ranks must be >= 1 (got {text!r})", "rank_sweep")
    return ranks


def _short(path: str) -> str:
    """A file's name without its folder, shortened in the middle when long (the table stays narrow)."""
    name = os.path.basename(str(path).rstrip("/")) or str(path)
    if len(name) > SOURCE_WIDTH:
        half = (SOURCE_WIDTH - 1) // 2
        name = name[:half] + "…" + name[-half:]
    return name


def load_problem(x_path, y_path, w_path, d, n, k, seed):
    """The arrays as stored (x n x d, y n x k, w_star k x d; shapes are the engine's to check) and the inputs
    that say where they came from (file names without folders, shortened: the table stays narrow)."""
    if x_path is None:
        if y_path is not None or w_path is not None:
            raise InputError("required with {y} or {w_star} (rows are samples, n x d)", "x", refs=("y", "w_star"))
        x, w = synthetic_problem(d, n, k, seed)
        return x, None, w, {"source": f"synthetic, seed {seed}"}
    given = [name for name, val in (("d", d), ("n", n)) if val is not None]
    if given:
        raise InputError("only for the synthetic problem; the sizes come from {x}", given[0], refs=("x",))
    if k is not None and k < 1:
        raise ParameterError("k", "must be >= 1", k)
    x = load_array(x_path, "x", mmap=True)
    y = None if y_path is None else load_array(y_path, "y")
    w = None if w_path is None else load_array(w_path, "w_star")
    if x.ndim == 2:
        kk = y.shape[1] if y is not None and y.ndim == 2 else (w.shape[0] if w is not None and w.ndim == 2 else k or 1)
        check_memory(x.shape[0], x.shape[1], kk, False, ("x",))
    files = {"source": "files", "x": _short(x_path)}
    if y_path:
        files["y"] = _short(y_path)
    if w_path:
        files["w_star"] = _short(w_path)
    return x, y, w, files


def parse_sigma_s(text: str):
    if text.strip().lower() == "teacher":
        return "teacher"
    try:
        return float(text)
    except ValueError:
        pass
    return np.asarray(load_array(text, "sigma_s"), dtype=np.float64)


def _plug_in(opts: dict):
    """--gen-t and --sigma (both or neither), with an optional --loss-min/--loss-max; checked before heavy work."""
    gen_t, sigma = opts.get("gen_t"), opts.get("sigma")
    lo, hi = opts.get("loss_min"), opts.get("loss_max")
    if (gen_t is None) != (sigma is None):
        raise InputError("give both to plug K into Theorems 1 and 10", ("gen_t", "sigma"))
    if (lo is None) != (hi is None):
        raise InputError("give both: the loss range [a, b] tells when a plugged-in bound is vacuous",
                         ("loss_min", "loss_max"))
    if lo is not None and gen_t is None:
        raise InputError("only with {gen_t} and {sigma} (the range judges the plugged-in bounds)",
                         ("loss_min", "loss_max"), refs=("gen_t", "sigma"))
    if gen_t is not None:
        finite("gen_t", gen_t)
        nonneg("sigma", sigma)
    if lo is not None:
        finite("loss_min", lo)
        finite("loss_max", hi)
        if not hi > lo:
            raise ParameterError("loss_max", "must be > {loss_min}", hi)
        width = hi - lo
        if not math.isfinite(width):
            raise ParameterError("loss_max", "loss_max - loss_min must be finite", hi)
        if abs(gen_t) > width:
            raise ParameterError("gen_t", "must lie in [-(b - a), b - a] for a loss in [{loss_min}, {loss_max}] "
                                 f"(a gap cannot exceed the loss range {width:g})", gen_t)
    return gen_t, sigma, lo, hi


#: the scalar parameters a linear-gaussian --sweep may vary
SWEEPABLE = ("lam", "beta_t", "noise", "rank")


def _axis(text: str) -> tuple[str, np.ndarray]:
    name, grid = parse_sweep(text, SWEEPABLE)
    if name == "rank":
        grid = whole_points(grid, name).astype(np.int64)  # each whole rank within the range once
    return name, grid


def _sweep_axes(common: Common, opts: dict):
    """The points of --sweep (one or two), checked before any work: {name: values} and the second's name."""
    if common.sweep is None:
        return None, None
    if opts["rank_sweep"] is not None:
        raise InputError("conflicts with {rank_sweep}: sweep the rank with --sweep rank=START:STOP:NUM, or "
                         "tabulate it with --rank-sweep, not both", "sweep", refs=("rank_sweep",))
    first = _axis(common.sweep)
    second = None if common.sweep_by is None else _axis(common.sweep_by)
    axes = sweep_grid(first, second)
    for i in range(len(axes[first[0]])):
        point = {**opts, **{k: v[i] for k, v in axes.items()}}
        check_hyper(point["lam"], point["beta_t"], 1.0 if point["noise"] is None else point["noise"])
    if common.plot is not None and second is not None:
        plot_curves(len(second[1]))
    return axes, None if second is None else second[0]


def run_linear_gaussian(opts: dict, common: Common, env: Environment | None) -> int:
    env = environment(env, common)
    fmt = output_format(common, env)
    check_output(common, *((name, opts[name], ()) for name in ("x", "y", "w_star") if isinstance(opts[name], str)))
    sweep = parse_rank_sweep(opts["rank_sweep"]) if opts["rank_sweep"] is not None else None
    axes, by = _sweep_axes(common, opts)
    if axes is not None and fmt == Format.TABLE and common.output is None:
        check_table_rows(len(next(iter(axes.values()))))
    if common.plot is not None:
        if sweep is None and axes is None:
            raise InputError("needs {sweep} or {rank_sweep} for linear-gaussian (the curves are K and its terms "
                             "against the swept parameter)", "plot", refs=("sweep", "rank_sweep"))
        plot.check_plot_path(common.plot)
        _require_matplotlib()
    seed = opts["seed"]
    if seed is not None and seed < 0:
        raise ParameterError("seed", "must be >= 0", seed)
    noise = opts["noise"]
    check_hyper(opts["lam"], opts["beta_t"], 1.0 if noise is None else noise)
    _plug_in(opts)
    x, y, w, source = load_problem(opts["x"], opts["y"], opts["w_star"], opts["d"], opts["n"], opts["k"], seed)
    sigma_s = parse_sigma_s(opts["sigma_s"])
    if axes is not None:
        return _run_sweep(opts, common, env, fmt, (x, y, w, source, sigma_s), axes, by)
    progress = _Progress(env, "Monte Carlo over W_T")
    try:
        res = linear_gaussian(x, w, y, lam=opts["lam"], beta_t=opts["beta_t"], noise=noise, rank=opts["rank"],
                              sigma_s=sigma_s, samples=opts["samples"], seed=seed, k=opts["k"],
                              rank_sweep=sweep, progress=progress)
    finally:
        progress.close()
    fixed = _fixed(opts, (x, y, w, source, sigma_s), {"rank": None})  # a rank sweep's figure: what it holds fixed
    del x
    noise_from = res.noise_from  # the engine's default: estimated from Y, else 1.0 (the same in Python)
    warning = noise_warning(res.noise, noise_from, res.noise_estimate)
    if warning is not None:
        env.warn(f"kdbound: {warning}")
    report = lingauss_report(res, opts, source, sigma_s, noise_from, plug_in(res, opts), option_name)
    report = select_report(report, common)
    if common.plot is not None and res.rank_sweep is not None:  # first: a plot that cannot be written leaves stdout
        plot.plot_rank_sweep(_sweep_columns(res), common.plot,  # empty
                             fixed=fixed)
        env.warn(f"kdbound: wrote {common.plot}")
    emit_report(report, fmt, common, env)
    return 0


def _point(opts: dict, problem, env: Environment | None = None, progress=None):
    """One evaluation at ``opts``: the engine's result and its report."""
    x, y, w, source, sigma_s = problem
    res = linear_gaussian(x, w, y, lam=opts["lam"], beta_t=opts["beta_t"], noise=opts["noise"], rank=opts["rank"],
                          sigma_s=sigma_s, samples=opts["samples"], seed=opts["seed"], k=opts["k"],
                          rank_sweep=None, progress=progress)
    return res, lingauss_report(res, opts, source, sigma_s, res.noise_from, plug_in(res, opts), option_name)


def _run_sweep(opts: dict, common: Common, env: Environment, fmt: Format, problem, axes: dict, by) -> int:
    """--sweep over lam, beta_t, noise or rank (twice: their grid): a row of results per point."""
    name = next(iter(axes))
    points = len(axes[name])
    rows, said = [], {}
    progress = _Progress(env, f"sweep of {name}" + ("" if by is None else f" and {by}"))
    try:
        for i in range(points):
            point = {**opts, **{k: (int(v[i]) if k == "rank" else float(v[i])) for k, v in axes.items()}}
            _, report = _point(point, problem)
            rows.append(report.results)
            for line in report.notes:  # each point's notes once; the rows themselves are the guidance
                if not line.startswith("guidance:"):
                    said.setdefault(line)
            progress(i + 1, points)
    finally:
        progress.close()
    columns = dict(axes)
    for key in rows[0]:
        if key not in columns:
            columns[key] = np.array([row[key] for row in rows], dtype=object)
    chosen = select_columns(common, list(columns))
    shown = columns if chosen is None else {k: columns[k] for k in chosen}
    if common.plot is not None:  # first: a plot that cannot be written leaves stdout empty
        plot.plot_rank_sweep(columns, common.plot, x=name, by=by, log_x=is_log_sweep(common.sweep),
                             fixed=_fixed(opts, problem, axes))
        env.warn(f"kdbound: wrote {common.plot}")
    if common.output is not None:
        from ..io.table_write import write_table_file  # pyarrow, only when a file is written

        write_table_file(shown, common.output, fmt)
        env.warn(f"kdbound: wrote {common.output}")
    else:
        render_rows(shown, fmt, env, title=f"kdbound linear-gaussian: sweep of {name}"
                    + ("" if by is None else f" and {by}"), keep=(name, *(() if by is None else (by,)), "kl_bound"))
    for line in said:
        env.note(line)
    return 0


def _fixed(opts: dict, problem, axes: dict) -> dict:
    """What a sweep's figure holds fixed (its subtitle)."""
    x, y, w, source, _ = problem
    fixed = {"n": x.shape[0], "d": x.shape[1], "lam": opts["lam"], "beta_t": opts["beta_t"], "rank": opts["rank"]}
    if opts["noise"] is not None or y is None:
        fixed["noise"] = 1.0 if opts["noise"] is None else opts["noise"]
    return {k: v for k, v in fixed.items() if k not in axes}


def _require_matplotlib() -> None:
    """--plot without matplotlib fails before any work or output (the import itself waits for the plot)."""
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        raise InputError("needs matplotlib, which is not installed; install it with: pip install 'kdbound[plot]'",
                         "plot")


def _sweep_columns(res) -> dict:
    cols = dict(res.rank_sweep)
    for key in ("dataset_shift_bound", "cov", "spread"):
        cols[key] = np.full(len(cols["rank"]), getattr(res, key))
    return cols


def plug_in(res, opts: dict) -> dict | None:
    """Theorem 1's bounds (and Theorem 10 with Remark 2's pair, for gen_T > 0) at the tightest K the
    decomposition gives: kl_exact, else kl_bound_tight.  None without --gen-t/--sigma; ``kl`` None
    when neither is available (no W*)."""
    gen_t, sigma, lo, hi = _plug_in(opts)
    if gen_t is None:
        return None
    plug = {"gen_t": gen_t, "sigma": sigma, "loss_min": lo, "loss_max": hi, "kl": None}
    source = next((key for key in ("kl_exact", "kl_bound_tight") if math.isfinite(getattr(res, key))), None)
    if source is None:
        return plug
    kl = getattr(res, source)
    up = B.upper_bound(gen_t, kl, sigma)
    plug.update(kl=kl, kl_source=source, upper_bound=float(up.bound), lower_bound=float(up.lower_two_sided),
                remark2_bound=None)
    if gen_t > 0:
        low = B.lower_bound_subgaussian(gen_t, kl, sigma)
        plug["remark2_bound"] = float(getattr(low, "remark2_bound", low.bound))
    return plug
