"""`kdbound linear-gaussian`: load the arrays, call the engine, render the decomposition."""

from __future__ import annotations

import math
import re

import numpy as np

from ..engine import bounds as B
from ..engine._checks import finite, nonneg
from ..engine.lingauss import COND_WARN, TERMS, check_hyper, linear_gaussian
from ..errors import InputError, spell_text
from ..io.arrays import load_array
from ..render import Check, Environment, Report, render_report
from ..render.progress import Progress as _Progress
from ..render import plot
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


def parse_rank_sweep(text: str) -> list[int]:
    """``1:R`` (inclusive) or a comma list ``1,2,4``."""
    t = text.strip()
    try:
        m = re.fullmatch(r"(\d+)\s*:\s*(\d+)", t)
        if m:
            lo, hi = int(m.group(1)), int(m.group(2))
            if lo > hi:
                raise ValueError
            return list(range(lo, hi + 1))
        ranks = [int(part) for part in t.split(",")]
        if not ranks:
            raise ValueError
        return ranks
    except ValueError:
        raise InputError(f"must be START:STOP or a comma list of integers (got {text!r})", "rank_sweep") from None


def synthetic_problem(d: int, n: int, k: int, seed: int | None):
    """The embedded example: X with i.i.d. N(0, 1) entries, W* with N(0, 1/d) entries."""
    for name, val in (("d", d), ("n", n), ("k", k)):
        if val < 1:
            raise InputError(f"must be >= 1 (got {val})", name)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    w_star = rng.standard_normal((k, d)) / math.sqrt(d)
    return x, w_star


def load_problem(x_path, y_path, w_path, d, n, k, seed):
    """The arrays as stored (x n x d, y n x k, w_star k x d; shapes are the engine's to check)."""
    if x_path is None:
        if y_path is not None or w_path is not None:
            raise InputError("required with {y} or {w_star} (rows are samples, n x d)", "x", refs=("y", "w_star"))
        x, w = synthetic_problem(d or 20, n or 500, k or 3, seed)
        return x, None, w, f"synthetic: X ~ N(0, 1) {x.shape[0]} x {x.shape[1]}, W* ~ N(0, 1/d) {w.shape[0]} x " \
                           f"{w.shape[1]}, seed {seed}"
    given = [name for name, val in (("d", d), ("n", n)) if val is not None]
    if given:
        raise InputError("only for the synthetic problem; the sizes come from {x}", given[0], refs=("x",))
    x = load_array(x_path, "x", mmap=True)
    y = None if y_path is None else load_array(y_path, "y")
    w = None if w_path is None else load_array(w_path, "w_star")
    return x, y, w, f"files: --x {x_path}" + (f" --y {y_path}" if y_path else "") + \
        (f" --w-star {w_path}" if w_path else "")


def parse_sigma_s(text: str):
    if text.strip().lower() == "teacher":
        return "teacher"
    try:
        return float(text)
    except ValueError:
        pass
    return np.asarray(load_array(text, "sigma_s"), dtype=np.float64)


def _plug_in(opts: dict):
    """--gen-t and --sigma: both or neither, checked before any heavy work."""
    gen_t, sigma = opts.get("gen_t"), opts.get("sigma")
    if (gen_t is None) != (sigma is None):
        raise InputError("give both to plug kl_bound into Theorems 1 and 10", ("gen_t", "sigma"))
    if gen_t is not None:
        finite("gen_t", gen_t)
        nonneg("sigma", sigma)
    return gen_t, sigma


def run_linear_gaussian(opts: dict, common: Common, env: Environment | None) -> int:
    env = environment(env, common)
    fmt = output_format(common, env)
    if common.plot is not None:
        if opts["rank_sweep"] is None:
            raise InputError("needs {rank_sweep} for linear-gaussian (the curve is K against the rank)", "plot",
                             refs=("rank_sweep",))
        plot.check_plot_path(common.plot)
    sweep = parse_rank_sweep(opts["rank_sweep"]) if opts["rank_sweep"] is not None else None
    seed = opts["seed"]
    if seed is not None and seed < 0:
        raise InputError(f"must be >= 0 (got {seed})", "seed")
    check_hyper(opts["lam"], opts["beta_t"], opts["noise"])
    _plug_in(opts)
    x, y, w, source = load_problem(opts["x"], opts["y"], opts["w_star"], opts["d"], opts["n"], opts["k"], seed)
    sigma_s = parse_sigma_s(opts["sigma_s"])
    progress = _Progress(env, "Monte Carlo over W_T")
    try:
        res = linear_gaussian(x, w, y, lam=opts["lam"], beta_t=opts["beta_t"], noise=opts["noise"],
                              rank=opts["rank"], sigma_s=sigma_s, samples=opts["samples"], seed=seed, k=opts["k"],
                              rank_sweep=sweep, progress=progress)
    finally:
        progress.close()
    del x
    report = build_report(res, opts, source, sigma_s)
    render_report(report, fmt, env)
    if common.plot is not None and res.rank_sweep is not None:
        plot.plot_rank_sweep(_sweep_columns(res), common.plot)
        env.warn(f"wrote {common.plot}")
    return 0


def _sweep_columns(res) -> dict:
    cols = dict(res.rank_sweep)
    for key in ("dataset_shift_bound", "cov", "spread"):
        cols[key] = np.full(len(cols["rank"]), getattr(res, key))
    return cols


def build_report(res, opts: dict, source: str, sigma_s) -> Report:
    results = {key: getattr(res, key) for key in TERMS}
    results["looseness"] = res.dataset_shift_bound - res.dataset_shift_exact
    results["convexity_gap"] = res.convexity_gap
    shares = res.shares()
    for key, val in shares.items():
        results[f"share_{key}"] = val
    results.update(n=res.n, d=res.d, k=res.k, rank=res.rank)
    notes = [f"{term} is unavailable: {spell_text(why, option_name)}." for term, why in res.missing.items()]
    extra = {"mode": res.mode, "n": res.n, "d": res.d, "k": res.k, "rank": res.rank, "x_rank": res.x_rank}
    if shares:
        dominant = max(shares, key=shares.get)
        extra["dominant"] = dominant
        extra["guidance"] = GUIDANCE[dominant]
    if res.x_rank < res.d:
        notes.append(f"X has rank {res.x_rank} < d = {res.d} (more features than samples, or collinear ones): "
                     "M* is not unique; kdbound uses the canonical M* = X V_r V_r^T X^+, under which X's null "
                     f"space adds k (d - rank X) = {res.k * (res.d - res.x_rank)} to apx.")
    if res.x_rank and res.cond > COND_WARN:
        notes.append(f"X is ill-conditioned (X X^T has condition number {res.cond:.2g}): apx divides by small "
                     "singular values and may lose digits; rescale or drop near-collinear features.")
    if res.mode == "conditional" and math.isfinite(res.dataset_shift_exact):
        notes.append("dataset_shift_exact integrates Y out; the bound is for this dataset, so their difference "
                     "(looseness) is not the convexity gap, which is the average looseness.")
    gen_t, sigma = _plug_in(opts)
    if gen_t is not None and math.isfinite(res.kl_bound):
        up = B.upper_bound(gen_t, res.kl_bound, sigma)
        results["upper_bound"] = up.bound
        results["lower_two_sided"] = up.lower_two_sided
        if gen_t > 0:
            results["lower_bound"] = B.lower_bound_subgaussian(gen_t, res.kl_bound, sigma).bound
        else:
            notes.append("lower_bound (Remark 2) needs gen_T > 0; only the two-sided lower value is shown.")
    elif gen_t is not None:
        notes.append("upper_bound needs kl_bound, which is unavailable here.")
    inputs = {"source": source, "lam": opts["lam"], "beta_t": opts["beta_t"], "noise": opts["noise"],
              "rank": res.rank, "sigma_s": sigma_s if isinstance(sigma_s, (str, float)) else "matrix",
              "samples": res.samples, "seed": opts["seed"]}
    if gen_t is not None:
        inputs.update(gen_t=gen_t, sigma=sigma)
    sections = []
    if res.rank_sweep is not None:
        sections.append(("rank_sweep", res.rank_sweep))
    if "guidance" in extra:
        notes.insert(0, f"guidance: {extra['guidance']}.")
    return Report(command="linear-gaussian", theorem=THEOREM, formula=FORMULA, inputs=inputs, results=results,
                  checks=_checks(res), notes=notes, extra=extra, sections=sections)


def _checks(res) -> list:
    full = res.x_rank == res.d
    return [
        Check.assumed(f"mode: {res.mode}", "terms conditional on the given Y" if res.mode == "conditional"
                      else "terms averaged over Y ~ MN(W* X, I, noise^2 I)"),
        Check.verified(full, f"rank X = {res.x_rank} of d = {res.d}", "M* = P_r X^+ is unique" if full
                       else "M* is not unique: canonical X V_r V_r^T X^+"),
        Check.verified(res.cond <= COND_WARN, f"cond(X X^T) = {res.cond:.3g}", "well conditioned"
                       if res.cond <= COND_WARN else "ill-conditioned: apx may lose digits"),
        Check.verified(res.samples >= 2, f"{res.samples} Monte Carlo draws", "apx is a Monte Carlo mean with its "
                       "standard error" if res.samples >= 2 else "one draw gives no standard error"),
    ]
