"""What ``kdbound linear-gaussian`` says about its result: the terms of K and the shares that
dominate it (with guidance), the chain of bounds on K, the plugged-in bounds of Theorems 1
and 10, conditions and notes.  Presentation only: the numbers come from
:mod:`kdbound.engine.lingauss` (and, for the plugged-in bounds, :mod:`kdbound.engine.bounds`,
called by the command)."""

from __future__ import annotations

import math

import numpy as np

from ..engine.lingauss import COND_WARN, rank_bottleneck
from ..errors import Spell, spell_text
from .report import Check, Report

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


def lingauss_report(res, opts: dict, source: dict, sigma_s, noise_from: str, plug: dict | None,
                    spell: Spell) -> Report:
    """The report of ``linear-gaussian``.

    ``opts`` are the command's options (hyperparameters, seed, the plug-in values), ``source``
    says where the arrays came from, ``noise_from`` is given, estimated or default, ``plug`` holds
    the plugged-in bounds (:func:`kdbound.cli.lingauss.plug_in`; None without ``--gen-t``) and
    ``spell`` writes a parameter as an option.
    """
    results = res.results()
    shares = res.shares()
    extra = {"mode": res.mode, "n": res.n, "d": res.d, "k": res.k, "rank": res.rank, "x_rank": res.x_rank}
    labels = _chain_labels(res)
    if shares:
        dominant = max(shares, key=shares.get)
        extra["dominant"] = dominant
        extra["guidance"] = GUIDANCE[dominant]
    notes = _notes(res, noise_from, spell)
    if not np.isfinite(results["looseness"]):
        parts = [k for k in ("dataset_shift_bound", "dataset_shift_exact") if not np.isfinite(getattr(res, k))]
        notes.append("looseness = dataset_shift_bound - dataset_shift_exact is null: "
                     + (" and ".join(parts) + (" is" if len(parts) == 1 else " are") + " unavailable here"
                        if parts else "their difference is not finite") + ".")
    if plug is not None:
        _plug_in_results(res, plug, results, notes, extra, labels, spell)
    sections = []
    if res.rank_sweep is not None:
        sections.append(("rank_sweep", res.rank_sweep))
        if not np.isfinite(res.rank_sweep["kl_exact"]).all() and "w_star" not in str(res.missing.get("kl_exact")):
            notes.append("rank_sweep: kl_exact is null at ranks below min(k, d) (a rank bottleneck: no closed "
                         "form); kl_bound_tight bounds K there.")
    if "guidance" in extra:
        notes.insert(0, f"guidance: {extra['guidance']}.")
    return Report(command="linear-gaussian", theorem=THEOREM, formula=FORMULA,
                  inputs=_inputs(res, opts, source, sigma_s, noise_from), results=results,
                  checks=_checks(res, opts), notes=notes, extra=extra, sections=sections, labels=labels)


def _inputs(res, opts: dict, source: dict, sigma_s, noise_from: str) -> dict:
    est = res.noise_estimate
    inputs = {**source, "lam": opts["lam"], "beta_t": opts["beta_t"], "noise": res.noise,
              "noise_from": noise_from if noise_from != "estimated" else f"estimated ({est.method})",
              "rank": res.rank, "sigma_s": sigma_s if isinstance(sigma_s, (str, float)) else "matrix",
              "samples": res.samples, "seed": opts["seed"]}
    if opts.get("gen_t") is not None:
        inputs.update(gen_t=opts["gen_t"], sigma=opts["sigma"])
        if opts.get("loss_min") is not None:
            inputs.update(loss_min=opts["loss_min"], loss_max=opts["loss_max"])
    return inputs


def _notes(res, noise_from: str, spell: Spell) -> list[str]:
    """Notes on missing terms, the data matrix X and the noise level."""
    notes = [f"{term} is unavailable: {spell_text(why, spell)}." for term, why in res.missing.items()]
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
    if noise_from == "estimated":
        notes.insert(0, f"noise {res.noise:.3g}, estimated from the data ({_noise_method(res.noise_estimate)}).")
    elif noise_from == "default":
        notes.append(f"noise 1.0 by default (no labels {spell('y')} to estimate it from; give {spell('noise')}).")
    return notes


def noise_warning(noise: float, noise_from: str, est) -> str | None:
    """A warning when the given --noise is more than a factor of 2 from the data's estimate."""
    if noise_from == "given" and est is not None and est.value > 0 and not 0.5 <= noise / est.value <= 2.0:
        return (f"warning: --noise {noise:g} differs from the data's estimate {est.value:.3g} "
                f"({_noise_method(est)}) by more than a factor of 2")
    return None


def _noise_method(est) -> str:
    if est.method == "residual":
        return f"residual sd of Y - X W*^T over {est.dof:,} values"
    return f"residual sd of the least-squares fit of Y on X, {est.dof:,} degrees of freedom"


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


def _plug_in_results(res, plug: dict, results: dict, notes: list, extra: dict, labels: dict, spell: Spell) -> None:
    """The plugged-in bounds (``plug``) as results, with their labels and notes."""
    if plug["kl"] is None:
        for key in ("kl", "upper_bound", "lower_bound", "lower_two_sided", "remark2_bound"):
            results[key] = None
        notes.append(f"upper_bound and lower_bound need K, which is unavailable here (it needs W*, {spell('w_star')}).")
        return
    source = plug["kl_source"]
    extra["kl_source"] = source
    results["kl"] = plug["kl"]
    labels["kl"] = "plugged in"
    results["upper_bound"] = plug["upper_bound"]
    results["lower_bound"] = plug["lower_bound"]
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
                     f"{spell('y')} and keep {spell('w_star')} for K given X).")
    _remark2(plug, results, notes, labels)
    beyond = [k for k in ("upper_bound", "lower_bound", "lower_two_sided", "remark2_bound")
              if results.get(k) is not None and not math.isfinite(results[k])]
    if beyond:
        notes.append(f"{', '.join(beyond)} {'is' if len(beyond) == 1 else 'are'} beyond float64's range (|value| > "
                     "1.8e308: gen_T and sigma sqrt(2K) are too large): printed as null.")
    if plug["loss_min"] is not None:  # vacuity can be decided only with the loss range
        _vacuity(plug["loss_max"] - plug["loss_min"], results, notes)


def _remark2(plug: dict, results: dict, notes: list, labels: dict) -> None:
    """Theorem 10 with Remark 2's pair beside the two-sided bound (gen_T > 0 only)."""
    r2 = plug["remark2_bound"]
    results["remark2_bound"] = r2
    if plug["gen_t"] <= 0:
        notes.append("remark2_bound is null: Remark 2 needs gen_T > 0; lower_bound (two-sided) needs no sign "
                     "condition.")
        return
    labels["remark2_bound"] = "Thm 10, Remark 2"
    if r2 < results["lower_bound"]:
        notes.append(f"remark2_bound ({_fmt(r2)}) is Theorem 10 with Remark 2's best (eta, c): eta* = "
                     "sqrt(2K)/sigma lies beyond Remark 2's interval, so its value sits at the interval's end; "
                     "the same sub-Gaussian assumption gives the better two-sided lower_bound "
                     "(docs/theory.md, 'The best lower bound').")


def _vacuity(width: float, results: dict, notes: list) -> None:
    results["vacuous"] = bool(results["upper_bound"] >= width)
    results["lower_vacuous"] = bool(results["lower_bound"] <= -width)
    if results["vacuous"]:
        notes.append(f"upper_bound {_fmt(results['upper_bound'])} >= b - a = {_fmt(width)}: vacuous, since a "
                     "gap of a loss in [a, b] never exceeds b - a.")
    if results["lower_vacuous"]:
        notes.append(f"lower_bound {_fmt(results['lower_bound'])} <= -(b - a) = {_fmt(-width)}: vacuous, "
                     "since a gap never falls below -(b - a).")


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
