"""Streaming statistics of the simulated per-dataset values: means and co-moments merged block by block.

Memory does not grow with the number of datasets.  (The plug-in proxy sigma_hat and the
Donsker-Varadhan optimum need the teacher gaps themselves: :mod:`.cgf`.)

References
----------
docs/theory.md, section "Monte Carlo check of the theorems (simulate)", "Verdicts".
"""

from __future__ import annotations

import numpy as np


class _Moments:
    """Means and the co-moment matrix of per-dataset vectors, merged block by block (Chan et al.).

    ``diagonal=True`` keeps only the sums of squared deviations (a vector): the variances of many
    columns without their covariance matrix.
    """

    def __init__(self, dim: int, diagonal: bool = False):
        self.count = 0
        self.diagonal = diagonal
        self.mean = np.zeros(dim)
        self.m2 = np.zeros(dim) if diagonal else np.zeros((dim, dim))
        self.max = np.full(dim, -np.inf)
        self.min = np.full(dim, np.inf)

    def add(self, block: np.ndarray) -> None:
        m = block.shape[0]
        mean_b = block.mean(axis=0)
        cen = block - mean_b
        m2_b = (cen * cen).sum(axis=0) if self.diagonal else cen.T @ cen
        total = self.count + m
        delta = mean_b - self.mean
        self.mean = self.mean + delta * (m / total)
        cross = delta * delta if self.diagonal else np.outer(delta, delta)
        self.m2 = self.m2 + m2_b + cross * (self.count * m / total)
        self.count = total
        self.max = np.maximum(self.max, block.max(axis=0))
        self.min = np.minimum(self.min, block.min(axis=0))

    def cov(self) -> np.ndarray:
        """Sample covariance (N - 1 denominator)."""
        return self.m2 / max(self.count - 1, 1)
