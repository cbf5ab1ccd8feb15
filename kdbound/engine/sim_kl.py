"""K for ``simulate`` from the Gram matrix: Cholesky factors, traces and log-determinants, no eigenvectors.

Every quantity of "Exact K without a rank bottleneck", "The refit student" and "A tighter
bound" is a sum over the eigenvalues g of ``G = X^T X`` of a rational function of g, or of
the logarithm of one.  Such a sum is the trace of the same rational function of the matrix
G, or a log-determinant of a polynomial matrix function of G: in units where the label noise
is 1, with ``P = lam I + beta G`` (the teacher's posterior precision, ``Sigma = P^{-1}``),
``V = G Sigma`` (v = g / p), ``H = lam Sigma`` (shrink = lam / p), ``S = beta V`` and
``T = S^2 + V`` (t), every term below is a product of these commuting symmetric matrices,
and one Cholesky factor per log-determinant (or per inverse) replaces the eigendecomposition
(a 20 x 20 Cholesky factor costs about 1 us, an eigendecomposition about 30 us).

Where a dataset's value is a difference of terms much larger than itself (a near-cancellation
that would cost digits), or a factor is ill-conditioned or not finite, the caller recomputes
that dataset with the spectral form (:func:`kdbound.engine.exact_kl.kl_terms`): the
``suspect`` mask of :class:`FastK`.

References
----------
Li and He (ISIT 2026), Lemma 11; docs/theory.md, "Exact K without a rank bottleneck",
"The refit student", "A tighter bound" and "Monte Carlo check of the theorems (simulate)".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._checks import quiet_fp

__all__ = ["PosteriorFactor", "posterior_factor", "FastK", "kernel_kl", "refit_kl", "tight_terms",
           "CANCEL_LIMIT", "COND_LIMIT"]

#: a dataset whose K is a difference of terms more than this many times larger than K is recomputed
CANCEL_LIMIT = 1e3
#: a dataset whose posterior precision P may have a condition number above this (the bound
#: ``||P||_F ||P^{-1}||_F``), or whose other Cholesky factors have a squared diagonal ratio above it,
#: is recomputed: ``V = G P^{-1}`` carries an error of about ``eps cond(P)``
COND_LIMIT = 1e4
_ROOT_COND = COND_LIMIT ** 0.5


# --------------------------------------------------------------------------- factors

def _tri_inverse(low: np.ndarray) -> np.ndarray:
    """Inverses of a stack of lower-triangular matrices (LAPACK ``dtrtri``, one call per matrix)."""
    # scipy: numpy has no triangular inverse, and a general inverse costs five times more
    # (engine/sim_kl.py is a scipy home, see docs/architecture.md)
    from scipy.linalg.lapack import dtrtri

    out = low.copy()
    for mat in out:              # the transpose is Fortran-ordered and upper triangular: inverted in place
        dtrtri(mat.T, 0, 0, 1)
    return out


def _trace(a) -> np.ndarray:
    return np.einsum("mii->m", a)


def _trace_prod(a, b) -> np.ndarray:
    """``tr(a b)`` for each pair of a stack, without forming the product."""
    return np.einsum("mij,mji->m", a, b)


def _sym(a) -> np.ndarray:
    return 0.5 * (a + np.swapaxes(a, -1, -2))


def _cholesky(a):
    """``(L, ln det a, diagonal of L)`` for a stack of symmetric positive-definite matrices; NaN for a
    stack numpy cannot factor (the caller then recomputes the datasets)."""
    try:
        low = np.linalg.cholesky(a)
    except np.linalg.LinAlgError:
        nan = np.full_like(a, np.nan)
        return nan, nan[:, 0, 0], nan[:, 0]
    diag = np.einsum("mii->mi", low)
    return low, 2.0 * np.sum(np.log(diag), axis=1), diag


def _ill(diag) -> np.ndarray:
    """Datasets whose Cholesky factor's squared diagonal ratio exceeds COND_LIMIT (or is undefined)."""
    return ~(diag.max(axis=1) <= _ROOT_COND * diag.min(axis=1))


@dataclass(frozen=True, eq=False)
class PosteriorFactor:
    """``P = lam I + beta G`` for a stack of Gram matrices: a factor ``F F^T = P``, ``F^{-1}``,
    ``Sigma = P^{-1}`` and ``ln det P``.

    ``F`` is the Cholesky factor (lower triangular) where numpy can compute it; otherwise (a
    stack with a numerically singular P) ``U diag(sqrt p)`` from the eigendecomposition, every
    dataset then marked ``ill``.  A draw ``(B F^{-T} + Z) F^{-1}`` has mean ``B Sigma`` and
    rows of covariance Sigma, whichever factor it is.
    """

    chol: np.ndarray       # F (m, d, d)
    inv: np.ndarray        # F^{-1}
    sigma: np.ndarray      # P^{-1}
    diag: np.ndarray       # (m, d): the diagonal of the Cholesky factor (sqrt p for the eigen factor)
    sigma_norm2: np.ndarray   # ||Sigma||_F^2 = sum 1 / p^2 (m,)
    ill: np.ndarray        # (m,) bool: ||P||_F ||Sigma||_F > COND_LIMIT, or no Cholesky factor

    @property
    def logdet(self) -> np.ndarray:
        """``ln det P`` (m,)."""
        return 2.0 * np.sum(np.log(self.diag), axis=1)



@quiet_fp
def posterior_factor(gram: np.ndarray, lam: float, beta: float) -> PosteriorFactor:
    """The factors of ``lam I + beta G`` for each Gram matrix G of the stack (m, d, d)."""
    prec = _eye_plus(beta * gram, lam, copy=False)
    try:
        low = np.linalg.cholesky(prec)
    except np.linalg.LinAlgError:
        g, u = np.linalg.eigh(gram)
        p = lam + beta * np.maximum(g, 0.0)
        root = np.sqrt(p)
        inv = np.swapaxes(u / root[:, None, :], 1, 2)
        return PosteriorFactor(chol=u * root[:, None, :], inv=inv, sigma=(u / p[:, None, :]) @ np.swapaxes(u, 1, 2),
                               diag=root, sigma_norm2=np.sum(p ** -2.0, axis=1),
                               ill=np.ones(gram.shape[0], dtype=bool))
    inv = _tri_inverse(low)
    sigma = np.swapaxes(inv, 1, 2) @ inv
    sigma_norm2 = np.einsum("mij,mij->m", sigma, sigma)
    # cond(P) <= ||P||_F ||Sigma||_F <= d cond(P); the product of the squares, and each factor, stays finite
    ill = ~(np.sqrt(np.einsum("mij,mij->m", prec, prec)) * np.sqrt(sigma_norm2) <= COND_LIMIT)
    return PosteriorFactor(chol=low, inv=inv, sigma=sigma, diag=np.einsum("mii->mi", low), sigma_norm2=sigma_norm2,
                           ill=ill)


# --------------------------------------------------------------------------- the shared matrices

@dataclass(frozen=True, eq=False)
class _Parts:
    """The matrix functions of G that every K below uses (reduced units: the noise is 1)."""

    gram: np.ndarray
    fac: PosteriorFactor
    v: np.ndarray          # V = G Sigma
    t: np.ndarray          # T = S^2 + V, S = beta V
    bias: np.ndarray       # sum g shrink^2 |a|^2 = tr(W* H G H W*^T)
    hw: np.ndarray         # W* H (m, k, d)
    ms: np.ndarray         # W* S (m, k, d): the teacher's mean (Y integrated out), in rows


def _parts(gram, fac: PosteriorFactor, w_star, lam: float, beta: float, v=None, t=None) -> _Parts:
    if v is None:
        v = gram @ fac.sigma
    if t is None:
        t = v @ v
        t *= beta * beta
        t += v
    hw, bias, ms = _quadratic(gram, fac, w_star, lam, beta, v)
    return _Parts(gram=gram, fac=fac, v=v, t=t, bias=bias, hw=hw, ms=ms)


def _quadratic(gram, fac: PosteriorFactor, w_star, lam: float, beta: float, v):
    """``(W* H, sum g shrink^2 |a|^2, W* S)``: H = lam Sigma is never formed whole, and each factor
    stays below |W*| (shrink and s lie in [0, 1])."""
    hw = lam * (w_star @ fac.sigma)
    return hw, np.einsum("mkd,mkd->m", hw @ gram, hw), beta * (w_star @ v)


def _p_times_a(gram, v, lam: float, beta: float):
    """``P (I + T) = P + G + beta^2 G V`` (p (1 + t) = p + g + beta^2 g v)."""
    return _eye_plus((1.0 + beta) * gram + (beta * beta) * (gram @ v), lam, copy=False)


def _trace_p_times(gram, mat, lam: float, beta: float):
    """``tr(P M) = lam tr M + beta tr(G M)`` for one symmetric matrix M (d, d)."""
    return lam * np.trace(mat) + beta * np.einsum("mij,ij->m", gram, mat)


def _eye_plus(a, scale: float = 1.0, copy: bool = True):
    """``a + scale I`` for a stack (m, d, d), in place when ``copy`` is false."""
    out = a.copy() if copy else a
    d = a.shape[-1]
    out.reshape(a.shape[0], d * d)[:, ::d + 1] += scale
    return out


@dataclass(frozen=True, eq=False)
class FastK:
    """K (or its closed-form part) per dataset, and the datasets to recompute by the spectral form."""

    value: np.ndarray
    suspect: np.ndarray


def _finish(value, scale, diags, ill) -> FastK:
    """``suspect``: not finite, a near-cancellation (``scale`` above CANCEL_LIMIT times the value),
    or a Cholesky factor whose squared diagonal ratio exceeds COND_LIMIT (``diags``: their diagonals)."""
    bad = ~(scale <= CANCEL_LIMIT * np.abs(value))          # also NaN and inf
    bad |= ill
    for diag in diags:
        bad |= _ill(diag)
    return FastK(value=value, suspect=bad)


# --------------------------------------------------------------------------- exact K, kernel student

@quiet_fp
def kernel_kl(gram, fac: PosteriorFactor, w_star, *, lam: float, beta: float, sigma_s) -> FastK:
    """Exact K given X (Y integrated out) for the kernel student ``MN(W_T, I, Sigma_S)``.

    Per eigenvalue (``exact_kl.spectral_kl``, expected mode) K is

        (1/2) g shrink^2 |a|^2 + (k/2) xm_log1p(t)                       dataset shift
        + (1/2) lam shrink s^2 |a|^2 + (k/2) v (1 + t) r^2               mean and variance part
        + (k/2) KL term of Sigma_S against Var(W_T | y^) = (pc / p)     covariance part

    with ``pc = (1 + beta s) / (1 + t)`` and ``r (1 + t) = (1 - beta) + beta v (beta shrink - 1)``.
    The denominator 1 + t cancels in the sum of the variance part and pc: with ``s + shrink = 1``,

        pc + v (1 + t) r^2 = beta s (1 + shrink^2) + shrink^2,

    a polynomial in ``S = beta V`` and ``H = lam Sigma``.  The logarithms combine into one
    log-determinant: ``ln det(2I + T + beta S)`` for Sigma_S = Sigma_T (``(1 + t)(1 + pc) = 2 + t +
    beta s``), ``ln det(I + beta S + sigma P (I + T))`` for ``sigma I``.  A matrix Sigma_S needs
    ``C = Var(W_T | y^) = Sigma (I + T)^{-1} (I + beta S)`` itself (one more factor, ``A = I + T``).

    Parameters
    ----------
    gram : ndarray, (m, d, d)
        ``X^T X`` of each dataset.
    fac : PosteriorFactor
        ``posterior_factor(gram, lam, beta)``.
    w_star : ndarray, (k, d)
    lam, beta : float
        Reduced prior precision and the teacher's inverse temperature (the noise is 1).
    sigma_s : "teacher", float or ndarray (d, d)
        The student's covariance in these units.

    Returns
    -------
    FastK
    """
    k, d = w_star.shape
    if isinstance(sigma_s, str):
        return _kernel_teacher(gram, fac, w_star, lam=lam, beta=beta)
    pt = _parts(gram, fac, w_star, lam, beta)
    b2v = (beta * beta) * pt.v                                # beta S
    hh = (lam * lam) * (fac.sigma @ fac.sigma)               # H^2
    # the traces of T and of pc + v (1 + t) r^2 = beta s + beta s shrink^2 + shrink^2
    tr_rational = _trace(pt.t) + _trace(b2v) + _trace_prod(b2v, hh) + _trace(hh)
    mean_part = lam * np.einsum("mkd,mkd->m", lam * (pt.ms @ fac.sigma), pt.ms)
    diags = []
    if isinstance(sigma_s, float):                          # (1 + t)(pc + sigma p) = 1 + beta s + sigma p (1 + t)
        _, logdet_q, diag_q = _cholesky(_sym(_eye_plus(b2v) + sigma_s * _p_times_a(gram, pt.v, lam, beta)))
        tr_p = lam * d + beta * _trace(gram)
        spectral = tr_rational + sigma_s * tr_p - d - logdet_q
        scale = tr_rational + sigma_s * tr_p + d + np.abs(logdet_q)
    else:                                                     # KL(N(0, C + Sigma_S) || N(0, Sigma_T))
        la, logdet_a, diag_a = _cholesky(_eye_plus(pt.t))
        ainv = _tri_inverse(la)
        c = _sym(fac.sigma @ ((np.swapaxes(ainv, 1, 2) @ ainv) @ _eye_plus(b2v)))
        _, logdet_q, diag_q = _cholesky(c + sigma_s)
        tr_ps = _trace_p_times(gram, sigma_s, lam, beta)
        spectral = tr_rational - logdet_a + tr_ps - d - fac.logdet - logdet_q
        scale = tr_rational + np.abs(logdet_a) + tr_ps + d + np.abs(fac.logdet) + np.abs(logdet_q)
        diags.append(diag_a)
    value = 0.5 * (pt.bias + mean_part) + (0.5 * k) * spectral
    return _finish(value, (0.5 * k) * scale, diags + [diag_q], fac.ill)


def _kernel_teacher(gram, fac: PosteriorFactor, w_star, *, lam: float, beta: float) -> FastK:
    """:func:`kernel_kl` for Sigma_S = Sigma_T, with the fewest products of d x d matrices.

    Per eigenvalue the spectral part is ``t + beta s (1 + shrink^2) + shrink^2 - ln q`` with
    ``q = 2 + t + beta s``, that is ``(q - ln q) - 2 + lam^2 (beta^2 v + 1) / p^2``: the trace and
    log-determinant of ``Q = 2I + V + beta^2 (V^2 + V)``, and ``tr(V Sigma^2)``, ``||Sigma||_F^2``.
    """
    k, d = w_star.shape
    sigma = fac.sigma
    v = gram @ sigma
    q = _eye_plus((beta * beta) * v, 1.0 + beta * beta, copy=False)
    q = v @ q                                                 # V (beta^2 V + (1 + beta^2) I) = V + beta^2 (V^2 + V)
    _eye_plus(q, 2.0, copy=False)
    tr_q = _trace(q)
    _, logdet_q, diag_q = _cholesky(q)
    tr_vss = _trace_prod(v @ sigma, sigma)                    # tr(V Sigma^2) = sum v / p^2
    tr_ss = fac.sigma_norm2                                   # sum 1 / p^2
    lam2 = lam * lam
    # beta s shrink^2 + shrink^2, each product ordered so that no factor overflows
    tail = (beta * beta) * (lam2 * tr_vss) + lam2 * tr_ss
    spectral = (tr_q - logdet_q) - 2.0 * d + tail
    _, bias, ms = _quadratic(gram, fac, w_star, lam, beta, v)
    mean_part = lam * np.einsum("mkd,mkd->m", lam * (ms @ sigma), ms)
    value = 0.5 * (bias + mean_part) + (0.5 * k) * spectral
    scale = (0.5 * k) * (tr_q + np.abs(logdet_q) + 2.0 * d + tail)
    return _finish(value, scale, [diag_q], fac.ill)


# --------------------------------------------------------------------------- exact K, refit student


def _dataset_shift(gram, fac: PosteriorFactor, w_star, lam: float, beta: float):
    """What both decompositions share: the parts, the exact dataset-shift term
    ``bias/2 + (k/2)(tr T - ln det(I + T))``, the scale of its rounding and the Cholesky diagonal."""
    k = w_star.shape[0]
    pt = _parts(gram, fac, w_star, lam, beta)
    _, logdet_a, diag_a = _cholesky(_eye_plus(pt.t))
    tr_t = _trace(pt.t)
    shift = 0.5 * pt.bias + 0.5 * k * (tr_t - logdet_a)
    return pt, shift, 0.5 * k * (tr_t + np.abs(logdet_a)), diag_a

@quiet_fp
def refit_kl(gram, fac: PosteriorFactor, fac_s: PosteriorFactor, w_star, *, lam: float, beta: float,
             beta_s: float) -> FastK:
    """Exact K given X (Y integrated out) for the refit student at inverse temperature ``beta_s``.

    Per eigenvalue, with ``p_s = lam + beta_s g`` and ``rho = shrink (beta_s - beta) / p_s``:
    dataset shift (as for the kernel student) ``+ (1/2) g p rho^2 (g s^2 |a|^2 + k (1 + t))
    + (k/2) xm_log(p / p_s)``.  With ``R = (beta_s - beta) H Sigma_s`` (rho) the middle part is
    ``||W* S G R F||^2`` and ``k tr(R G R P A)``; the last is
    ``tr(P Sigma_s) - d - ln det P + ln det P_s``, exactly 0 when beta_s = beta.

    Parameters
    ----------
    gram : ndarray, (m, d, d)
    fac, fac_s : PosteriorFactor
        ``posterior_factor`` at ``beta`` and at ``beta_s``.
    w_star : ndarray, (k, d)
    lam, beta, beta_s : float
        Reduced units (the noise is 1).

    Returns
    -------
    FastK
    """
    k, d = w_star.shape
    pt, shift, scale, diag_a = _dataset_shift(gram, fac, w_star, lam, beta)
    if beta_s == beta:                                        # the student has the teacher's law given Y^
        return _finish(shift, scale, [diag_a], fac.ill)
    rho = ((beta_s - beta) * lam) * (fac.sigma @ fac_s.sigma)
    y = pt.ms @ gram @ rho
    mean_part = np.einsum("mkd,mkd->m", y @ fac.chol, y @ fac.chol)
    var_part = k * _trace_prod(rho @ gram, rho @ _p_times_a(gram, pt.v, lam, beta))
    tr_ps = lam * _trace(fac_s.sigma) + beta * _trace_prod(gram, fac_s.sigma)
    cov = tr_ps - d - fac.logdet + fac_s.logdet
    value = shift + 0.5 * (mean_part + var_part) + 0.5 * k * cov
    scale = scale + 0.5 * k * (tr_ps + d + np.abs(fac.logdet) + np.abs(fac_s.logdet))
    return _finish(value, scale, [diag_a], fac.ill | fac_s.ill)


# --------------------------------------------------------------------------- the tight bound

@quiet_fp
def tight_terms(gram, fac: PosteriorFactor, w_star, *, lam: float, beta: float, sigma_s,
                logdet_sigma_s: float | None = None) -> FastK:
    """The closed-form part of the tighter decomposition given X: exact dataset shift + Cov(Sigma_S,
    Sigma_T) + E Spread (add E Apx for ``kl_bound_tight``), as ``sim_draw.tight_bound_terms``.

    ``E Spread = sum shrink^2 (beta s g |a|^2 + beta k s + k) + beta k s``:
    ``beta tr(W* H S G H W*^T) + k (beta tr(H^2 S) + tr(H^2) + beta tr S)``; Cov is
    ``(k/2)(sigma tr P - d - d ln sigma - ln det P)`` for ``s I`` and
    ``(k/2)(tr(P Sigma_S) - d - ln det P - ln det Sigma_S)`` for a matrix.

    Returns
    -------
    FastK
    """
    k, d = w_star.shape
    pt, shift, scale, diag_a = _dataset_shift(gram, fac, w_star, lam, beta)
    s = beta * pt.v
    h = lam * fac.sigma
    h2 = h @ h
    spread = (beta * np.einsum("mkd,mkd->m", pt.hw @ (s @ gram), pt.hw)
              + k * (beta * _trace_prod(h2, s) + _trace(h2) + beta * _trace(s)))
    value = shift + spread
    if isinstance(sigma_s, float):
        tr_p = lam * d + beta * _trace(gram)
        cov = sigma_s * tr_p - d - d * np.log(sigma_s) - fac.logdet
        value = value + 0.5 * k * cov
        scale = scale + 0.5 * k * (sigma_s * tr_p + d + d * abs(np.log(sigma_s)) + np.abs(fac.logdet))
    elif not isinstance(sigma_s, str):
        tr_ps = _trace_p_times(gram, sigma_s, lam, beta)
        cov = tr_ps - d - fac.logdet - logdet_sigma_s
        value = value + 0.5 * k * cov
        scale = scale + 0.5 * k * (tr_ps + d + np.abs(fac.logdet) + abs(logdet_sigma_s))
    return _finish(value, scale, [diag_a], fac.ill)
