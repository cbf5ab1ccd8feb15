"""What kdbound says about an evaluation, in words: the theorem's conditions as
checked for these inputs, and notes on edge cases.  Presentation only; the
numbers come from :mod:`kdbound.engine`."""

from __future__ import annotations

import re
from typing import Mapping

import numpy as np

from ..engine.bounds import CONSTANTS
from ..engine.specs import MEASURED, BoundSpec, Evaluation
from ..errors import KdboundError
from .report import Check, Report, name_list
from .values import non_finite_notes

ROUTE_TEXT = {
    "given": "given (--sigma)",
    "stability": "Proposition 9: sqrt(n) beta + (b - a) / (2 sqrt(n))",
    "parameter-stability": "Lemma 13: (kappa L + (b - a)/2) / sqrt(n)",
    "range": "Hoeffding's lemma on the gap: b - a (the loss range alone)",
}


def _first(x):
    """The first element of a scalar or array result (checks and notes describe one evaluation)."""
    return np.asarray(x).reshape(-1)[0]


def _f(x) -> float:
    return float(_first(x))


def bound_report(spec: BoundSpec, values: Mapping, results: dict, ev: Evaluation, solve_note: str | None = None,
                 solved: tuple[str, object] | None = None, columns: list[str] | None = None) -> Report:
    """One evaluation (or solution) of a bound command as a Report: inputs, results, conditions, notes,
    theorem.  ``solved`` is (unknown, target) for a solution, ``solve_note`` what the solver said,
    ``columns`` the results to show (``--columns``; None: all)."""
    inputs = {k: v for k, v in values.items() if v is not None}
    inputs.update({p.name: values.get(p.name) or p.choices[0] for p in spec.params if p.choices})
    full = values
    if solved is not None:
        unknown, target = solved
        inputs.update({unknown: "solve", "target": target})
        full = {**values, unknown: results[unknown]}
    said = ([solve_note] if solve_note else []) + notes(spec, full, ev)
    if solved is not None and solved[0] in spec.solve_on:
        said.append(f"{solved[0]} is solved for {spec.solve_on[solved[0]]}, the only result it moves; bound is "
                    "the best valid bound at that value.")
    # a generic note for each non-finite result that no specific note already names
    said += [n for n in non_finite_notes(results) if not any(n.split()[0] in m for m in said)]
    theorem, formula, head = headline(spec, full, ev)
    whole = {p.name for p in spec.params if p.integer}
    inputs = {k: _whole(v) if k in whole else v for k, v in inputs.items()}
    results = {k: _whole(v) if k in whole else v for k, v in results.items()}
    if columns is not None:
        results = {k: results[k] for k in columns}
    return Report(command=spec.name, theorem=theorem, formula=formula, inputs=inputs, results=results,
                  checks=checks(spec, full, ev), notes=said, extra=extra(spec, full, ev), headline=head)


def _whole(value):
    """A whole-number parameter's value printed as an integer (n = 10000, not 10000.0)."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        return value
    return int(f) if np.isfinite(f) and f == int(f) else value


def checks(spec: BoundSpec, values: Mapping, ev: Evaluation) -> list[Check]:
    """The conditions of ``spec``'s theorem, each with its status (holds, fails, assumed) and a reason."""
    return _CHECKS[spec.name](values, ev)


def notes(spec: BoundSpec, values: Mapping, ev: Evaluation) -> list[str]:
    """Notes on this evaluation: edge cases, defaults used, vacuous bounds, dominated bounds."""
    return _NOTES[spec.name](values, ev) + _range_notes(values, ev) + _vacuous_notes(spec, values, ev)


def headline(spec: BoundSpec, values: Mapping, ev: Evaluation) -> tuple[str, str, str]:
    """(theorem, formula, key of the headline result) of this evaluation.

    The headline is the best bound printed: a bound that another printed
    bound dominates is never the headline.
    """
    if spec.name == "lower" and ev.route != "central":
        return ("Theorem 1, two-sided (Li and He, ISIT 2026); Theorem 10 with Remark 2's pair beside it",
                "gen_S >= gen_T - sigma * sqrt(2 K)", "bound")
    return spec.theorem, spec.formula, "bound"


def extra(spec: BoundSpec, values: Mapping, ev: Evaluation) -> dict:
    """Top-level JSON keys that describe how the result was obtained."""
    out = {}
    if ev.route in ROUTE_TEXT:
        out["sigma_route"] = ev.route
    if spec.name == "lower":
        out["bound_source"] = "theorem-10" if ev.route == "central" else "two-sided"
    if spec.name == "sharpness":
        out["bound_source"] = "sharpness" if bool(_first(ev["tightens"])) else "standard"
    return out


def route_text(ev: Evaluation) -> str | None:
    """How sigma was obtained, for the JSON ``sigma_route`` key (None when sigma is not used)."""
    return ev.route if ev.route in ROUTE_TEXT else None


def _sigma_check(r: Evaluation) -> Check:
    """sub-Gaussianity of the teacher gap: never verifiable from the numbers, so an assumption."""
    how = {"given": "sigma given (--sigma)",
           "stability": "sigma by " + ROUTE_TEXT["stability"] + ", under the assumed stability",
           "parameter-stability": "sigma by " + ROUTE_TEXT["parameter-stability"] + ", under the assumed "
                                  "stability and Lipschitz constants"}.get(r.route)
    if r.route == "range":  # certified: a gap in [-(b - a), b - a] is (b - a)-sub-Gaussian
        return Check.verified(True, f"sub-Gaussian teacher gap, sigma = {_f(r['sigma']):.6g}",
                              "sigma = b - a by Hoeffding's lemma: the gap of a loss in [a, b] lies in "
                              "[-(b - a), b - a]")
    return Check.assumed(f"sub-Gaussian teacher gap, sigma = {_f(r['sigma']):.6g}", how)


#: what to leave out so that the loss range alone gives sigma = b - a, by the route that gave sigma
_LEAVE_OUT = {"given": "--sigma", "stability": "--beta and --n", "parameter-stability": "--kappa, --lipschitz and --n"}


def _range_notes(v: Mapping, r: Evaluation) -> list[str]:
    """A sigma above b - a (given, or from a stability route): the loss range alone certifies a smaller one."""
    if r.route not in _LEAVE_OUT or v.get("loss_min") is None or v.get("loss_max") is None:
        return []
    width = _f(v["loss_max"]) - _f(v["loss_min"])
    sigma = _f(r["sigma"])
    if not sigma > width:
        return []
    return [f"sigma = {sigma:.6g} is above b - a = {width:.6g}, which is smaller and certified (Hoeffding's lemma: "
            f"the gap of a loss in [a, b] lies in [-(b - a), b - a]); leave out {_LEAVE_OUT[r.route]} to use it."]


def _vacuous_notes(spec: BoundSpec, v: Mapping, r: Evaluation) -> list[str]:
    vac = r.get("vacuous")
    if vac is None or not bool(_first(vac)):
        return []
    width = _f(v["loss_max"]) - _f(v["loss_min"])
    bound = _f(r["bound"])
    if spec.name == "lower":
        return [f"The lower bound {bound:.6g} is vacuous: gen_S >= -(b - a) = {-width:.6g} holds for any loss in "
                "[a, b], so the bound says nothing here."]
    return [f"The upper bound {bound:.6g} is vacuous: gen_S <= b - a = {width:.6g} holds for any loss in [a, b], "
            "so the bound says nothing here."]


# --------------------------------------------------------------------------- upper

def _upper_checks(v: Mapping, r: Evaluation) -> list[Check]:
    out = [Check.verified(True, "K >= 0", "KL divergence of the student process from the teacher's"),
           _sigma_check(r)]
    if r.route == "stability":
        n, beta = _f(v["n"]), _f(v["beta"])
        shrinks = beta * np.sqrt(n) < 1.0
        out.append(Check.verified(bool(shrinks), "beta sqrt(n) < 1",
                                  f"here beta sqrt(n) = {beta * np.sqrt(n):.3g}: the finite condition kdbound can "
                                  "test at this n"))
        out.append(Check.assumed("beta = o(1/sqrt(n))", "the asymptotic rate under which the stability route's "
                                 "sigma shrinks with n: cannot be verified at one n"))
    return out


def _upper_notes(v: Mapping, r: Evaluation) -> list[str]:
    notes = []
    if _f(v["kl"]) == 0:
        notes.append("lambda_opt is undefined when K = 0: the bound is gen_T for every lambda.")
    elif _f(r["sigma"]) == 0:
        notes.append("lambda_opt is +inf when sigma = 0: the gap is deterministic and the bound is gen_T.")
    elif not np.isfinite(_f(r["lambda_opt"])):
        notes.append("lambda_opt = sqrt(2K)/sigma exceeds the largest float64 (~1.8e308): printed as null; the "
                     "bound itself is exact.")
    return notes


# --------------------------------------------------------------------------- lower

def _lower_checks(v: Mapping, r: Evaluation) -> list[Check]:
    if r.route == "central":
        return [Check.verified(True, "0 < c <= 1, eta > 0", "the pair lies in Theorem 10's range"),
                Check.assumed("(eta, c)-central condition", "of the teacher gap: log E exp(-eta h) <= -c eta E h")]
    applies = _f(v["gen_t"]) > 0
    out = [_sigma_check(r),
           Check.verified(applies, "gen_T > 0 (Remark 2)", "Remark 2 derives a central-condition pair from sigma"
                          if applies else "Remark 2 does not apply: eta, c and remark2_bound are null; the "
                          "two-sided bound needs no sign condition")]
    if not applies:
        return out
    eta = _f(r["eta"])
    if _f(r["sigma"]) == 0:
        out.append(Check.verified(True, "sigma = 0", "the gap is deterministic: eta -> inf, c = 1"))
    elif _f(v["kl"]) == 0 and v.get("eta") is None:
        out.append(Check.verified(True, "K = 0", "Remark 2's supremum is approached as eta -> 0+ (c -> 1)"))
    elif bool(_first(r["boundary"])):
        out.append(Check.verified(False, "eta* = sqrt(2K)/sigma < 2 gen_T / sigma^2",
                                  "Remark 2's optimum lies at the interval's end where c -> 0: remark2_bound is "
                                  "valid but trivial"))
    else:
        out.append(Check.verified(True, "0 < eta < 2 gen_T / sigma^2", f"Remark 2's interval (eta = {eta:.6g})"))
    return out


def _lower_notes(v: Mapping, r: Evaluation) -> list[str]:
    notes = []
    if r.route == "central":
        return notes
    if _f(v["gen_t"]) <= 0:
        notes.append("Remark 2 needs gen_T > 0: eta, c and remark2_bound are null. The bound is the two-sided "
                     "gen_T - sigma sqrt(2K), valid for any sign of gen_T.")
        return notes
    if bool(_first(r["boundary"])):
        beyond = "" if np.isfinite(_f(r["remark2_bound"])) else " (here below -1.8e308, the float64 range: null)"
        notes.append("remark2_bound: eta* = sqrt(2K)/sigma lies beyond 2 gen_T / sigma^2, so Remark 2's supremum is "
                     "approached as eta -> 2 gen_T / sigma^2 (c -> 0), the trivial value -K sigma^2 / (2 gen_T)"
                     f"{beyond}; the bound printed is the two-sided gen_T - sigma sqrt(2K), which is larger.")
    elif _f(r["remark2_bound"]) < _f(r["bound"]):
        notes.append("remark2_bound (Theorem 10 at the given eta) is below the two-sided bound gen_T - sigma sqrt(2K), "
                     "which is printed as the bound.")
    eta = _f(r["eta"])
    if _f(v["kl"]) == 0 and v.get("eta") is None:
        notes.append("K = 0: Remark 2's eta -> 0+ and both bounds equal gen_T.")
    elif _f(r["sigma"]) == 0:
        notes.append("eta is +inf: with sigma = 0 the bound tends to gen_T as eta -> inf.")
    elif np.isinf(eta):
        notes.append("eta = sqrt(2K)/sigma exceeds the largest float64 (~1.8e308): printed as null.")
    elif np.isnan(eta):
        notes.append("eta is positive but below the smallest float64 (~5e-324): printed as null.")
    return notes


# --------------------------------------------------------------------------- sharpness

def _sharp_checks(v: Mapping, r: Evaluation) -> list[Check]:
    def g(k):
        return _f(r[k])

    paper = (v.get("constants") or CONSTANTS[0]) == "paper"
    measured = [n for n in MEASURED if v.get(n) is not None]
    lemmas_used = v.get("sigma_u") is None or v.get("nu") is None
    out = []
    flat = g("a0") > 0
    if paper:
        out.append(Check.verified(flat, "g0 < L (A0 > 0)", "the teacher is locally flatter than the global Lipschitz "
                                  "constant" if flat else "no tightening is possible: A0 <= 0"))
    else:
        out.append(Check.verified(flat, "A0' > 0", "kappa (L - g0) exceeds alpha kappa^2 / (2n): tightening is "
                                  "possible" if flat else "no tightening is possible: A0' <= 0"))
    if lemmas_used:
        ok = g("rho") >= g("rho_min")
        out.append(Check.verified(ok, "rho >= kappa / n", "Lemmas 14-15 need the rho-ball to cover the stability "
                                  "segment" + ("" if ok else f" (kappa / n = {g('rho_min'):.6g}): B_sh is no bound "
                                               "here")))
    out += _sharp_regime_checks(v, r, measured)
    if paper and v.get("sigma_u") is None:
        out.append(Check.assumed("Lemma 14 as published", "the paper's constants (--constants paper); kdbound's "
                                 "rigorous scale is slightly larger (docs/theory.md, Refined constants)"))
    if measured:
        out.append(Check.assumed("measured " + ", ".join(measured), "replace the lemma values in B_sh"))
    out.append(Check.assumed("student locally optimal in expectation", "an assumption of Theorem 12"))
    out.append(Check.assumed("assumptions A1-A5", "loss range, stability, Lipschitz, local smoothness and Hessian "
                             "constants as given"))
    return out


def _sharp_regime_checks(v: Mapping, r: Evaluation, measured: list[str]) -> list[Check]:
    """The tightness check: each says what it tests, and holds exactly when that is true."""
    rho, rho0, rho_min = _f(r["rho"]), _f(r["rho0"]), _f(r["rho_min"])
    if measured:
        better = bool(_first(r["tightens"]))
        return [Check.verified(better, f"B_sh < B_std at rho = {rho:.6g}",
                               f"improvement = {_f(r['improvement']):.6g} with the measured values; rho0 is undefined "
                               "for measured values (they hold at one radius)")]
    if v.get("rho") is not None:
        inside = rho < rho0
        why = (f"rho0 = {rho0:.6g}: the B_sh formula is below B_std at this radius" if inside else
               f"rho0 = {rho0:.6g}: outside the tightness regime, B_sh >= B_std")
        if inside and rho < rho_min:
            why += ", but Lemmas 14-15 do not apply below kappa / n: the bound is B_std"
        return [Check.verified(inside, "rho < rho0", why)]
    ok = rho_min < rho0
    return [Check.verified(ok, "kappa / n < rho0", f"admissible interval [{rho_min:.6g}, {rho0:.6g})"
                           + (" is non-empty; using its smallest radius" if ok else " is empty"))]


def _sharp_notes(v: Mapping, r: Evaluation) -> list[str]:
    notes = []
    measured = [n for n in MEASURED if v.get(n) is not None]
    if v.get("rho") is None:
        if _f(r["rho_min"]) == 0:
            notes.append("No --rho and kappa = 0: evaluated in the limit rho -> 0+ (rho must be > 0; B_sh grows "
                         "with rho).")
        elif measured or _f(r["rho_min"]) < _f(r["rho0"]):
            notes.append("No --rho: evaluated at the best admissible radius rho_min = kappa/n = "
                         f"{_f(r['rho_min']):.6g} (B_sh grows with rho).")
        else:
            notes.append("No radius in [kappa/n, rho0) exists: the sharpness-aware bound cannot beat the standard "
                         "bound here; shown at rho = kappa/n.")
    if measured:
        notes.append("rho0 and some_radius_tightens are null: the tightness regime is a statement about every "
                     f"radius, and the measured {', '.join(measured)} hold at one; improvement compares the two "
                     "bounds at this radius.")
    elif np.isinf(_f(r["rho0"])):
        notes.append("rho0 is +inf: with tau = 0 and A1 = A2 = 0 every radius tightens the bound.")
    if np.isnan(_f(r["sharpness_bound"])) and _f(r["rho"]) < _f(r["rho_min"]):
        notes.append(f"rho = {_f(r['rho']):.6g} is below kappa/n = {_f(r['rho_min']):.6g}: Lemmas 14-15 do not apply "
                     "there, so B_sh is no bound (sharpness_bound and improvement are null) and bound is the "
                     "standard bound B_std.")
    elif not bool(_first(r["tightens"])) and np.isfinite(_f(r["sharpness_bound"])):
        same = _f(r["improvement"]) == 0
        notes.append(f"The standard bound B_std = {_f(r['standard_bound']):.6g} is "
                     + ("equal to" if same else "tighter here than")
                     + f" the sharpness-aware bound B_sh = {_f(r['sharpness_bound']):.6g}: B_sh "
                     + ("does not improve on it" if same else "is dominated") + ", so bound is B_std "
                     "(bound_source standard).")
    some = bool(_first(r["some_radius_tightens"]))
    if some and not bool(_first(r["tightens"])) and not measured:
        notes.append(f"some_radius_tightens is true: a radius in [kappa/n, rho0) = [{_f(r['rho_min']):.6g}, "
                     f"{_f(r['rho0']):.6g}) would tighten the bound, though this rho does not.")
    return notes


# --------------------------------------------------------------------------- batches and sweeps

class NullCells:
    """Which result columns hold nulls in rows that did not fail, and why: a note per column.

    The reason is the note kdbound gives for a single evaluation of the first
    such row (e.g. ``lambda_opt is undefined when K = 0``), so batches and
    sweeps explain their nulls as single runs do.
    """

    def __init__(self, spec: BoundSpec, solved: str | None = None):
        self.spec, self.solved = spec, solved  # solved: the unknown of --solve, if any
        self.count: dict[str, int] = {}
        self.first: dict[str, tuple[int, dict]] = {}

    def add(self, chunk: dict, results: dict, bad_rows: np.ndarray, offset: int) -> None:
        n = len(bad_rows)
        for key, vals in results.items():
            arr = None if vals is None else np.broadcast_to(np.asarray(vals), (n,))
            if arr is None or arr.dtype == object:
                null = ~bad_rows if arr is None else np.array([v is None for v in arr]) & ~bad_rows
            else:
                if arr.dtype == bool:
                    continue
                null = ~np.isfinite(arr.astype(float)) & ~bad_rows
            if not null.any():
                continue
            self.count[key] = self.count.get(key, 0) + int(null.sum())
            if key not in self.first:
                i = int(np.argmax(null))
                row = {k: (None if v is None else np.broadcast_to(np.asarray(v), (n,))[i]) for k, v in chunk.items()}
                # the solved unknown's value (results that are also parameters, such as eta or sigma, stay
                # as given: they are outputs there, and as inputs would change the route)
                row.update({k: np.broadcast_to(np.asarray(v), (n,))[i] for k, v in results.items()
                            if k == self.solved and v is not None})
                self.first[key] = (offset + i + 1, row)

    def notes(self, total: int) -> list[str]:
        out = []
        for key, count in self.count.items():
            row_no, row = self.first[key]
            out.append(f"{key} is null in {count} of {total} rows (first: row {row_no}): {self._why(key, row)}")
        return out

    def _why(self, key: str, row: dict) -> str:
        unknown = self.solved
        if unknown is not None and row.get(unknown) is not None and not np.isfinite(row[unknown]):
            if np.isnan(row[unknown]):
                return f"no {unknown} meets the target there, so the row's results are null."
            if key == unknown:
                return f"every {key} meets the target there: the answer is arbitrarily large."
            row = {**row, unknown: np.finfo(float).max}  # the results were evaluated at a finite stand-in
        try:
            row = {k: v for k, v in row.items() if k in self.spec.param_names}  # not a target column
            ev = self.spec.evaluate(row)
            said = notes(self.spec, row, ev)
            # the note about this key: one that starts with it, else one that names it as a word
            for note in [n for n in said if n.startswith(f"{key} ")] + said:
                if re.search(rf"(?<![\w.]){re.escape(key)}(?![\w])", note):
                    return note
        except KdboundError:
            pass
        return "not finite (undefined, or beyond the float64 range)."


class SolveEnds:
    """Rows whose solution is not a crossing: said once per kind, with a count and the first row."""

    WHY = {1: "every value meets the target there: the answer is the end of the values that meet it",
           3: "{unknown} does not affect the bound there",
           4: "the smallest {unknown} allowed already meets the target there (larger values need not)"}

    def __init__(self, unknown):
        self.unknown = unknown
        self.count: dict[int, int] = {}
        self.first: dict[int, int] = {}

    def add(self, status, bad_rows, offset: int) -> None:
        for kind in self.WHY:
            rows = np.flatnonzero((status == kind) & ~bad_rows)
            if rows.size:
                self.count[kind] = self.count.get(kind, 0) + int(rows.size)
                self.first.setdefault(kind, offset + int(rows[0]) + 1)

    def notes(self, total: int) -> list[str]:
        return [f"{self.unknown} in {count} of {total} rows (first: row {self.first[kind]}): "
                + self.WHY[kind].format(unknown=self.unknown) for kind, count in self.count.items()]


def other_columns(names, columns: dict, results: dict, command: str, on_error: str) -> list[str]:
    """Notes on a batch's input columns that are not parameters: passed through, or replaced by fresh results."""
    others = [name for name in names if name not in columns]
    replaced = [name for name in others if name in results or name == "error"]
    passed = [name for name in others if name not in replaced]
    notes = []
    if passed:
        notes.append(f"column(s) {name_list(map(repr, passed))} are not parameters of {command}; passed "
                     "through unchanged")
    dropped = ["error"] if "error" in replaced and on_error != "null" else []
    replaced = [name for name in replaced if name not in dropped]
    if replaced:
        notes.append(f"input column(s) {name_list(map(repr, replaced))} are replaced by freshly computed results")
    if dropped:
        notes.append("input column 'error' is dropped: kdbound writes its own error column, with --on-error null")
    return notes


def failed_rows(failed: int, total: int, on_error: str, first: str) -> str:
    """The last line of a batch in which rows failed (``--on-error skip|null``)."""
    what = "skipped" if on_error == "skip" else "given null results"
    return f"kdbound: {failed} of {total} rows failed and were {what}; first: {first}"


def sweep_title(command: str, name: str) -> str:
    """The title of a sweep's table."""
    return f"kdbound {command}: sweep of {name}"


_CHECKS = {"upper": _upper_checks, "lower": _lower_checks, "sharpness": _sharp_checks}
_NOTES = {"upper": _upper_notes, "lower": _lower_notes, "sharpness": _sharp_notes}
