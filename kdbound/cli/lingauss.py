"""`kdbound linear-gaussian`: load the arrays, call the engine, render the decomposition."""

from __future__ import annotations

import math
import os
import re

import numpy as np

from ..engine import bounds as B
from ..engine._checks import finite, nonneg
from ..engine.lingauss import (COND_WARN, TERMS, check_hyper, check_memory, check_rank_sweep, linear_gaussian,
                               rank_bottleneck)
from ..engine.synthetic import synthetic_problem
from ..errors import InputError, ParameterError, spell_text
from ..io.arrays import load_array
from ..render import Check, Environment, Report, render_report
from ..render import plot
from ..render.progress import Progress as _Progress
from .options import Common, environment, option_name, output_format

THEOREM = "Lemma 11 and eq. 28-39 (Li and He, ISIT 2026): the linear-Gaussian case study"
FORMULA = "K <= E[(Bias + k Var) / (2 noise^2) + Apx + Cov + Spread]"

GUIDANCE = {
    "bias": "the teacher's bias dominates K: lower lam (less shrinkage) or give the teacher more data",
    "var": "the teacher's posterior variance dominates K: raise lam or beta_t (a colder, tighter teacher "
           "posterior)",
    "apx": "the student's rank bottleneck dominates K: raise the student rank (--rank-sweep shows the gain)",
    "cov": "the student's kernel covariance Sigma_S is far from Sigma_T: move it closer (--sigma-s teacher "
           "gives Cov = 0)",
    "spread": "the posterior spread dominates K: it grows with lam^2 and (beta_t/noise)^2 Var, so lower lam "
              "or beta_t",
}

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


def run_linear_gaussian(opts: dict, common: Common, env: Environment | None) -> int:
    env = environment(env, common)
    fmt = output_format(common, env)
    sweep = parse_rank_sweep(opts["rank_sweep"]) if opts["rank_sweep"] is not None else None
    if common.plot is not None:
        if sweep is None:
            raise InputError("needs {rank_sweep} for linear-gaussian (the curve is K against the rank)", "plot",
                             refs=("rank_sweep",))
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
    if noise is None and y is None:
        noise_from = "default"
        noise = 1.0
    else:
        noise_from = "given" if noise is not None else "estimated"
    progress = _Progress(env, "Monte Carlo over W_T")
    try:
        res = linear_gaussian(x, w, y, lam=opts["lam"], beta_t=opts["beta_t"], noise=noise, rank=opts["rank"],
                              sigma_s=sigma_s, samples=opts["samples"], seed=seed, k=opts["k"],
                              rank_sweep=sweep, progress=progress)
    finally:
        progress.close()
    del x
    est = res.noise_estimate
    if noise_from == "given" and est is not None and est.value > 0 and not 0.5 <= noise / est.value <= 2.0:
        env.warn(f"warning: --noise {noise:g} differs from the data's estimate {est.value:.3g} "
                 f"({_noise_method(est)}) by more than a factor of 2")
    report = build_report(res, opts, source, sigma_s, noise_from)
    if common.plot is not None and res.rank_sweep is not None:  # first: a plot that cannot be written leaves stdout
        plot.plot_rank_sweep(_sweep_columns(res), common.plot)  # empty
        env.warn(f"wrote {common.plot}")
    render_report(report, fmt, env)
    return 0


def _require_matplotlib() -> None:
    """--plot without matplotlib fails before any work or output (the import itself waits for the plot)."""
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        raise InputError("needs matplotlib, which is not installed; install it with: pip install 'kdbound[plot]'",
                         "plot")


def _noise_method(est) -> str:
    if est.method == "residual":
        return f"residual sd of Y - X W*^T over {est.dof:,} values"
    return f"residual sd of the least-squares fit of Y on X, {est.dof:,} degrees of freedom"


def _sweep_columns(res) -> dict:
    cols = dict(res.rank_sweep)
    for key in ("dataset_shift_bound", "cov", "spread"):
        cols[key] = np.full(len(cols["rank"]), getattr(res, key))
    return cols


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def _chain_labels(res) -> dict:
    """Short words beside the chain dataset shift <= kl_exact <= kl_bound_tight <= kl_bound: the gap of each step."""
    labels = {}
    short = {"dataset_shift_conditional": "shift", "dataset_shift_exact": "shift", "kl_exact": "exact",
             "kl_bound_tight": "tight"}
    shift_key = "dataset_shift_conditional" if res.mode == "conditional" else "dataset_shift_exact"
    shift = res.dataset_shift
    if math.isfinite(shift):
        labels[shift_key] = "exact shift"
    prev_key, prev = shift_key, shift
    for key in ("kl_exact", "kl_bound_tight", "kl_bound"):
        val = getattr(res, key)
        if math.isfinite(val) and math.isfinite(prev):
            labels[key] = f"+{_fmt(val - prev)} over {short[prev_key]}"
        if math.isfinite(val):
            prev_key, prev = key, val
    if math.isfinite(res.apx_stderr) and res.apx_stderr > 0:
        labels["apx"] = f"± {_fmt(res.apx_stderr)}"
    return labels


def _plug_in_results(res, opts: dict, results: dict, notes: list, extra: dict, labels: dict) -> None:
    gen_t, sigma, lo, hi = _plug_in(opts)
    if gen_t is None:
        return
    if math.isfinite(res.kl_exact):
        kl, source = res.kl_exact, "kl_exact"
    elif math.isfinite(res.kl_bound_tight):
        kl, source = res.kl_bound_tight, "kl_bound_tight"
    else:
        for key in ("kl", "upper_bound", "lower_bound", "lower_two_sided", "remark2_bound"):
            results[key] = None
        notes.append("upper_bound and lower_bound need K, which is unavailable here (it needs W*, "
                     f"{option_name('w_star')}).")
        return
    extra["kl_source"] = source
    results["kl"] = kl
    labels["kl"] = "plugged in"
    up = B.upper_bound(gen_t, kl, sigma)
    results["upper_bound"] = float(up.bound)
    results["lower_bound"] = float(up.lower_two_sided)
    results["lower_two_sided"] = results["lower_bound"]  # the name this value had before 0.2.0
    labels["upper_bound"] = "Thm 1"
    labels["lower_bound"] = "two-sided"
    notes.append(f"upper_bound and lower_bound plug in K = {source}"
                 + (" (exact: the student has no rank bottleneck)." if source == "kl_exact" else
                    " (the tightest valid bound on K available: the student has a rank bottleneck, and apx is a "
                    "Monte Carlo estimate)."))
    if res.mode == "conditional":
        notes.append("conditional mode: K here is given this dataset D_n; the theorems' K compares the two "
                     "processes over datasets, and by convexity the mean of this quantity over datasets bounds it, "
                     "so one dataset's value is an estimate of that mean, not a certified K (drop "
                     f"{option_name('y')} and keep {option_name('w_star')} for K given X).")
    if gen_t > 0:
        low = B.lower_bound_subgaussian(gen_t, kl, sigma)
        r2 = float(getattr(low, "remark2_bound", low.bound))
        results["remark2_bound"] = r2
        labels["remark2_bound"] = "Thm 10, Remark 2"
        if r2 < results["lower_bound"]:
            notes.append(f"remark2_bound ({_fmt(r2)}) is Theorem 10 with Remark 2's best (eta, c): eta* = "
                         "sqrt(2K)/sigma lies beyond Remark 2's interval, so its value sits at the interval's end; "
                         "the same sub-Gaussian assumption gives the better two-sided lower_bound "
                         "(docs/theory.md, 'The best lower bound').")
    else:
        results["remark2_bound"] = None
        notes.append("remark2_bound is null: Remark 2 needs gen_T > 0; lower_bound (two-sided) needs no sign "
                     "condition.")
    beyond = [k for k in ("upper_bound", "lower_bound", "lower_two_sided", "remark2_bound")
              if results.get(k) is not None and not math.isfinite(results[k])]
    if beyond:
        notes.append(f"{', '.join(beyond)} {'is' if len(beyond) == 1 else 'are'} beyond float64's range (|value| > "
                     "1.8e308: gen_T and sigma sqrt(2K) are too large): printed as null.")
    if lo is not None:  # vacuity can be decided only with the loss range
        width = hi - lo
        results["vacuous"] = bool(results["upper_bound"] >= width)
        results["lower_vacuous"] = bool(results["lower_bound"] <= -width)
        if results["vacuous"]:
            notes.append(f"upper_bound {_fmt(results['upper_bound'])} >= b - a = {_fmt(width)}: vacuous, since a "
                         "gap of a loss in [a, b] never exceeds b - a.")
        if results["lower_vacuous"]:
            notes.append(f"lower_bound {_fmt(results['lower_bound'])} <= -(b - a) = {_fmt(-width)}: vacuous, "
                         "since a gap never falls below -(b - a).")


def build_report(res, opts: dict, source: dict, sigma_s, noise_from: str = "given") -> Report:
    results = {key: getattr(res, key) for key in TERMS}
    results["looseness"] = res.dataset_shift_bound - res.dataset_shift_exact
    results["convexity_gap"] = res.convexity_gap
    shares = res.shares()
    for key, val in shares.items():
        results[f"share_{key}"] = val
    results.update(n=res.n, d=res.d, k=res.k, rank=res.rank)
    notes = [f"{term} is unavailable: {spell_text(why, option_name)}." for term, why in res.missing.items()]
    extra = {"mode": res.mode, "n": res.n, "d": res.d, "k": res.k, "rank": res.rank, "x_rank": res.x_rank}
    labels = _chain_labels(res)
    if shares:
        dominant = max(shares, key=shares.get)
        extra["dominant"] = dominant
        extra["guidance"] = GUIDANCE[dominant]
    if res.x_rank < res.d:
        if res.rank <= min(res.k, res.x_rank):
            null = f"adds exactly (k - r)(d - rank X) = {(res.k - res.rank) * (res.d - res.x_rank)} to apx"
        else:
            null = "adds to apx the part that the completion of L_r cannot absorb (estimated with the rest)"
        notes.append(f"X has rank {res.x_rank} < d = {res.d} (more features than samples, or collinear ones): M* "
                     "is not unique; kdbound uses the continuous choice W_T M* = L_r L_r^T W_T (L_r: the top-r left "
                     f"singular vectors of W_T X^T), under which X's null space {null} (docs/theory.md, "
                     "'A continuous M*').")
    if res.x_rank and res.cond > COND_WARN:
        notes.append(f"X is ill-conditioned (X^T X has condition number {res.cond:.2g}): its numerical rank and "
                     "apx depend on tiny singular values; rescale or drop near-collinear features.")
    if res.mode == "conditional" and math.isfinite(res.dataset_shift_exact):
        notes.append("dataset_shift_exact integrates Y out; dataset_shift_bound is for this dataset, so their "
                     "difference (looseness) is not the convexity gap, which is the average looseness; "
                     "dataset_shift_conditional is the exact shift given this dataset.")
    est = res.noise_estimate
    if noise_from == "estimated":
        notes.insert(0, f"noise {res.noise:.3g}, estimated from the data ({_noise_method(est)}).")
    elif noise_from == "default":
        notes.append(f"noise 1.0 by default (no labels {option_name('y')} to estimate it from; give "
                     f"{option_name('noise')}).")
    _plug_in_results(res, opts, results, notes, extra, labels)
    inputs = {**source, "lam": opts["lam"], "beta_t": opts["beta_t"], "noise": res.noise,
              "noise_from": noise_from if noise_from != "estimated" else f"estimated ({est.method})",
              "rank": res.rank, "sigma_s": sigma_s if isinstance(sigma_s, (str, float)) else "matrix",
              "samples": res.samples, "seed": opts["seed"]}
    if opts.get("gen_t") is not None:
        inputs.update(gen_t=opts["gen_t"], sigma=opts["sigma"])
        if opts.get("loss_min") is not None:
            inputs.update(loss_min=opts["loss_min"], loss_max=opts["loss_max"])
    sections = []
    if res.rank_sweep is not None:
        sections.append(("rank_sweep", res.rank_sweep))
        if not np.isfinite(res.rank_sweep["kl_exact"]).all() and "w_star" not in str(res.missing.get("kl_exact")):
            notes.append("rank_sweep: kl_exact is null at ranks below min(k, d) (a rank bottleneck: no closed "
                         "form); kl_bound_tight bounds K there.")
    if "guidance" in extra:
        notes.insert(0, f"guidance: {extra['guidance']}.")
    return Report(command="linear-gaussian", theorem=THEOREM, formula=FORMULA, inputs=inputs, results=results,
                  checks=_checks(res, opts), notes=notes, extra=extra, sections=sections, labels=labels)


def _checks(res, opts: dict) -> list:
    full = res.x_rank == res.d
    bottleneck = rank_bottleneck(res.rank, res.k, res.d)
    checks = [
        Check.assumed(f"mode: {res.mode}", "terms conditional on the given Y" if res.mode == "conditional"
                      else "terms averaged over Y ~ MN(X W*^T, noise^2 I_n, I_k)"),
        Check.assumed(f"noise = {res.noise:.4g}", "the labels' noise level in the model Y ~ MN(X W*^T, noise^2 I_n, "
                      "I_k)"),
        Check.verified(full, f"rank X = {res.x_rank} of d = {res.d}", "M* = W_T^+ P_r X^+ is unique" if full
                       else "M* is not unique: the continuous W_T M* = L_r L_r^T W_T"),
        Check.verified(res.cond <= COND_WARN, f"cond(X^T X) = {res.cond:.3g}", "well conditioned"
                       if res.cond <= COND_WARN else "ill-conditioned: the rank and apx depend on tiny singular "
                       "values"),
        Check.verified(not bottleneck, f"student rank {res.rank} >= min(k, d) = {min(res.k, res.d)}",
                       "no rank bottleneck: kl_exact is K itself" if not bottleneck
                       else "rank bottleneck: K is bounded (kl_bound_tight), not exact"),
        Check.verified(res.samples >= 2, f"{res.samples} Monte Carlo draws", "apx is a Monte Carlo mean with its "
                       "standard error" if res.samples >= 2 else "one draw gives no standard error"),
    ]
    if opts.get("gen_t") is not None:
        checks.append(Check.assumed(f"sigma = {opts['sigma']:g}", "sub-Gaussian teacher gap, given"))
    return checks
