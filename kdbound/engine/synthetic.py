"""The embedded synthetic problem of ``linear-gaussian`` and ``simulate``: one generator, one set of defaults.

Ground truth W* (k x d) with i.i.d. N(0, 1/d) entries and features X (n x d, rows are
samples) with i.i.d. N(0, 1) entries, each from its own stream of the seed
(``SeedSequence(seed, spawn_key=(0,))`` for W*, ``(2,)`` for X; simulate's blocks of
training sets use ``(1, b)``).  So W* depends on (d, k, seed) only: the same seed gives
the same W* whatever n is, in both commands, and no stream is shared with a Monte Carlo.

References
----------
Li and He (ISIT 2026), Lemma 11 (the linear-Gaussian model); docs/theory.md, "Linear-Gaussian
case study" and "Monte Carlo check of the theorems (simulate)".
"""

from __future__ import annotations

import math

import numpy as np

from ._checks import integer

__all__ = ["DEFAULT_D", "DEFAULT_N", "DEFAULT_K", "synthetic_w_star", "synthetic_x", "synthetic_problem"]

#: the synthetic problem's sizes: features d, samples n per training set, outputs k (small, so that
#: simulate draws many training sets in its time budget)
DEFAULT_D, DEFAULT_N, DEFAULT_K = 5, 50, 3


def _stream(seed: int | None, key: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(key,))))


def synthetic_w_star(d: int, k: int, seed: int | None) -> np.ndarray:
    """The embedded ground truth: W* (k x d) with i.i.d. N(0, 1/d) entries, from its own stream of ``seed``.

    Parameters
    ----------
    d, k : int
        Features and outputs.
    seed : int or None

    Returns
    -------
    ndarray, k x d
    """
    return _stream(seed, 0).standard_normal((k, d)) / math.sqrt(d)


def synthetic_x(n: int, d: int, seed: int | None) -> np.ndarray:
    """The embedded features: X (n x d, rows are samples) with i.i.d. N(0, 1) entries, from its own stream.

    Parameters
    ----------
    n, d : int
        Samples and features.
    seed : int or None

    Returns
    -------
    ndarray, n x d
    """
    return _stream(seed, 2).standard_normal((n, d))


def synthetic_problem(d: int | None = None, n: int | None = None, k: int | None = None, seed: int | None = 0):
    """``(x, w_star)`` of the embedded problem, sizes defaulting to :data:`DEFAULT_D`, :data:`DEFAULT_N`,
    :data:`DEFAULT_K`; its memory is checked before anything is allocated
    (:func:`kdbound.engine.lingauss.check_memory`, which blames the largest of the sizes given).

    Parameters
    ----------
    d, n, k : int, optional
        Features, samples and outputs (>= 1).
    seed : int or None
        Seed (>= 0); None draws fresh entropy.

    Returns
    -------
    tuple of ndarray
        ``x`` (n x d) and ``w_star`` (k x d).
    """
    from .lingauss import check_memory  # the linear-Gaussian module, only when a problem is made

    given = tuple(name for name, value in (("d", d), ("n", n), ("k", k)) if value is not None)
    d = DEFAULT_D if d is None else integer("d", d, 1)
    n = DEFAULT_N if n is None else integer("n", n, 1)
    k = DEFAULT_K if k is None else integer("k", k, 1)
    seed = None if seed is None else integer("seed", seed, 0)
    check_memory(n, d, k, synthetic=True, given=given)
    return synthetic_x(n, d, seed), synthetic_w_star(d, k, seed)
