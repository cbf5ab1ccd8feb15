"""From measured training runs to the bounds of Theorem 1, with the gap-law divergence K_h.

Theorem 1's proof uses the two processes only through the laws of the scalar
generalization gap ``h = L_P(f) - L_D(f)``: ``P_h`` (teacher runs) and ``Q_h``
(student runs).  With ``K_h = KL(Q_h || P_h) <= K`` (data processing),

    gen_S <= gen_T + sigma sqrt(2 K_h),     gen_S >= gen_T - sigma sqrt(2 K_h),

and ``K_h`` is a divergence between two one-dimensional laws, which runs can
estimate.  This module holds the estimators (pure functions over numpy
arrays): the gaps' confidence intervals, the sub-Gaussian proxies, ``K_h`` by a
Gaussian fit (upper limit by parametric bootstrap) or by the 1-nearest-neighbour
estimator of Wang, Kulkarni and Verdu (upper limit by extrapolating its bias:
:mod:`kdbound.engine.knn`), and :func:`estimate`, which puts them together with a
*basis* for every number:

* ``certified``: follows from the inputs by a proven inequality;
* ``assumption``: holds under an assumption kdbound cannot check;
* ``asymptotic``: a consistent estimate, or a limit whose coverage tends to the
  nominal level as the number of runs grows;
* ``model``: right if the gaps are Gaussian;
* ``plug-in``: an estimate with no guarantee.

A bound takes the weakest basis of its terms (:data:`BASIS_ORDER`, strongest
first).  Derivations: ``docs/theory.md``, "Bounds from measured runs".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import NamedTuple

import numpy as np

from ..errors import InputError, ParameterError, format_value
from ._checks import first_nonfinite, integer
from . import cgf
from .bounds import theorem1_bounds
from .knn import KnnLimit, knn_upper_limit
from .numerics import pow2_scale, quiet_fp, scaled_sd, xm_log1p

#: basis words, strongest first: a value computed from several takes the last of theirs in this order
BASIS_ORDER = ("certified", "assumption", "asymptotic", "model", "plug-in")

#: the result keys, in the order they are printed
RESULT_KEYS = ("gen_t", "gen_t_lo", "gen_t_hi", "gen_s_observed", "gen_s_lo", "gen_s_hi", "sigma_range", "sigma_sd",
               "sigma_hat", "kl_gap", "kl_gap_hi", "upper_bound", "upper_bound_hi", "lower_bound", "lower_bound_lo",
               "upper_bound_plugin", "upper_bound_plugin_hi", "lower_bound_plugin", "lower_bound_plugin_lo",
               "observed_within_bounds", "vacuous")
#: the four bounds with each proxy: (point upper, upper at the limits, point lower, lower at the limits)
BOUND_KEYS = ("upper_bound", "upper_bound_hi", "lower_bound", "lower_bound_lo")
PLUGIN_BOUND_KEYS = ("upper_bound_plugin", "upper_bound_plugin_hi", "lower_bound_plugin", "lower_bound_plugin_lo")

KL_METHODS = ("gauss", "knn")
#: the kNN estimator needs this many runs of each role (its bias extrapolation needs room)
KNN_MIN_RUNS = 50
MIN_RUNS = 2
#: bootstrap replicates of the Gaussian fit's upper limit when none are asked for
DEFAULT_REPLICATES = 1000


def weakest(*bases: str) -> str:
    """The weakest of some basis words (:data:`BASIS_ORDER`)."""
    return max(bases, key=BASIS_ORDER.index)


class TieError(InputError):
    """The kNN estimator met two equal gap values (a zero distance).

    ``first`` and ``second`` are (role, index) pairs of the tied runs (role is
    ``"teacher"`` or ``"student"``, index the position in that role's array),
    ``value`` the tied value and ``count`` how many values repeat one before them.
    """

    def __init__(self, first: tuple[str, int], second: tuple[str, int], value: float, count: int):
        self.first, self.second, self.value, self.count = first, second, value, count
        super().__init__(f"{count} tied gap value(s), e.g. {first[0]} run {first[1]} and {second[0]} run "
                         f"{second[1]} both have {format_value(value)}: the kNN estimator needs distinct values; "
                         "break ties with {jitter} or use {kl_method} gauss", "kl_method", refs=("jitter", "kl_method"))


# --------------------------------------------------------------------------- checks

def _gaps(name: str, values, minimum: int = MIN_RUNS) -> np.ndarray:
    """A 1-D float array of at least ``minimum`` finite gaps."""
    if isinstance(values, (bool, np.bool_)):
        raise ParameterError(name, "must be an array of numbers", values)
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ParameterError(name, "must be an array of numbers", None) from None
    if arr.ndim != 1:
        raise InputError(f"expected a 1-D array of gaps (got shape {arr.shape})", name)
    if arr.size < minimum:
        raise InputError(f"needs at least {minimum} runs (got {arr.size})", name)
    bad = first_nonfinite(arr)
    if bad is not None:
        raise ParameterError(name, "must be finite", bad[2], bad[0])
    return arr


def check_delta(delta) -> float:
    d = float(delta)
    if not (0.0 < d < 1.0):
        raise ParameterError("delta", "must lie in (0, 1)", delta)
    return d


MAX_REPLICATES = 10_000_000


def check_replicates(replicates, delta: float) -> int:
    """At least 2 / delta replicates, so that the delta/2 quantile lies inside them."""
    if 2.0 / delta > MAX_REPLICATES:
        raise ParameterError("delta", f"must be >= {2.0 / MAX_REPLICATES:g}: a limit at level 1 - delta needs 2/delta "
                             f"replicates, and kdbound draws at most {MAX_REPLICATES:,}", delta)
    low = math.ceil(2.0 / delta - 1e-9)
    b = integer("bootstrap", replicates, 1)
    if b > MAX_REPLICATES:
        raise ParameterError("bootstrap", f"must be <= {MAX_REPLICATES:,} (each replicate is drawn and kept)", b)
    if b < low:
        raise ParameterError("bootstrap", f"must be >= 2/{{delta}} = {low}, so that the delta/2 quantile lies "
                             "inside the replicates", b)
    return b


def check_method_replicates(kl_method: str, replicates, delta: float) -> int:
    """The bootstrap replicates of ``kl_method``: gauss takes :func:`check_replicates` (None:
    :data:`DEFAULT_REPLICATES`); knn takes none (its limit is formed from exact subsample means and
    random halvings, :mod:`kdbound.engine.knn`), so replicates given with it are refused.  Returns 0 for knn."""
    if kl_method == "knn":
        if replicates is not None:
            raise ParameterError("bootstrap", "only with {kl_method} gauss: the kNN upper limit draws no replicates "
                                 "(it uses exact subsample means and random halvings of the runs)", replicates)
        return 0
    return check_replicates(DEFAULT_REPLICATES if replicates is None else replicates, delta)


def check_pairs(pairs, teacher_runs: int, student_runs: int) -> np.ndarray | None:
    """``pairs[i]``: the index of student run i's teacher run (a permutation; equal run counts), or None."""
    if pairs is None:
        return None
    try:
        arr = np.asarray(pairs, dtype=np.int64).reshape(-1)
    except (TypeError, ValueError):
        raise ParameterError("pairs", "must be an array of teacher run indices", None) from None
    if teacher_runs != student_runs or arr.size != student_runs:
        raise InputError(f"paired runs need one teacher run per student run (got {teacher_runs} teacher runs, "
                         f"{student_runs} student runs and {arr.size} pairs)", "pairs")
    if not np.array_equal(np.sort(arr), np.arange(arr.size)):
        raise InputError("must use each teacher run exactly once (a permutation of 0..n-1)", "pairs")
    return arr


def check_loss_range(loss_min, loss_max) -> tuple[float, float] | None:
    """(a, b) with a < b, both finite; None when neither is given."""
    if loss_min is None and loss_max is None:
        return None
    if loss_min is None or loss_max is None:
        missing, given = ("loss_min", "loss_max") if loss_min is None else ("loss_max", "loss_min")
        raise InputError(f"required with {{{given}}} (the loss range [a, b])", missing, refs=(given,))
    a, b = float(loss_min), float(loss_max)
    if not math.isfinite(a):
        raise ParameterError("loss_min", "must be finite", loss_min)
    if not math.isfinite(b):
        raise ParameterError("loss_max", "must be finite", loss_max)
    if b <= a:
        raise ParameterError("loss_max", "must be > {loss_min}", loss_max)
    return a, b


def _n_test(name: str, values, size: int) -> np.ndarray | None:
    if values is None:
        return None
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    arr = np.broadcast_to(arr, (size,)) if arr.size == 1 else arr
    if arr.size != size:
        raise InputError(f"expected one test-set size per run ({size}), got {arr.size}", name)
    bad = ~np.isfinite(arr) | (arr < 1) | (arr != np.floor(arr))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ParameterError(name, "must be a whole number >= 1", float(arr[i]), i)
    return arr


# --------------------------------------------------------------------------- gaps

@dataclass(frozen=True, eq=False)
class GapInterval:
    """The mean gap over runs and its confidence interval at level ``1 - delta``.

    ``half_t`` is Student's t half-width ``t s / sqrt(R)``; ``hoeffding`` the
    test-set term added to it (0 without a loss range and test-set sizes);
    ``skew`` the sample skewness ``g1 = m3 / m2^1.5`` of the gaps (0 when they
    are all equal).  The t interval's coverage is close to nominal when
    ``R > 25 g1^2`` (Cochran's rule); fewer runs of skewed gaps may cover less.
    """

    mean: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    sd: np.ndarray
    se: np.ndarray
    half_t: np.ndarray
    hoeffding: np.ndarray
    runs: int
    skew: np.ndarray


@quiet_fp
def gap_interval(gaps, delta: float = 0.05, loss_range: tuple[float, float] | None = None,
                 n_test=None) -> GapInterval:
    """Mean of the per-run gaps along the last axis and its two-sided interval at level ``1 - delta``.

    ``mean +- (t_{1 - d_t/2, R-1} s / sqrt(R) + hoeffding)``, where ``s`` is the
    sample standard deviation (ddof 1) of the ``R`` runs.  Without test-set
    sizes ``d_t = delta`` and ``hoeffding = 0``: the test losses are taken as
    population losses (or their errors as independent across runs, which the
    t interval absorbs).  With ``loss_range = (a, b)`` and ``n_test``, the
    delta is split, ``d_t = delta / 2``, and

        hoeffding = (b - a) sqrt(ln(4 / delta) mean(1 / n_test) / 2)

    bounds the average test-set error over the runs with probability
    ``1 - delta / 2``, however the runs share test points.

    Parameters
    ----------
    gaps : array_like
        Per-run gaps ``test_loss - train_loss``; the last axis is the runs
        (leading axes are independent problems, for simulation studies).
    delta : float
        One minus the confidence level, in (0, 1).
    loss_range : (a, b), optional
        The loss range; needed for the test-set term.
    n_test : array_like, optional
        Test-set size of each run (whole numbers >= 1).

    Returns
    -------
    GapInterval

    References
    ----------
    ``docs/theory.md``, "Bounds from measured runs", gaps.
    """
    from scipy.special import stdtrit  # Student's t quantile: the estimate command's only scipy use here

    delta = check_delta(delta)
    h = np.asarray(gaps, dtype=np.float64)
    if h.ndim == 0 or h.shape[-1] < MIN_RUNS:
        raise InputError(f"needs at least {MIN_RUNS} runs", "gaps")
    runs = h.shape[-1]
    s = pow2_scale(h, axis=-1)
    hs = h / s[..., None] if h.ndim > 1 else h / s
    m = sample_mean(hs)
    centred = hs - m[..., None]
    m2 = np.mean(centred ** 2, axis=-1)
    skew = np.where(m2 > 0, np.mean(centred ** 3, axis=-1) / np.where(m2 > 0, m2, 1.0) ** 1.5, 0.0)
    mean = m * s
    sd = np.sqrt(m2 * (runs / (runs - 1))) * s  # about the clipped mean: 0 for a constant sample
    se = sd / math.sqrt(runs)
    hoeff = np.zeros_like(mean)
    d_t = delta
    if loss_range is not None and n_test is not None:
        a, b = loss_range
        n = _n_test("n_test", n_test, runs)
        d_t = delta / 2.0
        hoeff = hoeff + (b - a) * math.sqrt(math.log(4.0 / delta) * float(np.mean(1.0 / n)) / 2.0)
    half_t = stdtrit(runs - 1, 1.0 - d_t / 2.0) * se
    half = half_t + hoeff
    return GapInterval(mean=mean, lo=mean - half, hi=mean + half, sd=sd, se=se, half_t=half_t, hoeffding=hoeff,
                       runs=runs, skew=skew)


# --------------------------------------------------------------------------- proxies

def plugin_proxy(gaps) -> float:
    """The plug-in sub-Gaussian proxy ``sup_l sqrt(2 log mean exp(l (h - mean h)) / l^2)`` of the teacher gaps.

    The empirical cumulant generating function in place of the true one, over both signs of l;
    its limit at ``l -> 0`` is the standard deviation (ddof 0).  Computed to full precision by
    :func:`kdbound.engine.cgf.plugin_proxy` (``simulate`` calls the same function on its gaps).
    Informative, not certified: the empirical CGF misses the tails that the sample did not reach.

    Parameters
    ----------
    gaps : array_like, 1-D
        At least two finite gaps.

    Returns
    -------
    float

    References
    ----------
    Li and He (ISIT 2026), Theorem 1; ``docs/theory.md``, "Bounds from measured runs", the proxy sigma.
    """
    return cgf.plugin_proxy(_gaps("gaps", gaps))


# --------------------------------------------------------------------------- K_h: Gaussian fit

def sample_mean(h: np.ndarray) -> np.ndarray:
    """The mean over the last axis, kept within the sample's range: rounding can put numpy's mean of
    seven gaps of 0.1 at 0.09999999999999999, below every gap, and two constant samples of one value at
    two different means (a Gaussian fit would see two point masses apart, K_h = inf for a true 0)."""
    return np.clip(h.mean(axis=-1), h.min(axis=-1), h.max(axis=-1))


@quiet_fp
def kl_gauss_moments(mean_s, sd_s, mean_t, sd_t):
    """``KL(N(mean_s, sd_s^2) || N(mean_t, sd_t^2))`` in nats, elementwise, in an overflow-safe form.

    ``ln(sd_t / sd_s) + (sd_s^2 + (mean_s - mean_t)^2) / (2 sd_t^2) - 1/2``,
    computed as ``(x - ln r^2) / 2 + d^2 / 2`` with ``r = sd_s / sd_t``,
    ``x = r^2 - 1`` and ``d = (mean_s - mean_t) / sd_t`` (``ln r^2`` from the
    logarithms of the standard deviations, and a series for small ``x``, where
    ``x - log1p(x)`` would cancel).  +inf when a standard
    deviation is 0 and the laws differ; 0 when both are the same point mass.

    References
    ----------
    ``docs/theory.md``, "Bounds from measured runs", Gaussian fit.
    """
    ms, ss, mt, st = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (mean_s, sd_s, mean_t, sd_t)))
    r = ss / st
    x = (r - 1.0) * (r + 1.0)
    # ln r^2 from the logarithms, not from r: r^2 may underflow while the KL is finite
    shape = xm_log1p(x, 2.0 * (np.log(ss) - np.log(st)))
    d = (ms - mt) / st
    out = 0.5 * shape + 0.5 * d * d
    out = np.where((st == 0) & (ss == 0), np.where(ms == mt, 0.0, np.inf), out)
    out = np.where((st == 0) & (ss > 0), np.inf, out)
    out = np.where((ss == 0) & (st > 0), np.inf, out)
    return out[()] if out.ndim == 0 else out


def kl_gauss(student, teacher) -> float:
    """K_h of the Gaussian fits: sample means and sample standard deviations (ddof 1) of each role.

    Parameters
    ----------
    student, teacher : array_like
        Per-run gaps under the student and teacher processes (>= 2 each).

    References
    ----------
    ``docs/theory.md``, "Bounds from measured runs", Gaussian fit.
    """
    x = _gaps("student", student)
    y = _gaps("teacher", teacher)
    s = pow2_scale(x, y)
    x, y = x / s, y / s
    return float(kl_gauss_moments(sample_mean(x), scaled_sd(x), sample_mean(y), scaled_sd(y)))


@quiet_fp
def kl_gauss_replicates(student, teacher, replicates: int, rng: np.random.Generator) -> np.ndarray:
    """Parametric bootstrap of the Gaussian-fit K_h: ``replicates`` values.

    Each replicate draws both roles' samples from their fitted Gaussians, of the
    observed sizes, and refits.  Only the sufficient statistics are drawn, from
    their exact laws: the mean is ``N(m, s^2 / R)`` and the variance
    ``s^2 chi^2_{R-1} / (R - 1)``, independently.
    """
    x = _gaps("student", student)
    y = _gaps("teacher", teacher)
    s = pow2_scale(x, y)
    x, y = x / s, y / s
    stats = []
    for arr in (x, y):
        r, m, s = arr.size, sample_mean(arr), scaled_sd(arr)
        means = m + s / math.sqrt(r) * rng.standard_normal(replicates)
        sds = s * np.sqrt(rng.chisquare(r - 1, replicates) / (r - 1))
        stats.append((means, sds))
    (ms, ss), (mt, st) = stats
    return np.asarray(kl_gauss_moments(ms, ss, mt, st), dtype=np.float64)


# --------------------------------------------------------------------------- K_h: 1-nearest neighbour

def _pooled(student: np.ndarray, teacher: np.ndarray):
    """The pooled values (scaled, see :func:`_scale`) sorted, whether each is a teacher value, and the order."""
    vals = np.concatenate([student, teacher])
    vals = vals / pow2_scale(vals)
    order = np.argsort(vals, kind="stable")
    return vals[order], order >= student.size, order


def find_ties(student, teacher) -> TieError | None:
    """A :class:`TieError` describing the repeated values of the pooled gaps, or None when all are distinct."""
    x = np.asarray(student, dtype=np.float64)
    y = np.asarray(teacher, dtype=np.float64)
    sv, _, order = _pooled(x, y)
    return _tie_in(sv, order, x, y)


#: values closer than this many units in the last place of the largest magnitude are tied: rounding residue
#: (0.4 - 0.1 and 0.5 - 0.2 differ by one ulp) would otherwise enter ln(nu / rho) as a distance of 1e-17
TIE_ULPS = 16


def _tie_in(sv: np.ndarray, order: np.ndarray, x: np.ndarray, y: np.ndarray) -> TieError | None:
    top = float(np.max(np.abs(sv))) if sv.size else 0.0
    same = (sv[1:] - sv[:-1]) <= TIE_ULPS * np.finfo(np.float64).eps * top
    if not same.any():
        return None
    j = int(np.flatnonzero(same)[0])
    m = x.size

    def who(i):
        o = int(order[i])
        return ("student", o) if o < m else ("teacher", o - m)

    a, b = sorted((who(j), who(j + 1)), key=lambda t: (t[0] != "teacher", t[1]))
    value = x[a[1]] if a[0] == "student" else y[a[1]]
    return TieError(a, b, float(value), int(same.sum()))


@quiet_fp
def _knn_core(xs: np.ndarray, ys: np.ndarray, below: np.ndarray) -> np.ndarray:
    """The 1-NN estimate for each row: ``xs`` (B x m) and ``ys`` (B x k) sorted within rows, distinct,
    and ``below[b, i]`` the number of teacher values of row b below ``xs[b, i]``.

    ``rho`` (nearest other student value) comes from the neighbours in the
    student sequence, ``nu`` (nearest teacher value) from the teacher values
    just below and above: no Python loop over values.
    """
    rows, m = xs.shape
    k = ys.shape[1]
    gaps = np.diff(xs, axis=1)
    rho = np.empty_like(xs)
    rho[:, 0], rho[:, -1] = gaps[:, 0], gaps[:, -1]
    np.minimum(gaps[:, :-1], gaps[:, 1:], out=rho[:, 1:-1])
    padded = np.empty((rows, k + 2))
    padded[:, 0], padded[:, -1], padded[:, 1:-1] = -np.inf, np.inf, ys
    at = below + (np.arange(rows, dtype=np.int64) * (k + 2))[:, None]  # flat index of the teacher value below
    flat = padded.ravel()
    nu = np.minimum(xs - flat[at], flat[at + 1] - xs)
    terms = np.log(nu / rho)
    bad = ~np.isfinite(terms)  # the ratio over- or underflowed: take the logarithms apart
    if bad.any():
        terms[bad] = np.log(nu[bad]) - np.log(rho[bad])
    return terms.sum(axis=1) / m + math.log(k / (m - 1))


def _knn_sorted(sv: np.ndarray, is_y: np.ndarray) -> np.ndarray:
    """:func:`_knn_core` from pooled sorted rows ``sv`` with labels ``is_y`` (the same count of each per row)."""
    rows = sv.shape[0]
    is_x = ~is_y
    m = int(is_x[0].sum())
    xs = sv[is_x].reshape(rows, m)
    ys = sv[is_y].reshape(rows, sv.shape[1] - m)
    below = np.cumsum(is_y, axis=1)[is_x].reshape(rows, m)
    return _knn_core(xs, ys, below)


def kl_knn(student, teacher) -> float:
    """K_h by the 1-nearest-neighbour estimator of Wang, Kulkarni and Verdu (2009), in one dimension.

    With ``m`` student gaps ``x_i`` and ``k`` teacher gaps ``y_j``:

        K_h ~ (1/m) sum_i ln(nu_i / rho_i) + ln(k / (m - 1)),

    ``rho_i`` the distance from ``x_i`` to its nearest other ``x``, ``nu_i`` to its
    nearest ``y``.  Computed by sorting the pooled values once.  Equal values
    (a zero distance) raise :class:`TieError`; break them first (:func:`jitter_gaps`).

    Parameters
    ----------
    student, teacher : array_like
        Per-run gaps, at least :data:`KNN_MIN_RUNS` of each.

    References
    ----------
    Q. Wang, S. R. Kulkarni and S. Verdu, "Divergence estimation for multidimensional
    densities via k-nearest-neighbor distances", IEEE Trans. Inf. Theory 55 (2009);
    ``docs/theory.md``, "Bounds from measured runs", kNN.
    """
    x = _gaps("student", student, KNN_MIN_RUNS)
    y = _gaps("teacher", teacher, KNN_MIN_RUNS)
    tie = find_ties(x, y)
    if tie is not None:
        raise tie
    return _knn_pooled(*_pooled(x, y)[:2])


def _knn_pooled(sv: np.ndarray, is_y: np.ndarray) -> float:
    """The 1-NN estimate from the pooled sorted values of one problem."""
    xs, ys = sv[~is_y], sv[is_y]
    below = np.flatnonzero(~is_y) - np.arange(xs.size)  # teacher values below each student value
    return float(_knn_core(xs[None, :], ys[None, :], below[None, :])[0])


def knn_batch(student, teacher) -> np.ndarray:
    """The 1-NN estimate for each row of ``student`` (B x m) against the same row of ``teacher`` (B x k).

    For simulation studies: rows are independent problems, estimated together
    without a Python loop.  Rows with ties give inf or NaN.
    """
    x = np.atleast_2d(np.asarray(student, dtype=np.float64))
    y = np.atleast_2d(np.asarray(teacher, dtype=np.float64))
    vals = np.concatenate([x, y], axis=1)
    order = np.argsort(vals, axis=1, kind="stable")
    sv = np.take_along_axis(vals, order, axis=1)
    return _knn_sorted(sv, order >= x.shape[1])


def jitter_width(student, teacher) -> float:
    """The automatic jitter width: the smallest distance between distinct pooled gap values.

    Distances below ``1e-9`` times the largest magnitude are rounding residue
    (``0.3 - 0.1`` and ``0.2`` differ by one unit in the last place), not
    distinct values, and are skipped.  Gaps measured on a grid (losses counted
    in whole examples) repeat; uniform noise one grid step wide turns the grid
    into a continuous law whose KL equals the grid's.  0 when every value is the same.
    """
    vals = np.unique(np.concatenate([np.asarray(student, float), np.asarray(teacher, float)]))
    if vals.size < 2:
        return 0.0
    steps = np.diff(vals)
    steps = steps[steps > 1e-9 * float(np.max(np.abs(vals)))]
    return float(steps.min()) if steps.size else 0.0


def jitter_gaps(values, width: float, rng: np.random.Generator) -> np.ndarray:
    """``values`` plus independent uniform noise on ``[-width/2, width/2)``."""
    v = np.asarray(values, dtype=np.float64)
    return v + width * (rng.random(v.shape) - 0.5)


# --------------------------------------------------------------------------- everything

@dataclass(frozen=True, eq=False)
class RunsEstimate:
    """Bounds of Theorem 1 (with K_h) from measured runs; :data:`RESULT_KEYS` are the printed results.

    Attributes
    ----------
    gen_t, gen_t_lo, gen_t_hi : float
        Mean teacher gap and its two-sided interval at level ``1 - delta/2``.
    gen_s_observed, gen_s_lo, gen_s_hi : float
        Mean student gap and its two-sided interval at level ``1 - delta``.
    sigma_range, sigma_sd, sigma_hat : float
        The proxies: ``b - a`` (certified; None without a loss range), the teacher gaps' sample
        standard deviation, the plug-in CGF proxy.
    kl_gap, kl_gap_hi : float
        K_h (clipped at 0) and its one-sided upper limit at ``1 - delta/2``.
    upper_bound, upper_bound_hi, lower_bound, lower_bound_lo : float
        Theorem 1 and its two-sided form with ``sigma_used``: at the estimates, and at
        (``gen_t_hi``, ``kl_gap_hi``) / (``gen_t_lo``, ``kl_gap_hi``).
    upper_bound_plugin, upper_bound_plugin_hi, lower_bound_plugin, lower_bound_plugin_lo : float
        The same four with ``sigma_hat`` (equal to the four above without a loss range).
    observed_within_bounds : bool or None
        ``lower_bound <= gen_s_observed <= upper_bound`` (None when a bound is not finite).
    vacuous : bool or None
        ``upper_bound >= b - a``: the bound says nothing (None without a loss range).
    basis : dict
        What backs each result key (:data:`BASIS_ORDER`).

    The other fields describe how the numbers were obtained.
    """

    gen_t: float
    gen_t_lo: float
    gen_t_hi: float
    gen_s_observed: float
    gen_s_lo: float
    gen_s_hi: float
    sigma_range: float | None
    sigma_sd: float
    sigma_hat: float
    kl_gap: float
    kl_gap_hi: float
    upper_bound: float
    upper_bound_hi: float
    lower_bound: float
    lower_bound_lo: float
    upper_bound_plugin: float
    upper_bound_plugin_hi: float
    lower_bound_plugin: float
    lower_bound_plugin_lo: float
    observed_within_bounds: bool | None
    vacuous: bool | None                 # upper_bound >= b - a (None without a loss range)
    basis: dict = field(default_factory=dict)
    sigma_used: str = "sigma_range"
    kl_method: str = "gauss"
    kl_gap_raw: float = math.nan         # the estimator's value before clipping at 0
    kl_gap_se: float = math.nan          # standard error: of kl_gap from the replicates (gauss), of knn.estimate (knn)
    replicates: int = 0                  # bootstrap replicates (gauss; 0 for knn)
    knn: KnnLimit | None = None          # how the kNN upper limit was formed (knn only)
    jitter: float = 0.0                  # width of the uniform jitter added before knn (0: none)
    paired: bool = False                 # the runs came in pairs (``pairs``)
    gap_correlation: float | None = None  # Pearson correlation of the paired teacher and student gaps
    teacher_delta: float = 0.025         # the teacher interval's error (delta / 2: see estimate)
    teacher_runs: int = 0
    student_runs: int = 0
    delta: float = 0.05
    gen_t_se: float = math.nan
    gen_s_se: float = math.nan
    hoeffding_t: float = 0.0
    hoeffding_s: float = 0.0
    skew_t: float = 0.0                  # sample skewness of the teacher gaps (Cochran's rule, see GapInterval)
    skew_s: float = 0.0
    student_sd: float = math.nan         # sample standard deviation of the student gaps (0 when all are equal)

    def results(self) -> dict:
        return {key: getattr(self, key) for key in RESULT_KEYS}

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def runs_bounds(gt: GapInterval, kl: float, kl_hi: float, sigma: float) -> tuple[float, float, float, float]:
    """Theorem 1 at the estimates and at the confidence limits, through the engine's bound functions.

    ``(upper_bound, upper_bound_hi, lower_bound, lower_bound_lo)``: ``gen_T +- sigma sqrt(2 K_h)`` at
    (mean gap, K_h), and the upper (lower) one at (upper (lower) limit of gen_T, ``kl_gap_hi``), each
    exactly as ``kdbound upper`` and ``kdbound lower`` print it (:func:`~kdbound.engine.bounds.theorem1_bounds`).

    Parameters
    ----------
    gt : GapInterval
        The teacher gaps' mean and confidence interval.
    kl, kl_hi : float
        K_h and its upper limit (>= 0, +inf allowed).
    sigma : float
        The proxy used (sigma_range or sigma_hat).

    Returns
    -------
    tuple of float

    References
    ----------
    Li and He (ISIT 2026), Theorem 1; ``docs/theory.md``, "The bounds and Bonferroni".
    """
    upper, lower, _ = theorem1_bounds([gt.mean, gt.hi, gt.lo], [kl, kl_hi, kl_hi], sigma)
    return float(upper[0]), float(upper[1]), float(lower[0]), float(lower[2])


@quiet_fp
def estimate(teacher, student, *, loss_min=None, loss_max=None, delta: float = 0.05, kl_method: str = "gauss",
             jitter=None, replicates: int | None = None, seed: int | None = 0, n_test_teacher=None,
             n_test_student=None, pairs=None, progress=None) -> RunsEstimate:
    """Theorem 1's upper bound and its two-sided lower bound from per-run gaps, with K_h for K.

    Parameters
    ----------
    teacher, student : array_like
        Per-run gaps ``h = test_loss - train_loss`` of the teacher process
        (training sets drawn, teachers trained) and of the student process
        (students trained on the teachers' pseudo data; ``train_loss`` on that data).
    loss_min, loss_max : float, optional
        The loss range [a, b] (both or neither).  Gives the certified proxy
        ``sigma_range = b - a`` and, with test-set sizes, the Hoeffding term.
    delta : float
        One minus the confidence level, in (0, 1).  The teacher's gap interval is
        two-sided at ``1 - delta/2`` and ``kl_gap_hi`` one-sided at ``1 - delta/2``, so
        that ``upper_bound_hi`` and ``lower_bound_lo`` hold together at ``1 - delta``
        (Bonferroni: ``delta/2 + delta/2``); the student's interval is
        two-sided at ``1 - delta``.
    kl_method : {"gauss", "knn"}
        Gaussian fit (parametric bootstrap) or 1-nearest-neighbour (the limit of
        :func:`kdbound.engine.knn.knn_upper_limit`, which extrapolates its bias).
    jitter : float or "auto", optional
        knn only: add uniform noise of this width to every gap before
        estimating K_h (``"auto"``: the smallest distance between distinct values).
    replicates : int, optional
        gauss only: bootstrap replicates, at least ``2 / delta`` (default 1000).
    seed : int or None
        Seed of the replicates, the jitter and the kNN limit's random halvings.
    n_test_teacher, n_test_student : array_like, optional
        Test-set size of each run (whole numbers >= 1), for the Hoeffding term.
    pairs : array_like of int, optional
        Paired runs (a teacher and a student on each training set): ``pairs[i]`` is the
        index in ``teacher`` of student run i's teacher run.  Gives ``gap_correlation``;
        with knn, each student's own teacher is left out of its neighbours.
    progress : callable, optional
        ``progress(done, total)`` as the kNN limit's halvings are done.

    Returns
    -------
    RunsEstimate

    References
    ----------
    Li and He (ISIT 2026), Theorem 1 and its proof; ``docs/theory.md``, "Bounds from measured runs".
    """
    y, x, delta, replicates, rng, loss_range, nt, ns, pairs = _estimate_inputs(
        teacher, student, loss_min, loss_max, delta, kl_method, jitter, replicates, seed, n_test_teacher,
        n_test_student, pairs)
    teacher_delta = delta / 2.0  # the teacher interval (both tails) takes delta/2, kl_gap_hi the other delta/2
    gt = gap_interval(y, teacher_delta, loss_range, nt)
    gs = gap_interval(x, delta, loss_range, ns)
    sigma_range = None if loss_range is None else loss_range[1] - loss_range[0]
    sigma_hat = plugin_proxy(y)

    level = delta / 2.0  # one-sided error of kl_gap_hi
    kh = (_kl_h_gauss(x, y, replicates, rng, level) if kl_method == "gauss"
          else _kl_h_knn(x, y, jitter, rng, level, pairs, progress))
    kl = max(kh.raw, 0.0)
    kl_hi = max(kh.hi, kl)

    sigma, sigma_used = (sigma_range, "sigma_range") if sigma_range is not None else (sigma_hat, "sigma_hat")
    bounds = dict(zip(BOUND_KEYS, runs_bounds(gt, kl, kl_hi, sigma)))
    bounds.update(zip(PLUGIN_BOUND_KEYS, runs_bounds(gt, kl, kl_hi, sigma_hat)))
    up, low = bounds["upper_bound"], bounds["lower_bound"]
    gen_s = float(gs.mean)
    within = None if not (math.isfinite(up) and math.isfinite(low)) else bool(low <= gen_s <= up)
    return RunsEstimate(
        gen_t=float(gt.mean), gen_t_lo=float(gt.lo), gen_t_hi=float(gt.hi),
        gen_s_observed=gen_s, gen_s_lo=float(gs.lo), gen_s_hi=float(gs.hi),
        sigma_range=sigma_range, sigma_sd=scaled_sd(y), sigma_hat=sigma_hat, kl_gap=kl, kl_gap_hi=kl_hi,
        **bounds, observed_within_bounds=within, vacuous=None if sigma_range is None else bool(up >= sigma_range),
        basis=_basis(sigma_range is not None, kh.basis, kh.hi_basis), sigma_used=sigma_used,
        kl_method=kl_method, kl_gap_raw=kh.raw, kl_gap_se=kh.se, replicates=replicates, knn=kh.knn,
        jitter=kh.width, paired=pairs is not None, gap_correlation=gap_correlation(y, x, pairs),
        teacher_runs=y.size, student_runs=x.size, delta=delta, teacher_delta=teacher_delta,
        gen_t_se=float(gt.se), gen_s_se=float(gs.se), hoeffding_t=float(gt.hoeffding),
        hoeffding_s=float(gs.hoeffding), skew_t=float(gt.skew), skew_s=float(gs.skew), student_sd=scaled_sd(x),
    )


def gap_correlation(teacher, student, pairs) -> float | None:
    """Pearson's correlation of the paired gaps ``(teacher[pairs[i]], student[i])``; None without pairs or
    when a role's gaps are all equal.

    Paired runs share a training set, so their gaps are correlated; the 1-NN estimator, which
    assumes independent samples, is then biased low unless each student's own teacher is left out
    of its neighbours (:func:`kdbound.engine.knn.knn_upper_limit` with ``paired``).
    """
    if pairs is None:
        return None
    y = np.asarray(teacher, dtype=np.float64)[pairs]
    x = np.asarray(student, dtype=np.float64)
    s = pow2_scale(x, y)
    a, b = x / s - sample_mean(x / s), y / s - sample_mean(y / s)
    den = math.sqrt(float(np.dot(a, a)) * float(np.dot(b, b)))
    return None if den == 0 else float(np.clip(np.dot(a, b) / den, -1.0, 1.0))


def _estimate_inputs(teacher, student, loss_min, loss_max, delta, kl_method, jitter, replicates, seed,
                     n_test_teacher, n_test_student, pairs):
    """estimate's inputs checked, in the order the errors are reported: (teacher gaps, student gaps, delta,
    replicates, the generator, loss range, test-set sizes of each role, pairs)."""
    if kl_method not in KL_METHODS:
        raise ParameterError("kl_method", "must be gauss or knn", kl_method)
    minimum = KNN_MIN_RUNS if kl_method == "knn" else MIN_RUNS
    y = _gaps("teacher", teacher, minimum)
    x = _gaps("student", student, minimum)
    delta = check_delta(delta)
    replicates = check_method_replicates(kl_method, replicates, delta)
    if seed is not None:
        seed = integer("seed", seed, 0)
    rng = np.random.default_rng(seed)
    loss_range = check_loss_range(loss_min, loss_max)
    nt = _n_test("n_test_teacher", n_test_teacher, y.size)
    ns = _n_test("n_test_student", n_test_student, x.size)
    if jitter is not None and kl_method != "knn":
        raise InputError("only with {kl_method} knn (the Gaussian fit has no ties to break)", "jitter",
                         refs=("kl_method",))
    if loss_range is not None:
        span = loss_range[1] - loss_range[0]
        for name, arr in (("teacher", y), ("student", x)):
            out = np.abs(arr) > span
            if out.any():
                i = int(np.flatnonzero(out)[0])
                raise ParameterError(name, "must lie in [-({loss_max} - {loss_min}), {loss_max} - {loss_min}] "
                                     "(a gap of a loss in [a, b])", float(arr[i]), i)
    return y, x, delta, replicates, rng, loss_range, nt, ns, check_pairs(pairs, y.size, x.size)


class _KhEstimate(NamedTuple):
    """K_h's estimate before clipping (``raw``), its upper limit, standard error and the basis of each; the
    kNN limit's details and the jitter width (None and 0 for the Gaussian fit)."""

    raw: float
    hi: float
    se: float
    basis: str
    hi_basis: str
    knn: KnnLimit | None = None
    width: float = 0.0


def _kl_h_gauss(x, y, replicates: int, rng, level: float) -> _KhEstimate:
    """K_h of the Gaussian fits and its parametric-bootstrap upper limit at one-sided level ``1 - level``."""
    raw = kl_gauss(x, y)
    reps = kl_gauss_replicates(x, y, replicates, rng)
    finite = reps[np.isfinite(reps)]
    hi = float(np.quantile(reps, 1.0 - level)) if finite.size == reps.size else math.inf
    se = float(finite.std(ddof=1)) if finite.size > 1 else math.nan
    return _KhEstimate(raw, hi, se, "model", "model")


def _kl_h_knn(x, y, jitter, rng, level: float, pairs, progress) -> _KhEstimate:
    """K_h by the 1-NN estimator (after the jitter, if any) and its bias-extrapolated upper limit.

    ``kl_gap`` is the estimate on the whole sample: the plain one, or with pairs the one that leaves
    each student's own teacher out.  ``kl_gap_hi`` rests on the assumed bias law (basis ``assumption``).
    """
    xs, ys, width = x, y, 0.0
    if jitter is not None:
        auto = isinstance(jitter, str) and jitter == "auto"
        width = jitter_width(x, y) if auto else float(jitter)
        if auto and width == 0:
            raise InputError("auto: every gap has the same value; there is no grid step to jitter by", "jitter")
        if not (math.isfinite(width) and width > 0):
            raise ParameterError("jitter", "must be > 0 (a width) or 'auto'", jitter)
        spread = max(float(x.max()), float(y.max())) - min(float(x.min()), float(y.min()))
        if not auto and spread > 0 and width >= spread:
            raise ParameterError("jitter", f"must be smaller than the range of the gaps ({format_value(spread)}): "
                                 "noise that wide erases the difference it is to measure", width)
        xs, ys = jitter_gaps(x, width, rng), jitter_gaps(y, width, rng)
    sv, is_y, order = _pooled(xs, ys)
    tie = _tie_in(sv, order, xs, ys)
    if tie is not None:
        if jitter is not None:
            raise ParameterError("jitter", f"is too small to break the ties at these magnitudes (e.g. "
                                 f"{format_value(tie.value)}); give a larger width", width)
        raise tie
    limit = knn_upper_limit(xs, ys if pairs is None else ys[pairs], level, rng, paired=pairs is not None,
                            progress=progress)
    raw = _knn_pooled(sv, is_y) if pairs is None else limit.raw
    return _KhEstimate(raw, limit.hi, limit.se, "asymptotic", "assumption", limit, width)


def _basis(certified_sigma: bool, kl_basis: str, kl_hi_basis: str) -> dict:
    """What backs each result (:data:`BASIS_ORDER`): a bound takes the weakest basis of its terms."""
    sig_basis = "certified" if certified_sigma else "plug-in"
    return {
        "gen_t": "plug-in", "gen_t_lo": "asymptotic", "gen_t_hi": "asymptotic",
        "gen_s_observed": "plug-in", "gen_s_lo": "asymptotic", "gen_s_hi": "asymptotic",
        "sigma_range": "certified" if certified_sigma else None, "sigma_sd": "model", "sigma_hat": "plug-in",
        "kl_gap": kl_basis, "kl_gap_hi": kl_hi_basis,
        "upper_bound": weakest("plug-in", sig_basis, kl_basis),
        "upper_bound_hi": weakest("asymptotic", sig_basis, kl_hi_basis),
        "lower_bound": weakest("plug-in", sig_basis, kl_basis),
        "lower_bound_lo": weakest("asymptotic", sig_basis, kl_hi_basis),
        **{key: "plug-in" for key in PLUGIN_BOUND_KEYS},
        "observed_within_bounds": "plug-in", "vacuous": "plug-in" if certified_sigma else None,
    }
