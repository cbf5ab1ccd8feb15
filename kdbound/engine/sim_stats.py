"""Streaming statistics of the simulated gaps: moments merged block by block, and the empirical CGF.

Memory does not grow with the number of datasets.  From the CGF grid come the plug-in
sub-Gaussian proxy sigma_hat (:func:`plug_in_sigma`) and the Donsker-Varadhan optimum
(:func:`dv_optimum`).

References
----------
Li and He (ISIT 2026), Theorem 1 and its Donsker-Varadhan step; docs/theory.md, section
"Monte Carlo check of the theorems (simulate)".
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["plug_in_sigma", "dv_optimum"]


class _Moments:
    """Means and the co-moment matrix of per-dataset vectors, merged block by block (Chan et al.)."""

    def __init__(self, dim: int):
        self.count = 0
        self.mean = np.zeros(dim)
        self.m2 = np.zeros((dim, dim))
        self.max = np.full(dim, -np.inf)
        self.min = np.full(dim, np.inf)

    def add(self, block: np.ndarray) -> None:
        m = block.shape[0]
        mean_b = block.mean(axis=0)
        cen = block - mean_b
        m2_b = cen.T @ cen
        total = self.count + m
        delta = mean_b - self.mean
        self.mean = self.mean + delta * (m / total)
        self.m2 = self.m2 + m2_b + np.outer(delta, delta) * (self.count * m / total)
        self.count = total
        self.max = np.maximum(self.max, block.max(axis=0))
        self.min = np.minimum(self.min, block.min(axis=0))

    def cov(self) -> np.ndarray:
        """Sample covariance (N - 1 denominator)."""
        return self.m2 / max(self.count - 1, 1)


class _CgfGrid:
    """The empirical cumulant generating function of the teacher gaps on a fixed grid of lambda, streamed.

    The grid is ``+-geomspace(1e-6, 1e6) / s0`` (s0: the first block's standard deviation),
    eight points per decade, and m0 is the first block's mean.  For |l| <= 1/2 (where
    ``|l (h - m0)| <= 1`` because every gap is in [-1, 1]) the sum of ``expm1(l (h - m0))`` is
    accumulated, which keeps the digits of ``Lambda(l) ~ l^2 var / 2`` at small l; beyond, a
    log-sum-exp.  At the end, with the final count N and mean m, the centred CGF is
    ``Lambda(l) = log1p(S / N) - l (m - m0)`` or ``LSE(l) - log N - l (m - m0)``.  Memory does
    not grow with the number of datasets.
    """

    PER_DECADE = 8
    SPAN = 6
    SMALL = 0.5

    def __init__(self):
        self.lams = None

    def add(self, h: np.ndarray) -> None:
        if self.lams is None:
            self.m0 = float(np.mean(h))
            s0 = float(np.std(h))
            s0 = s0 if s0 > 0 and math.isfinite(s0) else 1.0
            pos = np.geomspace(10.0 ** -self.SPAN, 10.0 ** self.SPAN, 2 * self.SPAN * self.PER_DECADE + 1) / s0
            self.lams = np.concatenate([-pos[::-1], pos])
            self.small = np.abs(self.lams) <= self.SMALL
            self.sum = np.zeros(int(self.small.sum()))
            self.lse = np.full(int((~self.small).sum()), -np.inf)
        dev = h - self.m0
        if self.sum.size:
            self.sum += np.expm1(np.multiply.outer(dev, self.lams[self.small])).sum(axis=0)
        if self.lse.size:
            e = np.multiply.outer(dev, self.lams[~self.small])      # (m, L)
            top = e.max(axis=0)
            self.lse = np.logaddexp(self.lse, top + np.log(np.exp(e - top).sum(axis=0)))

    def cgf(self, count: int, mean: float) -> tuple[np.ndarray, np.ndarray]:
        """(lambdas, centred Lambda(lambda)) for the final count and mean."""
        out = np.empty(self.lams.size)
        out[self.small] = np.log1p(self.sum / count)
        out[~self.small] = self.lse - math.log(count)
        return self.lams, out - self.lams * (mean - self.m0)


def _parabola_vertex(x, y, i):
    """Refine the extremum of y(x) at grid index i by the parabola through its neighbours."""
    if i <= 0 or i >= len(x) - 1:
        return y[i]
    x0, x1, x2 = x[i - 1], x[i], x[i + 1]
    y0, y1, y2 = y[i - 1], y[i], y[i + 1]
    den = (x0 - x1) * (x0 - x2) * (x1 - x2)
    a = (x2 * (y1 - y0) + x1 * (y0 - y2) + x0 * (y2 - y1)) / den
    b = (x2 * x2 * (y0 - y1) + x1 * x1 * (y2 - y0) + x0 * x0 * (y1 - y2)) / den
    if a == 0 or not math.isfinite(a) or not math.isfinite(b):
        return y[i]
    xv = -b / (2 * a)
    if not x0 <= xv <= x2:
        return y[i]
    c = y1 - a * x1 * x1 - b * x1
    return a * xv * xv + b * xv + c


def plug_in_sigma(lams, cgf, var_limit: float) -> float:
    """``sup_l sqrt(2 Lambda(l) / l^2)`` over the grid (refined), including the l -> 0 limit (the variance)."""
    f = 2.0 * cgf / (lams * lams)
    best = var_limit
    for side in (lams < 0, lams > 0):
        x = np.log(np.abs(lams[side]))
        y = f[side]
        if not y.size:
            continue
        i = int(np.argmax(y))
        best = max(best, float(_parabola_vertex(x, y, i)), float(y[i]))
    return math.sqrt(max(best, 0.0))


def dv_optimum(lams, cgf, kl: float, tail: float, var: float) -> float:
    """``inf_{l > 0} (K + Lambda(l)) / l`` over the grid (refined).

    Its limits are included: ``tail = max h - mean h`` as l -> infinity, 0 when K = 0, and,
    when the optimum lies below the grid (K tiny), the small-l form ``Lambda(l) ~ l^2 var / 2``
    whose optimum is ``sqrt(2 K var)`` at ``l = sqrt(2 K / var)``.
    """
    if kl == 0:
        return 0.0
    pos = lams > 0
    lp = lams[pos]
    x = np.log(lp)
    y = (kl + cgf[pos]) / lp
    i = int(np.argmin(y))
    best = min(float(y[i]), float(_parabola_vertex(x, y, i)))
    if i == 0 and var > 0 and math.sqrt(2.0 * kl / var) < lp[0]:
        best = min(best, math.sqrt(2.0 * kl * var))
    return min(best, tail)
