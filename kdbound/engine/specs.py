"""The bound commands as data: their parameters, how a set of named values is
evaluated, which assumption route the values select, and closed-form solutions.

This is the layer that single evaluations, batches, sweeps and :func:`solve`
share: each builds a mapping of parameter values (floats or equal-length
arrays) and calls :meth:`BoundSpec.evaluate`.  Pure: no I/O and no wording
for people (conditions and notes are written by :mod:`kdbound.render.explain`).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Callable, Iterator, NamedTuple

import numpy as np

from ..errors import InputError
from . import bounds as B
from ._checks import as_float, finite, nonneg, positive, require
from .numerics import half_range, prod_ratio, quiet_fp, root_2k


class Param(NamedTuple):
    """One parameter of a bound: its engine name (``gen_t``; the option is ``--gen-t``),
    a one-line help text, its role (``group``, which the help groups options by) and
    whether it is a whole number.  (A NamedTuple: immutable, and cheap at start-up.)"""

    name: str
    help: str
    group: str = "inputs"
    integer: bool = False
    choices: tuple[str, ...] | None = None  # a word from this list instead of a number (first is the default)


class Evaluation:
    """The results of one evaluation (a read-only mapping of name -> array) and the
    route that produced them: for sigma "given", "stability" (Proposition 9),
    "parameter-stability" (Lemma 13) or "range" (b - a); for the lower bound also "central"
    (Theorem 10 with a given pair); for the sharpness bound "lemmas"."""

    __slots__ = ("results", "route")

    def __init__(self, results: Mapping, route: str):
        self.results = MappingProxyType(dict(results))
        self.route = route

    def __getitem__(self, key: str):
        return self.results[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def __contains__(self, key) -> bool:
        return key in self.results

    def keys(self):
        return self.results.keys()

    def items(self):
        return self.results.items()

    def get(self, key: str, default=None):
        return self.results.get(key, default)

    def __repr__(self) -> str:
        return f"Evaluation(route={self.route!r}, results={dict(self.results)!r})"


def _frozen(mapping: dict | None = None) -> Mapping:
    return MappingProxyType(dict(mapping or {}))


class BoundSpec:
    """A bound as data: what it needs, how it is computed and how ``solve`` inverts it.

    ``route(values)`` names the assumption route the values select (and raises
    :class:`InputError` for a conflicting or incomplete set);
    ``compute(values, route)`` returns the result arrays, ``"bound"`` first.
    ``closed_forms`` maps an unknown to ``f(values, target) -> array`` (NaN where
    no value meets the target; ``None`` to defer to bisection).  ``target_sense``
    says whether a target is met "at_most" (upper bounds) or "at_least".  ``solve_on`` maps an
    unknown to the result that ``solve`` puts at the target when it is not ``"bound"`` (the
    sharpness bound's rho moves B_sh only).
    Read-only after construction.  (A plain class with slots, not a dataclass:
    the three specs are built on every start-up.)
    """

    __slots__ = ("name", "theorem", "formula", "params", "route", "compute", "required", "closed_forms",
                 "target_sense", "solve_on")

    def __init__(self, name: str, theorem: str, formula: str, params: tuple[Param, ...],
                 route: Callable[[dict], str], compute: Callable[[dict, str], dict], required: tuple[str, ...] = (),
                 closed_forms: Mapping | None = None, target_sense: str = "at_most",
                 solve_on: Mapping | None = None):
        fields = dict(name=name, theorem=theorem, formula=formula, params=tuple(params), route=route,
                      compute=compute, required=tuple(required), closed_forms=_frozen(closed_forms),
                      target_sense=target_sense, solve_on=_frozen(solve_on))
        for key, value in fields.items():
            object.__setattr__(self, key, value)

    def __setattr__(self, key, value):
        raise AttributeError(f"BoundSpec is read-only: cannot set {key!r}")

    def __delattr__(self, key):
        raise AttributeError(f"BoundSpec is read-only: cannot delete {key!r}")

    def __repr__(self) -> str:
        return f"BoundSpec(name={self.name!r}, theorem={self.theorem!r})"

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    @property
    def numeric_names(self) -> tuple[str, ...]:
        """The parameters that take numbers (those a batch column, a sweep or solve can supply)."""
        return tuple(p.name for p in self.params if p.choices is None)

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise InputError(f"must be one of {', '.join(self.param_names)} for {self.name} (got {name!r})",
                         "param")

    def values(self, given: Mapping) -> dict:
        """Every parameter present (None when not given); unknown names are an error."""
        unknown = [k for k in given if k not in self.param_names]
        if unknown:
            raise InputError(f"not a parameter of {self.name} (parameters: {', '.join(self.param_names)})",
                             unknown[0])
        return {p: given.get(p) for p in self.param_names}

    def check_required(self, values: Mapping) -> None:
        need(values, self.required, f"for {self.name}")

    def evaluate(self, values: Mapping) -> Evaluation:
        """Results for ``values`` (scalars or broadcastable arrays), with the route resolved once."""
        v = self.values(values)
        self.check_required(v)
        for p in self.params:
            if p.integer and v[p.name] is not None:
                x = as_float(p.name, v[p.name])
                require(p.name, x, np.isfinite(x) & (x != np.floor(x)), "must be a whole number")
        route = self.route(v)
        return Evaluation(self.compute(v, route), route)


def need(values: Mapping, names: tuple[str, ...], why: str, refs: tuple[str, ...] = ()) -> None:
    """Raise naming every parameter of ``names`` that has no value (``why`` may name ``refs``)."""
    missing = tuple(n for n in names if values.get(n) is None)
    if missing:
        raise InputError(f"required {why}", missing if len(missing) > 1 else missing[0], refs=refs)


# --------------------------------------------------------------------------- sigma routes

STABILITY = ("loss_min", "loss_max", "beta", "n")
PARAM_STABILITY = ("loss_min", "loss_max", "kappa", "lipschitz", "n")
ROUTES = ("given", "stability", "parameter-stability", "range")


def _loss_pair(values: Mapping) -> None:
    """The loss range comes as a pair [a, b]."""
    for one, other in (("loss_min", "loss_max"), ("loss_max", "loss_min")):
        if values.get(one) is not None and values.get(other) is None:
            raise InputError(f"required with {{{one}}} (the loss range is [{{loss_min}}, {{loss_max}}])", other,
                             refs=(one, "loss_min", "loss_max"))


def sigma_route(values: Mapping) -> str:
    """Which route gives sigma: "given", "stability" (Prop. 9), "parameter-stability" (Lemma 13) or
    "range" (the loss range alone: sigma = b - a, by Hoeffding's lemma on the gap, which lies in
    [-(b - a), b - a]).

    Every parameter given must be used by the route: a conflicting or unused
    one is an error (the loss range may accompany any route: it decides
    whether the bound is vacuous).
    """
    def has(n):
        return values.get(n) is not None

    _loss_pair(values)
    if has("beta") and (has("kappa") or has("lipschitz")):
        raise InputError("conflicts with {kappa}/{lipschitz}: choose one stability route", "beta",
                         refs=("kappa", "lipschitz"))
    if has("sigma"):
        extra = [n for n in ("beta", "kappa", "lipschitz") if has(n)]
        if extra:
            raise InputError("conflicts with {%s}: give sigma directly or by a stability route, not both" % extra[0],
                             "sigma", refs=(extra[0],))
        if has("n"):
            raise InputError("not used with {sigma}: only the stability routes use the sample size", "n",
                             refs=("sigma",))
        return "given"
    if has("beta"):
        need(values, STABILITY, "for sigma from algorithmic stability (Proposition 9)")
        return "stability"
    if has("kappa") or has("lipschitz"):
        need(values, PARAM_STABILITY, "for sigma from parameter stability (Lemma 13)")
        return "parameter-stability"
    if has("loss_min") and has("loss_max"):
        if has("n"):
            raise InputError("not used with the loss range alone (sigma = b - a): give {beta} for Proposition 9 or "
                             "{kappa} {lipschitz} for Lemma 13, which use the sample size", "n",
                             refs=("beta", "kappa", "lipschitz"))
        return "range"
    raise InputError("required (or derive it: {loss_min} {loss_max} alone for sigma = b - a, {loss_min} {loss_max} "
                     "{beta} {n} for Proposition 9, or {loss_min} {loss_max} {kappa} {lipschitz} {n} for Lemma 13)",
                     "sigma", refs=("loss_min", "loss_max", "beta", "n", "kappa", "lipschitz"))


def vacuous(bound, values: Mapping, sense: str):
    """Whether a bound says nothing about a loss in [a, b]: gen_S always lies in [-(b - a), b - a].

    An upper bound (``sense="at_most"``) >= b - a, or a lower bound <= -(b - a),
    is vacuous.  None when the loss range is not given (it cannot be decided).
    """
    if values.get("loss_min") is None or values.get("loss_max") is None:
        return None
    with np.errstate(over="ignore", invalid="ignore"):
        width = loss_width(values)
        out = np.asarray(bound >= width) if sense == "at_most" else np.asarray(bound <= -width)
    return out[()] if out.ndim == 0 else out


def loss_width(values: Mapping):
    """b - a of the loss range, b > a checked (inf when it exceeds float64, which no bound can reach anyway;
    formed directly otherwise, so a subnormal width is not halved to 0 first)."""
    a, b = B._loss_range(values["loss_min"], values["loss_max"])
    with np.errstate(over="ignore"):  # a width beyond float64 is inf, as documented
        width = b - a
        return np.where(np.isfinite(width), width, 2.0 * half_range(a, b))


def check_gen_t_range(values: Mapping) -> None:
    """With a loss in [a, b] every gap lies in [-(b - a), b - a], so gen_T must too."""
    if values.get("loss_min") is None or values.get("loss_max") is None or values.get("gen_t") is None:
        return
    width = loss_width(values)  # the range itself first: b <= a is the range's fault, not gen_t's
    gen_t = finite("gen_t", values["gen_t"])
    require("gen_t", gen_t, np.abs(gen_t) > width,
            "must lie in [-(b - a), b - a] for a loss in [a, b] ({loss_min}, {loss_max})")


def sigma_of(values: Mapping, route: str | None = None) -> np.ndarray:
    """sigma by the route the values select (or the one given)."""
    route = sigma_route(values) if route is None else route
    v = values
    if route == "given":
        return nonneg("sigma", v["sigma"])
    if route == "range":  # Hoeffding's lemma: a gap in [-(b - a), b - a] is sub-Gaussian with proxy b - a
        width = loss_width(v)
        require("loss_max", np.broadcast_to(np.asarray(v["loss_max"], dtype=float), np.shape(width)),
                ~np.isfinite(width), "must leave a finite width b - a = {loss_max} - {loss_min} for sigma = b - a "
                "(beyond float64 here)")
        return width
    if route == "stability":
        sigma, used = B.sigma_stability(v["loss_min"], v["loss_max"], v["beta"], v["n"]).sigma, ("beta", "n")
    else:
        sigma = B.sigma_parameter_stability(v["loss_min"], v["loss_max"], v["kappa"], v["lipschitz"], v["n"]).sigma
        used = ("kappa", "lipschitz", "n")
    # a derived sigma beyond float64: blamed on the route's first constant (the user gave no sigma to blame)
    others = ("loss_min", "loss_max", *used[1:])
    require(used[0], np.broadcast_to(np.asarray(v[used[0]], dtype=float), np.shape(sigma)), ~np.isfinite(sigma),
            "with " + " ".join("{" + n + "}" for n in others) + " gives a sigma beyond float64's range")
    return sigma


def _with_vacuous(results: dict, values: Mapping, sense: str) -> dict:
    """The results, with ``vacuous`` when the loss range is known (only then can it be decided)."""
    check_gen_t_range(values)
    flag = vacuous(results["bound"], values, sense)
    return results if flag is None else {**results, "vacuous": flag}


GEN_T = Param("gen_t", "Teacher generalization gap gen_T = E[h(D_n, f_T)].")
KL = Param("kl", "Distillation divergence K = KL(student process || teacher process), in nats, >= 0.")
N = Param("n", "Number of training samples n >= 1 (a whole number).", "loss", integer=True)
LOSS_MIN = Param("loss_min", "Lower end a of the loss range (also decides whether a bound is vacuous).", "loss")
LOSS_MAX = Param("loss_max", "Upper end b of the loss range (> a).", "loss")
SIGMA_PARAMS = (
    Param("sigma", "Sub-Gaussian proxy sigma of the teacher gap (not sigma^2).", "sigma"),
    LOSS_MIN,
    LOSS_MAX,
    Param("beta", "Uniform stability beta of the teacher (Proposition 9).", "stability"),
    Param("kappa", "Parameter stability kappa: ||A(D) - A(D')|| <= kappa/n (Lemma 13).", "param-stability"),
    Param("lipschitz", "Global Lipschitz constant L of the loss (Lemma 13).", "param-stability"),
    N,
)


# --------------------------------------------------------------------------- upper

def _upper_compute(v: dict, route: str) -> dict:
    r = B.upper_bound(v["gen_t"], v["kl"], sigma_of(v, route))
    return _with_vacuous({"bound": r.bound, "sigma": r.sigma, "slack": r.slack, "lambda_opt": r.lambda_opt,
                          "lower_two_sided": r.lower_two_sided}, v, "at_most")


@quiet_fp
def _upper_solve_kl(v, target):
    sigma, gen_t = sigma_of(v), finite("gen_t", v["gen_t"])
    k = np.where(sigma == 0, np.inf, 0.5 * ((target - gen_t) / sigma) ** 2)
    return np.where(target >= gen_t, k, np.nan)


@quiet_fp
def _upper_solve_sigma(v, target):
    kl, gen_t = nonneg("kl", v["kl"]), finite("gen_t", v["gen_t"])
    s = np.where(kl == 0, np.inf, (target - gen_t) / np.sqrt(2.0 * kl))
    return np.where(target >= gen_t, s, np.nan)


def _upper_solve_gen_t(v, target):
    return target - B.upper_bound(0.0, v["kl"], sigma_of(v)).slack


@quiet_fp
def _sigma_target_n(v, s_target):
    """Smallest n with sigma(n) <= s_target on the route in use (closed form)."""
    route = sigma_route({**v, "n": 1.0})
    half = (finite("loss_max", v["loss_max"]) - finite("loss_min", v["loss_min"])) / 2.0
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
        raise InputError("needs a stability route for sigma (Proposition 9 or Lemma 13), not {sigma}", "n",
                         refs=("sigma",))
    return np.maximum(u * u, 1.0)  # the solver rounds to the smallest integer meeting the target


def _upper_solve_n(v, target):
    """Smallest n whose stability-route sigma is at most the sigma that meets the target."""
    return _sigma_target_n(v, _upper_solve_sigma(v, target))


UPPER = BoundSpec(
    name="upper",
    theorem="Theorem 1 (Li and He, ISIT 2026)",
    formula="gen_S <= gen_T + sigma * sqrt(2 K)",
    params=(GEN_T, KL, *SIGMA_PARAMS),
    route=sigma_route,
    compute=_upper_compute,
    required=("gen_t", "kl"),
    closed_forms=_frozen({"kl": _upper_solve_kl, "sigma": _upper_solve_sigma, "gen_t": _upper_solve_gen_t,
                          "n": _upper_solve_n}),
    target_sense="at_most",
)


# --------------------------------------------------------------------------- lower

def _lower_route(v: Mapping) -> str:
    """"central" for a given (eta, c) pair (Theorem 10 directly), else the sigma route (Remark 2)."""
    if v.get("c") is not None:
        given = [n for n in ("sigma", "beta", "kappa", "lipschitz") if v.get(n) is not None]
        if given:
            raise InputError("conflicts with {%s}: give ({eta}, {c}) for Theorem 10, or sigma for Remark 2's "
                             "pair, not both" % given[0], "c", refs=(given[0], "eta", "c"))
        need(v, ("eta",), "with {c} (Theorem 10 needs the pair (eta, c))", refs=("c",))
        if v.get("n") is not None:
            raise InputError("not used with ({eta}, {c}): only the stability routes for sigma use it", "n",
                             refs=("eta", "c"))
        _loss_pair(v)
        return "central"
    ranged = v.get("loss_min") is not None and v.get("loss_max") is not None
    if not ranged and not any(v.get(n) is not None for n in ("eta", "sigma", "beta", "kappa", "lipschitz")):
        raise InputError("{eta} {c} or {sigma}: required: give the pair {eta} {c} (Theorem 10 directly), or sigma by "
                         "{sigma}, a loss range alone ({loss_min} {loss_max}: sigma = b - a) or a stability route "
                         "({loss_min} {loss_max} {beta} {n}, or {loss_min} {loss_max} {kappa} {lipschitz} {n}) for the "
                         "two-sided bound and Remark 2",
                         refs=("eta", "c", "sigma", "loss_min", "loss_max", "beta", "n", "kappa", "lipschitz"))
    if v.get("eta") is not None and not ranged and not any(v.get(n) is not None
                                                         for n in ("sigma", "beta", "kappa", "lipschitz")):
        raise InputError("required with {eta}: Theorem 10 needs the pair ({eta}, {c}); or give sigma ({sigma} or "
                         "a stability route) for Remark 2's pair", "c", refs=("eta", "c", "sigma"))
    return sigma_route(v)


def _lower_compute(v: dict, route: str) -> dict:
    """Theorem 10 with a given pair ("central"), else the best bound from sigma (the two-sided
    bound) beside Remark 2's pair and value."""
    if route == "central":
        r = B.lower_bound(v["gen_t"], v["kl"], v["eta"], v["c"])
        return _with_vacuous({"bound": r.bound, "eta": r.eta, "c": r.c, "boundary": r.boundary}, v, "at_least")
    sigma = sigma_of(v, route)
    r = B.lower_bound_best(v["gen_t"], v["kl"], sigma, v["eta"])
    return _with_vacuous({"bound": r.bound, "eta": r.eta, "c": r.c, "remark2_bound": r.remark2_bound,
                          "sigma": r.sigma, "boundary": r.boundary}, v, "at_least")


@quiet_fp
def _lower_solve_kl(v, target):
    gen_t = finite("gen_t", v["gen_t"])
    if _lower_route(v) == "central":
        eta, c = positive("eta", v["eta"]), positive("c", v["c"])
        return np.where(c * gen_t >= target, eta * (c * gen_t - target), np.nan)
    # the reported bound is gen_T - sigma sqrt(2K): the largest K keeping it at or above the target
    sigma = sigma_of(v)
    k = np.where(sigma == 0, np.inf, 0.5 * prod_ratio([gen_t - target, gen_t - target], [sigma, sigma]))
    return np.where(target <= gen_t, k, np.nan)


LOWER = BoundSpec(
    name="lower",
    theorem="Theorem 10 (Li and He, ISIT 2026); Remark 2 for (eta, c) from sigma",
    formula="gen_S >= c * gen_T - K / eta",
    params=(GEN_T, KL,
            Param("eta", "Central-condition eta > 0 (with sigma: Remark 2's eta, optimal when omitted).", "central"),
            Param("c", "Central-condition constant c in (0, 1].", "central"),
            *SIGMA_PARAMS),
    route=_lower_route,
    compute=_lower_compute,
    required=("gen_t", "kl"),
    closed_forms=_frozen({"kl": _lower_solve_kl}),
    target_sense="at_least",
)


# --------------------------------------------------------------------------- sharpness

SHARP_REQUIRED = ("gen_t", "kl", "n", "loss_min", "loss_max", "kappa", "lipschitz", "g0", "alpha", "tau")
MEASURED = ("sigma_u", "nu", "sharpness")


def _sharp_route(v: Mapping) -> str:
    need(v, SHARP_REQUIRED, "for the sharpness-aware bound (Theorem 12)")
    return "lemmas"


def _sharp_result(v: Mapping) -> B.SharpnessBound:
    _sharp_route(v)
    return B.sharpness_bound(*(v[n] for n in SHARP_REQUIRED), rho=v.get("rho"), dim=v.get("dim"),
                             sigma_u=v.get("sigma_u"), nu=v.get("nu"), sharpness=v.get("sharpness"),
                             constants=v.get("constants") or B.CONSTANTS[0])


def _sharp_compute(v: dict, route: str) -> dict:
    return _with_vacuous(_sharp_result(v).as_dict(), v, "at_most")


@quiet_fp
def _sharp_solve_kl(v, target):
    """Largest K with the best bound min(B_sh, B_std) <= target: both grow with K, so the larger of
    their own crossings (B_sh's only where Lemmas 14-15 apply)."""
    r = _sharp_result({**v, "kl": 0.0})
    gen_t = finite("gen_t", v["gen_t"])

    def largest(coef, base):  # base + coef sqrt(2K) <= target
        k = np.where(coef == 0, np.inf, 0.5 * ((target - base) / np.where(coef == 0, 1.0, coef)) ** 2)
        return np.where(target >= base, k, np.nan)

    k_sh = largest(r.sigma_u + r.nu, r.sharpness_bound)  # B_sh at K = 0 is gen_T + the sharpness term
    k_std = largest(r.sigma0, gen_t)
    return np.where(np.isnan(k_sh), k_std, np.where(np.isnan(k_std), k_sh, np.maximum(k_sh, k_std)))


@quiet_fp
def _sharp_solve_rho(v, target):
    """Largest rho with B_sh(rho) <= target (rho is solved for ``sharpness_bound``: B_std does not depend on it).

    With the lemma values B_sh(rho) = c0 + c1 rho + c2 rho^2, where
    c0 = B_std - sqrt(2K) A0 / sqrt(n), c1 = sqrt(2K) A1 / sqrt(n) and
    c2 = tau_eff / 2 + sqrt(2K) A2 / sqrt(n) (non-negative), so the answer is
    the positive root of c2 rho^2 + c1 rho + c0 - target.
    """
    if any(v.get(n) is not None for n in MEASURED):
        return None
    r = _sharp_result({**v, "rho": 1.0})
    per_n = prod_ratio([root_2k(nonneg("kl", v["kl"]))], [np.sqrt(finite("n", v["n"]))])
    c0 = r.standard_bound - per_n * r.a0
    c1 = per_n * r.a1
    c2 = r.sharpness_term + per_n * r.a2  # the Lemma 16 term is tau_eff rho^2 / 2 at rho = 1
    room = target - c0
    # 2 room / (c1 + sqrt(c1^2 + 4 c2 room)), with no square or product that overflows for room near 1e308
    half_den = 0.5 * c1 + np.hypot(0.5 * c1, np.sqrt(c2) * np.sqrt(np.maximum(room, 0.0)))
    root = np.where(c2 == 0, room / c1, room / half_den)
    return np.where(room > 0, root, np.nan)


SHARPNESS = BoundSpec(
    name="sharpness",
    theorem="Theorem 12 with Lemmas 13-16 (Li and He, ISIT 2026); tightness radius rho0 (docs/theory.md)",
    formula="gen_S <= gen_T + E[S_P(f_T)] + (sigma_u + nu) * sqrt(2 K)",
    params=(GEN_T, KL,
            Param("n", "Number of training samples n >= 1 (a whole number).", "constants", integer=True),
            Param("loss_min", "Lower end a of the loss range.", "constants"),
            Param("loss_max", "Upper end b of the loss range (> a).", "constants"),
            Param("kappa", "Parameter stability kappa >= 0: ||A(D) - A(D')|| <= kappa/n.", "constants"),
            Param("lipschitz", "Global Lipschitz constant L >= 0 of the loss.", "constants"),
            Param("g0", "Gradient bound ||grad l(f_T; z)|| <= g0 at the teacher, g0 >= 0.", "constants"),
            Param("alpha", "Smoothness alpha >= 0 of the loss on B(f_T, 2 rho).", "constants"),
            Param("tau", "Population Hessian operator-norm bound tau >= 0 on B(f_T, rho).", "constants"),
            Param("rho", "Perturbation radius rho > 0 (default: the best admissible one, kappa/n).", "radius"),
            Param("dim", "Parameter dimension d >= 1: sharper Lemma 16, tau rho^2 d / (2 (d + 2)).", "radius",
                  integer=True),
            Param("sigma_u", "Measured proxy of the perturbed gap (replaces Lemma 14).", "measured"),
            Param("nu", "Measured proxy of the empirical sharpness (replaces Lemma 15).", "measured"),
            Param("sharpness", "Measured E[S_P(f_T)] (replaces Lemma 16).", "measured"),
            Param("constants", "Lemma 14-15 constants: refined (rigorous, the default; docs/theory.md, Refined "
                  "constants) or paper (as published; its Lemma 14 is assumed).", "radius", choices=B.CONSTANTS)),
    route=_sharp_route,
    compute=_sharp_compute,
    required=SHARP_REQUIRED,
    closed_forms=_frozen({"kl": _sharp_solve_kl, "rho": _sharp_solve_rho}),
    target_sense="at_most",
    solve_on={"rho": "sharpness_bound"},
)

BOUND_SPECS = MappingProxyType({s.name: s for s in (UPPER, LOWER, SHARPNESS)})
