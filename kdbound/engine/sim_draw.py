"""One block of simulated training sets: the draws, the exact population losses, the gaps and K.

Per dataset: X, Y = X W*^T + E, the teacher from its Gibbs posterior, the pseudo labels,
the student, the exact population loss of the clipped squared loss (:func:`population_loss`)
and K given X (exact, or the tight bound when the student has a rank bottleneck).

References
----------
Li and He (ISIT 2026), Theorem 10, Lemma 11; docs/theory.md, sections "Monte Carlo check of
the theorems (simulate)", "Exact K without a rank bottleneck" and "A tighter bound".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from ._checks import positive, quiet_fp
from .exact_kl import GramEigen, gram_eigen, kl_terms, xm_log
from .sim_kl import PosteriorFactor, kernel_kl, posterior_factor, refit_kl, tight_terms
from .sim_model import SimModel

__all__ = ["Block", "Workspace", "draw_block", "tight_bound_terms", "population_loss", "clipped_square_mean",
           "clipped_square_complement", "SATURATED"]

#: above this population loss a gap is computed from the complements 1 - L (the loss saturates at 1)
SATURATED = 1.0 - 1e-4


# --------------------------------------------------------------------------- the exact population loss

def _special():
    # scipy: erf/erfc and the regularised incomplete gamma function give the clipped second moment
    # without cancellation (engine/sim_draw.py is a scipy home, see docs/architecture.md)
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
        self.shape = (d + 2 * k, n), (2, k, d)
        # per dataset, every standard normal it needs: X^T, E^T, E'^T (the paper's layout), then Z, Z'
        self.normals = np.empty((size, n * (d + 2 * k) + 2 * k * d))
        self.res = np.empty((size, 3 * k, n))
        # the training residuals' coefficients [W* - W_T, I, 0; W_T - Theta, 0, I; W* - Theta, I, 0]
        self.coef = np.zeros((size, 3 * k, d + 2 * k))
        eye = np.arange(k)
        self.coef[:, eye, d + eye] = 1.0
        self.coef[:, k + eye, d + k + eye] = 1.0
        self.coef[:, 2 * k + eye, d + eye] = 1.0

    def take(self, m: int):
        """The first ``m`` datasets' buffers: all their normals (one row each), residuals, coefficients."""
        return self.normals[:m], self.res[:m], self.coef[:m]


@dataclass(frozen=True, eq=False)
class _Draws:
    """One block's draws in reduced units (noise 1), weights in rows (m, k, d), original coordinates."""

    z: np.ndarray            # (m, d + 2k, n): X^T, E^T, E'^T (the paper's layout), noise 1
    gram: np.ndarray         # X^T X
    cross: np.ndarray        # X^T E (and X^T E' for the refit student), (m, d, k or 2k)
    fac: PosteriorFactor     # of the teacher's posterior precision
    b: np.ndarray            # c (Y^T X): the teacher's mean is b Sigma_T
    wt: np.ndarray           # W_T
    fac_s: PosteriorFactor | None = None   # the refit student's posterior precision
    mean: np.ndarray | None = None         # the student's mean given W_T (and Y^)
    th: np.ndarray | None = None           # Theta
    apx: np.ndarray | None = None          # bottleneck: this draw's Apx


def _posterior_draw(b, fac: PosteriorFactor, z) -> np.ndarray:
    """Rows ``N(row of b Sigma, Sigma)``: ``(b F^{-T} + z) F^{-1}`` with ``F F^T = Sigma^{-1}``."""
    return (b @ np.swapaxes(fac.inv, 1, 2) + z) @ fac.inv


def _teacher(model: SimModel, rng: np.random.Generator, work: Workspace, m: int) -> _Draws:
    """X, E, E' and the teacher ``W_T ~ MN(c Y^T X Sigma_T, I_k, Sigma_T)`` for ``m`` datasets.

    One ``standard_normal`` call draws every normal of the block (X, E, E' and the two k x d
    matrices of the posterior draws), one batched product gives ``X^T X`` and ``X^T E`` (and
    ``X^T E'`` for the refit student).
    """
    d, k = model.d, model.k
    red = model.red
    normals = work.take(m)[0]
    rng.standard_normal(out=normals)
    z_shape, zz_shape = work.shape
    z = normals[:, :z_shape[0] * z_shape[1]].reshape((m,) + z_shape)
    zz = normals[:, z_shape[0] * z_shape[1]:].reshape((m,) + zz_shape)
    xp = z[:, :d]                                             # (m, d, n): the paper's X
    width = d + (2 * k if model.student == "refit" else k)
    prod = xp @ np.swapaxes(z[:, :width], 1, 2)               # X^T X | X^T E (| X^T E')
    gram, cross = prod[:, :, :d], prod[:, :, d:]
    fac = posterior_factor(gram, red.lam, red.beta_t)
    # Y^T X = W* X^T X + E^T X
    b = red.beta_t * (red.w_star @ gram + np.swapaxes(cross[:, :, :k], 1, 2))
    wt = _posterior_draw(b, fac, zz[:, 0])
    return _Draws(z=z, gram=gram, cross=cross, fac=fac, b=b, wt=wt, th=zz[:, 1])


def _student(model: SimModel, dr: _Draws) -> _Draws:
    """The student given the teacher: refit on the pseudo data, or the kernel ``MN(L_r L_r^T W_T, I, Sigma_S)``."""
    red, k = model.red, model.k
    noise = dr.th                                             # standard normal (m, k, d)
    wt = dr.wt
    if model.student == "refit":
        fac_s = posterior_factor(dr.gram, red.lam, red.beta_s)
        b_s = red.beta_s * (wt @ dr.gram + np.swapaxes(dr.cross[:, :, k:], 1, 2))   # c_S Y^^T X
        return replace(dr, fac_s=fac_s, mean=b_s @ fac_s.sigma, th=_posterior_draw(b_s, fac_s, noise))
    mean, apx = wt, None
    if model.bottleneck:
        # L_r: top-r eigenvectors of (W_T X^T)(W_T X^T)^T = W_T X^T X W_T^T (k x k)
        _, lv = np.linalg.eigh((wt @ dr.gram) @ np.swapaxes(wt, 1, 2))
        lr = lv[:, :, k - model.rank:]                        # (m, k, r)
        mean = lr @ (np.swapaxes(lr, 1, 2) @ wt)              # L_r L_r^T W_T
        # Apx = ||(I - L_r L_r^T) W_T Sigma_T^{-1/2}||_F^2 = ||L_c^T W_T F||_F^2 (L_c: the other eigenvectors,
        # F F^T = Sigma_T^{-1}): a sum of squares, nothing cancels
        off = np.swapaxes(lv[:, :, :k - model.rank], 1, 2) @ wt @ dr.fac.chol
        apx = np.einsum("mkd,mkd->m", off, off)
    sigma_s = red.sigma_s
    if isinstance(sigma_s, str):                              # Sigma_S = Sigma_T
        th = mean + noise @ dr.fac.inv
    elif isinstance(sigma_s, float):                          # s I
        th = mean + math.sqrt(sigma_s) * noise
    else:                                                     # rows N(0, Sigma_S)
        th = mean + noise @ np.linalg.cholesky(sigma_s).T
    return replace(dr, mean=mean, th=th, apx=apx)


@quiet_fp
def _losses(model: SimModel, dr: _Draws, res, coef) -> tuple:
    """Population and training losses, gaps and the saturation mask of one block.

    One batched product gives every training residual (3k x n per dataset): ``(W* - W_T) X^T + E^T``,
    ``(W_T - Theta) X^T + E'^T`` and ``(W* - Theta) X^T + E^T``.
    """
    d, k, n = model.d, model.k, model.n
    clip = model.red.clip
    w_star = model.red.w_star
    m = dr.wt.shape[0]
    np.subtract(w_star, dr.wt, out=coef[:, :k, :d])
    np.subtract(dr.wt, dr.th, out=coef[:, k:2 * k, :d])
    np.subtract(w_star, dr.th, out=coef[:, 2 * k:, :d])
    diff = coef[:, :, :d].reshape(m, 3, k, d)[:, ::2]         # W* - W_T, W* - Theta
    s2 = np.einsum("mrkd,mrkd->mrk", diff, diff)              # (m, 2, k): teacher's, then student's outputs
    s2 += 1.0
    pop = np.mean(clipped_square_mean(s2, clip), axis=-1)
    pop_t, pop_s = pop[:, 0], pop[:, 1]
    s2_t, s2_s = s2[:, 0], s2[:, 1]
    per = float(n * k)                                        # (sum / (n k)) / B: no overflow for a large B
    saturated = pop.max(axis=1) > SATURATED
    if saturated.any():
        # losses within 1e-4 of 1: 1 - L has the digits, so the gap is taken between the complements
        # (1 - L_D) - (1 - L_P), each computed directly: sum (B - r^2)_+ and the closed form
        sub = coef[saturated] @ dr.z[saturated]
        deficit = np.maximum(clip - sub * sub, 0.0).sum(axis=2)
        comp_d = deficit.reshape(-1, 3, k).sum(axis=2) / per / clip
        comp_t = np.mean(clipped_square_complement(s2_t[saturated], clip), axis=-1)
        comp_s = np.mean(clipped_square_complement(s2_s[saturated], clip), axis=-1)
    # min(r^2, B) as the square of r clipped to [-a, a], a the largest float with a^2 <= B: one pass fewer
    root = math.sqrt(clip)
    root = root if root * root <= clip else float(np.nextafter(root, 0.0))
    np.matmul(coef, dr.z, out=res)
    np.clip(res, -root, root, out=res)
    train = np.einsum("mij,mij->mi", res, res).reshape(m, 3, k).sum(axis=2) / per / clip
    np.minimum(train, 1.0, out=train)                         # a mean of values <= 1 that can round just above 1
    gaps = np.stack([pop_t, pop_s, pop_s], axis=1) - train
    if saturated.any():
        sat_t, sat_s = pop_t[saturated] > SATURATED, pop_s[saturated] > SATURATED
        gaps[saturated, 0] = np.where(sat_t, comp_d[:, 0] - comp_t, gaps[saturated, 0])
        gaps[saturated, 1] = np.where(sat_s, comp_d[:, 1] - comp_s, gaps[saturated, 1])
        gaps[saturated, 2] = np.where(sat_s, comp_d[:, 2] - comp_s, gaps[saturated, 2])
    return pop_t, pop_s, train, gaps, saturated


def draw_block(model: SimModel, m: int, rng: np.random.Generator, start: int = 0,
               work: Workspace | None = None, keep: bool = False) -> Block:
    """Draw ``m`` independent training sets and every quantity of both processes on each, vectorised.

    Per dataset: X, Y = X W*^T + E, the teacher W_T from its Gibbs posterior, pseudo
    labels Y^ = X W_T^T + E', the student Theta, the exact population losses, the
    training losses and K given X (``keep=True`` also returns the draws themselves,
    in the samples-as-rows layout).  Internally the arrays are in the paper's layout
    (features x samples, so each dataset's rows are contiguous), and each posterior is
    drawn through the Cholesky factor ``F`` of its precision ``lam I + c X^T X``:
    ``W = (c Y^T X F^{-T} + Z) F^{-1}``.  K comes from the same factors
    (:mod:`kdbound.engine.sim_kl`), without an eigendecomposition.
    """
    if work is None:
        work = Workspace(model, m)
    _, res, coef = work.take(m)
    dr = _student(model, _teacher(model, rng, work, m))
    pop_t, pop_s, train, gaps, saturated = _losses(model, dr, res, coef)
    kl = _kl_block(model, dr)
    draws = _kept(model, dr) if keep else None
    return Block(start=start, teacher_train=train[:, 0], teacher_test=pop_t, teacher_gap=gaps[:, 0],
                 student_train=train[:, 1], student_test=pop_s, student_gap=gaps[:, 1],
                 student_gap_real=gaps[:, 2], kl=kl, saturated=int(saturated.sum()), draws=draws)


def _kept(model: SimModel, dr: _Draws) -> dict:
    """The draws of a block back in the data's units, samples as rows."""
    d, k = model.d, model.k
    noise = model.noise
    x = np.swapaxes(dr.z[:, :d], 1, 2).copy()
    w_t = dr.wt * noise
    return {"x": x, "y": x @ model.w_star.T + noise * np.swapaxes(dr.z[:, d:d + k], 1, 2),
            "y_hat": x @ np.swapaxes(w_t, 1, 2) + noise * np.swapaxes(dr.z[:, d + k:], 1, 2),
            "w_t": w_t, "theta": dr.th * noise, "apx": dr.apx, "w_bar": (dr.b @ dr.fac.sigma) * noise,
            "theta_mean": dr.mean * noise}


def _kl_block(model: SimModel, dr: _Draws) -> np.ndarray:
    """K given X for each dataset: exact, or (bottleneck) the tight bound with this draw's Apx.

    From the block's Cholesky factors (:mod:`kdbound.engine.sim_kl`); the datasets whose fast
    value is suspect (a near-cancellation, an ill-conditioned factor, an overflow) are
    recomputed by the spectral form from an eigendecomposition of their X^T X.
    """
    red = model.red
    lam, beta = red.lam, red.beta_t
    if model.student == "refit":
        fast = refit_kl(dr.gram, dr.fac, dr.fac_s, red.w_star, lam=lam, beta=beta, beta_s=red.beta_s)
    elif not model.bottleneck:
        fast = kernel_kl(dr.gram, dr.fac, red.w_star, lam=lam, beta=beta, sigma_s=red.sigma_s)
    else:
        logdet_s = None
        if isinstance(red.sigma_s, np.ndarray):
            logdet_s = 2.0 * float(np.sum(np.log(np.diag(np.linalg.cholesky(red.sigma_s)))))
        fast = tight_terms(dr.gram, dr.fac, red.w_star, lam=lam, beta=beta, sigma_s=red.sigma_s,
                           logdet_sigma_s=logdet_s)
    kl = fast.value
    if model.bottleneck:
        kl = kl + dr.apx
    if fast.suspect.any():
        idx = np.flatnonzero(fast.suspect)
        kl = kl.copy()
        kl[idx] = _kl_spectral(model, dr, idx)
    return kl


def _kl_spectral(model: SimModel, dr: _Draws, idx) -> np.ndarray:
    """K given X of the datasets ``idx`` by the spectral form (one eigendecomposition of each X^T X)."""
    x = np.swapaxes(dr.z[idx, :model.d], 1, 2)
    eig = gram_eigen(x)
    red = model.red
    if model.student == "refit":
        return kl_terms(x, red.w_star, lam=red.lam, beta_t=red.beta_t, noise=1.0, student="refit",
                        beta_s=red.beta_s, eig=eig).kl
    if not model.bottleneck:
        return kl_terms(x, red.w_star, lam=red.lam, beta_t=red.beta_t, noise=1.0, sigma_s=red.sigma_s, eig=eig).kl
    return tight_bound_terms(model, x, eig) + dr.apx[idx]


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
        # sigma p - 1 - ln(sigma p): ln taken directly, so a tiny sigma p (where sigma p - 1 rounds to -1) stays finite
        cov = 0.5 * k * np.sum(xm_log(sigma_s * p, math.log(sigma_s) + np.log(p)), axis=-1)
    else:
        diag = np.einsum("mji,jl,mli->mi", eig.u, sigma_s, eig.u)       # diag of U^T Sigma_S U
        logdet_s = 2.0 * float(np.sum(np.log(np.diag(np.linalg.cholesky(sigma_s)))))
        cov = 0.5 * k * (np.sum(p * diag, axis=-1) - model.d - np.sum(np.log(p), axis=-1) - logdet_s)
    return shift + cov + spread
