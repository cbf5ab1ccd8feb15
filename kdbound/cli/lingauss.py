"""`kdbound linear-gaussian`: load the arrays, call the engine, render the decomposition."""

from __future__ import annotations

import math
import re

import numpy as np

from ..engine import bounds as B
from ..engine.lingauss import COND_WARN, TERMS, check_hyper, gram_products, linear_gaussian
from ..errors import InputError
from ..render import Environment, Report, render_report

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
        raise InputError(f"--rank-sweep: must be START:STOP or a comma list of integers (got {text!r})") from None


def synthetic_problem(d: int, n: int, k: int, seed: int | None):
    """The embedded example: X with i.i.d. N(0, 1) entries, W* with N(0, 1/d) entries."""
    for name, val in (("d", d), ("n", n), ("k", k)):
        if val < 1:
            raise InputError(f"--{name}: must be >= 1 (got {val})")
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    w_star = rng.standard_normal((k, d)) / math.sqrt(d)
    return x, w_star


def _check_finite(arr, option):
    from ..fileio import first_nonfinite

    bad = first_nonfinite(arr)
    if bad is not None:
        i, j, v = bad
        raise InputError(f"{option}: entries must be finite (got {v!r} at row {i + 1}, column {j + 1})")


def load_problem(x_path, y_path, w_path, d, n, k, seed):
    """Arrays in the documented layout (x n x d, y n x k, w_star k x d), shapes checked."""
    from ..fileio import load_array

    if x_path is None:
        if y_path is not None or w_path is not None:
            raise InputError("--x: required with --y or --w-star (rows are samples, n x d)")
        x, w = synthetic_problem(d or 20, n or 500, k or 3, seed)
        return x, None, w, f"synthetic: X ~ N(0, 1) {x.shape[0]} x {x.shape[1]}, W* ~ N(0, 1/d) {w.shape[0]} x " \
                           f"{w.shape[1]}, seed {seed}"
    given = [f"--{name}" for name, val in (("d", d), ("n", n)) if val is not None]
    if given:
        raise InputError(f"{given[0]}: only for the synthetic problem; the sizes come from --x")
    x = load_array(x_path, "--x", mmap=True)
    if x.ndim != 2:
        raise InputError(f"--x: expected a 2-D array n x d, rows are samples (got shape {x.shape})")
    n_, d_ = x.shape
    if n_ < 1 or d_ < 1:
        raise InputError(f"--x: expected at least one sample and one feature (got shape {x.shape})")
    y = None
    if y_path is not None:
        y = load_array(y_path, "--y")
        if y.ndim == 1 and y.shape[0] == n_:
            y = y.reshape(n_, 1)
        if y.ndim != 2 or y.shape[0] != n_:
            hint = " (transposed? rows must be samples)" if y.ndim == 2 and y.shape[1] == n_ else ""
            raise InputError(f"--y: expected shape (n, k) = ({n_}, k), rows are samples like --x "
                             f"(got {y.shape}){hint}")
        y = np.asarray(y, dtype=np.float64)
        _check_finite(y, "--y")
    w = None
    if w_path is not None:
        w = load_array(w_path, "--w-star")
        if w.ndim == 1 and w.shape[0] == d_:
            w = w.reshape(1, d_)
        k_expected = y.shape[1] if y is not None else (k if k is not None else None)
        ok = w.ndim == 2 and w.shape[1] == d_ and (k_expected is None or w.shape[0] == k_expected)
        if not ok:
            want = f"({k_expected if k_expected is not None else 'k'}, {d_})"
            hint = " (transposed? W* is k x d like scikit-learn's coef_)" if w.ndim == 2 and w.shape[0] == d_ else ""
            raise InputError(f"--w-star: expected shape (k, d) = {want} (got {w.shape}){hint}")
        w = np.asarray(w, dtype=np.float64)
        _check_finite(w, "--w-star")
    if k is not None:
        known = y.shape[1] if y is not None else (w.shape[0] if w is not None else None)
        if known is not None and known != k:
            raise InputError(f"--k: conflicts with the data, which has k = {known} outputs (got {k})")
    return x, y, w, f"files: --x {x_path}" + (f" --y {y_path}" if y_path else "") + \
        (f" --w-star {w_path}" if w_path else "")


def parse_sigma_s(text: str):
    if text.strip().lower() == "teacher":
        return "teacher"
    try:
        return float(text)
    except ValueError:
        pass
    from ..fileio import load_array

    return np.asarray(load_array(text, "--sigma-s"), dtype=np.float64)


class _Progress:
    """A rich progress bar on stderr, only on a terminal and only when the work takes over a second."""

    def __init__(self, env: Environment, label: str):
        import time

        self.env, self.label, self.clock = env, label, time.perf_counter
        self.start = None
        self.bar = None
        self.task = None

    def __call__(self, done: int, total: int) -> None:
        if self.env.quiet or not self.env.stderr_isatty:
            return
        if self.start is None or done == 0:
            self.start = self.clock()
            return
        if self.bar is None:
            elapsed = self.clock() - self.start
            if done >= total or elapsed / done * total < 1.0:
                return
            from rich.progress import Progress

            self.bar = Progress(console=self.env.console(stderr=True), transient=True)
            self.bar.start()
            self.task = self.bar.add_task(self.label, total=total)
        self.bar.update(self.task, completed=done)

    def close(self):
        if self.bar is not None:
            self.bar.stop()


def run_linear_gaussian(opts: dict, common, env: Environment) -> int:
    from .run import environment, output_format

    env = environment(env, common)
    fmt = output_format(common, env)
    if common.plot is not None:
        from ..plot import check_plot_path

        if opts["rank_sweep"] is None:
            raise InputError("--plot: needs --rank-sweep for linear-gaussian (the curve is K against the rank)")
        check_plot_path(common.plot)
    sweep = parse_rank_sweep(opts["rank_sweep"]) if opts["rank_sweep"] is not None else None
    seed = opts["seed"]
    if seed is not None and seed < 0:
        raise InputError(f"--seed: must be >= 0 (got {seed})")
    x, y, w, source = load_problem(opts["x"], opts["y"], opts["w_star"], opts["d"], opts["n"], opts["k"], seed)
    sigma_s = parse_sigma_s(opts["sigma_s"])
    hyper = check_hyper(opts["lam"], opts["beta_t"], opts["noise"])  # before the expensive Gram pass
    gmat, yx = gram_products(x, y)
    if not (np.isfinite(gmat).all() and (yx is None or np.isfinite(yx).all())):
        _check_finite(x, "--x")
    rank = opts["rank"]
    progress = _Progress(env, "Monte Carlo over W_T")
    try:
        res = linear_gaussian(w_star=w, y=y, lam=hyper.lam, beta_t=hyper.beta_t, noise=hyper.noise, rank=rank,
                              sigma_s=sigma_s, samples=opts["samples"], seed=seed, k=opts["k"], rank_sweep=sweep,
                              progress=progress, gram=(gmat, yx, x.shape[0]))
    finally:
        progress.close()
    del x
    report = build_report(res, opts, source, sigma_s)
    render_report(report, fmt, env)
    if common.plot is not None and res.rank_sweep is not None:
        from ..plot import plot_rank_sweep

        plot_rank_sweep(_sweep_columns(res), common.plot)
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
    notes = [f"{term} is unavailable: {why}." for term, why in res.missing.items()]
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
    gen_t, sigma = opts.get("gen_t"), opts.get("sigma")
    if (gen_t is None) != (sigma is None):
        raise InputError("--gen-t and --sigma: give both to plug kl_bound into Theorems 1 and 10")
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
    from ..engine.models import Check

    full = res.x_rank == res.d
    return [
        Check(True, f"mode: {res.mode}", "terms conditional on the given Y" if res.mode == "conditional"
              else "terms averaged over Y ~ MN(W* X, I, noise^2 I)"),
        Check(full, f"rank X = {res.x_rank} of d = {res.d}", "M* = P_r X^+ is unique" if full
              else "M* is not unique: canonical X V_r V_r^T X^+"),
        Check(res.cond <= COND_WARN, f"cond(X X^T) = {res.cond:.3g}", "well conditioned" if res.cond <= COND_WARN
              else "ill-conditioned: apx may lose digits"),
        Check(res.samples >= 2, f"{res.samples} Monte Carlo draws", "apx is a Monte Carlo mean with its standard "
              "error" if res.samples >= 2 else "one draw gives no standard error"),
    ]
