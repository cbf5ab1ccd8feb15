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

import numpy as np

from ._checks import at_least, finite, nonneg, positive, quiet_fp as _quiet, require, scalar_or_array as _out


def _same_shape(*arrays):
    """Broadcast results to one shape (fields of one result agree), scalars as numpy scalars."""
    return [_out(np.array(a)) for a in np.broadcast_arrays(*arrays)]


class _Result:
    """Shared behaviour of the result dataclasses (frozen; ``eq=False`` because their
    fields are arrays, whose ``==`` is elementwise, so results compare by identity)."""

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]


# --------------------------------------------------------------------------- sigma

@dataclass(frozen=True, eq=False)
class SigmaEstimate(_Result):
    """A sub-Gaussian proxy ``sigma`` of the teacher gap and the route that gave it."""

    sigma: np.ndarray
    route: str  # "given", "stability" (Proposition 9) or "parameter-stability" (Lemma 13)


def _loss_range(loss_min, loss_max):
    a = finite("loss_min", loss_min)
    b = finite("loss_max", loss_max)
    require("loss_max", b, b <= a, "must be > loss_min")
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
    a, b = _loss_range(loss_min, loss_max)
    beta = nonneg("beta", beta)
    n = at_least("n", n, 1)
    root_n = np.sqrt(n)
    return SigmaEstimate(_out(root_n * beta + (b - a) / (2.0 * root_n)), "stability")


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
    a, b = _loss_range(loss_min, loss_max)
    kappa = nonneg("kappa", kappa)
    lipschitz = nonneg("lipschitz", lipschitz)
    n = at_least("n", n, 1)
    return SigmaEstimate(_out((kappa * lipschitz + (b - a) / 2.0) / np.sqrt(n)), "parameter-stability")


# --------------------------------------------------------------------------- Theorem 1

@dataclass(frozen=True, eq=False)
class UpperBound(_Result):
    """Theorem 1: ``gen_S <= gen_T + sigma sqrt(2K)``."""

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
        parameter ``lambda_opt = sqrt(2K) / sigma`` (+inf when sigma = 0 < K,
        NaN -- undefined -- when K = 0); and the two-sided lower value
        ``lower_two_sided = gen_T - sigma sqrt(2K)``.

    References
    ----------
    Li and He (ISIT 2026), Theorem 1; ``docs/theory.md``, "Upper bound".
    """
    gen_t = finite("gen_t", gen_t)
    kl = nonneg("kl", kl)
    sigma = nonneg("sigma", sigma)
    root = np.sqrt(2.0 * kl)
    slack = sigma * root
    with np.errstate(divide="ignore", invalid="ignore"):
        lam = np.where(kl == 0, np.nan, np.where(sigma == 0, np.inf, root / np.where(sigma == 0, 1.0, sigma)))
    return UpperBound(
        bound=_out(gen_t + slack), slack=_out(slack), lambda_opt=_out(lam),
        lower_two_sided=_out(gen_t - slack),
        gen_t=_out(gen_t), kl=_out(kl), sigma=_out(sigma),
    )


# --------------------------------------------------------------------------- Theorem 10

@dataclass(frozen=True, eq=False)
class LowerBound(_Result):
    """Theorem 10: ``gen_S >= c gen_T - K / eta``.

    ``boundary`` marks Remark 2's case where the optimum sits at the end of the
    eta interval (c -> 0): the bound is valid but trivial.
    """

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
    gen_t = finite("gen_t", gen_t)
    kl = nonneg("kl", kl)
    eta = positive("eta", eta)
    c = positive("c", c)
    require("c", c, c > 1, "must be in (0, 1]")
    bound = c * gen_t - kl / eta
    return LowerBound(*_same_shape(bound, eta, c, gen_t, kl, np.zeros((), dtype=bool)))


@_quiet
def lower_bound_subgaussian(gen_t, kl, sigma, eta=None) -> LowerBound:
    """Theorem 10 with Remark 2's pair ``(eta, c = 1 - eta sigma^2 / (2 gen_T))``.

    Valid for ``0 < eta < 2 gen_T / sigma^2`` and needs ``gen_T > 0``.  Without
    ``eta`` the bound ``gen_T - eta sigma^2 / 2 - K / eta`` is maximised: at
    ``eta* = sqrt(2K) / sigma`` inside the interval (value ``gen_T - sigma sqrt(2K)``),
    otherwise as ``eta -> 2 gen_T / sigma^2`` where ``c -> 0`` and the value tends
    to ``-K sigma^2 / (2 gen_T)``.  With ``sigma = 0`` the limit eta -> inf gives ``gen_T``;
    with ``K = 0`` the limit eta -> 0 gives ``gen_T``.

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
    mu = finite("gen_t", gen_t)
    require("gen_t", mu, mu <= 0,
            "must be > 0 for Remark 2's central condition (with gen_T <= 0 it does not apply; give {eta} and {c})")
    kl = nonneg("kl", kl)
    sigma = nonneg("sigma", sigma)
    with np.errstate(divide="ignore", invalid="ignore"):
        eta_max = np.where(sigma == 0, np.inf, 2.0 * mu / (sigma * sigma))
        if eta is None:
            eta_star = np.where(kl == 0, 0.0, np.where(sigma == 0, np.inf, np.sqrt(2.0 * kl) / sigma))
            boundary = (eta_star >= eta_max) & (kl > 0) & (sigma > 0)
            eta_used = np.where(boundary, eta_max, eta_star)
            interior = mu - sigma * np.sqrt(2.0 * kl)
            bound = np.where(boundary, -kl * sigma * sigma / (2.0 * mu), interior)
            bound = np.where(sigma == 0, mu, bound)
        else:
            eta_used = positive("eta", eta)
            require("eta", eta_used, eta_used >= eta_max,
                    "must be < 2 gen_t / sigma^2 for Remark 2 (the central-condition interval)")
            boundary = np.zeros(np.broadcast(mu, kl, sigma, eta_used).shape, dtype=bool)
            bound = mu - eta_used * sigma * sigma / 2.0 - kl / eta_used
        c = np.where(boundary, 0.0, 1.0 - eta_used * sigma * sigma / (2.0 * mu))
        c = np.where(np.isinf(eta_used) & (sigma == 0), 1.0, c)
    return LowerBound(*_same_shape(bound, eta_used, c, mu, kl, boundary))


# --------------------------------------------------------------------------- Theorem 12

@dataclass(frozen=True, eq=False)
class SharpnessBound(_Result):
    """Theorem 12 (sharpness-aware bound) beside the standard bound, with the tightness regime."""

    bound: np.ndarray           # B_sh
    standard_bound: np.ndarray  # B_std = gen_T + sigma0 sqrt(2K)
    sigma0: np.ndarray
    sigma_u: np.ndarray
    nu: np.ndarray
    sharpness_term: np.ndarray  # E[S_P(f_T)] (Lemma 16 bound, or measured)
    a0: np.ndarray
    a1: np.ndarray
    a2: np.ndarray
    rho0: np.ndarray            # tightness radius: B_sh < B_std on (0, rho0)
    rho_min: np.ndarray         # kappa / n, smallest radius Lemmas 14-15 admit
    improvement: np.ndarray     # B_std - B_sh (> 0 means the sharpness bound is tighter)
    rho: np.ndarray             # radius used
    admissible: np.ndarray      # rho_min < rho0: some admissible radius tightens the bound
    tightens: np.ndarray        # B_sh < B_std at the radius used


@_quiet
def tightness_radius(kl, n, kappa, lipschitz, g0, alpha, tau_eff):
    """The tightness radius rho0 of Theorem 12 against Lemma 13's standard bound.

    The positive root of ``(tau/2 + s A2) rho^2 + s A1 rho - s A0``, with
    ``s = sqrt(2K/n)``, written as ``2 s A0 / (s A1 + sqrt(...))``, which has
    no cancellation and covers the linear case ``rho0 = A0 / A1``.

    Parameters
    ----------
    kl, n, kappa, lipschitz, g0, alpha : array_like
        As in :func:`sharpness_bound`.
    tau_eff : array_like
        The Lemma 16 coefficient: tau, or ``tau d / (d + 2)`` with the dimension.

    Returns
    -------
    tuple of arrays
        ``(rho0, A0, A1, A2)``; rho0 = 0 when A0 <= 0 or K = 0.

    References
    ----------
    ``docs/theory.md``, "The tightness radius" (not in the paper).
    """
    a0 = kappa * (lipschitz - g0)
    a1 = 1.5 * alpha * kappa + g0
    a2 = 0.5 * alpha
    s = np.sqrt(2.0 * kl / n)
    qa = tau_eff / 2.0 + s * a2
    qb = s * a1
    with np.errstate(divide="ignore", invalid="ignore"):
        root = 2.0 * s * a0 / (qb + np.sqrt(qb * qb + 4.0 * qa * s * a0))
    rho0 = np.where((a0 <= 0) | (s == 0), 0.0, np.where((qa == 0) & (qb == 0), np.inf, root))
    return rho0, a0, a1, a2


@_quiet
def sharpness_bound(gen_t, kl, n, loss_min, loss_max, kappa, lipschitz, g0, alpha, tau,
                    rho=None, dim=None, sigma_u=None, nu=None, sharpness=None) -> SharpnessBound:
    """The sharpness-aware bound of Theorem 12 beside the standard bound.

    ``B_sh = gen_T + E[S_P(f_T)] + (sigma_u + nu) sqrt(2K)``, with the proxies
    from Lemmas 13-15 and the sharpness term from Lemma 16 (``tau rho^2 / 2``,
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
        Perturbation radius; default the best admissible one, ``kappa / n``
        (B_sh grows with rho).
    dim : array_like, optional
        Parameter dimension d (sharper Lemma 16).
    sigma_u, nu, sharpness : array_like, optional
        Measured values replacing Lemmas 14, 15 and 16.

    Returns
    -------
    SharpnessBound
        Both bounds, the proxies, A0-A2, the tightness radius rho0 (always from
        the lemma constants), rho_min, improvement = B_std - B_sh and flags.

    References
    ----------
    Li and He (ISIT 2026), Theorem 12 and Lemmas 13-16; ``docs/theory.md``,
    "Sharpness-aware bound" and "The tightness radius".
    """
    gen_t = finite("gen_t", gen_t)
    kl = nonneg("kl", kl)
    n = at_least("n", n, 1)
    a, b = _loss_range(loss_min, loss_max)
    kappa = nonneg("kappa", kappa)
    lipschitz = nonneg("lipschitz", lipschitz)
    g0 = nonneg("g0", g0)
    alpha = nonneg("alpha", alpha)
    tau = nonneg("tau", tau)
    rho_min = kappa / n
    rho = rho_min if rho is None else nonneg("rho", rho)
    if dim is None:
        tau_eff = tau
    else:
        d = at_least("dim", dim, 1)
        tau_eff = tau * d / (d + 2.0)
    half_range = (b - a) / 2.0
    root_n = np.sqrt(n)
    sigma0 = sigma_parameter_stability(a, b, kappa, lipschitz, n).sigma
    su = (kappa * (g0 + alpha * rho) + half_range) / root_n if sigma_u is None else nonneg("sigma_u", sigma_u)
    nu_ = (alpha * kappa * rho / 2.0 + g0 * rho + alpha * rho * rho / 2.0) / root_n if nu is None else nonneg("nu", nu)
    sp = tau_eff * rho * rho / 2.0 if sharpness is None else finite("sharpness", sharpness)
    root_k = np.sqrt(2.0 * kl)
    b_sh = gen_t + sp + (su + nu_) * root_k
    b_std = gen_t + sigma0 * root_k
    rho0, a0, a1, a2 = tightness_radius(kl, n, kappa, lipschitz, g0, alpha, tau_eff)
    improvement = b_std - b_sh
    return SharpnessBound(*_same_shape(b_sh, b_std, sigma0, su, nu_, sp, a0, a1, a2, rho0, rho_min, improvement,
                                       rho, rho_min < rho0, improvement > 0))


__all__ = [
    "SigmaEstimate", "sigma_stability", "sigma_parameter_stability",
    "UpperBound", "upper_bound", "LowerBound", "lower_bound", "lower_bound_subgaussian",
    "SharpnessBound", "sharpness_bound", "tightness_radius",
]
