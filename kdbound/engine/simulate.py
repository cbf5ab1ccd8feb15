"""Monte Carlo check of Theorems 1 and 10 in the linear-Gaussian model, where every quantity is known.

Model (random design): ``x ~ N(0, I_d)``, ``y | x ~ N(W* x, noise^2 I_k)``; a training
set D_n is n such pairs, stored with samples as rows (x is n x d, y is n x k, W* is
k x d).  The teacher is the Gibbs posterior of Lemma 11 (prior precision ``lam``,
inverse temperature ``beta_t``); the pseudo labels are ``Y^ = X W_T^T + E'``; the
student is either

* ``"kernel"``: ``Theta | W_T ~ MN(W_T M*, I_k, Sigma_S)`` with the continuous
  ``W_T M* = L_r L_r^T W_T`` (L_r: the top-r left singular vectors of the k x n
  prediction matrix ``W_T X^T``), or
* ``"refit"``: the Gibbs posterior recomputed on the pseudo data (X, Y^) at its own
  inverse temperature ``beta_s``.

The loss is bounded, ``l(w; x, y) = (1/k) sum_j min((y_j - w_j . x)^2, B) / B`` in
[0, 1], and its population value ``L_P(w)`` is exact (:func:`population_loss`).  The
gaps ``h = L_P - L_D`` of the teacher (on D_n) and of the student (on the pseudo data
D^_n, as Theorem 1 defines gen_S, and on the real labels) are averaged over many
independent training sets, drawn in vectorised blocks.  K is averaged over the same
draws: exact given X when the student has no rank bottleneck (or is refit), otherwise
a valid upper bound (exact dataset shift + Cov + Apx + Spread).

References
----------
Li and He (ISIT 2026), Theorems 1 and 10, Lemma 11; docs/theory.md, section
"Monte Carlo check of the theorems (simulate)".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import InputError, ParameterError, format_value
from ._checks import integer, nonneg, positive, quiet_fp
from .exact_kl import GramEigen, check_sigma_s, kl_terms, xm_log1p

__all__ = ["Simulation", "SimModel", "simulate", "sim_model", "population_loss", "default_datasets",
           "block_size", "cost_us", "Z_VERDICT", "verdict"]

#: a bound's margin is "violated" below -Z_VERDICT standard errors, "holds" above +Z_VERDICT
Z_VERDICT = 4.0
#: the certified sub-Gaussian proxy of a gap in [-1, 1] (Hoeffding's lemma: (b - a) / 2 with b - a = 2)
SIGMA_CERTIFIED = 1.0
#: defaults of the embedded problem
DEFAULT_D, DEFAULT_N, DEFAULT_K, DEFAULT_CLIP = 5, 50, 3, 4.0
#: above this population loss a gap is computed from the complements 1 - L (the loss saturates at 1)
SATURATED = 1.0 - 1e-4
#: largest --datasets accepted (a run this long would take days)
MAX_DATASETS = 10 ** 9
#: largest memory one dataset may need (the block holds at least one)
MAX_DATASET_BYTES = 1 << 30


# --------------------------------------------------------------------------- the exact population loss

def _special():
    # scipy: erf/erfc and the regularised incomplete gamma function give the clipped second moment
    # without cancellation (engine/simulate.py is a scipy home, see docs/architecture.md)
    from scipy.special import erf, erfc, gammainc

    return erf, erfc, gammainc


def clipped_square_mean(s2, clip):
    """``E min(r^2, B) / B`` for r ~ N(0, s2): the expected clipped loss of one output.

    With ``h = B / (2 s2)``: ``E[r^2 1{r^2 < B}] = s2 P(chi2_3 < 2h)`` (x times the chi^2_1
    density is the chi^2_3 density) and ``P(r^2 >= B) = P(chi2_1 >= 2h)``, so

        E min(r^2, B) = s2 P(3/2, h) + B Q(1/2, h)

    with the regularised incomplete gamma functions P and Q; this equals
    ``s2 (2 Phi(z) - 1 - 2 z phi(z)) + 2 B (1 - Phi(z))``, z = sqrt(B / s2).  Evaluated as
    ``Q(1/2, h) = erfc(sqrt h)`` and ``P(3/2, h) = erf(sqrt h) - 2 sqrt(h / pi) e^{-h}``
    (``gammainc`` itself for h < 1/2, where that difference would cancel).
    """
    erf, erfc, gammainc = _special()
    s2 = np.asarray(s2, dtype=np.float64)
    h = 0.5 * clip / s2
    root = np.sqrt(h)
    lower = erf(root) - (2.0 / math.sqrt(math.pi)) * root * np.exp(-h)
    small = h < 0.5
    if np.any(small):
        lower = np.where(small, gammainc(1.5, np.where(small, h, 1.0)), lower)
    # in [0, 1] exactly (a mean of values in [0, 1]); the sum of the two terms can round just above 1
    return np.clip((s2 / clip) * lower + erfc(root), 0.0, 1.0)


@quiet_fp
def population_loss(w, w_star, noise: float, clip: float) -> np.ndarray:
    """Exact population loss ``L_P(w)`` of the clipped squared loss, for x ~ N(0, I_d).

    Parameters
    ----------
    w : ndarray, (..., k, d)
        Weights, rows are outputs (scikit-learn's ``coef_`` layout).
    w_star : ndarray, (k, d)
        Ground truth.
    noise : float
        Label-noise standard deviation (> 0).
    clip : float
        Clip level B (> 0): ``l = (1/k) sum_j min((y_j - w_j . x)^2, B) / B``.

    Returns
    -------
    ndarray, (...,)
        ``L_P(w)`` in [0, 1].  The residual of output j is ``N(0, s_j^2)`` with
        ``s_j^2 = ||w_j - w*_j||^2 + noise^2``, and :func:`clipped_square_mean` is exact.

    References
    ----------
    docs/theory.md, "Monte Carlo check of the theorems (simulate)", the bounded loss.
    """
    noise = float(positive("noise", noise))
    clip = float(positive("clip", clip))
    diff = np.asarray(w, dtype=np.float64) - np.asarray(w_star, dtype=np.float64)
    s2 = np.einsum("...kd,...kd->...k", diff, diff) + noise * noise
    return np.mean(clipped_square_mean(s2, clip), axis=-1)


def clipped_square_complement(s2, clip):
    """``1 - E min(r^2, B) / B = E (1 - r^2 / B)_+`` for r ~ N(0, s2), accurate when the loss is near 1.

    ``= P(1/2, h) - P(3/2, h) / (2h)`` with ``h = B / (2 s2)`` (the regularised lower
    incomplete gamma function; the two terms cancel by at most a factor 3/2).
    """
    _, _, gammainc = _special()
    h = 0.5 * clip / np.asarray(s2, dtype=np.float64)
    return gammainc(0.5, h) - gammainc(1.5, h) / (2.0 * h)


# --------------------------------------------------------------------------- the model

@dataclass(frozen=True, eq=False)
class Reduced:
    """The problem in units where the label noise is 1 (y, W and residuals divided by ``noise``).

    The loss is unchanged (``min(r^2, B)/B = min((r/noise)^2, B/noise^2)/(B/noise^2)``) and so are the
    gaps and K (a KL does not depend on the units).  The prior precision becomes ``lam noise^2``, the
    clip ``B / noise^2``, W* ``W* / noise``, Sigma_S ``Sigma_S / noise^2``; beta_t and beta_s stay.
    """

    w_star: np.ndarray
    lam: float
    beta_t: float
    beta_s: float | None
    clip: float
    sigma_s: object


#: the range of reduced hyperparameters simulate computes in float64 (products of three stay finite)
REDUCED_RANGE = (1e-100, 1e100)


def _reduced(w, lam, beta_t, noise, clip, sigma_s, beta_s) -> Reduced:
    """The reduced problem, or an InputError naming the parameters out of the computable range."""
    lo, hi = REDUCED_RANGE
    n2 = noise * noise

    def within(value, text, params, log10=None):
        if not lo <= value <= hi:
            shown = f"{value:.3g}" if math.isfinite(value) and value > 0 else f"1e{log10:+.0f}"
            raise InputError(f"{text} = {shown} is outside the range simulate computes in float64 "
                             f"({lo:g} to {hi:g}): choose less extreme values", params)
        return value

    log_noise = math.log10(noise)
    lam_r = within(lam * n2, "lam noise^2", ("lam", "noise"), math.log10(lam) + 2 * log_noise)
    clip_r = within(clip / n2, "clip / noise^2", ("clip", "noise"), math.log10(clip) - 2 * log_noise)
    within(beta_t, "beta_t", ("beta_t",))
    if beta_s is not None:
        within(beta_s, "beta_s", ("beta_s",))
    w_r = w / noise
    top = float(np.max(np.abs(w_r))) if w_r.size else 0.0
    if top > hi:
        within(top, "max |W*| / noise", ("w_star", "noise"), math.log10(float(np.max(np.abs(w)))) - log_noise)
    if isinstance(sigma_s, float):
        sigma_r = within(sigma_s / n2, "sigma_s / noise^2", ("sigma_s", "noise"),
                         math.log10(sigma_s) - 2 * log_noise)
    elif isinstance(sigma_s, np.ndarray):
        ev = np.linalg.eigvalsh(sigma_s)
        within(float(ev[0]) / n2, "smallest eigenvalue of Sigma_S / noise^2", ("sigma_s", "noise"),
               math.log10(float(ev[0])) - 2 * log_noise)
        within(float(ev[-1]) / n2, "largest eigenvalue of Sigma_S / noise^2", ("sigma_s", "noise"),
               math.log10(float(ev[-1])) - 2 * log_noise)
        sigma_r = sigma_s / n2
    else:
        sigma_r = sigma_s
    return Reduced(w_star=w_r, lam=lam_r, beta_t=beta_t, beta_s=beta_s, clip=clip_r, sigma_s=sigma_r)


@dataclass(frozen=True, eq=False)
class SimModel:
    """A validated simulation configuration (see :func:`sim_model`)."""

    w_star: np.ndarray      # (k, d)
    n: int
    lam: float
    beta_t: float
    noise: float
    student: str            # "kernel" or "refit"
    rank: int | None        # kernel student only
    sigma_s: object         # "teacher", a float, or a d x d matrix (kernel student only)
    beta_s: float | None    # refit student only
    clip: float
    red: Reduced            # the same problem in units where the label noise is 1

    @property
    def k(self) -> int:
        return self.w_star.shape[0]

    @property
    def d(self) -> int:
        return self.w_star.shape[1]

    @property
    def bottleneck(self) -> bool:
        """The kernel student's rank is below rank W_T = min(k, d): W_T M* != W_T, and K has no closed form."""
        return self.student == "kernel" and self.rank < min(self.k, self.d)

    @property
    def kl_kind(self) -> str:
        """``"exact"`` (K given X in closed form) or ``"bound-tight"`` (a valid upper bound on K)."""
        return "bound-tight" if self.bottleneck else "exact"


def synthetic_w_star(d: int, k: int, seed: int) -> np.ndarray:
    """The embedded ground truth: W* with i.i.d. N(0, 1/d) entries, from its own stream of ``seed``."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(0,))))
    return rng.standard_normal((k, d)) / math.sqrt(d)


def sim_model(w_star=None, *, n: int = DEFAULT_N, d: int | None = None, k: int | None = None, lam: float = 1.0,
              beta_t: float = 1.0, noise: float = 1.0, student: str = "kernel", rank: int | None = None,
              sigma_s=None, beta_s: float | None = None, clip: float = DEFAULT_CLIP, seed: int = 0) -> SimModel:
    """Validate a configuration; without ``w_star`` a seeded synthetic W* (d x k from ``d``, ``k``, ``seed``).

    ``rank`` defaults to ``min(k, d, n)`` (no bottleneck when n >= min(k, d));
    ``beta_s`` defaults to ``beta_t`` for the refit student; ``sigma_s`` to ``"teacher"``.
    Conflicts (``beta_s`` or ``sigma_s`` with the other student, ``rank`` with the refit
    student) are errors, not silently ignored.
    """
    lam = float(positive("lam", lam))
    beta_t = float(positive("beta_t", beta_t))
    noise = float(positive("noise", noise))
    clip = float(positive("clip", clip))
    n = integer("n", n, 1)
    seed = integer("seed", seed, 0)
    if student not in ("kernel", "refit"):
        raise ParameterError("student", "must be 'kernel' or 'refit'", student)
    if w_star is None:
        d = DEFAULT_D if d is None else integer("d", d, 1)
        k = DEFAULT_K if k is None else integer("k", k, 1)
        _check_size(n, d, k)
        w = synthetic_w_star(d, k, seed)
    else:
        w = _w_star_array(w_star)
        for name, given, have in (("d", d, w.shape[1]), ("k", k, w.shape[0])):
            if given is not None and integer(name, given, 1) != have:
                raise InputError(f"conflicts with {{w_star}}, which is {w.shape[0]} x {w.shape[1]} (k x d) "
                                 f"(got {given})", name, refs=("w_star",))
        d, k = w.shape[1], w.shape[0]
        _check_size(n, d, k)
    top = min(k, d, n)
    if student == "kernel":
        if beta_s is not None:
            raise InputError("only for the refit student ({student} refit); the kernel student has no "
                             "temperature of its own", "beta_s", refs=("student",))
        rank = top if rank is None else rank
        if isinstance(rank, (bool, np.bool_)) or not isinstance(rank, (int, np.integer)) or not 1 <= rank <= top:
            raise ParameterError("rank", f"must be an integer in 1..min(k, d, n) = 1..{top}",
                                 rank if isinstance(rank, (int, float, str)) else repr(rank))
        rank = int(rank)
        sigma_s = check_sigma_s("teacher" if sigma_s is None else sigma_s, d)
    else:
        if rank is not None:
            raise InputError("only for the kernel student: the refit student has no rank bottleneck", "rank")
        if sigma_s is not None:
            raise InputError("only for the kernel student: the refit student's covariance is its own posterior's",
                             "sigma_s")
        beta_s = beta_t if beta_s is None else float(positive("beta_s", beta_s))
    red = _reduced(w, lam, beta_t, noise, clip, sigma_s, beta_s)
    return SimModel(w_star=w, n=n, lam=lam, beta_t=beta_t, noise=noise, student=student, rank=rank,
                    sigma_s=sigma_s, beta_s=beta_s, clip=clip, red=red)


def _w_star_array(w) -> np.ndarray:
    if isinstance(w, (list, tuple)):
        w = np.asarray(w)
    if not isinstance(w, np.ndarray):
        raise InputError(f"expected a 2-D numeric array k x d (got {type(w).__name__})", "w_star")
    if w.dtype == bool or not (np.issubdtype(w.dtype, np.integer) or np.issubdtype(w.dtype, np.floating)):
        raise InputError(f"must hold real numbers (got dtype {w.dtype})", "w_star")
    if w.ndim == 1:
        w = w.reshape(1, -1)
    if w.ndim != 2 or w.shape[0] < 1 or w.shape[1] < 1:
        raise InputError(f"expected a 2-D array k x d, rows are outputs (got shape {w.shape})", "w_star")
    w = np.asarray(w, dtype=np.float64)
    bad = np.argwhere(~np.isfinite(w))
    if bad.size:
        i, j = bad[0]
        raise InputError(f"entries must be finite (got {format_value(w[i, j])} at row {i + 1}, column {j + 1})",
                         "w_star")
    return w


def _dataset_floats(n: int, d: int, k: int) -> int:
    """float64 numbers one dataset occupies in a block (draws, Gram, residuals, eigenbasis, K's workspace)."""
    return n * (d + 2 * k) + 3 * n * k + 6 * d * d + 12 * k * d + 8 * k * k


def _check_size(n: int, d: int, k: int) -> None:
    need = 8 * _dataset_floats(n, d, k)
    if need > MAX_DATASET_BYTES:
        raise InputError(f"one training set of n = {n}, d = {d}, k = {k} needs about {need / 2 ** 30:.1f} GiB; "
                         f"kdbound simulate handles up to {MAX_DATASET_BYTES / 2 ** 30:.0f} GiB per set "
                         "(lower {n}, {d} or {k})", ("n", "d", "k"), refs=("n", "d", "k"))


def block_size(n: int, d: int, k: int) -> int:
    """Datasets per vectorised block: about 4 MiB of working memory, at most 4096, at least 1.

    A function of the sizes only, so the same seed gives the same numbers on any machine.
    """
    return int(max(1, min(4096, (1 << 19) // _dataset_floats(n, d, k))))


def cost_us(n: int, d: int, k: int) -> float:
    """A rough model of the time per training set on one core (microseconds), measured on the development
    machine: the normal draws (n (d + 2k)), the d x d eigendecomposition, the residuals, a fixed part."""
    return 8.0 + 0.012 * n * (d + 2 * k) + 0.004 * d ** 3 + 0.01 * n * k + 0.002 * k ** 3


def default_datasets(n: int, d: int, k: int, budget_s: float = 1.5) -> int:
    """The default ``datasets``: about ``budget_s`` seconds of simulation by :func:`cost_us`,
    between 2,000 and 200,000, rounded to two significant digits."""
    raw = min(200_000.0, max(2_000.0, budget_s * 1e6 / cost_us(n, d, k)))
    digits = 10 ** (int(math.log10(raw)) - 1)
    return int(round(raw / digits) * digits)


# --------------------------------------------------------------------------- streaming statistics

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


# --------------------------------------------------------------------------- one block of datasets

@dataclass(frozen=True, eq=False)
class Block:
    """Per-dataset values of one block: losses, gaps and K (arrays of length m).

    A gap is ``test - train`` exactly as floats, except where a loss is within 1e-4
    of 1: there it is computed from the complements ``(1 - train) - (1 - test)``,
    which keep the digits (the two agree to rounding).
    """

    start: int               # index of the first dataset
    teacher_train: np.ndarray
    teacher_test: np.ndarray
    teacher_gap: np.ndarray
    student_train: np.ndarray   # on the pseudo data D^_n
    student_test: np.ndarray
    student_gap: np.ndarray
    student_gap_real: np.ndarray  # the same student scored on the real labels
    kl: np.ndarray
    saturated: int = 0            # datasets with a population loss within 1e-4 of 1
    draws: dict | None = None     # keep=True: x, y, y_hat (m, n, .); w_t, w_bar, theta, theta_mean (m, k, d); apx


def _block_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of block ``index``: its own stream of ``seed``, so blocks do not depend on each other."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(1, index))))


class Workspace:
    """Scratch arrays reused from block to block (fresh pages cost more than the arithmetic on them)."""

    def __init__(self, model: SimModel, size: int):
        n, d, k = model.n, model.d, model.k
        self.z = np.empty((size, d + 2 * k, n))
        self.res = np.empty((size, 3 * k, n))

    def take(self, m: int):
        return self.z[:m], self.res[:m]


def draw_block(model: SimModel, m: int, rng: np.random.Generator, start: int = 0,
               work: Workspace | None = None, keep: bool = False) -> Block:
    """Draw ``m`` independent training sets and every quantity of both processes on each, vectorised.

    Per dataset: X, Y = X W*^T + E, the teacher W_T from its Gibbs posterior, pseudo
    labels Y^ = X W_T^T + E', the student Theta, the exact population losses, the
    training losses and K given X (``keep=True`` also returns the draws themselves,
    in the samples-as-rows layout).  Internally the arrays are in the paper's layout
    (features x samples, so each dataset's rows are contiguous) and the posterior
    is handled in the eigenbasis of the Gram matrix ``X^T X = U diag(g) U^T``, where
    it is diagonal.  One ``standard_normal`` call draws X, E and E' together, one
    batched matrix product gives X^T X, X^T E and X^T E', and one more gives every
    training residual.
    """
    n, d, k = model.n, model.d, model.k
    red = model.red                                           # units where the label noise is 1
    lam, clip, c = red.lam, red.clip, red.beta_t
    w_star = red.w_star
    if work is None:
        work = Workspace(model, m)
    z, res = work.take(m)
    rng.standard_normal(out=z)                                # rows: X^T (d), E^T (k), E'^T (k), noise 1
    xp = z[:, :d]                                             # (m, d, n): the paper's X
    cross = xp @ np.swapaxes(z, 1, 2)                         # (m, d, d + 2k): X^T X | X^T E | X^T E'
    g, u = np.linalg.eigh(cross[:, :, :d])
    g = np.maximum(g, 0.0)
    ut = np.swapaxes(u, 1, 2)
    p = lam + c * g                                           # teacher posterior precisions
    a = w_star @ u                                            # (m, k, d): W* in the eigenbasis
    proj = np.swapaxes(ut @ cross[:, :, d:], 1, 2)            # (m, 2k, d): E^T X U, E'^T X U
    zz = rng.standard_normal((m, 2, k, d))
    # W_T in the eigenbasis: mean c (Y^T X U) / p with Y^T X U = W* U g + E^T X U, sd 1 / sqrt(p)
    wbar = (a * g[:, None, :] + proj[:, :k]) * (c / p)[:, None, :]
    wt = wbar + zz[:, 0] / np.sqrt(p)[:, None, :]
    apx = None
    if model.student == "refit":
        c_s = red.beta_s
        p_s = lam + c_s * g
        yhx = wt * g[:, None, :] + proj[:, k:]                # Y^^T X U = W_T U g + E'^T X U
        mean = yhx * (c_s / p_s)[:, None, :]
        th = mean + zz[:, 1] / np.sqrt(p_s)[:, None, :]
    else:
        mean = wt
        if model.bottleneck:
            # L_r: top-r eigenvectors of (W_T X^T)(W_T X^T)^T = W_T U diag(g) U^T W_T^T (k x k)
            _, lv = np.linalg.eigh((wt * g[:, None, :]) @ np.swapaxes(wt, 1, 2))
            lr = lv[:, :, k - model.rank:]                    # (m, k, r)
            mean = lr @ (np.swapaxes(lr, 1, 2) @ wt)          # L_r L_r^T W_T
            # Apx = ||(I - L_r L_r^T) W_T Sigma_T^{-1/2}||_F^2, projected directly (no cancellation)
            scaled = wt * np.sqrt(p)[:, None, :]
            off = scaled - lr @ (np.swapaxes(lr, 1, 2) @ scaled)
            apx = np.einsum("mkd,mkd->m", off, off)
        sigma_s = red.sigma_s
        if isinstance(sigma_s, str):                          # Sigma_S = Sigma_T: diagonal in the eigenbasis
            th = mean + zz[:, 1] / np.sqrt(p)[:, None, :]
        elif isinstance(sigma_s, float):                      # s I: isotropic in any basis
            th = mean + math.sqrt(sigma_s) * zz[:, 1]
        else:                                                 # rows N(0, Sigma_S), rotated into the eigenbasis
            th = mean + (zz[:, 1] @ np.linalg.cholesky(sigma_s).T) @ u
    # population losses from distances in the eigenbasis (U is orthogonal)
    dt = wt - a
    ds = th - a
    s2_t = np.einsum("mkd,mkd->mk", dt, dt) + 1.0
    s2_s = np.einsum("mkd,mkd->mk", ds, ds) + 1.0
    pop_t = np.mean(clipped_square_mean(s2_t, clip), axis=-1)
    pop_s = np.mean(clipped_square_mean(s2_s, clip), axis=-1)
    # training residuals (k x n each): (W* - W_T) X + E^T, (W_T - Theta) X + E'^T, (W* - Theta) X + E^T
    r = (np.concatenate([-dt, dt - ds], axis=1) @ ut) @ xp    # (m, 2k, n)
    np.add(z[:, d:d + k], r[:, :k], out=res[:, :k])
    np.add(z[:, d + k:], r[:, k:], out=res[:, k:2 * k])
    np.add(res[:, :k], r[:, k:], out=res[:, 2 * k:])
    np.multiply(res, res, out=res)
    per = float(n * k)                                        # (sum / (n k)) / B: no overflow for a large B
    saturated = (pop_t > SATURATED) | (pop_s > SATURATED)
    if saturated.any():
        # losses within 1e-4 of 1: 1 - L has the digits, so the gap is taken between the complements
        # (1 - L_D) - (1 - L_P), each computed directly: sum (B - r^2)_+ and the closed form
        deficit = np.maximum(clip - res[saturated], 0.0).sum(axis=2)
        comp_d = deficit.reshape(-1, 3, k).sum(axis=2) / per / clip
        comp_t = np.mean(clipped_square_complement(s2_t[saturated], clip), axis=-1)
        comp_s = np.mean(clipped_square_complement(s2_s[saturated], clip), axis=-1)
    np.minimum(res, clip, out=res)
    train = res.sum(axis=2).reshape(m, 3, k).sum(axis=2) / per / clip
    np.minimum(train, 1.0, out=train)                         # a mean of values <= 1 that can round just above 1
    gaps = np.stack([pop_t, pop_s, pop_s], axis=1) - train
    if saturated.any():
        sat_t, sat_s = pop_t[saturated] > SATURATED, pop_s[saturated] > SATURATED
        gaps[saturated, 0] = np.where(sat_t, comp_d[:, 0] - comp_t, gaps[saturated, 0])
        gaps[saturated, 1] = np.where(sat_s, comp_d[:, 1] - comp_s, gaps[saturated, 1])
        gaps[saturated, 2] = np.where(sat_s, comp_d[:, 2] - comp_s, gaps[saturated, 2])
    kl = _kl_block(model, xp, GramEigen(g=g, u=u), apx)
    draws = None
    if keep:                                                  # back in the data's units
        noise = model.noise
        x = np.swapaxes(xp, 1, 2).copy()
        w_t, theta = wt @ ut * noise, th @ ut * noise
        draws = {"x": x, "y": x @ model.w_star.T + noise * np.swapaxes(z[:, d:d + k], 1, 2),
                 "y_hat": x @ np.swapaxes(w_t, 1, 2) + noise * np.swapaxes(z[:, d + k:], 1, 2),
                 "w_t": w_t, "theta": theta, "apx": apx, "w_bar": wbar @ ut * noise, "theta_mean": mean @ ut * noise}
    return Block(start=start, teacher_train=train[:, 0], teacher_test=pop_t, teacher_gap=gaps[:, 0],
                 student_train=train[:, 1], student_test=pop_s, student_gap=gaps[:, 1],
                 student_gap_real=gaps[:, 2], kl=kl, saturated=int(saturated.sum()), draws=draws)


def _kl_block(model: SimModel, xp, eig: GramEigen, apx) -> np.ndarray:
    """K given X for each dataset: exact, or (bottleneck) the tight bound with this draw's Apx.

    ``xp`` is X in the paper's layout (m, d, n); K given X depends on X only through
    X^T X, whose eigendecomposition ``eig`` is passed along.
    """
    x = np.swapaxes(xp, 1, 2)
    red = model.red
    if model.student == "refit":
        return kl_terms(x, red.w_star, lam=red.lam, beta_t=red.beta_t, noise=1.0, student="refit",
                        beta_s=red.beta_s, eig=eig).kl
    if not model.bottleneck:
        return kl_terms(x, red.w_star, lam=red.lam, beta_t=red.beta_t, noise=1.0, sigma_s=red.sigma_s, eig=eig).kl
    return tight_bound_terms(model, x, eig) + apx


@quiet_fp
def tight_bound_terms(model: SimModel, x, eig: GramEigen) -> np.ndarray:
    """The closed-form part of the tighter decomposition, per dataset given X (Y integrated out):
    exact dataset shift + Cov(Sigma_S, Sigma_T) + E Spread.  Adding E Apx gives ``kl_bound_tight``.

    References
    ----------
    docs/theory.md, "Exact K without a rank bottleneck" and "A tighter bound".
    """
    red, k = model.red, model.k                               # units where the label noise is 1
    lam, c = red.lam, red.beta_t
    g = eig.g
    p = lam + c * g
    s = c * g / p                                             # eigenvalues of the smoother
    shrink = lam / p                                          # 1 - s
    shift = kl_terms(x, red.w_star, lam=lam, beta_t=c, noise=1.0, eig=eig).dataset_shift
    a = red.w_star @ eig.u                                    # (m, k, d)
    a2 = np.einsum("mkd,mkd->md", a, a)                       # sum over rows of a^2, per eigenvector
    # E Spread = lam^2 (c^2 sum a^2 g^2 / p^3 + c^2 k sum g / p^3 + k sum 1/p^2) + c^2 k sum g / p
    #          = sum shrink^2 (c s g a^2 + c k s + k) + c k s       (no lam^2 or c^2 to overflow)
    spread = np.sum(shrink * shrink * (c * s * g * a2 + c * k * s + k) + c * k * s, axis=-1)
    sigma_s = red.sigma_s
    if isinstance(sigma_s, str):
        cov = np.zeros_like(shift)
    elif isinstance(sigma_s, float):
        cov = 0.5 * k * np.sum(xm_log1p(sigma_s * p - 1.0), axis=-1)
    else:
        diag = np.einsum("mji,jl,mli->mi", eig.u, sigma_s, eig.u)       # diag of U^T Sigma_S U
        logdet_s = 2.0 * float(np.sum(np.log(np.diag(np.linalg.cholesky(sigma_s)))))
        cov = 0.5 * k * (np.sum(p * diag, axis=-1) - model.d - np.sum(np.log(p), axis=-1) - logdet_s)
    return shift + cov + spread


# --------------------------------------------------------------------------- the whole simulation

@dataclass(frozen=True, eq=False)
class Simulation:
    """Monte Carlo estimates, K, proxies, bounds and verdicts of one simulation.

    Gaps are means over ``datasets`` independent training sets with their standard
    errors (``*_se``).  ``kl`` is the mean of K given X (``kl_kind`` "exact") or of a
    valid upper bound on it ("bound-tight").  Bounds use ``kl * kl_scale``.
    """

    datasets: int
    kl_kind: str
    gen_t: float
    gen_t_se: float
    gen_s: float
    gen_s_se: float
    gen_s_real: float
    gen_s_real_se: float
    kl: float
    kl_se: float
    kl_scale: float
    sigma: float
    sigma_hat: float
    upper_bound: float
    upper_bound_hat: float
    lower_bound: float
    dv_optimum: float
    slack_used: float
    margin_upper: float
    margin_upper_se: float
    margin_lower: float
    margin_lower_se: float
    z_upper: float
    z_lower: float
    verdict_upper: str
    verdict_lower: str
    teacher_gap_sd: float
    teacher_gap_max: float
    saturated: int = 0       # datasets whose teacher or student population loss is within 1e-4 of 1


def verdict(z: float) -> str:
    """``violated`` below -Z_VERDICT standard errors, ``holds`` above +Z_VERDICT, else ``inconclusive``."""
    if math.isnan(z):
        return "inconclusive"
    if z < -Z_VERDICT:
        return "violated"
    if z > Z_VERDICT:
        return "holds"
    return "inconclusive"


def _z(margin: float, se: float) -> float:
    if se > 0:
        return margin / se
    if margin == 0 or math.isnan(margin):
        return math.nan
    return math.copysign(math.inf, margin)


def check_run(datasets, seed, kl_scale) -> tuple[int, int, float]:
    """The Monte Carlo settings, validated: datasets in 2..MAX_DATASETS, seed >= 0, kl_scale >= 0."""
    datasets = integer("datasets", datasets, 2)
    if datasets > MAX_DATASETS:
        raise ParameterError("datasets", f"must be <= {MAX_DATASETS:.0e}", datasets)
    return datasets, integer("seed", seed, 0), float(nonneg("kl_scale", kl_scale))


@quiet_fp
def simulate(w_star=None, *, n: int = DEFAULT_N, d: int | None = None, k: int | None = None, lam: float = 1.0,
             beta_t: float = 1.0, noise: float = 1.0, student: str = "kernel", rank: int | None = None,
             sigma_s=None, beta_s: float | None = None, clip: float = DEFAULT_CLIP, datasets: int | None = None,
             seed: int = 0, kl_scale: float = 1.0, progress: Callable[[int, int], None] | None = None,
             on_block: Callable[[Block], None] | None = None, model: SimModel | None = None) -> Simulation:
    """Check Theorems 1 and 10 by Monte Carlo in the linear-Gaussian model with a bounded loss.

    Parameters
    ----------
    w_star : ndarray, k x d, optional
        Ground truth; without it a seeded synthetic W* (N(0, 1/d) entries, sizes ``d`` x ``k``).
    n, d, k : int
        Samples per training set, features and outputs (d and k come from ``w_star`` when given).
    lam, beta_t, noise : float
        Prior precision, teacher inverse temperature and label-noise standard deviation (> 0).
    student : {"kernel", "refit"}
        The kernel student ``MN(L_r L_r^T W_T, I, Sigma_S)`` or the Gibbs posterior refit on the
        pseudo data at ``beta_s``.
    rank : int, optional
        Kernel student's rank in ``1..min(k, d, n)`` (default: the largest).  Below ``min(k, d)``
        the student has a bottleneck and K is bounded ("bound-tight"), not exact.
    sigma_s : "teacher", float or ndarray, optional
        Kernel student's covariance (default Sigma_T).
    beta_s : float, optional
        Refit student's inverse temperature (> 0; default ``beta_t``).
    clip : float
        Clip level B of the loss ``min(r^2, B) / B`` (> 0).
    datasets : int, optional
        Independent training sets (>= 2; default :func:`default_datasets`).
    seed : int
        Random seed (>= 0): the same seed gives the same numbers.
    kl_scale : float
        Multiplies K before the bounds are formed (>= 0; default 1).  Below 1 the
        bounds are no longer the theorems' (a planted violation, to test the verdict).
    progress : callable, optional
        ``progress(done, total)`` after each block.
    on_block : callable, optional
        Receives each :class:`Block` of per-dataset values (for writing the runs).
    model : SimModel, optional
        An already validated configuration (the other model arguments are then ignored).

    Returns
    -------
    Simulation

    References
    ----------
    Li and He (ISIT 2026), Theorem 1 (upper bound), Theorem 10 and Remark 2 (lower
    bound), Lemma 11 (the model); docs/theory.md, "Monte Carlo check of the theorems
    (simulate)".
    """
    if model is None:
        model = sim_model(w_star, n=n, d=d, k=k, lam=lam, beta_t=beta_t, noise=noise, student=student, rank=rank,
                          sigma_s=sigma_s, beta_s=beta_s, clip=clip, seed=seed)
    if datasets is None:
        datasets = default_datasets(model.n, model.d, model.k)
    datasets, seed, kl_scale = check_run(datasets, seed, kl_scale)
    size = min(block_size(model.n, model.d, model.k), datasets)
    work = Workspace(model, size)
    moments = _Moments(4)                        # teacher gap, student gap, student gap (real labels), K
    cgf = _CgfGrid()
    done = 0
    index = 0
    if progress is not None:
        progress(0, datasets)
    k_ref = None
    saturated = 0
    while done < datasets:
        m = min(size, datasets - done)
        blk = draw_block(model, m, _block_rng(seed, index), start=done, work=work)
        if k_ref is None:                        # K's scale, so that its streamed variance cannot overflow
            k_ref = float(np.mean(blk.kl))
            k_ref = k_ref if math.isfinite(k_ref) and k_ref > 0 else 1.0
        moments.add(np.column_stack([blk.teacher_gap, blk.student_gap, blk.student_gap_real, blk.kl / k_ref]))
        cgf.add(blk.teacher_gap)
        saturated += blk.saturated
        if on_block is not None:
            on_block(blk)
        done += m
        index += 1
        if progress is not None:
            progress(done, datasets)
    return _summarise(model, moments, cgf, kl_scale, k_ref, saturated)


def _margin_se(c: np.ndarray, cov: np.ndarray, count: int) -> float:
    """``sqrt(c' cov c / count)`` with ``c`` scaled by its largest entry first (a huge kl_scale cannot overflow it)."""
    top = float(np.max(np.abs(c)))
    if not math.isfinite(top):
        return math.inf
    u = c / top
    return top * math.sqrt(max(float(u @ cov @ u), 0.0) / count)


def _summarise(model: SimModel, moments: _Moments, cgf: _CgfGrid, kl_scale: float, k_ref: float,
               saturated: int) -> Simulation:
    """Means, standard errors, bounds and verdicts from the streamed statistics.

    K enters the moments as K / k_ref (k_ref: the first block's mean), so that its
    variance cannot overflow; every product below is formed in an overflow-safe order.
    """
    count = moments.count
    mean = moments.mean
    cov = moments.cov()
    se = np.sqrt(np.maximum(np.diag(cov), 0.0) / count)
    gen_t, gen_s, gen_s_real = (float(v) for v in mean[:3])
    kl = max(float(mean[3]) * k_ref, 0.0)
    kl_se = float(se[3]) * k_ref
    k_used = kl * kl_scale if kl_scale > 0 else 0.0      # 0 * inf is 0 here: a scale of 0 removes K
    sigma = SIGMA_CERTIFIED
    lams, lam_cgf = cgf.cgf(count, gen_t)
    # the empirical law lives on [min h, max h], so its centred CGF lies in [0, (l R)^2 / 8] (Jensen, Hoeffding's
    # lemma); clamping removes the log-sum-exp's rounding, which would otherwise dominate for (near-)constant gaps
    spread = float(moments.max[0] - moments.min[0])
    lam_cgf = np.clip(lam_cgf, 0.0, (lams * spread) ** 2 / 8.0)
    # Popoviciu: the same bound on the streamed variance
    var_biased = min(float(moments.m2[0, 0]) / count, spread * spread / 4.0)
    sigma_hat = plug_in_sigma(lams, lam_cgf, var_biased)
    # sqrt(2 K s) as a product of roots: finite whenever the true value is, even where K s overflows
    root = math.sqrt(2.0) * math.sqrt(kl) * math.sqrt(kl_scale) if kl_scale > 0 else 0.0
    slack = sigma * root
    slack_hat = sigma_hat * root if sigma_hat > 0 else 0.0
    upper, lower, upper_hat = gen_t + slack, gen_t - slack, gen_t + slack_hat
    tail = max(float(moments.max[0]) - gen_t, 0.0)   # max h >= mean h (up to rounding)
    # an infinite K s leaves the limit l -> infinity, max h - mean h (finite whenever K is)
    dv = dv_optimum(lams, lam_cgf, k_used, tail, var_biased) if math.isfinite(k_used) else (
        tail if math.isfinite(kl) else math.inf)
    slack_used = (gen_s - gen_t) / slack if slack > 0 else math.nan
    # standard errors of the margins by the delta method on per-dataset (h_T, h_S, h_S_real, K / k_ref):
    # d(sigma sqrt(2 s K)) / dK times k_ref = sigma sqrt(s / 2) k_ref / sqrt(K)
    dk = 0.0
    if kl > 0 and kl_scale > 0 and math.isfinite(kl):
        dk = sigma * math.sqrt(kl_scale / 2.0) * (k_ref / math.sqrt(kl))
    cu = np.array([1.0, -1.0, 0.0, dk])
    cl = np.array([-1.0, 1.0, 0.0, dk])
    margin_u = upper - gen_s
    margin_l = gen_s - lower
    se_u, se_l = _margin_se(cu, cov, count), _margin_se(cl, cov, count)
    z_u, z_l = _z(margin_u, se_u), _z(margin_l, se_l)
    return Simulation(
        datasets=count, kl_kind=model.kl_kind, gen_t=gen_t, gen_t_se=float(se[0]), gen_s=gen_s,
        gen_s_se=float(se[1]), gen_s_real=gen_s_real, gen_s_real_se=float(se[2]), kl=kl, kl_se=kl_se,
        kl_scale=kl_scale, sigma=sigma, sigma_hat=sigma_hat, upper_bound=upper, upper_bound_hat=upper_hat,
        lower_bound=lower, dv_optimum=dv, slack_used=slack_used, margin_upper=margin_u, margin_upper_se=se_u,
        margin_lower=margin_l, margin_lower_se=se_l, z_upper=z_u, z_lower=z_l, verdict_upper=verdict(z_u),
        verdict_lower=verdict(z_l), teacher_gap_sd=math.sqrt(max(float(cov[0, 0]), 0.0)),
        teacher_gap_max=float(moments.max[0]), saturated=saturated)


__all__ += ["check_run", "Block", "draw_block", "clipped_square_mean", "tight_bound_terms", "synthetic_w_star",
            "plug_in_sigma", "dv_optimum", "SIGMA_CERTIFIED"]
