"""What ``kdbound estimate`` says about its result: the conditions behind each number (the proxy,
independent runs, the test losses, the law of the gaps), notes on edge cases, and the labels
beside the values.  Presentation only: the numbers come from :mod:`kdbound.engine.estimate`."""

from __future__ import annotations

import math
import os

import numpy as np

from ..engine.estimate import RESULT_KEYS
from ..errors import Spell, spell_text
from .report import Check, Report
from .values import non_finite_notes

THEOREM = ("Theorem 1 (Li and He, ISIT 2026) with K_h = KL(law of the student gap || law of the teacher gap) "
           "<= K, and its two-sided form (docs/theory.md, \"Bounds from measured runs\")")
FORMULA = "gen_T - sigma sqrt(2 K_h) <= gen_S <= gen_T + sigma sqrt(2 K_h)"

ROLES = ("teacher", "student")


def _g(x) -> str:
    return f"{x:.6g}"


def shared_datasets(codes: np.ndarray | None) -> tuple[int, int] | None:
    """(runs, distinct ids) when some runs of a role share a dataset id; None otherwise."""
    if codes is None:
        return None
    known = codes[codes >= 0]
    distinct = np.unique(known).size
    return (known.size, distinct) if distinct < known.size else None


def estimate_report(res, runs, path: str, kwargs: dict, spell: Spell) -> Report:
    """The report of ``estimate``.

    ``res`` is the engine's :class:`~kdbound.engine.estimate.RunsEstimate`; ``runs`` the checked
    runs table (``gap_from``, ``has_losses``, ``datasets`` and ``unused``); ``kwargs`` the checked
    options (loss range, seed, jitter); ``spell`` writes a parameter as an option (``--loss-min``).
    """
    results = res.results()
    notes: list[str] = []
    checks: list[Check] = []
    _proxy(res, runs, kwargs, spell, checks, notes)
    any_shared = _independence(runs, checks, notes)
    _test_losses(res, runs, spell, checks, notes)
    _gap_laws(res, checks, notes)
    vacuous = _vacuity(res, notes)
    _observed(res, notes)
    notes += [n for n in non_finite_notes(results) if not any(n.split()[0] in m for m in notes)]
    extra = {"teacher_runs": res.teacher_runs, "student_runs": res.student_runs, "sigma_used": res.sigma_used,
             "conditional": any_shared, "basis": {k: res.basis.get(k) for k in RESULT_KEYS}}
    if res.subsample is not None:
        extra["subsample"] = {"student": res.subsample[0], "teacher": res.subsample[1]}
    if res.jitter:
        extra["jitter_width"] = res.jitter
    if runs.unused:
        notes.append(f"column(s) {', '.join(map(repr, runs.unused))} are not used by estimate.")
    labels = {k: (v or "") + (", vacuous" if k in vacuous else "") for k, v in extra["basis"].items()}
    return Report(command="estimate", theorem=THEOREM, formula=FORMULA, inputs=_inputs(res, runs, path, kwargs),
                  results=results, checks=checks, notes=notes, extra=extra, labels=labels)


def _inputs(res, runs, path: str, kwargs: dict) -> dict:
    # the file's name (not its folder) keeps tables narrow
    inputs = {"runs": os.path.basename(path) or path, "gap": runs.gap_from, "loss_min": kwargs["loss_min"],
              "loss_max": kwargs["loss_max"], "delta": res.delta, "kl_method": res.kl_method,
              "bootstrap": res.replicates, "seed": kwargs["seed"]}
    if kwargs["jitter"] is not None:
        inputs["jitter"] = kwargs["jitter"]
    return inputs


def _proxy(res, runs, kwargs: dict, spell: Spell, checks: list, notes: list) -> None:
    """The sub-Gaussian proxy: certified by a loss range, else the plug-in sigma_hat."""
    span = res.sigma_range
    if span is None:
        notes.append(spell_text("sigma_range is null: no loss range was given ({loss_min}/{loss_max}), so no proxy is "
                                "certified; the bounds use the plug-in sigma_hat, which the runs cannot certify "
                                "(the empirical CGF misses tails the runs did not reach).", spell))
        checks.append(Check.assumed(f"sub-Gaussian teacher gap, sigma_hat = {_g(res.sigma_hat)}",
                                    "plug-in from the teacher runs' empirical CGF: not certified"))
        return
    a, b = kwargs["loss_min"], kwargs["loss_max"]
    what = "loss" if runs.gap_from != "gap" or runs.has_losses else "gap"
    inside = f"[{_g(a)}, {_g(b)}]" if what == "loss" else f"[{_g(-span)}, {_g(span)}]"
    checks.append(Check.verified(True, f"every observed {what} lies in {inside}",
                                 "then the gap lies in [-(b-a), b-a] and sigma_range = b - a is a certified "
                                 "proxy (Hoeffding's lemma); the loss range itself is declared, not observed"))


def _independence(runs, checks: list, notes: list) -> bool:
    """Independent runs and the conditional law; returns whether some runs of a role share a dataset."""
    for role in ROLES:
        shared = shared_datasets(runs.datasets[role])
        if shared is not None:
            notes.append(f"{shared[0]} {role} runs share {shared[1]} dataset id(s): runs on one training set are not "
                         "independent draws of D_n, so these numbers estimate the law of the gap conditional on "
                         "those datasets, not over datasets (a teacher and a student sharing an id is the normal "
                         "paired design).")
    any_shared = any(shared_datasets(runs.datasets[r]) is not None for r in ROLES)
    if runs.datasets["teacher"] is None:
        checks.append(Check.assumed("independent runs", "each run draws its own training set (no dataset column to "
                                    "check)"))
    else:
        checks.append(Check.verified(not any_shared, "independent training sets within each role",
                                     "distinct dataset ids" if not any_shared
                                     else "shared dataset ids: the law is conditional on those datasets"))
    return any_shared


def _test_losses(res, runs, spell: Spell, checks: list, notes: list) -> None:
    """Finite test sets: Hoeffding's term with n_test and a loss range, else an assumption."""
    n_test = runs.n_test["teacher"] is not None
    if n_test and res.sigma_range is not None:
        checks.append(Check.verified(True, "finite test sets accounted for",
                                     f"Hoeffding term {_g(res.hoeffding_t)} (teacher), {_g(res.hoeffding_s)} (student) "
                                     "added to the gap intervals, delta split with the t interval"))
        return
    checks.append(Check.assumed("test_loss is the population loss, or its errors are independent across runs",
                                "give n_test and a loss range to add the finite test set's Hoeffding term"))
    if n_test:
        notes.append(spell_text("n_test is used only with a loss range ({loss_min}/{loss_max}): Hoeffding's "
                                "test-set term needs it.", spell))


def _gap_laws(res, checks: list, notes: list) -> None:
    """K_h: the estimator's assumption, its edge cases, skewed gaps and the confidence levels."""
    if res.kl_method == "gauss":
        checks.append(Check.assumed("Gaussian gap laws", "kl_gap is the KL of the two Gaussian fits and kl_gap_hi "
                                    f"its parametric bootstrap limit ({res.replicates} replicates): exact for Gaussian "
                                    "gaps only"))
    else:
        bm, bk = res.subsample
        checks.append(Check.verified(True, "distinct gap values", "no zero nearest-neighbour distance"
                                     + (f" after a uniform jitter of width {_g(res.jitter)}" if res.jitter else "")))
        checks.append(Check.assumed("continuous gap laws, many runs", f"the 1-NN estimate is consistent; kl_gap_hi by "
                                    f"subsampling ({res.replicates} subsamples of {bm} student and {bk} teacher runs)"))
        if res.jitter:
            notes.append(f"kNN ties were broken by adding uniform noise of width {_g(res.jitter)} to every gap before "
                         "estimating K_h (seeded); the gaps themselves are unchanged.")
    if math.isinf(res.kl_gap):
        flat = [role for role, sd in (("teacher", res.sigma_sd), ("student", res.student_sd)) if sd == 0]
        notes.append("kl_gap is +inf, so the bounds are infinite (null): "
                     + (f"the {' and '.join(flat)} gaps are all equal, and a Gaussian fit without spread has "
                        "infinite KL against one with spread or at another value" if flat else
                        "the estimate diverges") + ".")
    if res.kl_gap_raw < 0:
        notes.append(f"the kNN estimate of K_h is {res.kl_gap_raw:.3g} < 0 (estimator noise around 0): kl_gap is "
                     "clipped at 0, as K_h >= 0.")
    for role, runs_n, skew in (("teacher", res.teacher_runs, res.skew_t), ("student", res.student_runs, res.skew_s)):
        if runs_n <= 25 * skew * skew:
            notes.append(f"the {role} gaps are skewed (sample skewness {skew:.2g}): with {runs_n} runs, no more than "
                         f"Cochran's 25 g1^2 = {25 * skew * skew:.3g}, the t interval of its mean gap may cover less "
                         "than its nominal level.")
    delta = res.delta
    notes.append(f"gen_t_lo/hi and gen_s_lo/hi are two-sided intervals at level {1 - delta:g}; kl_gap_hi is "
                 f"one-sided at {1 - delta / 2:g}, so upper_bound_hi and lower_bound_lo hold at {1 - delta:g} "
                 "(Bonferroni).")


def _vacuity(res, notes: list) -> set:
    """The bounds that say nothing for a loss in [a, b] (their keys), with a note each."""
    span = res.sigma_range
    if span is None:
        return set()
    vacuous = {k for k in ("upper_bound", "upper_bound_hi") if getattr(res, k) >= span}
    vacuous |= {k for k in ("lower_bound", "lower_bound_lo") if getattr(res, k) <= -span}
    for key, side in (("upper_bound", "upper"), ("lower_bound", "lower")):
        said = [k for k in (key, key + ("_hi" if side == "upper" else "_lo")) if k in vacuous]
        if said:
            rule = (f">= b - a = {_g(span)}: vacuous (the gap can never exceed b - a)" if side == "upper" else
                    f"<= -(b - a) = {_g(-span)}: vacuous (the gap is never below -(b - a))")
            notes.append(f"{' and '.join(said)} {rule}.")
    return vacuous


def _observed(res, notes: list) -> None:
    """The consistency check: the student's observed gap against the bounds."""
    if res.observed_within_bounds is False:
        side = "above upper_bound" if res.gen_s_observed > res.upper_bound else "below lower_bound"
        limit = res.upper_bound_hi if side.startswith("above") else res.lower_bound_lo
        clear = res.gen_s_lo > res.upper_bound_hi if side.startswith("above") else res.gen_s_hi < res.lower_bound_lo
        notes.append(f"gen_s_observed lies {side}; "
                     + ("its interval misses the bound's confidence limit too (" + _g(limit) + "): the runs "
                        "contradict the bound at about level delta; check the assumptions above." if clear else
                        "within the confidence limits (" + _g(limit) + "), so this is not evidence against the "
                        "bound."))
    elif res.observed_within_bounds is None:
        notes.append("observed_within_bounds is null: a bound is not finite.")
