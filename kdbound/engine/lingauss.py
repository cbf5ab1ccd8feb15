"""The linear-Gaussian case study (Lemma 11, eq. 28-39): the distillation divergence K
of a Gibbs-posterior linear teacher and a rank-r student, term by term, with the exact
dataset shift, the tighter decomposition ``kl_bound_tight`` and, without a rank
bottleneck, the exact K.

Layout: ``x`` is n x d with samples as rows (the paper's X is its transpose),
``y`` is n x k, ``w_star`` is k x d (scikit-learn's ``coef_``); the label model is
``Y ~ MN(X W*^T, noise^2 I_n, I_k)`` (i.i.d. N(., noise^2) entries).  Everything comes
from one eigendecomposition of the d x d Gram matrix ``X^T X`` plus k x n and k x d
products: no n x n matrix, no explicit inverse, no SVD of X.

Notation: ``c = beta_t / noise^2``, ``Sigma_T = (lam I + c X^T X)^{-1}``,
``Wbar_T = c Y^T X Sigma_T``.  In the eigenbasis ``X^T X = U diag(g) U^T`` every term is
a sum over eigenvalues: ``v = g / (lam + c g)`` (eigenvalues of X Sigma_T X^T),
``s = c v`` (of the smoother S) and ``t = s^2 + v / noise^2``.

Numerics: every term is computed in reduced units where the label noise is 1 and the
largest Gram eigenvalue is 1 (K is invariant under the rescalings of
:func:`kdbound.engine.exact_kl.normalise`), so extreme hyperparameters do not overflow
intermediate products; a result that is itself beyond float64 is refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..errors import InputError, ParameterError, format_value
from ..formats import html_table, json_ready
from ._checks import first_nonfinite, integer, positive
from .exact_kl import check_sigma_s, spectral_kl
from .numerics import quiet_fp, xm_log, xm_log1p
from .sim_stats import _Moments

__all__ = ["GramSpectrum", "gram_spectrum", "gram_products", "Hyper", "check_hyper", "Reduced", "reduce",
           "apx_monte_carlo", "ApxEstimate", "LinearGaussianResult", "linear_gaussian", "estimate_noise",
           "NoiseEstimate", "check_sigma_s", "TERMS", "COND_WARN", "MAX_SAMPLES", "MAX_WORK", "rank_bottleneck",
           "MAX_MEMORY", "MAX_SWEEP", "check_memory", "check_rank_sweep", "check_work"]

EPS = np.finfo(np.float64).eps
#: condition number of X^T X beyond which the warning is printed (apx and the rank decision lose digits)
COND_WARN = 1e10
#: Gram eigenvalues below this fraction of the largest are recomputed from X itself (the Gram
#: matrix gives them only to about eps * g_max, i.e. singular values to about sqrt(eps) sigma_max)
REFINE = 1e-8
#: the largest number of Monte Carlo samples accepted, and the largest Monte Carlo work
#: (draws x k x rho x min(k, rho) multiply-adds): beyond, a run takes hours
MAX_SAMPLES = 10 ** 7
MAX_WORK = 5e11
#: bytes one linear_gaussian run may allocate (X^T X and its eigenvectors, the Monte Carlo draws, a synthetic X)
MAX_MEMORY = 4 << 30
#: ranks in one rank sweep
MAX_SWEEP = 10_000
#: the reduced prior precision lam noise^2 / g_max must lie inside float64's comfortable range
REDUCED_RANGE = (1e-290, 1e290)


# --------------------------------------------------------------------------- spectrum of X

@dataclass(frozen=True, eq=False)
class GramSpectrum:
    """Eigendecomposition of the Gram matrix X^T X (d x d): the one expensive step.

    ``g`` ascending eigenvalues (squared singular values of X; those of numerically
    zero singular values set to exactly 0), ``u`` the eigenvectors as columns,
    ``x_rank`` the numerical rank of X, ``cond`` the condition number of X^T X
    (g_max / g_min over the retained eigenvalues, the square of cond(X)),
    ``refined`` how many small eigenvalues were recomputed from X itself.
    """

    g: np.ndarray
    u: np.ndarray
    n: int
    x_rank: int
    cond: float
    refined: int = 0

    @property
    def d(self) -> int:
        return self.g.size


def _small_singular_values(x, us: np.ndarray, block_rows: int = 16384):
    """Singular values and right singular vectors of ``x @ us`` (n x m), by a blocked QR (never the Gram).

    Accurate to about eps * sigma_max(x) in absolute terms, where the Gram matrix
    resolves only about sqrt(eps) * sigma_max.
    """
    m = us.shape[1]
    r = np.zeros((0, m))
    for start in range(0, x.shape[0], block_rows):
        block = np.asarray(x[start:start + block_rows], dtype=np.float64) @ us
        r = np.linalg.qr(np.vstack([r, block]), mode="r")
    _, sv, vt = np.linalg.svd(r, full_matrices=False) if r.shape[0] else (None, np.zeros(0), np.eye(m))
    if sv.size < m:                       # fewer rows than columns: the rest are exact zeros
        sv = np.concatenate([sv, np.zeros(m - sv.size)])
        _, _, vt = np.linalg.svd(np.vstack([r, np.zeros((m - r.shape[0], m))]))
    return sv, vt.T


def gram_spectrum(gram: np.ndarray, n: int, x=None, block_rows: int = 16384) -> GramSpectrum:
    """Eigendecomposition of the symmetric positive semi-definite d x d Gram matrix X^T X.

    The numerical rank of X counts singular values ``sqrt(g_i)`` above
    ``sigma_max * max(n, d) * eps`` (the rule of ``numpy.linalg.matrix_rank``: on
    singular values, so the tolerance does not square the condition number).  The
    Gram matrix gives an eigenvalue only to about ``eps * g_max``; when ``x`` is given and
    some eigenvalue lies below ``REFINE * g_max``, the spectrum is recomputed from ``x``
    itself (the singular values of a blocked QR factor of x), so that small singular
    values are resolved to about ``eps * sigma_max``.  That costs one more pass over x,
    and only for ill-conditioned or rank-deficient X.
    """
    g, u = np.linalg.eigh(gram)
    d = g.size
    g = np.maximum(g, 0.0)
    gmax = float(g[-1]) if d else 0.0
    refined = 0
    if x is not None and gmax > 0:
        small = g < REFINE * gmax
        refined = int(small.sum())
        if refined:
            # the whole spectrum from a blocked QR of x: the Gram's small eigenvectors leak the large
            # directions (by about eps g_max / gap), which would pose as small singular values
            sv, vecs = _small_singular_values(x, np.eye(d), block_rows)
            g, u = sv[::-1] ** 2, vecs[:, ::-1]
            gmax = float(g[-1])
    smax = math.sqrt(gmax)
    tol = smax * max(n, d) * EPS
    zero = np.sqrt(g) <= tol
    g = np.where(zero, 0.0, g)
    kept = g[~zero]
    x_rank = int(kept.size)
    cond = float(kept[-1] / kept[0]) if x_rank else math.inf
    return GramSpectrum(g=g, u=u, n=n, x_rank=x_rank, cond=cond, refined=refined)


def gram_products(x: np.ndarray, y: np.ndarray | None = None, block_rows: int = 16384):
    """``x.T @ x`` (d x d) and ``y.T @ x`` (k x d), in float64, one pass over x.

    float64 C-ordered input goes to BLAS whole; other dtypes are converted a
    block of rows at a time, so memory stays near the size of x.
    """
    n, d = x.shape
    if x.dtype == np.float64 and (y is None or y.dtype == np.float64):
        gram = x.T @ x
        yx = None if y is None else y.T @ x
    else:
        gram = np.zeros((d, d))
        yx = None if y is None else np.zeros((y.shape[1], d))
        for start in range(0, n, block_rows):
            xb = np.asarray(x[start:start + block_rows], dtype=np.float64)
            gram += xb.T @ xb
            if y is not None:
                yx += np.asarray(y[start:start + block_rows], dtype=np.float64).T @ xb
    top = float(np.max(np.diag(gram))) if d else 0.0
    if top < _GRAM_FLOOR and np.any(x):
        # X^T X in (or below) the subnormal range has lost its digits: X = 0 is a case kdbound handles, a tiny
        # X is not (it would pass as rank 0)
        raise InputError(f"entries are too small for float64 (the largest diagonal entry of X^T X is {top:.3g}); "
                         "rescale X", "x")
    return gram, yx


#: the smallest largest-diagonal of X^T X whose eigenvalues float64 still gives to full precision
_GRAM_FLOOR = 1e-290


# --------------------------------------------------------------------------- hyperparameters, reduced units

@dataclass(frozen=True, eq=False)
class Hyper:
    lam: float
    beta_t: float
    noise: float

    @property
    def c(self) -> float:
        return self.beta_t / self.noise ** 2


def check_hyper(lam, beta_t, noise) -> Hyper:
    return Hyper(float(positive("lam", lam)), float(positive("beta_t", beta_t)), float(positive("noise", noise)))


@dataclass(frozen=True, eq=False)
class Reduced:
    """The problem in reduced units: label noise 1, largest Gram eigenvalue 1.

    ``g`` eigenvalues / g_max; ``lam`` = lam noise^2 / g_max; ``beta`` = beta_t (= c);
    ``p = lam + beta g``, ``v = g / p``, ``s = beta v``, ``shrink = lam / p = 1 - s``;
    ``w_scale = sqrt(g_max) / noise`` multiplies W-coordinates; ``var_scale = noise^2``
    turns the reduced bias and variance back into the data's units.
    """

    g: np.ndarray
    lam: float
    beta: float
    p: np.ndarray
    v: np.ndarray
    s: np.ndarray
    shrink: np.ndarray
    w_scale: float
    gmax: float
    var_scale: float
    noise: float


def reduce(spec: GramSpectrum, h: Hyper) -> Reduced:
    """The reduced problem, or an InputError naming the range kdbound can compute."""
    gmax = float(spec.g[-1]) if spec.d and spec.g[-1] > 0 else 1.0
    log_lam = math.log(h.lam) + 2 * math.log(h.noise) - math.log(gmax)
    lo, hi = REDUCED_RANGE
    if not math.log(lo) < log_lam < math.log(hi):
        raise InputError(f"lam noise^2 / g_max = 10^{log_lam / math.log(10):.0f} is outside the range kdbound "
                         f"computes in float64 ({lo:g} to {hi:g}; g_max = {gmax:.3g} is the largest eigenvalue of "
                         "X^T X): rescale X or choose less extreme values", ("lam", "noise"))
    lam = math.exp(log_lam)
    beta = h.beta_t
    g = spec.g / gmax
    p = lam + beta * g
    v = g / p
    return Reduced(g=g, lam=lam, beta=beta, p=p, v=v, s=beta * v, shrink=lam / p,
                   w_scale=math.sqrt(gmax) / h.noise, gmax=gmax, var_scale=h.noise ** 2, noise=h.noise)


# --------------------------------------------------------------------------- closed forms (reduced units)

def _t_expected(rd: Reduced) -> np.ndarray:
    return rd.s * rd.s + rd.v


def variance(rd: Reduced) -> float:
    """Var(D_n) = tr(X Sigma_T X^T) = sum_i v_i, in reduced units (times noise^2 in the data's)."""
    return float(np.sum(rd.v))


def residual_norm(rd: Reduced, a: np.ndarray) -> float:
    """||(I - S) X W*^T||_F^2 = sum_i ||a_i||^2 g_i shrink_i^2 (a = W* U in reduced units)."""
    return float(np.sum(a * a, axis=0) @ (rd.g * rd.shrink * rd.shrink))


def bias_conditional(rd: Reduced, m: np.ndarray, a: np.ndarray) -> float:
    """Bias(D_n) = ||X (Wbar_T - W*)^T||_F^2, with both in the eigenbasis (reduced units)."""
    diff = m - a
    return float(np.sum(diff * diff, axis=0) @ rd.g)


def bias_expected(rd: Reduced, a: np.ndarray, k: int) -> float:
    """E_Y Bias = ||(I - S) X W*^T||_F^2 + k noise^2 sum_i s_i^2 (reduced units: noise 1)."""
    return residual_norm(rd, a) + k * float(np.sum(rd.s * rd.s))


def dataset_shift_exact(rd: Reduced, a: np.ndarray, k: int) -> float:
    """Exact KL(Y^ | X || Y | X), Y integrated out:
    ``||(I - S) X W*^T||^2 / (2 noise^2) + (k/2) sum_i (t_i - ln(1 + t_i))``."""
    return 0.5 * residual_norm(rd, a) + 0.5 * k * float(np.sum(xm_log1p(_t_expected(rd))))


def dataset_shift_conditional(rd: Reduced, m: np.ndarray, a: np.ndarray, k: int) -> float:
    """Exact KL(Y^ | D_n || Y | X) = Bias / (2 noise^2) + (k/2) sum_i (v_i/noise^2 - ln(1 + v_i/noise^2))."""
    return 0.5 * bias_conditional(rd, m, a) + 0.5 * k * float(np.sum(xm_log1p(rd.v)))


def convexity_gap(rd: Reduced, k: int) -> float:
    """How much the convexity bound exceeds the exact dataset shift on average: (k/2) sum ln(1 + t_i)."""
    return 0.5 * k * float(np.sum(np.log1p(_t_expected(rd))))


def spread_conditional(rd: Reduced, m: np.ndarray, k: int) -> float:
    """Spread(D_n) = lam^2 (||Wbar_T Sigma_T^{1/2}||^2 + k tr(Sigma_T^2)) + c^2 noise^2 k Var,
    written as sum_i lam shrink_i ||m_i||^2 + k shrink_i^2 + beta k s_i (no lam^2 or c^2 to overflow)."""
    return float(np.sum(rd.lam * rd.shrink * np.sum(m * m, axis=0) + k * rd.shrink ** 2 + rd.beta * k * rd.s))


def spread_expected(rd: Reduced, a: np.ndarray, k: int) -> float:
    """E_Y Spread = lam^2 (||c X^T X Sigma_T^{3/2} W*^T||^2 + c^2 k noise^2 tr(X Sigma_T^3 X^T) + k tr(Sigma_T^2))
    + c^2 noise^2 k Var = sum_i shrink_i^2 (beta s_i g_i ||a_i||^2 + beta k s_i + k) + beta k s_i."""
    wa = np.sum(a * a, axis=0)
    return float(np.sum(rd.shrink ** 2 * (rd.beta * rd.s * rd.g * wa + rd.beta * k * rd.s + k)
                        + rd.beta * k * rd.s))


def covariance_cost(spec: GramSpectrum, rd: Reduced, sigma_s, k: int) -> float:
    """Cov(Sigma_S, Sigma_T) = k/2 [tr(Sigma_T^{-1} Sigma_S) - d + ln det Sigma_T - ln det Sigma_S]:
    the KL of matrix normals with equal means (eq. 34-39).  ``sigma_s``: "teacher", a scalar s (s I) or
    a d x d symmetric positive-definite matrix (in the data's units)."""
    if isinstance(sigma_s, str):
        return 0.0                         # Sigma_S = Sigma_T
    d = spec.d
    to_reduced = rd.gmax / rd.var_scale    # Sigma_S in reduced units: Sigma_S g_max / noise^2
    if isinstance(sigma_s, float):
        s_red = sigma_s * to_reduced
        return 0.5 * k * float(np.sum(xm_log(rd.p * s_red, np.log(rd.p) + math.log(s_red))))
    chol = np.linalg.cholesky(sigma_s)     # validated positive definite by check_sigma_s
    log_scale = math.log(rd.gmax) - 2.0 * math.log(rd.noise)
    logdet_s = 2.0 * float(np.sum(np.log(np.diag(chol)))) + d * log_scale
    # tr(Sigma_T^{-1} Sigma_S) = sum_j p_j (U^T Sigma_S U)_jj
    diag = np.einsum("ij,ij->j", spec.u, sigma_s @ spec.u) * to_reduced
    return 0.5 * k * (float(rd.p @ diag) - d - float(np.sum(np.log(rd.p))) - logdet_s)


# --------------------------------------------------------------------------- Apx by Monte Carlo

@dataclass(frozen=True, eq=False)
class ApxEstimate:
    """Monte Carlo estimate of Apx for each student rank in ``ranks``.

    ``null_space[i]`` is the part of ``mean[i]`` that X's null space contributes:
    exactly ``(k - r)(d - rank X)`` when r <= min(k, rank X), else estimated with the rest.
    """

    ranks: np.ndarray
    mean: np.ndarray
    stderr: np.ndarray
    null_space: np.ndarray


def rank_bottleneck(rank: int, k: int, d: int) -> bool:
    """True when the student rank r < min(k, d): then W_T M* = L_r L_r^T W_T differs from W_T (which has
    rank min(k, d) almost surely; in X's null space too, where Apx gains (k - r)(d - rank X)), and
    kl_exact does not apply."""
    return rank < min(k, d)


def apx_monte_carlo(spec: GramSpectrum, rd: Reduced, k: int, ranks, samples: int, rng: np.random.Generator,
                    m: np.ndarray | None = None, a: np.ndarray | None = None,
                    progress: Callable[[int, int], None] | None = None, block: int = 64) -> ApxEstimate:
    """Apx(D_n) = E ||(I_k - L_r L_r^T) W_T Sigma_T^{-1/2}||_F^2, L_r = top-r left singular vectors of W_T X^T.

    The continuous choice ``W_T M* = L_r L_r^T W_T`` (docs/theory.md, "A continuous M*").
    Conditional on the data (``m`` = Wbar_T U given, reduced units) or, with
    ``a`` = W* U, averaged over Y as well (each draw also draws the label noise).

    In the eigenbasis, ``C = W_T U diag(sqrt(p))`` has i.i.d. rows given the mean;
    ``B = W_T U diag(sqrt(g))`` is W_T X^T in X's right-singular basis, so L comes from
    a k x rho SVD per draw (rho = rank X) and Apx for every rank r at once is the tail
    sum over i > r of ``||l_i^T C||^2``, projected directly (no division by a small
    singular value).  X's null space adds exactly ``(k - r)(d - rho)`` when
    r <= min(k, rho) (its coordinates of W_T are independent N(0, 1/lam) with weight
    lam).  When rho < r < k, L_r holds all rho directions of B and is completed by the
    top r - rho left singular vectors of the null-space residual (the completion with
    the smallest Apx, and the limit of nearly rank-deficient X along one direction);
    that part is estimated on the same draws.

    Parameters
    ----------
    spec, rd : GramSpectrum, Reduced
        The spectrum of X^T X and the problem in reduced units.
    k : int
        Outputs.
    ranks : sequence of int
        Student ranks (common random numbers across them).
    samples : int
        Draws of W_T, in blocks of ``block``.
    rng : numpy.random.Generator
    m, a : ndarray, optional
        Wbar_T U (conditional mode) or W* U (expected mode), reduced units; one of them.
    progress : callable, optional
        ``progress(done, samples)`` after each block.

    Returns
    -------
    ApxEstimate

    References
    ----------
    Li and He (ISIT 2026), Lemma 11 and eq. 28-39 (the Apx term); docs/theory.md, "A continuous M*".
    """
    draws = _ApxDraws.of(spec, rd, k, ranks, m, a)
    # running mean and sum of squared deviations (Chan's merge of per-block moments), in units of a
    # scale fixed by the first block: no cancellation of E x^2 - (E x)^2 and no overflow of x^2
    moments, scale = _Moments(draws.ranks.size, diagonal=True), None
    done = 0
    if progress is not None:
        progress(0, samples)
    while done < samples:
        mb = min(block, samples - done)
        per_rank = draws.block(rng, mb)
        if scale is None:
            scale = np.max(np.abs(per_rank), axis=0)
            scale = np.where(scale > 0, scale, 1.0)
        moments.add(per_rank / scale)
        done += mb
        if progress is not None:
            progress(done, samples)
    mean = moments.mean * scale
    stderr = (np.sqrt(moments.m2 / (samples - 1) / samples) * scale if samples > 1
              else np.full(draws.ranks.size, np.nan))
    return ApxEstimate(draws.ranks, mean + draws.exact_null, stderr, draws.exact_null)


@dataclass(frozen=True, eq=False)
class _ApxDraws:
    """What every block of :func:`apx_monte_carlo` needs, computed once: W_T's law on X's row space (rho
    retained eigenvalues) and the ranks' exact null-space parts."""

    k: int
    ranks: np.ndarray
    kb: int                  # min(k, rho): the directions L can take from B
    rho: int
    nnull: int               # d - rho
    null_mc: list            # indices of the ranks whose null-space part is estimated (rho < r < k)
    exact_null: np.ndarray
    mean: np.ndarray         # (k, rho)
    post_sd: np.ndarray
    label_sd: np.ndarray | None  # expected mode: the label noise's part of W_T, sqrt(g) beta / p
    sqp: np.ndarray
    sqg: np.ndarray

    @classmethod
    def of(cls, spec: GramSpectrum, rd: Reduced, k: int, ranks, m, a) -> _ApxDraws:
        ranks = np.asarray(ranks, dtype=int)
        keep = spec.g > 0
        g, p = rd.g[keep], rd.p[keep]
        rho = g.size
        nnull = spec.d - rho
        kb = min(k, rho)
        exact_null = np.array([(k - r) * nnull if r <= kb else 0 for r in ranks], dtype=float)
        null_mc = [i for i, r in enumerate(ranks) if r > kb and r < k and nnull > 0]
        sqp, sqg = np.sqrt(p), np.sqrt(g)
        mean = m[:, keep] if m is not None else a[:, keep] * rd.s[keep]
        return cls(k=k, ranks=ranks, kb=kb, rho=rho, nnull=nnull, null_mc=null_mc, exact_null=exact_null, mean=mean,
                   post_sd=1.0 / np.sqrt(p), label_sd=None if m is not None else sqg * rd.beta / p, sqp=sqp, sqg=sqg)

    def block(self, rng: np.random.Generator, mb: int) -> np.ndarray:
        """Apx without its exact null-space part, for ``mb`` draws of W_T (and Y) and every rank: (mb, ranks)."""
        k, rho, kb, ranks = self.k, self.rho, self.kb, self.ranks
        per_rank = np.zeros((mb, ranks.size))
        if rho:
            wrho = self.mean + rng.standard_normal((mb, k, rho)) * self.post_sd
            if self.label_sd is not None:  # Y = X W*^T + E: U^T X^T E in distribution is sqrt(g) Z, times beta / p
                wrho = wrho + rng.standard_normal((mb, k, rho)) * self.label_sd
            lvec = np.linalg.svd(wrho * self.sqg, full_matrices=False)[0]   # (mb, k, kb)
            proj = np.swapaxes(lvec, -1, -2) @ (wrho * self.sqp)           # (mb, kb, rho)
            a_i = np.sum(proj * proj, axis=-1)                             # (mb, kb)
            tails = np.cumsum(a_i[:, ::-1], axis=1)[:, ::-1]
            tails = np.concatenate([tails, np.zeros((mb, 1))], axis=1)
            per_rank += tails[:, np.minimum(ranks, kb)]
        if self.null_mc:
            # the complement of B's range has k - rho dimensions; the null-space coordinates projected on it
            # form a standard Gaussian (k - rho) x (d - rho) matrix Q; the rank-r completion leaves the
            # smallest k - r eigenvalues of Q Q^T
            q = rng.standard_normal((mb, k - rho, self.nnull))
            ev = np.linalg.eigvalsh(q @ np.swapaxes(q, -1, -2))            # ascending
            csum = np.concatenate([np.zeros((mb, 1)), np.cumsum(ev, axis=1)], axis=1)
            for i in self.null_mc:
                per_rank[:, i] += csum[:, k - ranks[i]]
        return per_rank


# --------------------------------------------------------------------------- the noise from the data

@dataclass(frozen=True, eq=False)
class NoiseEstimate:
    """The label-noise standard deviation estimated from Y.

    ``method``: "residual" (Y - X W*^T, W* known: ``dof = n k``) or "least-squares"
    (residuals of the least-squares fit of Y on X: ``dof = (n - rank X) k``).
    """

    value: float
    method: str
    dof: int


def estimate_noise(spec: GramSpectrum, x, y, yx: np.ndarray, w_star: np.ndarray | None,
                   block_rows: int = 16384) -> NoiseEstimate:
    """sqrt(RSS / dof): the residual standard deviation of Y given X (and W* when known).

    Without W*, the least-squares residual sum of squares is ``||Y||^2 - sum_i ||(U^T X^T Y)_i||^2 / g_i``
    over X's numerical column space (no extra pass over X), recomputed from the residuals
    themselves when that difference loses digits (a near-perfect fit).  Needs n > d.
    """
    n, d = x.shape
    k = y.shape[1]
    if w_star is not None:
        rss = 0.0
        for start in range(0, n, block_rows):
            r = np.asarray(y[start:start + block_rows], dtype=np.float64) - \
                np.asarray(x[start:start + block_rows], dtype=np.float64) @ w_star.T
            rss += float(np.sum(r * r))
        return NoiseEstimate(math.sqrt(rss / (n * k)), "residual", n * k)
    if n <= d:
        raise InputError(f"cannot be estimated from the data without {{w_star}}: the least-squares fit of Y on X "
                         f"needs n > d (got n = {n}, d = {d}); give it", "noise", refs=("w_star",))
    keep = spec.g > 0
    proj = (yx @ spec.u)[:, keep]
    yy = float(np.sum(np.asarray(y, dtype=np.float64) ** 2))
    rss = yy - float(np.sum(proj * proj / spec.g[keep]))
    if rss <= 1e-6 * yy:  # cancellation: recompute the residuals themselves
        coef = (spec.u[:, keep] / spec.g[keep]) @ proj.T           # d x k least-squares coefficients
        rss = 0.0
        for start in range(0, n, block_rows):
            r = np.asarray(y[start:start + block_rows], dtype=np.float64) - \
                np.asarray(x[start:start + block_rows], dtype=np.float64) @ coef
            rss += float(np.sum(r * r))
    dof = (n - spec.x_rank) * k
    return NoiseEstimate(math.sqrt(max(rss, 0.0) / dof), "least-squares", dof)


# --------------------------------------------------------------------------- the whole decomposition

#: the result keys, in the order printed: the terms, then the chain kl_exact <= kl_bound_tight <= kl_bound
TERMS = ("bias", "var", "dataset_shift_bound", "dataset_shift_exact", "dataset_shift_conditional", "apx",
         "apx_stderr", "cov", "spread", "kl_exact", "kl_bound_tight", "kl_bound")


@dataclass(frozen=True, eq=False)
class LinearGaussianResult:
    """K's decomposition (the paper's final display), the exact dataset shift, the tighter
    decomposition and, without a rank bottleneck, the exact K.

    Missing terms are NaN, with the reason in ``missing``.  ``rank_sweep`` holds
    (rank, apx, apx_stderr, kl_bound, kl_bound_tight, kl_exact) arrays when a sweep was asked for.
    ``bias`` and ``var`` are in the data's units (squared labels); every other term is in nats.
    """

    mode: str                 # "conditional" (given Y) or "expected" (Y integrated out)
    n: int
    d: int
    k: int
    rank: int
    x_rank: int
    cond: float               # cond(X^T X)
    bias: float
    var: float
    dataset_shift_bound: float
    dataset_shift_exact: float        # Y integrated out (expected over D_n given X)
    dataset_shift_conditional: float  # given D_n (conditional mode only)
    convexity_gap: float      # (k/2) sum ln(1 + t_i): E[bound] - exact
    apx: float
    apx_stderr: float
    cov: float
    spread: float
    kl_bound: float           # the paper's decomposition
    kl_bound_tight: float     # the exact dataset shift of the mode in place of the convexity step
    kl_exact: float           # exact K given X (expected) or given D_n (conditional), no rank bottleneck
    samples: int
    noise2: float             # noise^2, to split the dataset shift into its bias and variance parts
    noise: float = 1.0
    missing: dict = field(default_factory=dict)  # term -> why, naming parameters as {w_star}
    rank_sweep: dict | None = None
    refined: int = 0          # small Gram eigenvalues recomputed from X
    noise_estimate: NoiseEstimate | None = None  # the data's estimate, whenever Y is given
    noise_from: str = "given"  # "given", "estimated" (from Y) or "default" (1.0: no Y)

    def results(self) -> dict:
        """The results ``kdbound linear-gaussian`` prints (without ``--gen-t``'s plugged-in bounds), in its
        order: the terms, ``looseness`` (dataset_shift_bound - dataset_shift_exact), the convexity gap, each
        term's share of kl_bound and the sizes."""
        out = {key: getattr(self, key) for key in TERMS}
        out["looseness"] = self.dataset_shift_bound - self.dataset_shift_exact
        out["convexity_gap"] = self.convexity_gap
        out.update((f"share_{key}", val) for key, val in self.shares().items())
        out.update(n=self.n, d=self.d, k=self.k, rank=self.rank)
        return out

    def to_dict(self) -> dict:
        """:meth:`results`, JSON-ready (NaN as None), under the command line's keys."""
        return {k: json_ready(v) for k, v in self.results().items()}

    def _repr_html_(self) -> str:
        """A table for Jupyter (escaped)."""
        return html_table(self.results(), f"LinearGaussianResult ({self.mode})")

    def shares(self) -> dict:
        """Each term's share of kl_bound (dataset shift split into its bias and variance parts)."""
        if not math.isfinite(self.kl_bound) or self.kl_bound <= 0:
            return {}
        parts = {
            "bias": self.bias / (2 * self.noise2) if math.isfinite(self.bias) else math.nan,
            "var": self.k * self.var / (2 * self.noise2),
            "apx": self.apx, "cov": self.cov, "spread": self.spread,
        }
        return {key: val / self.kl_bound for key, val in parts.items() if math.isfinite(val)}

    @property
    def dataset_shift(self) -> float:
        """The exact dataset shift of the mode: conditional given Y, else Y integrated out."""
        return self.dataset_shift_conditional if self.mode == "conditional" else self.dataset_shift_exact


def _as_array(name: str, a, rows: str, cols: str):
    """Lists and tuples as arrays (a ragged list is an InputError); anything else as given."""
    if isinstance(a, (list, tuple)):
        try:
            return np.asarray(a)
        except ValueError:
            raise InputError(f"expected a 2-D numeric array {rows} x {cols} (got a ragged list)", name) from None
    return a


def _matrix(name: str, a, rows: str, cols: str) -> np.ndarray:
    """A 2-D real array (memory maps stay memory maps); 1-D is not guessed here."""
    a = _as_array(name, a, rows, cols)
    if not isinstance(a, np.ndarray):
        raise InputError(f"expected a 2-D numeric array {rows} x {cols} (got {type(a).__name__})", name)
    if a.dtype == bool or not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise InputError(f"must hold real numbers (got dtype {a.dtype})", name)
    if a.ndim != 2:
        raise InputError(f"expected a 2-D array {rows} x {cols}, rows are samples (got shape {a.shape})"
                         if rows == "n" else f"expected a 2-D array {rows} x {cols} (got shape {a.shape})", name)
    return a


def _check_finite(name: str, a: np.ndarray) -> None:
    bad = first_nonfinite(a)
    if bad is not None:
        i, j, v = bad
        raise InputError(f"entries must be finite (got {format_value(v)} at row {i + 1}, column {j + 1})", name)


def _problem(x, w_star, y, k):
    """Shapes checked against each other: x n x d, y n x k, w_star k x d; returns (x, w_star, y, n, d, k)."""
    x = _matrix("x", x, "n", "d")
    n, d = x.shape
    if n < 1 or d < 1:
        raise InputError(f"expected at least one sample and one feature (got shape {x.shape})", "x")
    if y is not None:
        y = _as_array("y", y, "n", "k")
        if isinstance(y, np.ndarray) and y.ndim == 1 and y.shape[0] == n:
            y = y.reshape(n, 1)
        y = _matrix("y", y, "n", "k")
        if y.shape[0] != n:
            hint = " (transposed? rows must be samples)" if y.shape[1] == n else ""
            raise InputError(f"expected shape (n, k) = ({n}, k), rows are samples like {{x}} (got {y.shape}){hint}",
                             "y", refs=("x",))
        if y.shape[1] < 1:
            raise InputError(f"expected at least one output column (got shape {y.shape})", "y")
        y = np.asarray(y, dtype=np.float64)
        _check_finite("y", y)
    if w_star is not None:
        w_star = _as_array("w_star", w_star, "k", "d")
        if isinstance(w_star, np.ndarray) and w_star.ndim == 1 and w_star.shape[0] == d:
            w_star = w_star.reshape(1, d)
        w_star = _matrix("w_star", w_star, "k", "d")
        k_expected = y.shape[1] if y is not None else k
        if w_star.shape[1] != d or w_star.shape[0] < 1 or (k_expected is not None and
                                                           w_star.shape[0] != k_expected):
            want = f"({k_expected if k_expected is not None else 'k'}, {d})"
            hint = " (transposed? W* is k x d like scikit-learn's coef_)" if w_star.shape[0] == d else ""
            with_y = " to match {y}" if y is not None else ""
            raise InputError(f"expected shape (k, d) = {want}{with_y} (got {w_star.shape}){hint}", "w_star",
                             refs=("y",) if y is not None else ())
        w_star = np.asarray(w_star, dtype=np.float64)
        _check_finite("w_star", w_star)
    known = y.shape[1] if y is not None else (w_star.shape[0] if w_star is not None else None)
    if k is not None:
        k = integer("k", k, 1)
        if known is not None and known != k:
            raise InputError(f"conflicts with the data, which has k = {known} outputs (got {k})", "k")
    elif known is None:
        raise InputError("required when neither {y} nor {w_star} gives the number of outputs", "k",
                         refs=("y", "w_star"))
    return x, w_star, y, n, d, (known if known is not None else k)


def _rank(name: str, r, max_rank: int) -> int:
    if isinstance(r, (bool, np.bool_)) or not isinstance(r, (int, np.integer)) or not 1 <= r <= max_rank:
        raise ParameterError(name, f"must be an integer in 1..min(k, d, n) = 1..{max_rank}",
                             r if isinstance(r, (int, float, str)) else repr(r))
    return int(r)


def check_work(samples: int, k: int, d: int, n: int, n_ranks: int = 1) -> None:
    """Refuse a Monte Carlo that would run for hours: draws x k x rho x min(k, rho) multiply-adds."""
    rho = min(d, n)
    work = float(samples) * k * rho * (min(k, rho) + 2) * 4
    if work > MAX_WORK:
        seconds = work / 2e9
        raise ParameterError("samples", f"would take about {seconds / 3600:.1f} hours of Monte Carlo at this size "
                             f"(k = {k}, rank X up to {rho}); use fewer", samples)


def _gib(nbytes: float) -> str:
    return f"{nbytes / 2 ** 30:.1f} GiB"


def check_memory(n: int, d: int, k: int, synthetic: bool = False, given: tuple[str, ...] = ("x",)) -> None:
    """Refuse, before anything is allocated, a problem whose arrays would not fit in :data:`MAX_MEMORY`.

    The estimate counts X^T X and its eigenvectors (4 d^2 floats), the Monte Carlo draws
    (64 x 3 k min(d, n)) and k x d products, and a synthetic X and Y (n (d + k)).

    Parameters
    ----------
    n, d, k : int
        Samples, features and outputs.
    synthetic : bool
        Whether X and Y are to be drawn (they count too).
    given : tuple of str
        The sizes the caller chose: the error names the largest part among them, else the largest part.

    Raises
    ------
    InputError
        With the estimate and the limit in GiB.
    """
    parts = {"d": 8.0 * 4 * d * d, "k": 8.0 * 64 * 3 * k * min(d, n) + 8.0 * 4 * k * d}
    if synthetic:
        parts["n"] = 8.0 * (n * d + n * k)
    total = sum(parts.values())
    if total > MAX_MEMORY:
        blame = max((p for p in parts if p in given), key=parts.get, default=None) or max(parts, key=parts.get)
        raise InputError(f"n = {n:,}, d = {d:,}, k = {k:,} needs about {_gib(total)} of memory (X^T X and its "
                         f"eigenvectors grow as d^2{', the synthetic X as n d' if synthetic else ''}); "
                         f"kdbound's limit is {_gib(MAX_MEMORY)}", blame)


def check_rank_sweep(ranks) -> list:
    """The ranks of a sweep as a list, at most :data:`MAX_SWEEP` of them (counted before a range is expanded).

    Parameters
    ----------
    ranks : sized iterable of int
        For instance ``range(1, 9)``.

    Returns
    -------
    list

    Raises
    ------
    InputError
        Naming ``rank_sweep`` when there are too many.
    """
    if len(ranks) > MAX_SWEEP:
        raise InputError(f"at most {MAX_SWEEP:,} ranks (got {len(ranks):,})", "rank_sweep")
    return list(ranks)


@dataclass(frozen=True, eq=False)
class _Inputs:
    """The inputs of :func:`linear_gaussian`, validated before the one expensive step."""

    x: np.ndarray
    w_star: np.ndarray | None
    y: np.ndarray | None
    n: int
    d: int
    k: int
    lam: float
    beta_t: float
    noise: float | None       # None: estimated from y (1.0 without y)
    ranks: list               # the student's rank, then the sweep's
    samples: int
    seed: int | None
    sigma_s: object


def _inputs(x, w_star, y, lam, beta_t, noise, rank, sigma_s, samples, seed, k, rank_sweep) -> _Inputs:
    lam_ = float(positive("lam", lam))
    beta_ = float(positive("beta_t", beta_t))
    if noise is not None:
        noise = float(positive("noise", noise))
    x, w_star, y, n, d, k_ = _problem(x, w_star, y, k)
    samples = integer("samples", samples, 1)
    if samples > MAX_SAMPLES:
        raise ParameterError("samples", f"must be <= {MAX_SAMPLES:,} (the Monte Carlo standard error falls as "
                             "1/sqrt(samples); more draws are hours of work)", samples)
    if seed is not None:
        seed = integer("seed", seed, 0)
    max_rank = min(k_, d, n)
    sweep_ranks = [] if rank_sweep is None else check_rank_sweep(rank_sweep)
    ranks = [_rank("rank", rank, max_rank)] + [_rank("rank_sweep", r, max_rank) for r in sweep_ranks]
    check_work(samples, k_, d, n)
    check_memory(n, d, k_)
    sigma_s = check_sigma_s(sigma_s, d)
    return _Inputs(x=x, w_star=w_star, y=y, n=n, d=d, k=k_, lam=lam_, beta_t=beta_, noise=noise, ranks=ranks,
                   samples=samples, seed=seed, sigma_s=sigma_s)


def _spectrum(inp: _Inputs):
    """(spectrum of X^T X, Y^T X, the noise estimate from Y or None, the hyperparameters, the reduced problem):
    the expensive step."""
    x, y = inp.x, inp.y
    gmat, yx = gram_products(x, y)
    if not (np.isfinite(gmat).all() and (yx is None or np.isfinite(yx).all())):
        _check_finite("x", x)
        raise InputError("X^T X is not finite: the features are too large (overflow); rescale them", "x")
    spec = gram_spectrum(gmat, inp.n, x)
    estimated = None
    noise = inp.noise
    if y is not None:  # estimated whenever Y is given: used when noise is None, else a check on the given value
        try:
            estimated = estimate_noise(spec, x, y, yx, inp.w_star)
        except InputError:
            if noise is None:
                raise
    if noise is None and y is None:
        noise = 1.0  # the default without labels to estimate it from
    elif noise is None:
        if not estimated.value > 0:
            raise InputError("cannot be estimated from the data: the residuals are zero (noiseless labels); give it",
                             "noise")
        noise = estimated.value
    h = Hyper(inp.lam, inp.beta_t, noise)
    return spec, yx, estimated, h, reduce(spec, h)


def _shift_and_spread(rd: Reduced, m, a, k: int, missing: dict):
    """(mode, bias, spread, conditional shift, exact shift) in reduced units; a term the data cannot give is
    NaN, with the reason in ``missing``."""
    nan = math.nan
    shift_cond = nan
    if m is not None:
        mode = "conditional"
        spread = spread_conditional(rd, m, k)
        bias = bias_conditional(rd, m, a) if a is not None else nan
        if a is not None:
            shift_cond = dataset_shift_conditional(rd, m, a, k)
    elif a is not None:
        mode = "expected"
        spread = spread_expected(rd, a, k)
        bias = bias_expected(rd, a, k)
    else:
        mode = "expected"
        spread = nan
        bias = nan
    if mode != "conditional":
        missing["dataset_shift_conditional"] = "only in conditional mode: needs labels {y}"
    if a is None:
        missing["bias"] = "needs W* ({w_star}): the teacher's bias is measured against the ground truth"
        missing["dataset_shift_bound"] = "needs the bias, hence W*"
        missing["dataset_shift_exact"] = "needs W* ({w_star})"
        if mode == "conditional":
            missing["dataset_shift_conditional"] = "needs W* ({w_star})"
        missing["kl_bound"] = missing["kl_bound_tight"] = "needs the dataset shift, hence W* ({w_star})"
        exact = nan
    else:
        exact = dataset_shift_exact(rd, a, k)
    if m is None and a is None:
        missing["spread"] = "needs Y ({y}), or W* to average over Y"
    return mode, bias, spread, shift_cond, exact


def _exact_kl(spec: GramSpectrum, rd: Reduced, a, m, inp: _Inputs, missing: dict) -> float:
    """K in closed form (:func:`~kdbound.engine.exact_kl.spectral_kl`), which is kl_exact when the student's rank
    has no bottleneck (else the reason goes to ``missing``); NaN without W*."""
    k, d, rank, sigma_s = inp.k, inp.d, inp.ranks[0], inp.sigma_s
    if a is None:
        missing["kl_exact"] = "needs W* ({w_star})"
        return math.nan
    if rank_bottleneck(rank, k, d):
        missing["kl_exact"] = (f"the student has a rank bottleneck (rank {rank} < min(k, d) = "
                               f"{min(k, d)}): K has no closed form; kl_bound_tight bounds it")
    kind, value = "teacher", None
    if isinstance(sigma_s, float):
        kind, value = "scalar", sigma_s * rd.gmax / rd.var_scale
    elif not isinstance(sigma_s, str):
        kind = "matrix"
        value = (spec.u.T @ sigma_s @ spec.u) * (rd.gmax / rd.var_scale)
    return float(spectral_kl(rd.g, a, m, lam=rd.lam, beta=rd.beta, k=k, sigma_kind=kind, sigma_value=value).kl)


def _apx(spec: GramSpectrum, rd: Reduced, inp: _Inputs, m, a, missing: dict, progress) -> ApxEstimate | None:
    """Apx by Monte Carlo for every rank of ``inp.ranks`` (None, with the reason in ``missing``, without Y or W*)."""
    if m is None and a is None:
        missing["apx"] = missing["apx_stderr"] = "needs Y ({y}), or W* to average over Y"
        return None
    est = apx_monte_carlo(spec, rd, inp.k, inp.ranks, inp.samples, np.random.default_rng(inp.seed), m=m,
                          a=a if m is None else None, progress=progress)
    if inp.samples < 2:
        missing["apx_stderr"] = "needs {samples} >= 2"
    return est


def _rank_sweep(est: ApxEstimate, k: int, d: int, shift: float, tight_shift: float, cov: float, spread: float,
                exact_k: float) -> dict:
    """The sweep's columns: Apx and the bounds at the other ranks (summed in kl_bound's order); kl_exact where
    the rank has no bottleneck."""
    free = np.array([not rank_bottleneck(r, k, d) for r in est.ranks[1:]], dtype=bool)
    return {"rank": est.ranks[1:], "apx": est.mean[1:], "apx_stderr": est.stderr[1:],
            "kl_bound": shift + est.mean[1:] + cov + spread,
            "kl_bound_tight": tight_shift + est.mean[1:] + cov + spread,
            "kl_exact": np.where(free, exact_k, math.nan)}


@quiet_fp
def linear_gaussian(x, w_star: np.ndarray | None = None, y: np.ndarray | None = None, *,
                    lam: float = 1.0, beta_t: float = 1.0, noise: float | None = None, rank: int = 1,
                    sigma_s="teacher", samples: int = 256, seed: int | None = 0, k: int | None = None,
                    rank_sweep=None, progress: Callable[[int, int], None] | None = None) -> LinearGaussianResult:
    """The distillation divergence K of the linear-Gaussian case study (Lemma 11), term by term.

    ``K <= E[(Bias + k Var) / (2 noise^2) + Apx + Cov + Spread]`` (``kl_bound``, the
    paper's), the same with the exact dataset shift of the mode in place of the convexity
    step (``kl_bound_tight``) and, when the student has no rank bottleneck
    (r >= min(k, d)), the exact K (``kl_exact``).  Every input is validated before
    the one expensive step (the Gram matrix ``X^T X``), including the size limits
    :data:`MAX_SAMPLES`, :data:`MAX_WORK`, :data:`MAX_MEMORY` and :data:`MAX_SWEEP`.

    Parameters
    ----------
    x : ndarray, n x d
        Features, rows are samples (the paper's X is its transpose).  A
        memory-mapped array is read once, a block of rows at a time.
    w_star : ndarray, k x d, optional
        Ground truth (scikit-learn's ``coef_`` layout).  Needed for the bias.
    y : ndarray, n x k, optional
        Labels.  With ``y`` the terms are conditional on this dataset; without
        it but with ``w_star`` they are averaged over Y ~ MN(X W*^T, noise^2 I_n, I_k).
    lam, beta_t : float
        Prior precision and teacher inverse temperature (> 0).
    noise : float or None
        Label-noise sd (> 0).  None: estimated from ``y`` (:func:`estimate_noise`), else 1.0,
        as in ``kdbound linear-gaussian``; the result's ``noise_from`` says which.
    rank : int
        Student rank r in ``1..min(k, d, n)``.
    sigma_s : "teacher", float or ndarray
        Student kernel covariance: Sigma_T itself, ``s I``, or a d x d SPD matrix.
    samples : int
        Monte Carlo draws of W_T for Apx (>= 1; >= 2 for a standard error).
    seed : int or None
        Random seed (>= 0): the same seed gives the same numbers.
    k : int, optional
        Number of outputs, when neither ``y`` nor ``w_star`` gives it.
    rank_sweep : sequence of int, optional
        More ranks to evaluate Apx and the bounds at, with common random numbers.
    progress : callable, optional
        ``progress(done, total)`` during the Monte Carlo.

    Returns
    -------
    LinearGaussianResult
        The terms, with NaN and a reason in ``missing`` for terms that need
        data not given.

    References
    ----------
    Li and He (ISIT 2026), Lemma 11, eq. 28-39; docs/theory.md, "Linear-Gaussian case study" and after.
    """
    inp = _inputs(x, w_star, y, lam, beta_t, noise, rank, sigma_s, samples, seed, k, rank_sweep)
    spec, yx, estimated, h, rd = _spectrum(inp)
    k_, d, nan = inp.k, inp.d, math.nan
    a = None if inp.w_star is None else (inp.w_star @ spec.u) * rd.w_scale
    m = None if inp.y is None else (yx @ spec.u) * (rd.beta / (h.noise * math.sqrt(rd.gmax)) / rd.p)
    missing: dict[str, str] = {}
    var = variance(rd)
    cov = covariance_cost(spec, rd, inp.sigma_s, k_)
    mode, bias, spread, shift_cond, exact = _shift_and_spread(rd, m, a, k_, missing)
    est = _apx(spec, rd, inp, m, a, missing, progress)
    shift = 0.5 * (bias + k_ * var) if a is not None else nan     # reduced units: noise 1
    apx = float(est.mean[0]) if est is not None else nan
    tight_shift = shift_cond if mode == "conditional" else exact
    exact_k = _exact_kl(spec, rd, a, m, inp, missing)
    sweep = None if rank_sweep is None or est is None else _rank_sweep(est, k_, d, shift, tight_shift, cov, spread,
                                                                       exact_k)
    result = LinearGaussianResult(
        mode=mode, n=int(inp.n), d=int(d), k=int(k_), rank=int(inp.ranks[0]), x_rank=spec.x_rank, cond=spec.cond,
        bias=bias * rd.var_scale, var=var * rd.var_scale, dataset_shift_bound=shift, dataset_shift_exact=exact,
        dataset_shift_conditional=shift_cond, convexity_gap=convexity_gap(rd, k_), apx=apx,
        apx_stderr=float(est.stderr[0]) if est is not None else nan, cov=cov, spread=spread,
        kl_bound=shift + apx + cov + spread, kl_bound_tight=tight_shift + apx + cov + spread,
        kl_exact=nan if "kl_exact" in missing else exact_k, samples=inp.samples, noise2=h.noise ** 2,
        noise=h.noise, missing=missing, rank_sweep=sweep, refined=spec.refined, noise_estimate=estimated,
        noise_from="given" if noise is not None else "estimated" if inp.y is not None else "default")
    _check_representable(result, h)
    return result


def _check_representable(res: LinearGaussianResult, h: Hyper) -> None:
    """A computed term that is not finite is beyond float64 (K itself is always finite): refuse it."""
    for key in TERMS + ("convexity_gap",):
        if key in res.missing or key == "apx_stderr":
            continue
        val = getattr(res, key)
        if not math.isfinite(val):
            raise InputError(f"{key} is beyond float64's range at lam = {h.lam:g}, beta_t = {h.beta_t:g}, "
                             f"noise = {h.noise:g} (about 1e308 is the largest number kdbound can print); "
                             "choose less extreme values or rescale the data", ("lam", "beta_t", "noise"))
