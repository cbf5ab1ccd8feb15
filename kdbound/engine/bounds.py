"""The generalization bounds of Li and He (ISIT 2026), sections 1-3 of SPEC.md.

Every function takes floats or numpy arrays, broadcasts them like a ufunc,
validates them up front (see :mod:`._checks`) and returns a frozen dataclass
whose fields are numpy scalars for scalar input and arrays otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from ._checks import at_least, finite, nonneg, positive, require, scalar_or_array as _out


def _same_shape(*arrays):
    """Broadcast results to one shape (fields of one result agree), scalars as numpy scalars."""
    return [_out(np.array(a)) for a in np.broadcast_arrays(*arrays)]


class _Result:
    """Shared behaviour of the result dataclasses."""

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]


# --------------------------------------------------------------------------- sigma

@dataclass(frozen=True)
class SigmaEstimate(_Result):
    """A sub-Gaussian proxy ``sigma`` of the teacher gap and the route that gave it."""

    sigma: np.ndarray
    route: str  # "given", "stability" (Proposition 9) or "parameter-stability" (Lemma 13)


def _loss_range(loss_min, loss_max):
    a = finite("loss_min", loss_min)
    b = finite("loss_max", loss_max)
    require("loss_max", b, b <= a, "must be > loss_min")
    return a, b


def sigma_stability(loss_min, loss_max, beta, n) -> SigmaEstimate:
    """Proposition 9: ``sigma = sqrt(n) beta + (b - a) / (2 sqrt(n))``.

    Loss in ``[a, b]``, teacher beta-uniformly stable, ``n`` samples; by
    McDiarmid with bounded difference ``c = 2 beta + (b - a) / n``.
    """
    a, b = _loss_range(loss_min, loss_max)
    beta = nonneg("beta", beta)
    n = at_least("n", n, 1)
    root_n = np.sqrt(n)
    return SigmaEstimate(_out(root_n * beta + (b - a) / (2.0 * root_n)), "stability")


def sigma_parameter_stability(loss_min, loss_max, kappa, lipschitz, n) -> SigmaEstimate:
    """Lemma 13: ``sigma0 = (kappa L + (b - a) / 2) / sqrt(n)``.

    Parameter stability ``||A(D) - A(D')|| <= kappa / n`` and an L-Lipschitz loss
    (Proposition 9 with ``beta = kappa L / n``).
    """
    a, b = _loss_range(loss_min, loss_max)
    kappa = nonneg("kappa", kappa)
    lipschitz = nonneg("lipschitz", lipschitz)
    n = at_least("n", n, 1)
    return SigmaEstimate(_out((kappa * lipschitz + (b - a) / 2.0) / np.sqrt(n)), "parameter-stability")


# --------------------------------------------------------------------------- Theorem 1

@dataclass(frozen=True)
class UpperBound(_Result):
    """Theorem 1: ``gen_S <= gen_T + sigma sqrt(2K)``."""

    bound: np.ndarray
    slack: np.ndarray
    lambda_opt: np.ndarray
    lower_two_sided: np.ndarray
    gen_t: np.ndarray
    kl: np.ndarray
    sigma: np.ndarray


def upper_bound(gen_t, kl, sigma) -> UpperBound:
    """Theorem 1 (Li and He): ``gen_S <= gen_T + sigma sqrt(2K)``.

    Also the optimal Donsker-Varadhan parameter ``lambda* = sqrt(2K) / sigma``
    (+inf when sigma = 0 < K, NaN -- undefined -- when K = 0) and the
    two-sided lower value ``gen_T - sigma sqrt(2K)``.
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

@dataclass(frozen=True)
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


def lower_bound(gen_t, kl, eta, c) -> LowerBound:
    """Theorem 10: under the (eta, c)-central condition, ``gen_S >= c gen_T - K / eta``."""
    gen_t = finite("gen_t", gen_t)
    kl = nonneg("kl", kl)
    eta = positive("eta", eta)
    c = positive("c", c)
    require("c", c, c > 1, "must be in (0, 1]")
    bound = c * gen_t - kl / eta
    return LowerBound(*_same_shape(bound, eta, c, gen_t, kl, np.zeros((), dtype=bool)))


def lower_bound_subgaussian(gen_t, kl, sigma, eta=None) -> LowerBound:
    """Theorem 10 with Remark 2's pair ``(eta, c = 1 - eta sigma^2 / (2 gen_T))``.

    Valid for ``0 < eta < 2 gen_T / sigma^2`` and needs ``gen_T > 0``.  Without
    ``eta`` the bound ``gen_T - eta sigma^2 / 2 - K / eta`` is maximised: at
    ``eta* = sqrt(2K) / sigma`` inside the interval (value ``gen_T - sigma sqrt(2K)``),
    otherwise as ``eta -> 2 gen_T / sigma^2`` where ``c -> 0`` and the value tends
    to ``-K sigma^2 / (2 gen_T)``.  With ``sigma = 0`` the limit eta -> inf gives ``gen_T``;
    with ``K = 0`` the limit eta -> 0 gives ``gen_T``.
    """
    mu = finite("gen_t", gen_t)
    require("gen_t", mu, mu <= 0,
            "must be > 0 for Remark 2's central condition (with gen_T <= 0 it does not apply; give --eta and --c)")
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

@dataclass(frozen=True)
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


def tightness_radius(kl, n, kappa, lipschitz, g0, alpha, tau_eff):
    """The positive root rho0 of ``(tau/2 + s A2) rho^2 + s A1 rho - s A0``, s = sqrt(2K/n).

    SPEC section 3 (derived there).  Written as ``2 s A0 / (s A1 + sqrt(...))``,
    which has no cancellation and covers the linear case ``rho0 = A0 / A1``.
    Returns (rho0, A0, A1, A2); rho0 = 0 when A0 <= 0 or K = 0.
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


def sharpness_bound(gen_t, kl, n, loss_min, loss_max, kappa, lipschitz, g0, alpha, tau,
                    rho=None, dim=None, sigma_u=None, nu=None, sharpness=None) -> SharpnessBound:
    """Theorem 12: ``gen_S <= gen_T + E[S_P(f_T)] + (sigma_u + nu) sqrt(2K)``.

    Proxies from Lemmas 13-15, the sharpness term from Lemma 16
    (``tau rho^2 / 2``, or ``tau rho^2 d / (2 (d + 2))`` with ``dim``), unless
    measured ``sigma_u``, ``nu`` or ``sharpness`` are given.  The tightness
    radius rho0 and A0-A2 always use the lemma constants.  Without ``rho`` the
    bound is evaluated at the best admissible radius, ``rho_min = kappa / n``
    (B_sh grows with rho).
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
