"""What kdbound says about an evaluation, in words: the theorem's conditions as
checked for these inputs, and notes on edge cases.  Presentation only; the
numbers come from :mod:`kdbound.engine`."""

from __future__ import annotations

from typing import Mapping

import numpy as np

from ..engine.specs import MEASURED, BoundSpec, Evaluation
from .report import Check

ROUTE_TEXT = {
    "given": "given (--sigma)",
    "stability": "Proposition 9: sqrt(n) beta + (b - a) / (2 sqrt(n))",
    "parameter-stability": "Lemma 13: (kappa L + (b - a)/2) / sqrt(n)",
}


def _first(x):
    """The first element of a scalar or array result (checks and notes describe one evaluation)."""
    return np.asarray(x).reshape(-1)[0]


def _f(x) -> float:
    return float(_first(x))


def checks(spec: BoundSpec, values: Mapping, ev: Evaluation) -> list[Check]:
    """The conditions of ``spec``'s theorem, each with a mark and a reason."""
    return _CHECKS[spec.name](values, ev)


def notes(spec: BoundSpec, values: Mapping, ev: Evaluation) -> list[str]:
    """Notes on edge cases of this evaluation (undefined or infinite values, defaults used)."""
    return _NOTES[spec.name](values, ev)


def route_text(ev: Evaluation) -> str | None:
    """How sigma was obtained, for the JSON ``sigma_route`` key (None when sigma is not used)."""
    return ev.route if ev.route in ROUTE_TEXT else None


def _sigma_check(r: Evaluation) -> Check:
    """sub-Gaussianity of the teacher gap: never verifiable from the numbers, so an assumption."""
    how = {"given": "sigma given (--sigma)",
           "stability": "sigma by " + ROUTE_TEXT["stability"] + ", under the assumed stability",
           "parameter-stability": "sigma by " + ROUTE_TEXT["parameter-stability"] + ", under the assumed "
                                  "stability and Lipschitz constants"}[r.route]
    return Check.assumed(f"sub-Gaussian teacher gap, sigma = {_f(r['sigma']):.6g}", how)


# --------------------------------------------------------------------------- upper

def _upper_checks(v: Mapping, r: Evaluation) -> list[Check]:
    out = [Check.verified(True, "K >= 0", "KL divergence of the student process from the teacher's"),
           _sigma_check(r)]
    if r.route == "stability":
        n, beta = _f(v["n"]), _f(v["beta"])
        shrinks = beta * np.sqrt(n) < 1.0
        out.append(Check.verified(bool(shrinks), "beta = o(1/sqrt(n))",
                         "the stability route shrinks with n only when beta sqrt(n) -> 0"
                         + ("" if shrinks else f" (here beta sqrt(n) = {beta * np.sqrt(n):.3g})")))
    return out


def _upper_notes(v: Mapping, r: Evaluation) -> list[str]:
    notes = []
    if _f(v["kl"]) == 0:
        notes.append("lambda_opt is undefined when K = 0: the bound is gen_T for every lambda.")
    elif _f(r["sigma"]) == 0:
        notes.append("lambda_opt is +inf when sigma = 0: the gap is deterministic and the bound is gen_T.")
    return notes


# --------------------------------------------------------------------------- lower

def _lower_checks(v: Mapping, r: Evaluation) -> list[Check]:
    if r.route == "central":
        return [Check.verified(True, "0 < c <= 1, eta > 0", "the pair lies in Theorem 10's range"),
                Check.assumed("(eta, c)-central condition", "of the teacher gap: log E exp(-eta h) <= -c eta E h")]
    eta = _f(r["eta"])
    out = [Check.verified(True, "gen_T > 0", "Remark 2 derives the central condition from sub-Gaussianity"),
           _sigma_check(r)]
    if bool(_first(r["boundary"])):
        out.append(Check.verified(False, "eta* = sqrt(2K)/sigma < 2 gen_T / sigma^2",
                         "the optimum lies at the interval's end where c -> 0: the bound is valid but trivial"))
    else:
        out.append(Check.verified(True, "0 < eta < 2 gen_T / sigma^2", f"Remark 2's interval (eta = {eta:.6g})"))
    return out


def _lower_notes(v: Mapping, r: Evaluation) -> list[str]:
    notes = []
    if r.route != "central":
        if bool(_first(r["boundary"])):
            notes.append("eta* = sqrt(2K)/sigma lies beyond 2 gen_T / sigma^2: the supremum is approached as "
                         "eta -> 2 gen_T / sigma^2 (c -> 0), giving the trivial value -K sigma^2 / (2 gen_T).")
        if np.isinf(_f(r["eta"])):
            notes.append("eta is +inf: with sigma = 0 the bound tends to gen_T as eta -> inf.")
        elif _f(r["eta"]) == 0 and v.get("eta") is None:
            notes.append("eta -> 0 when K = 0: the bound tends to gen_T.")
    return notes


# --------------------------------------------------------------------------- sharpness

def _sharp_checks(v: Mapping, r: Evaluation) -> list[Check]:
    def g(k):
        return _f(r[k])

    out = []
    flat = _f(v["g0"]) < _f(v["lipschitz"])
    out.append(Check.verified(flat, "g0 < L (A0 > 0)", "the teacher is locally flatter than the global Lipschitz "
                              "constant" if flat else "no tightening is possible: g0 >= L"))
    if v.get("rho") is not None:
        ok = g("rho") >= g("rho_min")
        out.append(Check.verified(ok, "rho >= kappa / n", "Lemmas 14-15 need the rho-ball to cover the stability "
                                  "segment" + ("" if ok else f" (rho_min = {g('rho_min'):.6g})")))
        out.append(Check.verified(g("rho") < g("rho0"), "rho < rho0", "inside the tightness regime: B_sh < B_std"
                         if g("rho") < g("rho0") else f"outside the tightness regime (rho0 = {g('rho0'):.6g})"))
    else:
        ok = g("rho_min") < g("rho0")
        out.append(Check.verified(ok, "kappa / n < rho0", f"admissible interval [{g('rho_min'):.6g}, {g('rho0'):.6g})"
                         + (" is non-empty; using its smallest radius" if ok else " is empty")))
    measured = [n for n in MEASURED if v.get(n) is not None]
    if measured:
        out.append(Check.assumed("measured " + ", ".join(measured),
                         "replace the lemma values in B_sh; rho0 stays lemma-based"))
    out.append(Check.assumed("student locally optimal in expectation", "an assumption of Theorem 12"))
    out.append(Check.assumed("assumptions A1-A5", "loss range, stability, Lipschitz, local smoothness and Hessian "
                             "constants as given"))
    return out


def _sharp_notes(v: Mapping, r: Evaluation) -> list[str]:
    notes = []
    if v.get("rho") is None:
        if _f(r["rho_min"]) < _f(r["rho0"]):
            notes.append("No --rho: evaluated at the best admissible radius rho_min = kappa/n = "
                         f"{_f(r['rho_min']):.6g} (B_sh grows with rho).")
        else:
            notes.append("No radius in [kappa/n, rho0) exists: the sharpness-aware bound cannot beat the standard "
                         "bound here; shown at rho = kappa/n.")
    if np.isinf(_f(r["rho0"])):
        notes.append("rho0 is +inf: with tau = 0 and A1 = A2 = 0 every radius tightens the bound.")
    return notes


_CHECKS = {"upper": _upper_checks, "lower": _lower_checks, "sharpness": _sharp_checks}
_NOTES = {"upper": _upper_notes, "lower": _lower_notes, "sharpness": _sharp_notes}
