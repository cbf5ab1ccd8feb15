"""The three bound commands as data: their parameters, how a set of named
values is evaluated, their contract keys, the conditions they check and their
closed-form solutions.

This is the layer the CLI, batch evaluation, sweeps and ``--solve`` share:
each of them builds a ``dict`` of parameter values (floats or equal-length
arrays) and calls :meth:`Model.evaluate`.  Still pure: no I/O.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

from ..errors import InputError, option_name
from . import bounds as B
from ._checks import finite, nonneg, positive


class Param(NamedTuple):
    name: str        # engine name, e.g. "gen_t"; the option is --gen-t
    help: str
    integer: bool = False


class Check(NamedTuple):
    ok: bool
    condition: str
    reason: str


class Model(NamedTuple):
    name: str
    theorem: str
    formula: str
    params: tuple[Param, ...]
    keys: tuple[str, ...]                      # contract result keys, in order
    evaluate: Callable[[dict], dict]           # parameter values -> result arrays
    checks: Callable[[dict, dict], list]       # scalar inputs, results -> [Check]
    notes: Callable[[dict, dict], list]        # scalar inputs, results -> [str]
    required: tuple[str, ...] = ()             # always needed (other needs depend on the route)
    closed_forms: dict = {}                    # unknown -> f(values, target) -> array (read-only)
    # how the bound moves when the target is to be met: "at_most" (upper bounds) or "at_least"
    target_sense: str = "at_most"

    def check_required(self, values: dict) -> None:
        _need(values, self.required, f"for {self.name}")

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)


def _need(values: dict, names: tuple[str, ...], why: str) -> None:
    missing = [n for n in names if values.get(n) is None]
    if missing:
        raise InputError(f"{' '.join(option_name(m) for m in missing)}: required {why}")


# --------------------------------------------------------------------------- sigma routes

STABILITY = ("loss_min", "loss_max", "beta", "n")
PARAM_STABILITY = ("loss_min", "loss_max", "kappa", "lipschitz", "n")


def sigma_route(values: dict) -> str:
    """Which route gives sigma: "given", "stability" (Prop. 9) or "parameter-stability" (Lemma 13)."""
    has = lambda n: values.get(n) is not None  # noqa: E731
    if has("beta") and (has("kappa") or has("lipschitz")):
        raise InputError("--beta conflicts with --kappa/--lipschitz: choose one stability route")
    if has("sigma"):
        extra = [n for n in ("loss_min", "loss_max", "beta", "kappa", "lipschitz") if has(n)]
        if extra:
            raise InputError(f"--sigma conflicts with {option_name(extra[0])}: give sigma directly or by a stability route, not both")
        return "given"
    if has("beta"):
        _need(values, STABILITY, "for sigma from algorithmic stability (Proposition 9)")
        return "stability"
    if has("kappa") or has("lipschitz"):
        _need(values, PARAM_STABILITY, "for sigma from parameter stability (Lemma 13)")
        return "parameter-stability"
    raise InputError("--sigma: required (or derive it: --loss-min --loss-max --beta --n for Proposition 9, "
                     "or --loss-min --loss-max --kappa --lipschitz --n for Lemma 13)")


def sigma_of(values: dict) -> np.ndarray:
    route = sigma_route(values)
    v = values
    if route == "given":
        return nonneg("sigma", v["sigma"])
    if route == "stability":
        return B.sigma_stability(v["loss_min"], v["loss_max"], v["beta"], v["n"]).sigma
    return B.sigma_parameter_stability(v["loss_min"], v["loss_max"], v["kappa"], v["lipschitz"], v["n"]).sigma


ROUTE_TEXT = {
    "given": "given (--sigma)",
    "stability": "Proposition 9: sqrt(n) beta + (b - a) / (2 sqrt(n))",
    "parameter-stability": "Lemma 13: (kappa L + (b - a)/2) / sqrt(n)",
}

SIGMA_PARAMS = (
    Param("sigma", "sub-Gaussian proxy sigma of the teacher gap (not sigma^2)"),
    Param("loss_min", "lower end a of the loss range"),
    Param("loss_max", "upper end b of the loss range"),
    Param("beta", "uniform stability beta of the teacher (Proposition 9)"),
    Param("kappa", "parameter stability: ||A(D) - A(D')|| <= kappa / n (Lemma 13)"),
    Param("lipschitz", "global Lipschitz constant L of the loss (Lemma 13)"),
    Param("n", "number of training samples", integer=True),
)


def _first(x):
    """The first element of a scalar or array result (checks and notes describe one evaluation)."""
    return np.asarray(x).reshape(-1)[0]


def _f(x) -> float:
    return float(_first(x))


# --------------------------------------------------------------------------- upper

def _upper_eval(v: dict) -> dict:
    sigma = sigma_of(v)
    r = B.upper_bound(v.get("gen_t"), v.get("kl"), sigma)
    return {"bound": r.bound, "sigma": r.sigma, "slack": r.slack, "lambda_opt": r.lambda_opt,
            "lower_two_sided": r.lower_two_sided}


def _upper_checks(v: dict, r: dict) -> list:
    route = sigma_route(v)
    out = [Check(True, "K >= 0", "KL divergence of the student process from the teacher's"),
           Check(True, f"sigma = {_f(r['sigma']):.6g}", "sub-Gaussian teacher gap, " + ROUTE_TEXT[route])]
    if route == "stability":
        n, beta = _f(v["n"]), _f(v["beta"])
        shrinks = beta * np.sqrt(n) < 1.0
        out.append(Check(bool(shrinks), "beta = o(1/sqrt(n))",
                         "the stability route shrinks with n only when beta sqrt(n) -> 0"
                         + ("" if shrinks else f" (here beta sqrt(n) = {beta * np.sqrt(n):.3g})")))
    return out


def _upper_notes(v: dict, r: dict) -> list:
    notes = []
    if _f(v["kl"]) == 0:
        notes.append("lambda_opt is undefined when K = 0: the bound is gen_T for every lambda.")
    elif _f(r["sigma"]) == 0:
        notes.append("lambda_opt is +inf when sigma = 0: the gap is deterministic and the bound is gen_T.")
    return notes


def _upper_solve_kl(v, target):
    sigma, gen_t = sigma_of(v), finite("gen_t", v["gen_t"])
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.where(sigma == 0, np.inf, 0.5 * ((target - gen_t) / sigma) ** 2)
    return np.where(target >= gen_t, k, np.nan)


def _upper_solve_sigma(v, target):
    kl, gen_t = nonneg("kl", v["kl"]), finite("gen_t", v["gen_t"])
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(kl == 0, np.inf, (target - gen_t) / np.sqrt(2.0 * kl))
    return np.where(target >= gen_t, s, np.nan)


def _upper_solve_gen_t(v, target):
    return target - B.upper_bound(0.0, v["kl"], sigma_of(v)).slack


def _sigma_target_n(v, s_target):
    """Smallest n with sigma(n) <= s_target on the route in use (closed form)."""
    route = sigma_route({**v, "n": 1.0})
    half = (finite("loss_max", v["loss_max"]) - finite("loss_min", v["loss_min"])) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        if route == "parameter-stability":
            u = (nonneg("kappa", v["kappa"]) * nonneg("lipschitz", v["lipschitz"]) + half) / s_target
            u = np.where(s_target > 0, u, np.nan)
        elif route == "stability":
            beta = nonneg("beta", v["beta"])
            # beta u^2 - s u + half = 0, u = sqrt(n): the smaller root (sigma falls until n = half / beta)
            disc = s_target * s_target - 4.0 * beta * half
            u = np.where(beta == 0, half / s_target, 2.0 * half / (s_target + np.sqrt(disc)))
            u = np.where((disc >= 0) & (s_target > 0), u, np.nan)
        else:
            raise InputError("--solve n: needs a stability route for sigma (Proposition 9 or Lemma 13), not --sigma")
    return np.maximum(u * u, 1.0)  # the solver rounds to the smallest integer meeting the target


def _upper_solve_n(v, target):
    """Smallest n whose stability-route sigma is at most the sigma that meets the target."""
    return _sigma_target_n(v, _upper_solve_sigma(v, target))


UPPER = Model(
    name="upper",
    theorem="Theorem 1 (Li and He, ISIT 2026)",
    formula="gen_S <= gen_T + sigma * sqrt(2 K)",
    params=(Param("gen_t", "teacher generalization gap gen_T"),
            Param("kl", "distillation divergence K = KL(student process || teacher process), nats"),
            *SIGMA_PARAMS),
    keys=("bound", "sigma", "slack", "lambda_opt", "lower_two_sided"),
    evaluate=_upper_eval, checks=_upper_checks, notes=_upper_notes, required=("gen_t", "kl"),
    closed_forms={"kl": _upper_solve_kl, "sigma": _upper_solve_sigma, "gen_t": _upper_solve_gen_t,
                  "n": _upper_solve_n},
    target_sense="at_most",
)


# --------------------------------------------------------------------------- lower

def _lower_mode(v: dict) -> str:
    if v.get("c") is not None:
        given = [n for n in ("sigma", "beta", "kappa", "lipschitz") if v.get(n) is not None]
        if given:
            raise InputError(f"--c conflicts with {option_name(given[0])}: give (--eta, --c) for Theorem 10, "
                             "or sigma for Remark 2's pair, not both")
        _need(v, ("eta",), "with --c (Theorem 10 needs the pair (eta, c))")
        return "central"
    return "subgaussian"


def _lower_eval(v: dict) -> dict:
    if _lower_mode(v) == "central":
        r = B.lower_bound(v.get("gen_t"), v.get("kl"), v["eta"], v["c"])
        return {"bound": r.bound, "eta": r.eta, "c": r.c, "boundary": r.boundary}
    sigma = sigma_of(v)
    r = B.lower_bound_subgaussian(v.get("gen_t"), v.get("kl"), sigma, v.get("eta"))
    return {"bound": r.bound, "eta": r.eta, "c": r.c, "sigma": sigma + 0 * r.bound, "boundary": r.boundary}


def _lower_checks(v: dict, r: dict) -> list:
    if _lower_mode(v) == "central":
        return [Check(True, "0 < c <= 1, eta > 0", "(eta, c)-central condition of the teacher gap (assumed)")]
    sigma, eta = _f(r["sigma"]), _f(r["eta"])
    out = [Check(True, "gen_T > 0", "Remark 2 derives the central condition from sub-Gaussianity"),
           Check(True, f"sigma = {sigma:.6g}", "sub-Gaussian teacher gap, " + ROUTE_TEXT[sigma_route(v)])]
    if bool(_first(r["boundary"])):
        out.append(Check(False, "eta* = sqrt(2K)/sigma < 2 gen_T / sigma^2",
                         "the optimum lies at the interval's end where c -> 0: the bound is valid but trivial"))
    else:
        out.append(Check(True, "0 < eta < 2 gen_T / sigma^2", f"Remark 2's interval (eta = {eta:.6g})"))
    return out


def _lower_notes(v: dict, r: dict) -> list:
    notes = []
    if _lower_mode(v) == "subgaussian":
        if bool(_first(r["boundary"])):
            notes.append("eta* = sqrt(2K)/sigma lies beyond 2 gen_T / sigma^2: the supremum is approached as "
                         "eta -> 2 gen_T / sigma^2 (c -> 0), giving the trivial value -K sigma^2 / (2 gen_T).")
        if np.isinf(_f(r["eta"])):
            notes.append("eta is +inf: with sigma = 0 the bound tends to gen_T as eta -> inf.")
        elif _f(r["eta"]) == 0 and v.get("eta") is None:
            notes.append("eta -> 0 when K = 0: the bound tends to gen_T.")
    return notes


def _lower_solve_kl(v, target):
    gen_t = finite("gen_t", v["gen_t"])
    if _lower_mode(v) == "central":
        eta, c = positive("eta", v["eta"]), positive("c", v["c"])
        return np.where(c * gen_t >= target, eta * (c * gen_t - target), np.nan)
    if v.get("eta") is not None:
        return None  # fixed eta under Remark 2: no closed form offered, the root finder handles it
    sigma = sigma_of(v)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.where(target >= -gen_t, 0.5 * ((gen_t - target) / sigma) ** 2, -2.0 * gen_t * target / (sigma * sigma))
        k = np.where(sigma == 0, np.inf, k)
    return np.where((target <= gen_t) & (gen_t > 0), k, np.nan)


LOWER = Model(
    name="lower",
    theorem="Theorem 10 (Li and He, ISIT 2026); Remark 2 for (eta, c) from sigma",
    formula="gen_S >= c * gen_T - K / eta",
    params=(Param("gen_t", "teacher generalization gap gen_T"),
            Param("kl", "distillation divergence K, nats"),
            Param("eta", "central-condition eta > 0 (optional with --sigma: chosen optimally)"),
            Param("c", "central-condition constant c in (0, 1]"),
            *SIGMA_PARAMS),
    keys=("bound", "eta", "c"),
    evaluate=_lower_eval, checks=_lower_checks, notes=_lower_notes, required=("gen_t", "kl"),
    closed_forms={"kl": _lower_solve_kl},
    target_sense="at_least",
)


# --------------------------------------------------------------------------- sharpness

SHARP_REQUIRED = ("gen_t", "kl", "n", "loss_min", "loss_max", "kappa", "lipschitz", "g0", "alpha", "tau")


def _sharp_result(v: dict) -> B.SharpnessBound:
    _need(v, SHARP_REQUIRED, "for the sharpness-aware bound (Theorem 12)")
    return B.sharpness_bound(*(v[n] for n in SHARP_REQUIRED), rho=v.get("rho"), dim=v.get("dim"),
                             sigma_u=v.get("sigma_u"), nu=v.get("nu"), sharpness=v.get("sharpness"))


def _sharp_eval(v: dict) -> dict:
    return _sharp_result(v).as_dict()


def _sharp_checks(v: dict, r: dict) -> list:
    g = lambda k: _f(r[k])  # noqa: E731
    out = []
    flat = _f(v["g0"]) < _f(v["lipschitz"])
    out.append(Check(flat, "g0 < L (A0 > 0)", "the teacher is locally flatter than the global Lipschitz constant"
                     if flat else "no tightening is possible: g0 >= L"))
    if v.get("rho") is not None:
        ok = g("rho") >= g("rho_min")
        out.append(Check(ok, "rho >= kappa / n", "Lemmas 14-15 need the rho-ball to cover the stability segment"
                         + ("" if ok else f" (rho_min = {g('rho_min'):.6g})")))
        out.append(Check(g("rho") < g("rho0"), "rho < rho0", "inside the tightness regime: B_sh < B_std"
                         if g("rho") < g("rho0") else f"outside the tightness regime (rho0 = {g('rho0'):.6g})"))
    else:
        ok = g("rho_min") < g("rho0")
        out.append(Check(ok, "kappa / n < rho0", f"admissible interval [{g('rho_min'):.6g}, {g('rho0'):.6g})"
                         + (" is non-empty; using its smallest radius" if ok else " is empty")))
    measured = [n for n in ("sigma_u", "nu", "sharpness") if v.get(n) is not None]
    if measured:
        out.append(Check(True, "measured " + ", ".join(measured), "replace the lemma values in B_sh; rho0 stays lemma-based"))
    out.append(Check(True, "student locally optimal in expectation", "assumed by Theorem 12"))
    return out


def _sharp_notes(v: dict, r: dict) -> list:
    notes = []
    if v.get("rho") is None:
        if _f(r["rho_min"]) < _f(r["rho0"]):
            notes.append(f"No --rho: evaluated at the best admissible radius rho_min = kappa/n = {_f(r['rho_min']):.6g} "
                         "(B_sh grows with rho).")
        else:
            notes.append("No radius in [kappa/n, rho0) exists: the sharpness-aware bound cannot beat the standard "
                         "bound here; shown at rho = kappa/n.")
    if np.isinf(_f(r["rho0"])):
        notes.append("rho0 is +inf: with tau = 0 and A1 = A2 = 0 every radius tightens the bound.")
    return notes


def _sharp_solve_kl(v, target):
    r = _sharp_result({**v, "kl": 0.0})
    coef = r.sigma_u + r.nu
    base = r.bound  # gen_T + sharpness term at K = 0
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.where(coef == 0, np.inf, 0.5 * ((target - base) / coef) ** 2)
    return np.where(target >= base, k, np.nan)


def _sharp_solve_rho(v, target):
    """Largest rho with B_sh(rho) <= target: B_sh is a quadratic in rho with non-negative coefficients."""
    if any(v.get(n) is not None for n in ("sigma_u", "nu", "sharpness")):
        return None
    zero = _sharp_result({**v, "rho": 0.0})
    one = _sharp_result({**v, "rho": 1.0})
    two = _sharp_result({**v, "rho": 2.0})
    c0 = zero.bound
    # exact coefficients from three evaluations of a quadratic
    qa = (two.bound - 2.0 * one.bound + c0) / 2.0
    qb = one.bound - c0 - qa
    qc = c0 - target
    with np.errstate(divide="ignore", invalid="ignore"):
        root = np.where(qa == 0, -qc / qb, 2.0 * (-qc) / (qb + np.sqrt(qb * qb - 4.0 * qa * qc)))
    return np.where(qc <= 0, root, np.nan)


SHARPNESS = Model(
    name="sharpness",
    theorem="Theorem 12 with Lemmas 13-16 (Li and He, ISIT 2026); tightness radius rho0 (SPEC section 3)",
    formula="gen_S <= gen_T + E[S_P(f_T)] + (sigma_u + nu) * sqrt(2 K)",
    params=(Param("gen_t", "teacher generalization gap gen_T"),
            Param("kl", "distillation divergence K, nats"),
            Param("n", "number of training samples", integer=True),
            Param("loss_min", "lower end a of the loss range"),
            Param("loss_max", "upper end b of the loss range"),
            Param("kappa", "parameter stability constant kappa (||A(D) - A(D')|| <= kappa / n)"),
            Param("lipschitz", "global Lipschitz constant L of the loss"),
            Param("g0", "gradient bound ||grad l(f_T; z)|| <= g0 near the teacher"),
            Param("alpha", "smoothness alpha of the loss on B(f_T, 2 rho)"),
            Param("tau", "population Hessian operator-norm bound tau on B(f_T, rho)"),
            Param("rho", "perturbation radius rho (default: the best admissible one, kappa / n)"),
            Param("dim", "parameter dimension d: sharper Lemma 16 constant tau rho^2 d / (2 (d + 2))", integer=True),
            Param("sigma_u", "measured proxy of the perturbed gap (replaces Lemma 14)"),
            Param("nu", "measured proxy of the empirical sharpness (replaces Lemma 15)"),
            Param("sharpness", "measured E[S_P(f_T)] (replaces Lemma 16)")),
    keys=("bound", "standard_bound", "sigma0", "sigma_u", "nu", "sharpness_term", "a0", "a1", "a2",
          "rho0", "rho_min", "improvement"),
    evaluate=_sharp_eval, checks=_sharp_checks, notes=_sharp_notes, required=SHARP_REQUIRED,
    closed_forms={"kl": _sharp_solve_kl, "rho": _sharp_solve_rho},
    target_sense="at_most",
)

MODELS = {m.name: m for m in (UPPER, LOWER, SHARPNESS)}
