"""The generalization bounds of Li and He (ISIT 2026): Theorems 1, 10 and 12.

Every function takes floats or numpy arrays, broadcasts them like a ufunc,
validates them up front (see :mod:`._checks`) and returns a frozen dataclass
whose fields are numpy scalars for scalar input and arrays otherwise.  Each
function handles its own floating-point edge cases: a value that overflows
or is undefined comes back as inf or NaN (never a numpy warning), for the
caller to report.  The formulas are derived in ``docs/theory.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import NamedTuple

import numpy as np

from ..errors import ParameterError
from ..formats import html_table, json_ready
from ._checks import at_least, broadcastable, finite, nonneg, positive, require, scalar_or_array as _out
from .numerics import (SQRT2, half_factors, plus_product, prod_ratio, quiet_fp as _quiet, rescaled,
                       root_2k)


def _same_shape(*arrays):
    """Broadcast results to one shape (fields of one result agree), scalars as numpy scalars."""
    return [_out(np.array(a)) for a in np.broadcast_arrays(*arrays)]


def _broadcastable(**named) -> None:
    """Every input broadcasts against the others, or an InputError naming them (a ragged list too)."""
    broadcastable(**named)


class _Result:
    """Shared behaviour of the result dataclasses (frozen; ``eq=False`` because their
    fields are arrays, whose ``==`` is elementwise, so results compare by identity).

    ``_KEYS`` are the keys the command line prints as ``results`` for this result (every
    field when empty), ``_INPUTS`` the inputs it carries besides them.
    """

    _KEYS: tuple = ()
    _INPUTS: tuple = ()

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]

    def to_dict(self, inputs: bool = False) -> dict:
        """The results, JSON-ready, under the keys of the command line's ``results`` (arrays as lists,
        NaN and infinities as None): ``pandas.DataFrame(result.to_dict())`` for array inputs.
        ``inputs=True`` puts the inputs the result carries first (``gen_t``, ``kl``)."""
        keys = (self._INPUTS if inputs else ()) + (self._KEYS or tuple(f.name for f in fields(self)))
        return {k: json_ready(getattr(self, k)) for k in keys}

    def _repr_html_(self) -> str:
        """A table for Jupyter (escaped): the inputs the result carries, then its results."""
        return html_table(self.to_dict(inputs=True), type(self).__name__)

    def __repr__(self) -> str:  # the dataclass repr, written once rather than generated per class
        return f"{type(self).__qualname__}({', '.join(f'{k}={v!r}' for k, v in self.as_dict().items())})"


#: the result dataclasses: frozen, compared by identity, repr from :class:`_Result`
_result = dataclass(frozen=True, eq=False, repr=False)


# --------------------------------------------------------------------------- sigma

@_result
class SigmaEstimate(_Result):
    """A sub-Gaussian proxy ``sigma`` of the teacher gap and the route that gave it."""

    sigma: np.ndarray
    route: str  # "given", "stability" (Proposition 9) or "parameter-stability" (Lemma 13)

    def to_dict(self, inputs: bool = False) -> dict:
        """``sigma`` and its route, as the command line prints them (``sigma``; ``sigma_route``)."""
        return {"sigma": json_ready(self.sigma), "sigma_route": self.route}


def _loss_range(loss_min, loss_max):
    a = finite("loss_min", loss_min)
    b = finite("loss_max", loss_max)
    require("loss_max", b, b <= a, "must be > {loss_min}")
    return a, b


@_quiet
def sigma_stability(loss_min, loss_max, beta, n) -> SigmaEstimate:
    """Sub-Gaussian proxy of the teacher gap from uniform stability (Proposition 9).

    ``sigma = sqrt(n) beta + (b - a) / (2 sqrt(n))``: by McDiarmid's inequality
    with bounded difference ``c = 2 beta + (b - a) / n``.

    Parameters
    ----------
    loss_min, loss_max : array_like
        The loss range ``[a, b]``, ``a < b``.
    beta : array_like
        Uniform stability of the teacher, ``>= 0``.
    n : array_like
        Number of training samples, ``>= 1``.

    Returns
    -------
    SigmaEstimate
        ``sigma`` and ``route = "stability"``.

    References
    ----------
    Li and He (ISIT 2026), Proposition 9; ``docs/theory.md``, "sigma from stability".
    """
    _broadcastable(loss_min=loss_min, loss_max=loss_max, beta=beta, n=n)
    a, b = _loss_range(loss_min, loss_max)
    beta = nonneg("beta", beta)
    n = at_least("n", n, 1)
    root_n = np.sqrt(n)
    return SigmaEstimate(_out(prod_ratio([root_n, beta]) + prod_ratio(half_factors(a, b), [root_n])), "stability")


@_quiet
def sigma_parameter_stability(loss_min, loss_max, kappa, lipschitz, n) -> SigmaEstimate:
    """Sub-Gaussian proxy from parameter stability (Lemma 13).

    ``sigma0 = (kappa L + (b - a) / 2) / sqrt(n)``: Proposition 9 with
    ``beta = kappa L / n`` for ``||A(D) - A(D')|| <= kappa / n`` and an
    L-Lipschitz loss.

    Parameters
    ----------
    loss_min, loss_max : array_like
        The loss range ``[a, b]``, ``a < b``.
    kappa : array_like
        Parameter stability constant, ``>= 0``.
    lipschitz : array_like
        Global Lipschitz constant L of the loss, ``>= 0``.
    n : array_like
        Number of training samples, ``>= 1``.

    Returns
    -------
    SigmaEstimate
        ``sigma`` and ``route = "parameter-stability"``.

    References
    ----------
    Li and He (ISIT 2026), Lemma 13; ``docs/theory.md``, "sigma from stability".
    """
    _broadcastable(loss_min=loss_min, loss_max=loss_max, kappa=kappa, lipschitz=lipschitz, n=n)
    a, b = _loss_range(loss_min, loss_max)
    kappa = nonneg("kappa", kappa)
    lipschitz = nonneg("lipschitz", lipschitz)
    n = at_least("n", n, 1)
    root_n = np.sqrt(n)
    return SigmaEstimate(_out(prod_ratio([kappa, lipschitz], [root_n]) + prod_ratio(half_factors(a, b), [root_n])),
                         "parameter-stability")


# --------------------------------------------------------------------------- Theorem 1

@_result
class UpperBound(_Result):
    """Theorem 1: ``gen_S <= gen_T + sigma sqrt(2K)``."""

    _KEYS = ("bound", "sigma", "slack", "lambda_opt", "lower_two_sided")
    _INPUTS = ("gen_t", "kl")

    bound: np.ndarray
    slack: np.ndarray
    lambda_opt: np.ndarray
    lower_two_sided: np.ndarray
    gen_t: np.ndarray
    kl: np.ndarray
    sigma: np.ndarray


@_quiet
def upper_bound(gen_t, kl, sigma) -> UpperBound:
    """The upper bound of Theorem 1: ``gen_S <= gen_T + sigma sqrt(2K)``.

    Parameters
    ----------
    gen_t : array_like
        Teacher generalization gap gen_T (finite).
    kl : array_like
        Distillation divergence K in nats, ``>= 0``.
    sigma : array_like
        Sub-Gaussian proxy of the teacher gap (not sigma^2), ``>= 0``.

    Returns
    -------
    UpperBound
        ``bound``; ``slack = sigma sqrt(2K)``; the optimal Donsker-Varadhan
        parameter ``lambda_opt = sqrt(2K) / sigma`` (+inf when sigma = 0 < K or
        when it exceeds float64, NaN -- undefined -- when K = 0); and the
        two-sided lower value ``lower_two_sided = gen_T - sigma sqrt(2K)``
        (the same argument with negative lambda).

    References
    ----------
    Li and He (ISIT 2026), Theorem 1; ``docs/theory.md``, "Upper bound".
    """
    _broadcastable(gen_t=gen_t, kl=kl, sigma=sigma)
    gen_t = finite("gen_t", gen_t)
    kl = nonneg("kl", kl)
    sigma = nonneg("sigma", sigma)
    slack = [sigma, root_2k(kl)]                                  # sigma sqrt(2K), as its factors
    bound, lower = plus_product(gen_t, slack), plus_product(gen_t, slack, sign=-1.0)  # gen_T +- sigma sqrt(2K)
    lam = np.where(kl == 0, np.nan, np.where(sigma == 0, np.inf,          # sqrt(2K) / sigma
                                             prod_ratio([root_2k(kl)], [np.where(sigma == 0, 1.0, sigma)])))
    return UpperBound(*_same_shape(bound, prod_ratio(slack), lam, lower, gen_t, kl, sigma))


# --------------------------------------------------------------------------- Theorem 10

@_result
class LowerBound(_Result):
    """Theorem 10: ``gen_S >= c gen_T - K / eta``.

    ``boundary`` marks Remark 2's case where the optimum sits at the end of the
    eta interval (c -> 0): the bound is valid but trivial.
    """

    _KEYS = ("bound", "eta", "c", "boundary")
    _INPUTS = ("gen_t", "kl")

    bound: np.ndarray
    eta: np.ndarray
    c: np.ndarray
    gen_t: np.ndarray
    kl: np.ndarray
    boundary: np.ndarray


@_quiet
def lower_bound(gen_t, kl, eta, c) -> LowerBound:
    """The lower bound of Theorem 10: ``gen_S >= c gen_T - K / eta``.

    Parameters
    ----------
    gen_t : array_like
        Teacher generalization gap gen_T (finite).
    kl : array_like
        Distillation divergence K in nats, ``>= 0``.
    eta, c : array_like
        A pair for which the teacher gap satisfies the (eta, c)-central
        condition: ``eta > 0``, ``0 < c <= 1``.

    Returns
    -------
    LowerBound
        ``bound`` and the pair used.

    References
    ----------
    Li and He (ISIT 2026), Theorem 10; ``docs/theory.md``, "Lower bound".
    """
    _broadcastable(gen_t=gen_t, kl=kl, eta=eta, c=c)
    gen_t = finite("gen_t", gen_t)
    kl = nonneg("kl", kl)
    eta = positive("eta", eta)
    c = positive("c", c)
    require("c", c, c > 1, "must be in (0, 1]")
    bound = plus_product(c * gen_t, [kl], [eta], sign=-1.0)  # c gen_T - K / eta
    return LowerBound(*_same_shape(bound, eta, c, gen_t, kl, np.zeros((), dtype=bool)))


@_quiet
def lower_bound_subgaussian(gen_t, kl, sigma, eta=None) -> LowerBound:
    """Theorem 10 with Remark 2's pair ``(eta, c = 1 - eta sigma^2 / (2 gen_T))``.

    Valid for ``0 < eta < 2 gen_T / sigma^2`` and needs ``gen_T > 0``.  Without
    ``eta`` the bound ``gen_T - eta sigma^2 / 2 - K / eta`` is maximised: at
    ``eta* = sqrt(2K) / sigma`` inside the interval (value ``gen_T - sigma sqrt(2K)``),
    otherwise as ``eta -> 2 gen_T / sigma^2`` where ``c -> 0`` and the value tends
    to ``-K sigma^2 / (2 gen_T)``.  With ``sigma = 0`` the limit eta -> inf gives ``gen_T``;
    with ``K = 0`` the limit eta -> 0 gives ``gen_T``.  This is Theorem 10 as the paper
    states it; :func:`lower_bound_best` gives the best lower bound from sigma.

    Parameters
    ----------
    gen_t : array_like
        Teacher generalization gap gen_T, ``> 0``.
    kl : array_like
        Distillation divergence K in nats, ``>= 0``.
    sigma : array_like
        Sub-Gaussian proxy of the teacher gap, ``>= 0``.
    eta : array_like, optional
        A fixed eta in Remark 2's interval; optimal when omitted.

    Returns
    -------
    LowerBound
        ``bound``, ``eta``, ``c`` and ``boundary`` (the optimum sits at the
        interval's end, where the bound is valid but trivial).

    References
    ----------
    Li and He (ISIT 2026), Theorem 10 and Remark 2; ``docs/theory.md``, "Lower bound".
    """
    _broadcastable(gen_t=gen_t, kl=kl, sigma=sigma, eta=eta)
    mu = finite("gen_t", gen_t)
    require("gen_t", mu, mu <= 0,
            "must be > 0 for Remark 2's central condition (with gen_T <= 0 it does not apply; give {eta} and {c})")
    kl = nonneg("kl", kl)
    sigma = nonneg("sigma", sigma)
    rk = root_2k(kl)
    # eta sigma^2 / (2 mu) at eta* = sqrt(2K)/sigma is sigma sqrt(2K) / (2 mu): no eta* needed
    if eta is None:
        half_excess = prod_ratio([sigma, rk], [2.0, mu])  # eta* sigma^2 / (2 mu)
        boundary = (half_excess >= 1.0) & (kl > 0) & (sigma > 0)
        eta_max = np.where(sigma == 0, np.inf, prod_ratio([2.0, mu], [sigma, sigma]))
        eta_star = np.where(kl == 0, 0.0, np.where(sigma == 0, np.inf,
                                                   prod_ratio([rk], [np.where(sigma == 0, 1, sigma)])))
        eta_used = np.where(boundary, eta_max, eta_star)
        # a positive eta below the smallest float64 is not zero: NaN (reported), not a wrong 0
        eta_used = np.where((eta_used == 0) & (kl > 0), np.nan, eta_used)
        bound = np.where(boundary, -prod_ratio([kl, sigma, sigma], [2.0, mu]),
                         plus_product(mu, [sigma, rk], sign=-1.0))
        bound = np.where(sigma == 0, mu, bound)
        c = np.where(boundary, 0.0, 1.0 - half_excess)
        c = np.where(sigma == 0, 1.0, c)
    else:
        eta_used = positive("eta", eta)
        ratio = prod_ratio([eta_used, sigma, sigma], [2.0, mu])  # eta sigma^2 / (2 mu)
        require("eta", eta_used, ratio >= 1.0,
                "must be < 2 gen_t / sigma^2 for Remark 2 (the central-condition interval)")
        boundary = np.zeros(np.broadcast(mu, kl, sigma, eta_used).shape, dtype=bool)
        bound = mu - prod_ratio([eta_used, sigma, sigma], [2.0]) - prod_ratio([kl], [eta_used])
        c = 1.0 - ratio
    return LowerBound(*_same_shape(bound, eta_used, c, mu, kl, boundary))


@_result
class BestLowerBound(_Result):
    """The best lower bound kdbound can state from a sub-Gaussian proxy sigma.

    ``bound`` is the two-sided ``gen_T - sigma sqrt(2K)`` (Theorem 1 with negative
    lambda), which Remark 2's value never exceeds; ``remark2_bound``, ``eta`` and
    ``c`` are what Theorem 10 with Remark 2's pair gives (NaN when gen_T <= 0,
    where Remark 2 does not apply).
    """

    _KEYS = ("bound", "eta", "c", "remark2_bound", "sigma", "boundary")
    _INPUTS = ("gen_t", "kl")

    bound: np.ndarray
    remark2_bound: np.ndarray
    eta: np.ndarray
    c: np.ndarray
    gen_t: np.ndarray
    kl: np.ndarray
    sigma: np.ndarray
    boundary: np.ndarray
    remark2_applies: np.ndarray


@_quiet
def lower_bound_best(gen_t, kl, sigma, eta=None) -> BestLowerBound:
    """The best valid lower bound from sigma: ``gen_S >= gen_T - sigma sqrt(2K)``, beside Remark 2's.

    For every eta > 0, ``eta sigma^2 / 2 + K / eta >= sigma sqrt(2K)`` (AM-GM),
    so Remark 2's value ``gen_T - eta sigma^2 / 2 - K / eta`` never exceeds the
    two-sided bound, which needs no sign condition on gen_T.

    Parameters
    ----------
    gen_t : array_like
        Teacher generalization gap gen_T (any sign).
    kl : array_like
        Distillation divergence K in nats, ``>= 0``.
    sigma : array_like
        Sub-Gaussian proxy of the teacher gap, ``>= 0``.
    eta : array_like, optional
        A fixed eta for Remark 2's pair (optimal when omitted).

    Returns
    -------
    BestLowerBound
        ``bound`` (the two-sided bound, or Remark 2's when it is larger through
        rounding), Remark 2's ``remark2_bound``, ``eta``, ``c`` and ``boundary``.

    References
    ----------
    Li and He (ISIT 2026), Theorems 1 and 10, Remark 2; ``docs/theory.md``,
    "The best lower bound".
    """
    _broadcastable(gen_t=gen_t, kl=kl, sigma=sigma, eta=eta)
    mu = finite("gen_t", gen_t)
    kl = nonneg("kl", kl)
    sigma = nonneg("sigma", sigma)
    if eta is not None:
        positive("eta", eta)
    applies = mu > 0
    safe_mu = np.where(applies, mu, 1.0)
    if eta is not None:  # where Remark 2 does not apply, eta is not checked against its interval (a stand-in inside)
        inside = np.where(sigma > 0, prod_ratio([1.0], [np.where(sigma > 0, sigma, 1.0)] * 2), 1.0)
        eta = np.where(applies, eta, inside)
    r2 = lower_bound_subgaussian(safe_mu, kl, sigma, eta)
    nan = np.nan
    remark2 = np.where(applies, r2.bound, nan)
    two_sided = plus_product(mu, [sigma, root_2k(kl)], sign=-1.0)
    bound = np.where(applies & (remark2 > two_sided), remark2, two_sided)
    return BestLowerBound(*_same_shape(bound, remark2, np.where(applies, r2.eta, nan), np.where(applies, r2.c, nan),
                                       mu, kl, sigma, applies & r2.boundary, applies))


@_quiet
def theorem1_bounds(gen_t, kl, sigma):
    """Theorem 1's upper bound and the best lower bound from sigma, for estimated inputs.

    ``(upper, lower, slack)``: exactly :func:`upper_bound`'s ``bound`` and ``slack`` and
    :func:`lower_bound_best`'s ``bound`` (``gen_T +- sigma sqrt(2K)``), so that a command that
    estimates gen_T, K and sigma prints the bounds ``kdbound upper`` and ``kdbound lower`` print
    for them.  An estimate may have left float64 (an infinite K_h, a confidence limit beyond
    1e308), which those functions refuse; here the bounds are then their limits: an infinite K,
    or an infinite sigma with K > 0, makes the slack infinite (the Donsker-Varadhan bound says
    nothing), an infinite sigma with K = 0 leaves it 0, and an infinite gen_T is the bound itself.

    Parameters
    ----------
    gen_t : array_like
        Teacher gap gen_T (an estimate; +-inf allowed).
    kl : array_like
        K (or K_h) in nats, ``>= 0``; +inf allowed.
    sigma : array_like
        Sub-Gaussian proxy, ``>= 0``; +inf allowed.

    Returns
    -------
    tuple of arrays
        ``(upper, lower, slack)``.

    References
    ----------
    Li and He (ISIT 2026), Theorem 1; ``docs/theory.md``, "Upper bound" and "The best lower bound".
    """
    gen_t, kl, sigma = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (gen_t, kl, sigma)))
    endless = np.isinf(kl) | (np.isinf(sigma) & (kl > 0))
    known = np.isfinite(gen_t)
    g, k = np.where(known, gen_t, 0.0), np.where(endless, 0.0, kl)
    s = np.where(np.isinf(sigma), 0.0, sigma)                   # an infinite sigma with K = 0: slack 0
    up = upper_bound(g, k, s)
    low = lower_bound_best(g, k, s).bound
    slack = np.where(endless, np.inf, up.slack)
    upper = np.where(known, np.where(endless, np.inf, up.bound), gen_t + slack)
    lower = np.where(known, np.where(endless, -np.inf, low), gen_t - slack)
    return _out(upper), _out(lower), _out(slack)


# --------------------------------------------------------------------------- Theorem 12

@_result
class SharpnessBound(_Result):
    """Theorem 12 (sharpness-aware bound) beside the standard bound, with the tightness regime.

    ``bound`` is the best valid bound: B_sh where Lemmas 14-15 apply and it is below B_std, else
    B_std (``bound_source`` says which); ``sharpness_bound`` is B_sh itself (NaN where the lemmas do
    not apply, rho < kappa/n).
    """

    bound: np.ndarray           # the best valid bound: min(B_sh, B_std) where B_sh is a bound, else B_std
    sharpness_bound: np.ndarray  # B_sh; NaN where Lemmas 14-15 do not apply
    standard_bound: np.ndarray  # B_std = gen_T + sigma0 sqrt(2K)
    sigma0: np.ndarray
    sigma_u: np.ndarray
    nu: np.ndarray
    sharpness_term: np.ndarray  # E[S_P(f_T)] (Lemma 16 bound, or measured)
    a0: np.ndarray
    a1: np.ndarray
    a2: np.ndarray
    rho0: np.ndarray            # tightness radius: B_sh < B_std on (0, rho0); NaN with measured values
    rho_min: np.ndarray         # kappa / n, smallest radius Lemmas 14-15 admit
    improvement: np.ndarray     # B_std - B_sh (> 0 means the sharpness bound is tighter); NaN where B_sh is
    rho: np.ndarray             # radius used
    some_radius_tightens: np.ndarray  # rho_min < rho0: SOME admissible radius tightens (not a statement on rho)
    tightens: np.ndarray        # B_sh is a bound and B_sh < B_std at the radius used: bound is B_sh
    vacuous: np.ndarray         # bound >= b - a: it says nothing about a loss in [a, b]

    @property
    def bound_source(self):
        """``"sharpness"`` where ``bound`` is B_sh, ``"standard"`` where it is B_std (a str, or an array)."""
        return _out(np.where(self.tightens, "sharpness", "standard"))


#: the Lemma 14-15 constants, the default first
CONSTANTS = ("refined", "paper")


def _ball_mean_norm(dim):
    """E||U|| / rho = d / (d + 1) for U uniform on the d-ball (1 when d is unknown)."""
    return 1.0 if dim is None else 1.0 / (1.0 + 1.0 / dim)


def sharpness_constants(n, kappa, lipschitz, g0, alpha, dim=None, constants="refined"):
    """A0, A1, A2 with ``sigma0 - sigma_u - nu = (A0 - A1 rho - A2 rho^2) / sqrt(n)``.

    ``paper``: Lemmas 14-15 as the paper states them, ``A0 = kappa (L - g0)``,
    ``A1 = 3 alpha kappa / 2 + g0``, ``A2 = alpha / 2``.  ``refined``: the
    rigorous Lemma 14 scale and the refined Lemma 15 (no g0 term),
    ``A0' = kappa (L - g0) - alpha kappa^2 / (2n)``,
    ``A1' = alpha kappa (d / (d + 1) + 1/2)``, ``A2' = alpha / 2``.
    See ``docs/theory.md``, "Refined constants".
    """
    a0 = np.where(lipschitz >= g0, prod_ratio([kappa, lipschitz - g0]), -prod_ratio([kappa, g0 - lipschitz]))
    if constants == "refined":
        a0 = a0 - prod_ratio([alpha, kappa, kappa], [2.0 * n])
        a1 = prod_ratio([alpha, kappa]) * (_ball_mean_norm(dim) + 0.5)
    else:
        a1 = 1.5 * prod_ratio([alpha, kappa]) + g0
    return a0, a1, 0.5 * alpha


@_quiet
def tightness_radius(kl, n, kappa, lipschitz, g0, alpha, tau_eff, dim=None, constants="refined", *, shrink=1.0):
    """The tightness radius rho0 of Theorem 12 against Lemma 13's standard bound.

    The positive root of ``(tau/2 + s A2) rho^2 + s A1 rho - s A0``, with
    ``s = sqrt(2K/n)``; B_sh < B_std exactly for ``0 < rho < rho0``.  Divided
    by s A0 it reads ``q rho^2 + p rho - 1 = 0`` with ``p = A1 / A0`` and
    ``q = (tau / (2 s) + A2) / A0``, whose root ``2 / (p + sqrt(p^2 + 4 q))``
    has no cancellation and no overflow for any representable inputs.

    Parameters
    ----------
    kl, n, kappa, lipschitz, g0, alpha : array_like
        As in :func:`sharpness_bound`.
    tau_eff : array_like
        The Lemma 16 coefficient: tau, or ``tau d / (d + 2)`` with the dimension.
    dim : array_like, optional
        Parameter dimension (used by the refined constants).
    constants : {"refined", "paper"}
        Which Lemma 14-15 constants (see :func:`sharpness_constants`; refined by default).
    shrink : array_like, optional
        A factor of the Lemma 16 coefficient kept apart from ``tau_eff`` (the coefficient is
        ``tau_eff * shrink``): :func:`sharpness_bound` passes tau and ``d / (d + 2)`` separately,
        so that a subnormal tau loses no digits in their product.

    Returns
    -------
    tuple of arrays
        ``(rho0, A0, A1, A2)``; rho0 = 0 when A0 <= 0 or K = 0, +inf when
        tau = A1 = A2 = 0 < A0.

    References
    ----------
    ``docs/theory.md``, "The tightness radius" (not in the paper).
    """
    _broadcastable(kl=kl, n=n, kappa=kappa, lipschitz=lipschitz, g0=g0, alpha=alpha, tau_eff=tau_eff, dim=dim)
    if constants not in CONSTANTS:
        raise ParameterError("constants", "must be paper or refined", constants)
    kl = nonneg("kl", kl)
    n = at_least("n", n, 1)
    kappa = nonneg("kappa", kappa)
    lipschitz = nonneg("lipschitz", lipschitz)
    g0 = nonneg("g0", g0)
    alpha = nonneg("alpha", alpha)
    tau_eff = nonneg("tau_eff", tau_eff)
    dim = None if dim is None else at_least("dim", dim, 1)
    a0, a1, a2 = sharpness_constants(n, kappa, lipschitz, g0, alpha, dim, constants)
    s = prod_ratio([root_2k(kl)], [np.sqrt(n)])
    # A0 = kappa e: dividing by kappa first keeps p = A1/A0 and q finite when A0 and A1 are not
    e = lipschitz - g0
    if constants == "refined":
        e = e - prod_ratio([alpha, kappa], [2.0 * n])
    pos = (kappa > 0) & (e > 0) & (s > 0)
    safe_e = np.where(pos, e, 1.0)
    safe_s = np.where(pos, s, 1.0)
    safe_kappa = np.where(pos, kappa, 1.0)
    if constants == "refined":
        p = prod_ratio([alpha, _ball_mean_norm(dim) + 0.5], [safe_e])
    else:
        p = prod_ratio([1.5, alpha], [safe_e]) + prod_ratio([g0], [safe_kappa, safe_e])
    # sqrt(q) = sqrt((tau/(2s) + A2) / A0), as quotients of square roots (q itself may overflow)
    # sqrt(A2) as sqrt(alpha)/sqrt(2): A2 = alpha/2 itself underflows for the smallest alpha
    # each term divided by sqrt(A0) = sqrt(kappa) sqrt(e) in one product (the first alone may overflow)
    den = [np.sqrt(safe_kappa), np.sqrt(safe_e)]
    root_q = np.hypot(prod_ratio([np.sqrt(tau_eff), np.sqrt(shrink)], [np.sqrt(2.0), np.sqrt(safe_s), *den]),
                      prod_ratio([np.sqrt(alpha)], [SQRT2, *den]))
    root = 1.0 / (0.5 * p + np.hypot(0.5 * p, root_q))  # 2 / (p + sqrt(p^2 + 4q)), with no 2 sqrt(q) to overflow
    rho0 = np.where(pos, root, 0.0)
    return rho0, a0, a1, a2


@_quiet
def sharpness_bound(gen_t, kl, n, loss_min, loss_max, kappa, lipschitz, g0, alpha, tau,
                    rho=None, dim=None, sigma_u=None, nu=None, sharpness=None,
                    constants="refined") -> SharpnessBound:
    """The sharpness-aware bound of Theorem 12 beside the standard bound.

    ``B_sh = gen_T + E[S_P(f_T)] + (sigma_u + nu) sqrt(2K)``, with the proxies
    from Lemmas 14-15 and the sharpness term from Lemma 16 (``tau rho^2 / 2``,
    or ``tau rho^2 d / (2 (d + 2))`` with ``dim``), unless measured
    ``sigma_u``, ``nu`` or ``sharpness`` are given.  ``B_std = gen_T + sigma0 sqrt(2K)``.

    Parameters
    ----------
    gen_t, kl : array_like
        Teacher gap and distillation divergence (``kl >= 0``).
    n : array_like
        Number of training samples, ``>= 1``.
    loss_min, loss_max : array_like
        The loss range ``[a, b]``.
    kappa, lipschitz, g0, alpha, tau : array_like
        Constants of assumptions A1-A5 (all ``>= 0``): parameter stability,
        global Lipschitz constant, gradient bound at the teacher, local
        smoothness and population Hessian bound.
    rho : array_like, optional
        Perturbation radius ``> 0``; default the best admissible one,
        ``kappa / n`` (B_sh grows with rho; with kappa = 0 the limit rho -> 0+).
    dim : array_like, optional
        Parameter dimension d (sharper Lemma 16; the refined constants use it too).
    sigma_u, nu, sharpness : array_like, optional
        Measured values replacing Lemmas 14, 15 and 16.  The tightness radius
        is then undefined (NaN): measured values hold at one radius only.
    constants : {"refined", "paper"}
        ``refined`` (the default) uses the rigorous Lemma 14 scale and the
        refined Lemma 15 (``docs/theory.md``, "Refined constants");
        ``paper`` reproduces Lemmas 14-15 exactly as published (whose
        Lemma 14 is slightly optimistic: an assumption).

    Returns
    -------
    SharpnessBound
        ``bound``, the best valid bound (``bound_source`` says which);
        ``sharpness_bound`` B_sh (NaN where Lemmas 14-15 do not apply, rho <
        kappa/n); ``standard_bound`` B_std; the proxies, A0-A2, the tightness
        radius rho0, rho_min, ``improvement = B_std - B_sh`` (NaN with B_sh),
        ``some_radius_tightens`` (rho_min < rho0), ``tightens`` (B_sh is
        the bound at this rho) and ``vacuous`` (bound >= b - a).

    References
    ----------
    Li and He (ISIT 2026), Theorem 12 and Lemmas 13-16; ``docs/theory.md``,
    "Sharpness-aware bound", "The tightness radius" and "Refined constants".
    """
    _broadcastable(gen_t=gen_t, kl=kl, n=n, loss_min=loss_min, loss_max=loss_max, kappa=kappa,
                   lipschitz=lipschitz, g0=g0, alpha=alpha, tau=tau, rho=rho, dim=dim, sigma_u=sigma_u, nu=nu,
                   sharpness=sharpness)
    v = _sharpness_inputs(gen_t, kl, n, loss_min, loss_max, kappa, lipschitz, g0, alpha, tau, rho, dim, constants)
    measured = sigma_u is not None or nu is not None or sharpness is not None
    su, nu_, sp, std = _sharpness_parts(v, constants, sigma_u, nu, sharpness)
    # sums whose terms may exceed float64 on their own (gen_T near -1e308): see rescaled
    b_sh = rescaled(lambda c: c * v.gen_t + sp.at(c) + su.at(c) + nu_.at(c))    # gen_T + E[S_P] + (s_u + nu) sqrt(2K)
    b_std = rescaled(lambda c: c * v.gen_t + std.at(c))                         # gen_T + sigma0 sqrt(2K)
    improvement = _improvement(v, su, nu_, sp, std, lemma_su=sigma_u is None)
    rho0, a0, a1, a2 = tightness_radius(v.kl, v.n, v.kappa, v.lipschitz, v.g0, v.alpha, v.tau, v.d, constants,
                                        shrink=v.shrink)
    if measured:
        rho0 = np.full(np.shape(rho0), np.nan)  # the regime is a statement about every rho; measured values hold at one
    # Lemmas 14-15 need the rho-ball to cover the stability segment (rho >= kappa/n): below it the
    # lemma proxies are not justified and B_sh is no bound at all
    outside = v.rho < v.rho_min if sigma_u is None or nu is None else np.zeros((), dtype=bool)
    b_sh = np.where(outside, np.nan, b_sh)
    improvement = np.where(outside, np.nan, improvement)
    tightens = (improvement > 0) & ~outside
    best = np.where(tightens, np.minimum(b_sh, b_std), b_std)  # min: improvement > 0 is computed apart from b_sh
    sigma0 = sigma_parameter_stability(v.a, v.b, v.kappa, v.lipschitz, v.n).sigma
    with np.errstate(over="ignore"):  # a width beyond float64 is inf, which no bound reaches
        vacuous = best >= v.b - v.a
    some = v.rho_min < rho0
    if measured:  # as rho0: whether some radius tightens is a statement about every rho, unknown here (None)
        some = np.full(np.shape(some), None, dtype=object)
    return SharpnessBound(*_same_shape(best, b_sh, b_std, sigma0, su.value, nu_.value, sp.at(1.0), a0, a1, a2,
                                       rho0, v.rho_min, improvement, v.rho, some, tightens, vacuous))


class _SharpInputs(NamedTuple):
    """sharpness_bound's inputs, validated; ``rho`` defaulted to ``rho_min = kappa / n``, ``shrink`` is Lemma 16's
    ``d / (d + 2)`` (1 without the dimension), ``root_n`` and ``root_k`` are sqrt(n) and sqrt(2K)."""

    gen_t: np.ndarray
    kl: np.ndarray
    n: np.ndarray
    a: np.ndarray
    b: np.ndarray
    kappa: np.ndarray
    lipschitz: np.ndarray
    g0: np.ndarray
    alpha: np.ndarray
    tau: np.ndarray
    rho: np.ndarray
    rho_min: np.ndarray
    d: np.ndarray | None
    shrink: np.ndarray | float
    root_n: np.ndarray
    root_k: np.ndarray


def _sharpness_inputs(gen_t, kl, n, loss_min, loss_max, kappa, lipschitz, g0, alpha, tau, rho, dim,
                      constants) -> _SharpInputs:
    if constants not in CONSTANTS:
        raise ParameterError("constants", "must be paper or refined", constants)
    gen_t = finite("gen_t", gen_t)
    kl = nonneg("kl", kl)
    n = at_least("n", n, 1)
    a, b = _loss_range(loss_min, loss_max)
    kappa = nonneg("kappa", kappa)
    lipschitz = nonneg("lipschitz", lipschitz)
    g0 = nonneg("g0", g0)
    alpha = nonneg("alpha", alpha)
    tau = nonneg("tau", tau)
    rho_min = prod_ratio([kappa], [n])
    rho = rho_min if rho is None else positive("rho", rho)
    d = None if dim is None else at_least("dim", dim, 1)
    shrink = 1.0 if d is None else 1.0 / (1.0 + 2.0 / d)  # Lemma 16 with the dimension: d / (d + 2)
    return _SharpInputs(gen_t, kl, n, a, b, kappa, lipschitz, g0, alpha, tau, rho, rho_min, d, shrink, np.sqrt(n),
                        root_2k(kl))


class _Part:
    """A term of the sharpness bound: a sum of products of non-negative factors (the lemmas' proxies, each
    product by :func:`prod_ratio`) or a measured value, and the same times ``times`` and a scale c
    (:func:`rescaled`): a proxy may exceed float64 while its share of the slack does not."""

    def __init__(self, terms, measured=None, times=()):
        self.terms, self.measured, self.times = terms, measured, list(times)
        self.value = _sum_products(terms) if measured is None else measured   # the term itself

    def at(self, c):
        """The term times ``times`` and c."""
        if self.measured is None:
            return _sum_products(self.terms, [*self.times, c])
        return prod_ratio([self.measured, *self.times, c]) if self.times else c * self.measured


def _sum_products(terms, times=()):
    """``sum prod(num + times) / prod(den)`` over the (num, den) pairs of ``terms``."""
    return sum((prod_ratio([*num, *times], den) for num, den in terms), np.zeros(()))


def _sharpness_parts(v: _SharpInputs, constants: str, sigma_u, nu, sharpness):
    """(sigma_u, nu, E[S_P], sigma0) as :class:`_Part`: Lemmas 14-16 and 13, or the measured values.

    sigma_u and nu are sums of products, each divided by sqrt(n), so that the slack (sigma_u + nu) sqrt(2K)
    is computed term by term.  The first and last terms of sigma_u are kappa g0 / sqrt(n) and
    (b - a) / (2 sqrt(n)) (see :func:`_improvement`).
    """
    kappa, g0, alpha, rho, n, root_n = v.kappa, v.g0, v.alpha, v.rho, v.n, v.root_n
    half = list(half_factors(v.a, v.b))  # (b - a) / 2 as two factors
    if constants == "refined":
        # (kappa (g0 + alpha rho d/(d+1) + alpha kappa/(2n)) + (b-a)/2) / sqrt(n)
        # and alpha (kappa rho + rho^2) / (2 sqrt(n))
        su_terms = [([kappa, g0], [root_n]), ([kappa, alpha, rho, _ball_mean_norm(v.d)], [root_n]),
                    ([alpha, kappa, kappa], [2.0 * n, root_n]), (half, [root_n])]
        nu_terms = [([alpha, kappa, rho], [2.0 * root_n]), ([alpha, rho, rho], [2.0 * root_n])]
    else:
        su_terms = [([kappa, g0], [root_n]), ([kappa, alpha, rho], [root_n]), (half, [root_n])]
        nu_terms = [([alpha, kappa, rho], [2.0 * root_n]), ([g0, rho], [root_n]), ([alpha, rho, rho], [2.0 * root_n])]
    su = _Part(su_terms, None if sigma_u is None else nonneg("sigma_u", sigma_u), [v.root_k])
    nu_part = _Part(nu_terms, None if nu is None else nonneg("nu", nu), [v.root_k])
    # tau d/(d+2) rho^2 / 2 from tau itself (tau d/(d+2) may round where tau rho^2 is normal)
    sp = _Part([([v.tau, v.shrink, rho, rho], [2.0])], None if sharpness is None else finite("sharpness", sharpness))
    return su, nu_part, sp, _Part([([kappa, v.lipschitz], [root_n]), (half, [root_n])], times=[v.root_k])


def _improvement(v: _SharpInputs, su: _Part, nu: _Part, sp: _Part, std: _Part, lemma_su: bool):
    """B_std - B_sh from its own terms (no cancellation of gen_T).

    With the lemma's sigma_u the (b - a)/2 terms of sigma0 and sigma_u cancel exactly and kappa (L - g0)
    is formed directly, so improvement = (A0 - A1 rho - A2 rho^2) sqrt(2K/n) - sp keeps its digits.
    """
    if not lemma_su:
        return rescaled(lambda c: std.at(c) - su.at(c) - nu.at(c) - sp.at(c))
    kappa, lipschitz, g0, root_k, root_n = v.kappa, v.lipschitz, v.g0, v.root_k, v.root_n
    middle = su.terms[1:-1]  # su's terms are [kappa g0, ..., (b - a)/2]: the first is in the gain, the last cancels

    def gain(c):  # kappa (L - g0) sqrt(2K) / sqrt(n), either sign
        return np.where(lipschitz >= g0, prod_ratio([kappa, lipschitz - g0, root_k, c], [root_n]),
                        -prod_ratio([kappa, g0 - lipschitz, root_k, c], [root_n]))

    return rescaled(lambda c: gain(c) - _sum_products(middle, [root_k, c]) - nu.at(c) - sp.at(c))


__all__ = [
    "SigmaEstimate", "sigma_stability", "sigma_parameter_stability",
    "UpperBound", "upper_bound", "LowerBound", "lower_bound", "lower_bound_subgaussian",
    "BestLowerBound", "lower_bound_best", "theorem1_bounds",
    "SharpnessBound", "sharpness_bound", "sharpness_constants", "tightness_radius", "prod_ratio",
]
