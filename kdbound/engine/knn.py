"""An upper limit of K_h from the 1-nearest-neighbour estimator that extrapolates away its bias.

The 1-NN estimate of Wang, Kulkarni and Verdu (:func:`kdbound.engine.estimate.kl_knn`) is
biased low wherever the student's gap law reaches into the teacher's thin tail, and the bias
falls slowly with the number of runs (like ``n^-0.4`` for Gaussian laws, more slowly for heavier
student tails).  A subsampling interval is centred on the estimate and never sees that bias.
:func:`knn_upper_limit` estimates it from the estimate's exact means over subsamples of several
sizes, extrapolates it away under an assumed law of its decay, and adds a standard error from
random halvings of the runs:

1. ``U(f)``, the mean of the 1-NN estimate over *all* subsamples of a fraction ``f`` of each role,
   computed exactly from first-hit probabilities (:func:`first_hit_probabilities`,
   :func:`subsample_means`), at ``f = 1, 1/2, 1/4, 1/8``; ``U(1)`` is the estimate itself;
2. ``T = sum_j w_j U(f_j)`` with ``sum w_j = 1`` and ``sum w_j f_j^-a = 0``
   (:func:`extrapolation_weights`): unbiased for K_h whenever
   ``E U(f) = K_h - c (f n)^-a`` for some c, the *assumed bias law*, with ``a = 0.2``;
3. ``se`` from :data:`SPLITS` random partitions of the runs into halves (:data:`LARGE_SPLITS` from
   :data:`LARGE_RUNS` runs on);
4. ``hi = T + t_{1 - level, P - 1} se`` for ``P`` partitions.

Pure numpy (scipy for Student's t quantile, imported inside :func:`knn_upper_limit`).  Values
are divided by a power of two near their largest magnitude first (exact; the estimate is
invariant under scaling), so every distance lies in (0, 4].

References
----------
Q. Wang, S. R. Kulkarni and S. Verdu, "Divergence estimation for multidimensional densities via
k-nearest-neighbor distances", IEEE Trans. Inf. Theory 55 (2009); ``docs/theory.md``, "Bounds
from measured runs", kNN.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from .numerics import pow2_scale, quiet_fp

#: subsample fractions f_j at which the exact subsample means U(f_j) of the 1-NN estimate are computed
FRACTIONS = (1.0, 0.5, 0.25, 0.125)
#: the exponent a of the assumed bias law E[estimate at n runs] = K_h - c n^-a (a small a is a slow
#: decay: conservative for lighter tails, which decay faster; about a t5 student's decay at 2,000 runs)
EXPONENT = 0.2
#: Var(T at n) / Var(T at n/2): measured 0.52-0.61 at 600-2,000 runs per role for every law studied
#: (0.35-0.53 at 200); the 1-NN estimate's variance falls a little more slowly than 1/n
VAR_RATIO = 0.55
#: random partitions into halves for the standard error (its variance estimate has splits - 1 degrees of freedom)
SPLITS = 16
#: from this many runs of the larger role, LARGE_SPLITS partitions (each costs a pass over every run): a noisier
#: variance estimate, which Student's t with LARGE_SPLITS - 1 degrees of freedom accounts for (a wider limit on
#: average, not a lower level)
LARGE_RUNS = 200_000
LARGE_SPLITS = 8
#: f = 1/8 is used only from this many runs of each role on: below, the 1/8 subsamples (6-24 runs) no longer
#: follow the bias law; without it the 1/4 subsamples keep at least 12 runs down to 50 runs per role
FULL_RUNS = 200
#: neighbours of each value kept: the first-hit probabilities at f = 1/8 beyond 64 sum to about 2e-4
NEIGHBOURS = 64
#: reference covariance of (U(f_j)) relative to Var U(1) (identical Gaussian laws, 2,000 runs per role, 400
#: samples).  Only the variance of T depends on it, never its bias: the weights meet both constraints exactly
REFERENCE_COV = np.array([[1.0025, 0.6408, 0.3987, 0.2399],
                          [0.6408, 0.4561, 0.3081, 0.1973],
                          [0.3987, 0.3081, 0.2261, 0.1557],
                          [0.2399, 0.1973, 0.1557, 0.1152]])
#: the value beyond either end of a row: a missing neighbour is 14-18 away, farther than any real one (values lie
#: in [-2, 2]); finite and small, so that its zero probability times its logarithm is 0 and products stay finite
_FAR = 16.0
#: rows whose distances are multiplied before one logarithm is taken (see _log_sums)
_GROUP = 16
#: from this many student runs the halves are computed on THREADS threads (below, one costs less than a thread)
THREADED_RUNS = 20_000
THREADS = max(1, min(2, os.cpu_count() or 1))
#: values per block of the neighbour computation (about 2 kB of working memory per value: a block stays in cache)
_BLOCK = 1024


def splits_for(runs: int) -> int:
    """The random partitions into halves for ``runs`` runs of the larger role: :data:`SPLITS`, or
    :data:`LARGE_SPLITS` from :data:`LARGE_RUNS` on."""
    return LARGE_SPLITS if runs >= LARGE_RUNS else SPLITS


def fractions_for(runs: int) -> tuple[float, ...]:
    """The subsample fractions used for ``runs`` runs of the smaller role (:data:`FULL_RUNS`)."""
    return FRACTIONS if runs >= FULL_RUNS else FRACTIONS[:3]


def extrapolation_weights(fractions=FRACTIONS, exponent: float = EXPONENT, cov=None) -> np.ndarray:
    """The weights ``w`` with ``sum w_j = 1`` and ``sum w_j f_j^-a = 0`` of least variance under ``cov``.

    Under the bias law ``E U(f) = K + c (f n)^-a``, ``sum_j w_j U(f_j)`` is unbiased for ``K``
    whatever ``c``: generalised least squares of the ``U(f_j)`` on ``(1, f_j^-a)``, its intercept.

    Parameters
    ----------
    fractions : sequence of float
        The subsample fractions, at least two distinct ones.
    exponent : float
        The exponent ``a`` of the bias law.
    cov : array_like, optional
        Covariance of the ``U(f_j)`` (any scale); default: :data:`REFERENCE_COV` restricted to ``fractions``.

    Returns
    -------
    ndarray
        One weight per fraction.
    """
    f = np.asarray(fractions, dtype=np.float64)
    if cov is None:
        rows = [FRACTIONS.index(v) for v in fractions]
        cov = REFERENCE_COV[np.ix_(rows, rows)]
    design = np.stack([np.ones_like(f), f ** -exponent], axis=1)
    inv = np.linalg.inv(np.asarray(cov, dtype=np.float64))
    return np.linalg.solve(design.T @ inv @ design, design.T @ inv)[0]


def first_hit_probabilities(n: int, n_sub: int, neighbours: int = NEIGHBOURS) -> np.ndarray:
    """``P(the nearest member of a uniform n_sub-subset of n ranked items is the j-th)``, j = 1..neighbours.

    ``p_j = C(n - j, n_sub - 1) / C(n, n_sub)`` (0 for ``j > n - n_sub + 1``), by the recurrence
    ``p_1 = n_sub / n``, ``p_{j+1} = p_j (n - n_sub - j + 1) / (n - j)``.  When the support is longer
    than ``neighbours``, the probability beyond, ``C(n - L, n_sub) / C(n, n_sub)``, is added to the last
    one (a truncation: the neighbours past L are taken at the L-th's distance), so that the
    probabilities sum to 1.

    Parameters
    ----------
    n : int
        Items ranked by distance (>= 1).
    n_sub : int
        Subset size, ``1 <= n_sub <= n``.
    neighbours : int
        How many probabilities (L).

    Returns
    -------
    ndarray
        ``L`` probabilities.
    """
    j = np.arange(1, neighbours, dtype=np.float64)
    ratio = np.maximum(n - n_sub - j + 1.0, 0.0) / np.maximum(n - j, 1.0)
    p = (n_sub / n) * np.concatenate([[1.0], np.cumprod(ratio)])
    if n - n_sub + 1 > neighbours:
        k = np.arange(neighbours, dtype=np.float64)
        p[-1] += float(np.prod((n - n_sub - k) / (n - k)))
    return p


def _sizes(students: int, teachers: int, f: float) -> tuple[int, int]:
    """Subsample sizes (students, teachers) at fraction ``f``: at least 2 students and 1 teacher."""
    return max(2, round(f * students)), max(1, round(f * teachers))


def _probability_table(students: int, teachers: int, fractions, paired: bool):
    """The first-hit probabilities of the teacher and student neighbours (L x F each) and the F constants
    ``ln(c' / (b' - 1))`` of the estimator at each fraction (0 for paired runs: c' - 1 = b' - 1)."""
    pt, ps, norm = [], [], []
    for f in fractions:
        bs, cs = _sizes(students, teachers, f)
        if paired:   # each student's own teacher is left out: c - 1 candidates, c' - 1 = b' - 1 of them drawn
            pt.append(first_hit_probabilities(teachers - 1, bs - 1))
            norm.append(0.0)
        else:
            pt.append(first_hit_probabilities(teachers, cs))
            norm.append(math.log(cs / (bs - 1)))
        ps.append(first_hit_probabilities(students - 1, bs - 1))
    return np.stack(pt, axis=1), np.stack(ps, axis=1), np.array(norm)


def _padded(values: np.ndarray, pad: int) -> np.ndarray:
    """``values`` with ``pad`` far values (-_FAR below, +_FAR above) at each end."""
    out = np.empty(values.size + 2 * pad)
    out[:pad], out[pad + values.size:], out[pad:pad + values.size] = -_FAR, _FAR, values
    return out


def _nearest(descending: np.ndarray, ascending: np.ndarray) -> np.ndarray:
    """The L smallest of 2L distances per row, ascending; the distances come as a descending and an ascending
    row of L each (the neighbours on either side of a value, the far side first).  Together the rows are
    bitonic, so their elementwise minimum holds exactly the L smallest (a bitonic half-cleaner); one sort of
    L orders them.  ``descending`` (a fresh array) is overwritten."""
    out = np.minimum(descending, ascending, out=descending)
    out.sort(axis=1)
    return out


def _log_sums(distances: np.ndarray) -> np.ndarray:
    """``sum_i ln d[i, j]`` for each column j, as logarithms of products of :data:`_GROUP` rows at a time:
    16 times fewer logarithms, as exact to within a few units in the last place.  Distances lie in
    [3.6e-15, 18] (the tie check refuses closer values), so a product of 16 neither underflows nor
    overflows; closer values (a direct call without that check) take one logarithm each."""
    rows = distances.shape[0] - distances.shape[0] % _GROUP
    products = distances[:rows].reshape(-1, _GROUP, distances.shape[1]).prod(axis=1)
    if products.size and not products.min() > 1e-290:  # closer than the tie check allows: one logarithm each
        return np.log(distances).sum(axis=0)
    total = np.log(products).sum(axis=0)
    if rows < distances.shape[0]:
        total += np.log(distances[rows:]).sum(axis=0)
    return total


def _teacher_nearest(x, ys_pad, below, partner, L: int) -> np.ndarray:
    """The distances, ascending, from each value of ``x`` to its L nearest teacher values.

    ``ys_pad`` holds the sorted teacher values with L + 1 far values at each end; ``below[i]`` counts
    the teacher values below ``x[i]``.  ``partner[i]`` (or None) is the row position of ``x[i]``'s own
    teacher, left out: L + 1 candidates are taken on each side and the ones past it move up one place,
    so that each side stays monotone.
    """
    from numpy.lib.stride_tricks import sliding_window_view

    start = below + (L + 1)                                 # padded position of the nearest teacher above
    xc = x[:, None]
    if partner is None:
        windows = sliding_window_view(ys_pad, L)
        under = windows[start - L]                          # the L teachers just below, farthest first
        np.subtract(xc, under, out=under)
        above = windows[start]                              # the L teachers just above, nearest first
        np.subtract(above, xc, out=above)
        return _nearest(under, above)
    windows = sliding_window_view(ys_pad, L + 1)
    under = xc - windows[start - L - 1]
    above = windows[start] - xc
    j = np.arange(L)
    q = np.where(partner < below, partner - below + L + 1, -1)[:, None]   # the partner's place below, if there
    k = np.where(partner >= below, partner - below, L + 1)[:, None]       # its place above, if there
    under = np.where(j < q, under[:, :L], under[:, 1:])
    above = np.where(j >= k, above[:, 1:], above[:, :L])
    return _nearest(under, above)


def _student_nearest(xs_pad, lo: int, hi: int, L: int) -> np.ndarray:
    """The distances, ascending, from the sorted student values ``lo..hi-1`` to their L nearest other
    student values (``xs_pad``: the sorted values with L far values at each end)."""
    from numpy.lib.stride_tricks import sliding_window_view

    window = sliding_window_view(xs_pad, 2 * L + 1)[lo:hi]  # row i: L values below, the value, L above
    centre = window[:, L:L + 1]
    return _nearest(centre - window[:, :L], window[:, L + 1:] - centre)


@quiet_fp
def subsample_means(xs, ys, below, fractions=FRACTIONS, partner=None, neighbours: int = NEIGHBOURS) -> np.ndarray:
    """The exact means of the 1-NN estimate over all subsamples of a fraction ``f`` of each role.

    With ``b`` student values and ``c`` teacher values, ``b' = max(2, round(f b))`` and
    ``c' = max(1, round(f c))`` drawn without replacement,

        U(f) = (1/b) sum_i (E ln nu_i - E ln rho_i) + ln(c' / (b' - 1)),

    where, given that ``x_i`` is drawn, its nearest drawn teacher is its j-th nearest teacher with
    probability ``C(c - j, c' - 1) / C(c, c')``, and its nearest other drawn student the j-th nearest
    with ``C(b - 1 - j, b' - 2) / C(b - 1, b' - 1)`` (:func:`first_hit_probabilities`).  ``U(1)`` is
    the 1-NN estimate.  Paired runs (``partner`` given, ``b = c``, subsamples of whole pairs): each
    student's own teacher is left out of its candidates, so the teachers are ``c - 1`` with
    ``c' - 1 = b' - 1`` drawn and the constant is 0.

    Parameters
    ----------
    xs, ys : ndarray
        Sorted distinct student and teacher values (scaled into [-2, 2]).
    below : ndarray of int
        For each student value, the number of teacher values below it.
    fractions : sequence of float
        The fractions f.
    partner : ndarray of int, optional
        For each student value, the position in ``ys`` of its own teacher (paired runs).
    neighbours : int
        Neighbours of each role kept per value (:data:`NEIGHBOURS`).

    Returns
    -------
    ndarray
        ``U(f)`` for each fraction.
    """
    b, c = xs.size, ys.size
    pt, ps, norm = _probability_table(b, c, fractions, partner is not None)
    L = neighbours
    xs_pad, ys_pad = _padded(xs, L), _padded(ys, L + 1)
    sum_t, sum_s = np.zeros(L), np.zeros(L)
    for lo in range(0, b, _BLOCK):
        hi = min(b, lo + _BLOCK)
        part = None if partner is None else partner[lo:hi]
        sum_t += _log_sums(_teacher_nearest(xs[lo:hi], ys_pad, below[lo:hi], part, L))
        sum_s += _log_sums(_student_nearest(xs_pad, lo, hi, L))
    return (sum_t @ pt - sum_s @ ps) / b + norm


@dataclass(frozen=True)
class KnnLimit:
    """The extrapolated upper limit of K_h and how it was formed (:func:`knn_upper_limit`).

    Attributes
    ----------
    hi : float
        The upper limit at one-sided level ``1 - level``.
    estimate : float
        ``T``, the bias-extrapolated estimate of K_h.
    se : float
        Its standard error (from the halves, scaled to the whole sample).
    raw : float
        The 1-NN estimate ``U(1)`` (leaving each student's own teacher out when paired).
    fractions, means : tuple of float
        The fractions ``f_j`` and the exact subsample means ``U(f_j)``.
    weights : tuple of float
        The extrapolation weights ``w_j``.
    quantile : float
        Student's t quantile used (``splits - 1`` degrees of freedom).
    splits : int
        Random partitions into halves.
    paired : bool
        Whether the runs were treated as pairs.
    """

    hi: float
    estimate: float
    se: float
    raw: float
    fractions: tuple
    means: tuple
    weights: tuple
    quantile: float
    splits: int
    paired: bool


class _Sample:
    """The sorted scaled values of both roles, the teacher count below each student value, and for paired
    runs the ranks that recover each run's two values."""

    def __init__(self, student: np.ndarray, teacher: np.ndarray, paired: bool):
        s = pow2_scale(student, teacher)
        vals = np.concatenate([student, teacher]) / s
        order = np.argsort(vals, kind="stable")
        is_y = order >= student.size
        self.xs, self.ys = vals[order[~is_y]], vals[order[is_y]]
        self.below = np.flatnonzero(~is_y) - np.arange(student.size)
        self.paired = paired
        if paired:
            run_of_x = order[~is_y]                           # run index of each sorted student value
            self.rank_x = np.empty(student.size, dtype=np.int64)
            self.rank_x[run_of_x] = np.arange(student.size)
            self.rank_y = np.empty(teacher.size, dtype=np.int64)
            self.rank_y[order[is_y] - student.size] = np.arange(teacher.size)
            self.run_of_x = run_of_x

    def partner(self, rx: np.ndarray, ry: np.ndarray) -> np.ndarray | None:
        """Paired runs: the position, within the teacher ranks ``ry`` (sorted), of the own teacher of each
        student rank in ``rx``."""
        if not self.paired:
            return None
        return np.searchsorted(ry, self.rank_y[self.run_of_x[rx]])

    def means(self, rx: np.ndarray, ry: np.ndarray, fractions) -> np.ndarray:
        """U(f) of the sub-sample with student ranks ``rx`` and teacher ranks ``ry`` (sorted ascending)."""
        below = np.searchsorted(ry, self.below[rx])         # teacher ranks below each student's rank count
        return subsample_means(self.xs[rx], self.ys[ry], below, fractions, self.partner(rx, ry))

    def halves(self, rng: np.random.Generator) -> tuple[tuple, tuple]:
        """One random partition into halves: ((student ranks, teacher ranks) of half A, of half B), each
        sorted; pairs stay together when paired (an odd run out is in neither)."""
        m, k = self.xs.size, self.ys.size
        if not self.paired:
            rx = np.sort(rng.permutation(m)[:2 * (m // 2)].reshape(2, m // 2), axis=1)
            ry = np.sort(rng.permutation(k)[:2 * (k // 2)].reshape(2, k // 2), axis=1)
            return (rx[0], ry[0]), (rx[1], ry[1])
        runs = rng.permutation(m)[:2 * (m // 2)].reshape(2, m // 2)
        rx = np.sort(self.rank_x[runs], axis=1)
        ry = np.sort(self.rank_y[runs], axis=1)
        return (rx[0], ry[0]), (rx[1], ry[1])


def _map_halves(sample: _Sample, halves: list, fractions):
    """``(U(f) of half A, U(f) of half B)`` of each partition, in order.  From :data:`THREADED_RUNS` runs on
    :data:`THREADS` threads (numpy's sorts, logarithms and elementwise steps release the GIL): each half is
    computed by one thread alone, so the numbers do not depend on the threads."""
    def one(pair):
        (a, b) = pair
        return sample.means(*a, fractions), sample.means(*b, fractions)

    if sample.xs.size < THREADED_RUNS or THREADS < 2:
        yield from map(one, halves)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        jobs = [(pool.submit(sample.means, *a, fractions), pool.submit(sample.means, *b, fractions))
                for a, b in halves]
        try:
            for job_a, job_b in jobs:
                yield job_a.result(), job_b.result()
        finally:
            for job_a, job_b in jobs:
                job_a.cancel()
                job_b.cancel()


def knn_upper_limit(student, teacher, level: float, rng: np.random.Generator, *, paired: bool = False,
                    splits: int | None = None, exponent: float = EXPONENT, progress=None) -> KnnLimit:
    """An upper limit of K_h at one-sided level ``1 - level`` that corrects the 1-NN estimate's bias.

    ``T = sum_j w_j U(f_j)`` extrapolates the exact subsample means (:func:`subsample_means`) at
    fractions :data:`FRACTIONS` (``1/8`` only with at least :data:`FULL_RUNS` runs of each role) to
    infinitely many runs under the assumed bias law ``E U(f) = K_h - c (f n)^-a``
    (:func:`extrapolation_weights`).  Its standard error: over ``splits`` random partitions of the
    runs into halves A and B, ``v2 = mean (T_A - T_B)^2 / 2`` estimates ``Var(T)`` at ``n/2`` without
    bias (disjoint halves are independent samples), and ``se^2 = VAR_RATIO v2``.  Then
    ``hi = T + t_{1 - level, splits - 1} se``.

    The assumption is the bias law.  For student tails up to a t5's the limit covered at its
    level in every case measured (docs/estimate.md); for heavier tails (a t3 student) the bias
    decays more slowly than ``n^-0.2`` and the limit under-covers.

    Parameters
    ----------
    student, teacher : array_like
        Per-run gaps, distinct values (break ties first), at least 16 of each.
    level : float
        One-sided error, in (0, 1) (``delta / 2`` in :func:`kdbound.engine.estimate.estimate`).
    rng : numpy.random.Generator
        For the random partitions.
    paired : bool
        ``student[i]`` and ``teacher[i]`` come from the same training set (equal sizes): each
        student's own teacher is left out of its neighbours (the pairs' correlation would otherwise
        bias the estimate low) and the partitions keep pairs together.
    splits : int, optional
        Random partitions into halves (>= 2); default :func:`splits_for` the larger role's runs.
    exponent : float
        The exponent ``a`` of the bias law.
    progress : callable, optional
        ``progress(done, splits + 1)`` after the whole sample and after each partition.

    Returns
    -------
    KnnLimit

    References
    ----------
    ``docs/theory.md``, "Bounds from measured runs", kNN.
    """
    from scipy.special import stdtrit  # Student's t quantile (scipy: the estimate command's home for it)

    x = np.asarray(student, dtype=np.float64)
    y = np.asarray(teacher, dtype=np.float64)
    if min(x.size, y.size) < 16:
        raise InputError(f"needs at least 16 runs of each role (got {x.size} and {y.size})", "student")
    if paired and x.size != y.size:
        raise InputError(f"paired runs need as many student as teacher runs (got {x.size} and {y.size})", "student")
    sample = _Sample(x, y, paired)
    splits = splits_for(max(x.size, y.size)) if splits is None else int(splits)
    if splits < 2:
        raise InputError(f"must be >= 2 (got {splits})", "splits")
    fractions = fractions_for(min(x.size, y.size))
    w = extrapolation_weights(fractions, exponent)
    means = sample.means(np.arange(x.size), np.arange(y.size), fractions)
    estimate = float(means @ w)
    if progress is not None:
        progress(1, splits + 1)
    halves = [sample.halves(rng) for _ in range(splits)]      # drawn in order: the same seed, the same halves
    v2 = 0.0
    for done, (t_a, t_b) in enumerate(_map_halves(sample, halves, fractions)):
        diff = float((t_a - t_b) @ w)
        v2 += diff * diff / 2.0
        if progress is not None:
            progress(done + 2, splits + 1)
    se = math.sqrt(VAR_RATIO * v2 / splits)
    q = float(stdtrit(splits - 1, 1.0 - level))
    return KnnLimit(hi=estimate + q * se, estimate=estimate, se=se, raw=float(means[0]),
                    fractions=tuple(fractions), means=tuple(float(u) for u in means),
                    weights=tuple(float(v) for v in w), quantile=q, splits=splits, paired=paired)
