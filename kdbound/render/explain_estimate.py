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


#: |gap_correlation| from which a note says the plain 1-NN estimator would be biased low (measured with identical
#: laws at 200 runs per role: -0.02 nats at 0.9, -0.09 at 0.99; within noise below 0.6)
HIGH_CORRELATION = 0.5


def estimate_report(res, runs, path: str, kwargs: dict, spell: Spell) -> Report:
    """The report of ``estimate``.

    ``res`` is the engine's :class:`~kdbound.engine.estimate.RunsEstimate`; ``runs`` the checked
    runs table (:class:`kdbound.io.runs_table.Runs`: ``gap_from``, ``has_losses``, ``datasets``,
    ``unused``, and what distill's rows carry); ``kwargs`` the options in use (loss range, seed,
    jitter); ``spell`` writes a parameter as an option (``--loss-min``) or as it is.
    """
    results = res.results()
    notes: list[str] = []
    checks: list[Check] = []
    _proxy(res, runs, kwargs, spell, checks, notes)
    conditional = _independence(runs, checks, notes)
    conditional = _pool(res, runs, checks, notes) or conditional
    _test_losses(res, runs, spell, checks, notes)
    _gap_laws(res, spell, checks, notes)
    _pairs(res, notes)
    vacuous = _vacuity(res, notes)
    _observed(res, notes)
    _records(runs, notes)
    notes += [n for n in non_finite_notes(results) if not any(n.split()[0] in m for m in notes)]
    extra = {"teacher_runs": res.teacher_runs, "student_runs": res.student_runs, "sigma_used": res.sigma_used,
             "conditional": conditional, **_about(res, runs), "basis": {k: res.basis.get(k) for k in RESULT_KEYS}}
    if runs.unused:
        notes.append(f"column(s) {', '.join(map(repr, runs.unused))} are not used by estimate.")
    labels = {k: (v or "") + (", vacuous" if k in vacuous else "") for k, v in extra["basis"].items()}
    return Report(command="estimate", theorem=THEOREM, formula=FORMULA, inputs=_inputs(res, runs, path, kwargs),
                  results=results, checks=checks, notes=notes, extra=extra, labels=labels)


def _about(res, runs) -> dict:
    """Top-level keys beside the results: how kl_gap_hi was formed (knn), the jitter, the pairs' correlation,
    the pool and the models' test accuracy (distill's runs)."""
    out = {}
    if res.knn is not None:
        k = res.knn
        out["knn"] = {"estimate": k.estimate, "se": k.se, "quantile": k.quantile, "splits": k.splits,
                      "fractions": list(k.fractions), "means": list(k.means), "weights": list(k.weights),
                      "paired": k.paired}
    if res.jitter:
        out["jitter_width"] = res.jitter
    if res.paired:
        out["gap_correlation"] = res.gap_correlation
    pool = _pool_record(runs)
    if pool is not None:
        out["pool"] = pool
    if runs.accuracy is not None:
        for role in ROLES:
            out[f"{role}_test_accuracy"] = runs.accuracy[role]
    return out


def _inputs(res, runs, path: str, kwargs: dict) -> dict:
    # the file's name (not its folder) keeps tables narrow
    inputs = {"runs": os.path.basename(path) or path, "gap": runs.gap_from, "loss_min": kwargs["loss_min"],
              "loss_max": kwargs["loss_max"], "delta": res.delta, "kl_method": res.kl_method}
    if res.kl_method == "gauss":
        inputs["bootstrap"] = res.replicates
    inputs["seed"] = kwargs["seed"]
    if kwargs["jitter"] is not None:
        inputs["jitter"] = kwargs["jitter"]
    for role in ROLES:
        if runs.specs[role] is not None:
            inputs[role] = runs.specs[role]
    return inputs


def _proxy(res, runs, kwargs: dict, spell: Spell, checks: list, notes: list) -> None:
    """The sub-Gaussian proxy: certified by a loss range, else the plug-in sigma_hat."""
    span = res.sigma_range
    if span is None:
        notes.append(spell_text("sigma_range is null: no loss range was given ({loss_min}/{loss_max}), so no proxy is "
                                "certified (and vacuous is null: no range to compare with); the bounds use the plug-in "
                                "sigma_hat, which the runs cannot certify (the empirical CGF misses tails the runs did "
                                "not reach), and the *_plugin bounds equal them.", spell))
        checks.append(Check.assumed(f"sub-Gaussian teacher gap, sigma_hat = {_g(res.sigma_hat)}",
                                    "plug-in from the teacher runs' empirical CGF: not certified"))
        return
    a, b = kwargs["loss_min"], kwargs["loss_max"]
    what = "loss" if runs.gap_from != "gap" or runs.has_losses else "gap"
    inside = f"[{_g(a)}, {_g(b)}]" if what == "loss" else f"[{_g(-span)}, {_g(span)}]"
    declared = ("the loss range itself is the runs file's (columns loss_min and loss_max, the same in every row), "
                "declared, not observed" if runs.loss_range is not None else
                "the loss range itself is declared, not observed")
    checks.append(Check.verified(True, f"every observed {what} lies in {inside}",
                                 "then the gap lies in [-(b-a), b-a] and sigma_range = b - a is a certified "
                                 f"proxy (Hoeffding's lemma); {declared}"))
    column = runs.column_range
    if runs.loss_range is None and column is not None and column != (float(a), float(b)):
        notes.append(spell_text(f"the runs file's loss range [{_g(column[0])}, {_g(column[1])}] (columns loss_min "
                                f"and loss_max) differs from the options' [{_g(a)}, {_g(b)}], which are used "
                                "({loss_min}/{loss_max}).", spell))


def _independence(runs, checks: list, notes: list) -> bool:
    """Independent runs and the conditional law; returns whether some runs of a role share a dataset."""
    for role in ROLES:
        shared = shared_datasets(runs.datasets[role])
        if shared is not None:
            notes.append(f"{shared[0]} {role} runs share {shared[1]} dataset id(s): runs on one training set are not "
                         "independent draws of D_n, so these numbers estimate the law of the gap conditional on "
                         "those datasets, not over datasets (a teacher and a student sharing an id is the normal "
                         "paired design).")
    partial = getattr(runs, "shared_ids", None)
    if partial is not None:
        notes.append(f"{partial[0]} of the {partial[1]} student runs share a dataset id with a teacher run, but the "
                     "ids do not pair the two roles one to one (as many teacher as student runs, each id once per "
                     "role): the runs are estimated as unpaired, and gap_correlation is null.")
    any_shared = any(shared_datasets(runs.datasets[r]) is not None for r in ROLES)
    if runs.datasets["teacher"] is None:
        checks.append(Check.assumed("independent runs", "each run draws its own training set (no dataset column to "
                                    "check)"))
    else:
        checks.append(Check.verified(not any_shared, "independent training sets within each role",
                                     "distinct dataset ids" if not any_shared
                                     else "shared dataset ids: the law is conditional on those datasets"))
    return any_shared


def _pool_record(runs) -> dict | None:
    """The pool distill drew the runs from (its size and content hash), from the runs file's settings."""
    pool = (runs.settings or {}).get("pool")
    if not isinstance(pool, dict) or "size" not in pool or "digest" not in pool:
        return None
    return {"size": pool["size"], "digest": pool["digest"]}


def _pool(res, runs, checks: list, notes: list) -> bool:
    """Runs drawn from one finite pool (distill): conditional on it; returns whether they are."""
    pool = _pool_record(runs)
    if pool is None:
        return False
    added = res.hoeffding_t > 0
    short = str(pool["digest"])[:19]  # sha256: and 12 hex digits, as a short commit id (the JSON has it whole)
    reach = ("Hoeffding's test-set term, added to the intervals here (n_test, loss range)" if added else
             "Hoeffding's test-set term, which needs n_test and a loss range and is not added here")
    checks.append(Check.assumed(f"the pool of {pool['size']} examples stands for the population",
                                f"every run draws its training set from this one pool ({short}): the t part "
                                f"of each interval describes re-draws from the pool; toward the population the "
                                f"intervals rely on {reach}"))
    notes.append(f"the runs come from one pool of {pool['size']} examples ({short}): they are not independent "
                 "draws from the population, so these numbers are conditional on the pool (conditional = true). The "
                 f"gap intervals reach the population only through {reach}.")
    return True


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


def _gap_laws(res, spell: Spell, checks: list, notes: list) -> None:
    """K_h: the estimator's assumption, its edge cases, skewed gaps and the confidence levels."""
    if res.kl_method == "gauss":
        checks.append(Check.assumed("Gaussian gap laws", "kl_gap is the KL of the two Gaussian fits and kl_gap_hi "
                                    f"its parametric bootstrap limit ({res.replicates} replicates): exact for Gaussian "
                                    "gaps only"))
    else:
        _knn_checks(res, checks, notes)
    if math.isinf(res.kl_gap):
        flat = [role for role, sd in (("teacher", res.sigma_sd), ("student", res.student_sd)) if sd == 0]
        notes.append("kl_gap is +inf, so the bounds are infinite (null): "
                     + (("the teacher gaps and the student gaps are each all equal, at different values"
                         if len(flat) > 1 else f"the {flat[0]} gaps are all equal") + ", and a Gaussian fit "
                        "without spread has infinite KL against one with spread or at another value"
                        if flat else
                        "the estimate diverges") + ".")
    if res.kl_gap_raw < 0:
        notes.append(f"the kNN estimate of K_h is {res.kl_gap_raw:.3g} < 0 (estimator noise around 0): kl_gap is "
                     "clipped at 0, as K_h >= 0.")
    for role, runs_n, skew in (("teacher", res.teacher_runs, res.skew_t), ("student", res.student_runs, res.skew_s)):
        if runs_n <= 25 * skew * skew:
            notes.append(f"the {role} gaps are skewed (sample skewness {skew:.2g}): with {runs_n} runs, no more than "
                         f"Cochran's 25 g1^2 = {25 * skew * skew:.3g}, the t interval of its mean gap may cover less "
                         "than its nominal level.")
    delta, half = res.delta, 1 - res.delta / 2
    notes.append(f"gen_t_lo/hi is a two-sided interval at level {half:g} and kl_gap_hi a one-sided limit at {half:g}, "
                 f"so upper_bound_hi and lower_bound_lo hold together at level {1 - delta:g} (Bonferroni: delta/2 for "
                 "the interval, delta/2 for kl_gap_hi) when sigma is a valid proxy and both limits have their levels; "
                 f"gen_s_lo/hi is a two-sided interval at {1 - delta:g}.")


def _knn_checks(res, checks: list, notes: list) -> None:
    """The kNN estimate: distinct values, and the assumption its upper limit rests on."""
    k = res.knn
    checks.append(Check.verified(True, "distinct gap values", "no zero nearest-neighbour distance"
                                 + (f" after a uniform jitter of width {_g(res.jitter)}" if res.jitter else "")))
    fractions = ", ".join(f"1/{round(1 / f)}" if f < 1 else "1" for f in k.fractions)
    checks.append(Check.assumed("continuous gap laws; the 1-NN estimate's bias falls like n^-0.2 or faster",
                                f"kl_gap_hi extrapolates the exact means of the estimate over subsamples of "
                                f"{fractions} of the runs to infinitely many (T = {_g(k.estimate)}) and adds "
                                f"{k.quantile:.3g} "
                                f"standard errors ({_g(k.se)}) from {k.splits} random halvings"
                                + ("; paired runs: each student's own teacher is left out" if k.paired else "")))
    notes.append("kl_gap_hi (knn) rests on an assumption: that the 1-NN estimate's bias falls like n^-0.2 or faster "
                 "as runs grow. Measured (docs/estimate.md), it covered at least 0.96 (nominal 0.975) for Gaussian, "
                 "gamma and Student t5 students up to 2,000 runs per role, and less where the student's gaps have "
                 "heavier tails than that allows for (a t5 student at 10,000 runs: 0.89; a t3 student: 0.57 at 600 "
                 "runs).")
    if res.jitter:
        notes.append(f"kNN ties were broken by adding uniform noise of width {_g(res.jitter)} to every gap before "
                     "estimating K_h (seeded); the gaps themselves are unchanged.")


def _pairs(res, notes: list) -> None:
    """Paired runs: a note when their gaps are correlated enough to bias the plain 1-NN estimator."""
    r = res.gap_correlation
    if not res.paired or r is None or abs(r) < HIGH_CORRELATION:
        return
    how = ("kdbound uses the paired estimator, which leaves each student's own teacher out of its neighbours"
           if res.kl_method == "knn" else "the Gaussian fit uses each role's own law and is not biased by it (knn "
           "would use the paired estimator, which leaves each student's own teacher out)")
    notes.append(f"the paired teacher and student gaps are correlated (gap_correlation = {r:.3g}): the plain 1-NN "
                 f"estimator, which assumes independent samples, would be biased low by it; {how}.")


def _vacuity(res, notes: list) -> set:
    """The bounds that say nothing for a loss in [a, b] (their keys), with a note each."""
    span = res.sigma_range
    if span is None:
        return set()
    uppers = ("upper_bound", "upper_bound_hi", "upper_bound_plugin", "upper_bound_plugin_hi")
    lowers = ("lower_bound", "lower_bound_lo", "lower_bound_plugin", "lower_bound_plugin_lo")
    vacuous = {k for k in uppers if getattr(res, k) >= span} | {k for k in lowers if getattr(res, k) <= -span}
    for keys, side in ((uppers[:2], "upper"), (lowers[:2], "lower"), (uppers[2:], "upper"), (lowers[2:], "lower")):
        said = [k for k in keys if k in vacuous]
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


def _records(runs, notes: list) -> None:
    """What distill's rows record besides the losses: runs whose fit did not converge."""
    if runs.not_converged is None:
        return
    for role in ROLES:
        count, total = runs.not_converged[role], runs.gaps[role].size
        if count:
            notes.append(f"{count} of {total} {role} runs did not converge (column converged); their gaps are used as "
                         "measured.")
