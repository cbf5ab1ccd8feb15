"""The empirical cumulant generating function of gaps: the plug-in proxy sigma_hat and the DV optimum.

For gaps ``h_1..h_N`` with mean ``m`` the centred empirical CGF is

    Lambda(l) = log mean_i exp(l (h_i - m)),

the teacher process's CGF with the sample in place of the law.  Two quantities of Theorem 1's
proof are computed from it, to full float64 precision:

* :func:`plugin_proxy`: ``sigma_hat = sup_{l != 0} sqrt(2 Lambda(l) / l^2)``, the smallest proxy
  the empirical law admits (its l -> 0 limit is the standard deviation, ddof 0);
* :func:`dv_optimum`: ``inf_{l > 0} (K + Lambda(l)) / l``, the Donsker-Varadhan bound on
  ``gen_S - gen_T`` with the empirical CGF (its l -> infinity limit is ``max h - m``).

Both are plug-in values, not certified: the sample misses the tails it did not reach.
``estimate`` and ``simulate`` call these functions on the teacher gaps, so the same gaps give
the same numbers in both.  (scipy home: scipy.optimize and scipy.special.logsumexp, imported
inside the functions; see docs/architecture.md.)

Numerics: while ``max |l c| <= 1``, Lambda comes from the power means of c (a series whose
terms cancel by at most a factor of 2); beyond, ``Lambda(l) = log1p(mean phi(l c))`` with
``phi(a) = e^a - 1 - a >= 0`` (a series for |a| < 1/16, so each term is good to about 1e-14)
while ``max l c <= 300``, and where Lambda exceeds about 280 a log-sum-exp, which then loses
nothing, ``logsumexp(l c) - log N``.  These forms keep the digits of ``Lambda(l) ~ l^2 var / 2``
at small l, which a log-sum-exp would lose to rounding of order ``eps log N``.  Values are
summed a block at a time, so memory stays at a few MiB whatever N is.

References
----------
Li and He (ISIT 2026), Theorem 1 and its proof (the Donsker-Varadhan step); docs/theory.md,
"The proxy sigma" (Bounds from measured runs) and "Proxies" (Monte Carlo check).
"""

from __future__ import annotations

import math

import numpy as np

from .numerics import pow2_scale, quiet_fp

__all__ = ["EmpiricalCgf", "centred_cgf", "plugin_proxy", "dv_optimum"]

#: below this max l c the CGF is log1p(mean phi); above it a log-sum-exp (Lambda > ~280 there)
_PHI_TOP = 300.0
#: |a| below which phi(a) = e^a - 1 - a comes from its series (above, expm1(a) - a cancels by at most 2 / |a| < 32x)
_SERIES = 2.0 ** -4
#: 1/k! for k = 12 down to 2: phi's series sum_{k >= 2} a^k / k!, relative error < 1e-20 for |a| < 1/16
_COEFFS = tuple(1.0 / math.factorial(k) for k in range(12, 1, -1))
#: the moment series of Lambda: powers 2..MOMENTS, used while max |l c| <= 1 (truncation < 1e-18 relative)
_MOMENTS = 20
#: float64 values per block of the evaluation (8 MiB)
_BLOCK = 1 << 20
#: the grid of u = |l| sd that brackets sigma_hat's supremum: points per decade, and its lower end
_PER_DECADE = 6
_U_LOW = 1e-4


def _phi(a: np.ndarray) -> np.ndarray:
    """``e^a - 1 - a`` (>= 0) for every a up to ~700, to about 1e-14 relative: a series for |a| < 1/16 (the
    few values there, in the passes that need this function), else expm1(a) - a."""
    out = np.expm1(a)
    out -= a
    small = np.flatnonzero(np.abs(a) < _SERIES)
    if small.size:
        s = a.ravel()[small]
        acc = np.full(s.size, _COEFFS[0])
        for coef in _COEFFS[1:]:
            acc *= s
            acc += coef
        acc *= s
        acc *= s
        out.ravel()[small] = acc
    return out


class EmpiricalCgf:
    """``Lambda(l) = log mean exp(l c)`` of centred values ``c`` (mean 0), evaluated for many l.

    While ``max |l c| <= 1``, ``Lambda(l) = log1p(sum_{k=2}^{20} l^k mean(c^k) / k!)`` from the
    power means, computed once (the series of ``mean phi(l c)``; its terms cancel by at most a
    factor of 2 there): each l then costs O(1).  Beyond, a pass over the values, a block at a
    time: ``log1p(mean phi(l c))`` while ``max l c <= 300``, else ``logsumexp(l c) - log N``.
    """

    def __init__(self, c: np.ndarray):
        self.c = np.asarray(c, dtype=np.float64)
        self.reach = float(np.max(np.abs(self.c)))
        power = self.c * self.c
        coeffs = []
        for k in range(2, _MOMENTS + 1):
            coeffs.append(float(np.mean(power)) / math.factorial(k))
            power = power * self.c
        self.coeffs = coeffs[::-1]          # highest power first, for Horner's scheme

    @quiet_fp
    def __call__(self, lams) -> np.ndarray:
        lams = np.atleast_1d(np.asarray(lams, dtype=np.float64))
        out = np.empty(lams.size)
        moment = np.abs(lams) * self.reach <= 1.0
        if moment.any():
            lm = lams[moment]
            acc = np.full(lm.size, self.coeffs[0])
            for coef in self.coeffs[1:]:
                acc = acc * lm + coef
            out[moment] = np.log1p(acc * lm * lm)
        if not moment.all():
            out[~moment] = self._pass(lams[~moment])
        return np.maximum(out, 0.0)  # >= 0 by Jensen (mean c = 0); rounding cannot make it negative

    def _pass(self, lams: np.ndarray) -> np.ndarray:
        from scipy.special import logsumexp  # scipy: the stable log-sum-exp (engine/cgf.py is a scipy home)

        c = self.c
        top = np.maximum(lams * c.max(), lams * c.min())
        near = top <= _PHI_TOP
        sums = np.zeros(int(near.sum()))
        lse = np.full(int((~near).sum()), -np.inf)
        rows = max(1, _BLOCK // lams.size)
        for start in range(0, c.size, rows):
            a = np.multiply.outer(c[start:start + rows], lams)
            if sums.size:
                sums += _phi(a if sums.size == lams.size else a[:, near]).sum(axis=0)
            if lse.size:
                lse = np.logaddexp(lse, logsumexp(a if lse.size == lams.size else a[:, ~near], axis=0))
        out = np.empty(lams.size)
        out[near] = np.log1p(sums / c.size)
        out[~near] = lse - math.log(c.size)
        return out


def centred_cgf(c: np.ndarray, lams) -> np.ndarray:
    """``log mean exp(l c)`` for each l of ``lams``, for values ``c`` with mean 0 (see :class:`EmpiricalCgf`).

    Parameters
    ----------
    c : ndarray, 1-D
        Centred values (mean 0).
    lams : array_like
        The l to evaluate at.

    Returns
    -------
    ndarray
        ``Lambda(l)`` for each l (>= 0).

    References
    ----------
    Li and He (ISIT 2026), proof of Theorem 1 (the CGF of the teacher gap).
    """
    return EmpiricalCgf(c)(lams)


def _centred(h) -> tuple[np.ndarray, float]:
    """The gaps divided by a power of two near their largest magnitude (exact), centred; and that power."""
    h = np.asarray(h, dtype=np.float64)
    scale = float(pow2_scale(h))
    hs = h / scale
    c = hs - hs.mean()
    return c - c.mean(), scale  # the second pass removes the first's rounding residue


@quiet_fp
def plugin_proxy(h) -> float:
    """The plug-in sub-Gaussian proxy ``sigma_hat = sup_{l != 0} sqrt(2 Lambda(l) / l^2)``.

    ``Lambda`` is the centred empirical CGF of the gaps (module docstring).  The supremum is over
    both signs of l (sub-Gaussianity is two-sided) and includes the l -> 0 limit, the standard
    deviation with N in the denominator.  On each side, ``u = |l| sd`` is scanned on a geometric
    grid from 1e-4 to ``2 max|l c| / sd``, beyond which ``2 Lambda / l^2 <= 2 max c / l`` is below
    the variance and cannot win; the best point is then refined by
    ``scipy.optimize.minimize_scalar`` (bounded Brent, in log u) between its neighbours (below the
    grid when the best point is its first).  The result is at most half the range of the gaps
    (Hoeffding's lemma on the empirical law), which also bounds rounding.  Exactly 0 when every
    gap is the same.

    Parameters
    ----------
    h : array_like, 1-D
        Finite gaps (at least one); any magnitude (they are rescaled by a power of two first).

    Returns
    -------
    float

    References
    ----------
    Li and He (ISIT 2026), Theorem 1 (sub-Gaussian teacher gap); docs/theory.md, "The proxy sigma".
    """
    h = np.asarray(h, dtype=np.float64)
    if h.min() == h.max():
        return 0.0  # a constant (not the rounding residue of its mean)
    c, scale = _centred(h)
    var = float(np.mean(c * c))
    if var == 0.0:
        return 0.0
    cgf = EmpiricalCgf(c)
    best = max(var, _side_sup(cgf, var, 1.0, float(c.max())), _side_sup(cgf, var, -1.0, -float(c.min())))
    return min(math.sqrt(best), 0.5 * float(c.max() - c.min())) * scale


def _side_sup(cgf: EmpiricalCgf, var: float, sign: float, reach: float) -> float:
    """``sup 2 Lambda(l) / l^2`` over l of one sign: the grid of :func:`plugin_proxy`, then bounded Brent."""
    from scipy.optimize import minimize_scalar  # scipy: bounded Brent (engine/cgf.py is a scipy home)

    sd = math.sqrt(var)

    def ratio(u):
        lams = sign * np.asarray(u, dtype=np.float64) / sd
        return 2.0 * cgf(lams) / (lams * lams)

    u_high = max(2.0 * reach / sd, 10.0 * _U_LOW)
    u = np.geomspace(_U_LOW, u_high, max(3, int(math.ceil(_PER_DECADE * math.log10(u_high / _U_LOW))) + 1))
    f = ratio(u)
    i = int(np.argmax(f))
    lo = math.log(u[i - 1]) if i > 0 else math.log(_U_LOW) - 20.0     # below the grid when its first point wins
    hi = math.log(u[min(i + 1, u.size - 1)])
    res = minimize_scalar(lambda t: -float(ratio(math.exp(t))[0]), bounds=(lo, hi), method="bounded",
                          options={"xatol": 1e-10})
    return max(float(f[i]), -float(res.fun))


@quiet_fp
def dv_optimum(h, kl: float) -> float:
    """The Donsker-Varadhan optimum ``inf_{l > 0} (K + Lambda(l)) / l`` with the empirical CGF.

    ``(K + Lambda(l)) / l`` is quasi-convex in l (its derivative's numerator ``l Lambda' - Lambda - K``
    grows with l), so it has one minimum: at a finite l when ``K < -ln p`` (p: the fraction of gaps at
    the maximum), found by ``scipy.optimize.bracket`` and ``minimize_scalar`` (Brent, in log l) from
    ``l = sqrt(8K) / R``, below which the minimum cannot lie (R: the range of the gaps; the tilted
    variance is at most R^2 / 4); otherwise in the limit l -> infinity, ``max h - mean h``.  0 when
    K = 0 or every gap is the same.

    Parameters
    ----------
    h : array_like, 1-D
        Finite gaps (the teacher's).
    kl : float
        K >= 0, finite.

    Returns
    -------
    float
        A bound on ``gen_S - gen_T`` with the plug-in CGF (so ``gen_S <= gen_T + dv_optimum``);
        at most ``sigma_hat sqrt(2K)`` since ``Lambda(l) <= l^2 sigma_hat^2 / 2``.

    References
    ----------
    Li and He (ISIT 2026), proof of Theorem 1 (the Donsker-Varadhan step); docs/theory.md, "Bounds"
    (Monte Carlo check).
    """
    from scipy.optimize import bracket, minimize_scalar  # scipy (engine/cgf.py is a scipy home)

    h = np.asarray(h, dtype=np.float64)
    if kl == 0 or h.min() == h.max():
        return 0.0
    c, scale = _centred(h)
    cgf = EmpiricalCgf(c)
    top = float(c.max())
    at_top = int(np.count_nonzero(c == top))
    if kl >= -math.log(at_top / c.size):
        return top * scale                     # no finite minimiser: the l -> infinity limit

    def value(t: float) -> float:
        lam = math.exp(t)
        return (kl + float(cgf(lam)[0])) / lam

    t0 = math.log(math.sqrt(8.0 * kl) / float(c.max() - c.min()))
    ta, tb, tc = bracket(value, t0, t0 + 1.0)[:3]
    res = minimize_scalar(value, bracket=(ta, tb, tc), method="brent", options={"xtol": 1e-10})
    return min(float(res.fun), value(tb), top) * scale
