"""Exact distillation divergence K given X (or given D_n) in the linear-Gaussian model, batched.

With no rank bottleneck (the student's rank r >= min(k, d), so W_T M* = W_T)
or with a *refit* student, the pairs (Y^, Theta) of the student process and
(Y, W_T) of the teacher process are jointly Gaussian given X, row by row, and
every covariance is diagonal in the eigenbasis of the Gram matrix ``x.T @ x``.
K is then a sum of one-dimensional closed forms, one per Gram eigenvalue: one
batched ``np.linalg.eigh`` of a (..., d, d) stack per call, no Python loop per
dataset and no (n + d)-dimensional matrix.

Layout: ``x`` is (..., n, d) with samples as rows (the paper's X is its
transpose), ``y`` is (..., n, k) and ``w_star`` is (k, d) (or (..., k, d)).
Leading axes are a batch of independent datasets.

Per output row (the k rows are independent and share every covariance), with
``c = beta_t / noise^2``, ``Sigma_T = (lam I + c x^T x)^{-1}``, in the eigenbasis
``x^T x = U diag(g) U^T`` with ``p_i = lam + c g_i`` (posterior precisions):

* the teacher process: ``y = x w* + noise e``, ``w | y ~ N(Sigma_T c x^T y, Sigma_T)``;
* the pseudo labels: ``W_T ~ N(m, A)`` with, in the eigenbasis,
  ``m_i = c g_i a_i / p_i`` and ``A_i = 1/p_i + c^2 g_i noise^2 / p_i^2``
  (expected mode, Y integrated out; ``a = U^T w*``) or ``m = U^T Wbar_T`` and
  ``A_i = 1/p_i`` (conditional mode, D_n fixed); ``y^ = x W_T + noise e'``;
* the student: ``Theta | W_T ~ N(W_T, Sigma_S)`` (kernel) or the Gibbs
  posterior recomputed on (x, y^) at inverse temperature ``beta_s`` (refit).

K = KL(y^ law || y law) + E_{y^} KL(Theta | y^ || W | y = y^) (chain rule, both
exact).  See docs/theory.md, "Exact K without a rank bottleneck".

References
----------
Li and He (ISIT 2026), Lemma 11 and eq. 28-39; docs/theory.md, sections
"Exact K without a rank bottleneck" and "The refit student".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError, ParameterError
from ._checks import positive, require
from .numerics import quiet_fp, xm_log, xm_log1p

__all__ = ["GramEigen", "ExactKL", "gram_eigen", "kl_given_x", "kl_terms", "posterior_mean", "posterior_draw",
           "check_sigma_s", "xm_log1p", "xm_log", "spectral_kl", "normalise"]


# --------------------------------------------------------------------------- helpers

def _real_array(name: str, a, min_ndim: int, layout: str) -> np.ndarray:
    """A float64 array of real, finite numbers with at least ``min_ndim`` axes."""
    if isinstance(a, (list, tuple)):
        a = np.asarray(a)
    if not isinstance(a, np.ndarray):
        raise InputError(f"expected a numeric array {layout} (got {type(a).__name__})", name)
    if a.dtype == bool or not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise InputError(f"must hold real numbers (got dtype {a.dtype})", name)
    if a.ndim < min_ndim:
        raise InputError(f"expected an array {layout} (got shape {a.shape})", name)
    a = np.asarray(a, dtype=np.float64)
    if not np.isfinite(a).all():
        raise InputError("entries must be finite", name)
    return a


def check_sigma_s(sigma_s, d: int):
    """Sigma_S validated: ``"teacher"``, a positive float (meaning s I_d) or a d x d symmetric positive-definite matrix.

    Returns ``"teacher"``, a float, or the symmetrised float64 matrix.
    """
    if isinstance(sigma_s, str):
        if sigma_s != "teacher":
            raise ParameterError("sigma_s", "must be a positive number, 'teacher' or a d x d matrix", sigma_s)
        return sigma_s
    if isinstance(sigma_s, (bool, np.bool_)):
        raise ParameterError("sigma_s", "must be a positive number, 'teacher' or a d x d matrix", sigma_s)
    arr = np.asarray(sigma_s)
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise InputError(f"must hold real numbers (got dtype {arr.dtype})", "sigma_s")
    arr = arr.astype(np.float64)
    if arr.ndim == 0:
        return float(positive("sigma_s", arr))
    if arr.shape != (d, d):
        raise InputError(f"expected a d x d = {d} x {d} matrix (got shape {arr.shape})", "sigma_s")
    require("sigma_s", arr, ~np.isfinite(arr), "must have finite entries")
    scale = float(np.max(np.abs(arr))) or 1.0
    if not np.allclose(arr, arr.T, rtol=1e-10, atol=1e-12 * scale):
        raise InputError("must be symmetric (Sigma_S is a covariance matrix)", "sigma_s")
    arr = 0.5 * (arr + arr.T)
    try:
        np.linalg.cholesky(arr)
    except np.linalg.LinAlgError:
        low = float(np.linalg.eigvalsh(arr)[0])
        raise InputError(f"must be positive definite (smallest eigenvalue {low!r})", "sigma_s") from None
    return arr


# --------------------------------------------------------------------------- the Gram eigenbasis

@dataclass(frozen=True, eq=False)
class GramEigen:
    """Eigendecomposition of the Gram matrices ``x^T x`` of a batch of datasets.

    Attributes
    ----------
    g : ndarray, (..., d)
        Eigenvalues in ascending order, clipped at 0 (the squared singular
        values of each x).
    u : ndarray, (..., d, d)
        Orthonormal eigenvectors as columns: ``x^T x = u diag(g) u^T``.
    """

    g: np.ndarray
    u: np.ndarray

    @property
    def d(self) -> int:
        return self.g.shape[-1]


def gram_eigen(x) -> GramEigen:
    """The eigendecomposition of ``x^T x`` for x of shape (..., n, d): one batched ``eigh``.

    Parameters
    ----------
    x : ndarray, (..., n, d)
        Features of each dataset, rows are samples.

    Returns
    -------
    GramEigen
    """
    x = _real_array("x", x, 2, "(..., n, d), rows are samples")
    gram = np.swapaxes(x, -1, -2) @ x
    if not np.isfinite(gram).all():
        raise InputError("X^T X is not finite: the features are too large (overflow); rescale them", "x")
    g, u = np.linalg.eigh(gram)
    return GramEigen(g=np.maximum(g, 0.0), u=u)


def _hyper(lam, beta, noise, beta_name="beta_t"):
    return float(positive("lam", lam)), float(positive(beta_name, beta)), float(positive("noise", noise))


@quiet_fp
def posterior_mean(eig: GramEigen, x, y, *, lam: float, beta: float, noise: float) -> np.ndarray:
    """The Gibbs posterior mean ``Wbar = c Y^T x Sigma`` (k x d per dataset), c = beta / noise^2.

    Parameters
    ----------
    eig : GramEigen
        ``gram_eigen(x)``.
    x : ndarray, (..., n, d)
    y : ndarray, (..., n, k)
        Labels (real or pseudo labels).
    lam, beta, noise : float
        Prior precision, inverse temperature and label-noise standard deviation.

    Returns
    -------
    ndarray, (..., k, d)
        ``Wbar`` in the original coordinates (rows are outputs, scikit-learn's ``coef_`` layout).

    References
    ----------
    Li and He (ISIT 2026), Lemma 11; docs/theory.md, "Linear-Gaussian case study".
    """
    lam, beta, noise = _hyper(lam, beta, noise, "beta")
    c = beta / noise ** 2
    yx = np.swapaxes(y, -1, -2) @ x                      # (..., k, d) = Y^T x
    coords = (yx @ eig.u) * (c / (lam + c * eig.g))[..., None, :]
    return coords @ np.swapaxes(eig.u, -1, -2)


def posterior_draw(eig: GramEigen, mean, *, lam: float, beta: float, noise: float,
                   rng: np.random.Generator) -> np.ndarray:
    """One draw of W ~ MN(mean, I_k, Sigma) per dataset, ``Sigma = (lam I + c x^T x)^{-1}``.

    ``Sigma^{1/2} = u diag(p^{-1/2}) u^T`` with ``p = lam + c g``: rows of the
    draw are ``mean + z diag(p^{-1/2}) u^T``, z standard normal (..., k, d).

    Parameters
    ----------
    eig : GramEigen
    mean : ndarray, (..., k, d)
    lam, beta, noise : float
    rng : numpy.random.Generator

    Returns
    -------
    ndarray, (..., k, d)
    """
    lam, beta, noise = _hyper(lam, beta, noise, "beta")
    c = beta / noise ** 2
    mean = np.asarray(mean, dtype=np.float64)
    z = rng.standard_normal(np.broadcast_shapes(mean.shape, eig.g.shape[:-1] + (1, eig.d)))
    sd = 1.0 / np.sqrt(lam + c * eig.g)
    return mean + (z * sd[..., None, :]) @ np.swapaxes(eig.u, -1, -2)


# --------------------------------------------------------------------------- exact K

@dataclass(frozen=True, eq=False)
class ExactKL:
    """Exact K given X (expected mode) or given D_n (conditional mode), and its two chain-rule parts.

    Attributes (arrays of the batch shape, nats, summed over the k output rows)
    ----------
    dataset_shift : KL(law of Y^ || law of Y) given X (or given D_n for Y^).
    kernel : E over Y^ of KL(student kernel || teacher posterior at Y^).
    kl : dataset_shift + kernel.
    """

    dataset_shift: np.ndarray
    kernel: np.ndarray
    kl: np.ndarray


def _validate(x, w_star, y, student, sigma_s, beta_s, eig):
    x = _real_array("x", x, 2, "(..., n, d), rows are samples")
    n, d = x.shape[-2:]
    if n < 1 or d < 1:
        raise InputError(f"expected at least one sample and one feature (got shape {x.shape})", "x")
    w_star = _real_array("w_star", w_star, 2, "(k, d)")
    if w_star.shape[-1] != d:
        raise InputError(f"expected shape (k, d) = (k, {d}) (got {w_star.shape})", "w_star", refs=("x",))
    k = w_star.shape[-2]
    if k < 1:
        raise InputError(f"expected at least one output row (got shape {w_star.shape})", "w_star")
    if y is not None:
        y = _real_array("y", y, 2, "(..., n, k), rows are samples")
        if y.shape[-2:] != (n, k):
            raise InputError(f"expected shape (..., n, k) = (..., {n}, {k}) like {{x}} and {{w_star}} "
                             f"(got {y.shape})", "y", refs=("x", "w_star"))
    if student not in ("kernel", "refit"):
        raise ParameterError("student", "must be 'kernel' or 'refit'", student)
    if student == "kernel":
        if beta_s is not None:
            raise InputError("only for the refit student ({student} 'refit')", "beta_s", refs=("student",))
        sigma_s = check_sigma_s(sigma_s, d)
    else:
        if beta_s is None:
            raise InputError("required for the refit student", "beta_s")
        beta_s = float(positive("beta_s", beta_s))
        if not (isinstance(sigma_s, str) and sigma_s == "teacher"):
            raise InputError("only for the kernel student: the refit student's covariance is its own posterior's",
                             "sigma_s")
    if eig is None:
        eig = gram_eigen(x)
    elif eig.g.shape[-1] != d:
        raise InputError(f"eigendecomposition is for d = {eig.g.shape[-1]}, not {d}", "eig")
    return x, w_star, y, k, sigma_s, beta_s, eig


def spectral_kl(g, a, m=None, *, lam, beta, k: int, student: str = "kernel", sigma_kind: str = "teacher",
                sigma_value=None, beta_s: float | None = None) -> ExactKL:
    """The exact K from the spectrum, in units where the label noise is 1 (see :func:`normalise`).

    Parameters
    ----------
    g : ndarray, (..., d)
        Gram eigenvalues (any scale; :func:`kl_terms` passes them divided by the largest).
    a : ndarray, (..., k, d)
        W* in the eigenbasis (``w_star @ u``), in the same units.
    m : ndarray, (..., k, d), optional
        Conditional mode: Wbar_T in the eigenbasis.  None: expected mode (``m = s a``).
    lam : float or ndarray (...,)
        Prior precision in these units.
    beta : float
        Teacher inverse temperature (``c = beta`` when the noise is 1).
    k : int
        Number of output rows.
    student, beta_s
        As in :func:`kl_given_x`.
    sigma_kind : {"teacher", "scalar", "matrix"}
        Kernel student's covariance; ``sigma_value`` is the scalar (float or (...,) array)
        or ``U^T Sigma_S U`` (..., d, d), in these units.

    Returns
    -------
    ExactKL
    """
    lam = np.asarray(lam, dtype=np.float64)[..., None]   # broadcast against (..., d)
    p = lam + beta * g                                    # posterior precisions
    v = g / p                                             # eigenvalues of x Sigma_T x^T
    s = beta * v                                          # of the smoother
    shrink = lam / p                                      # 1 - s, without cancellation
    if m is None:                                         # expected mode: Y integrated out
        m = a * s[..., None, :]
        t = s * s + v                                     # g A (the noise is 1)
        r = ((1.0 - beta) + beta * v * (beta * shrink - 1.0)) / (1.0 + t)
        pa = 1.0 + beta * s                               # p A
    else:                                                 # conditional mode: D_n fixed
        t = v
        r = ((1.0 - beta) - s) / (1.0 + v)
        pa = np.ones_like(p)
    # dataset shift: per eigenvalue and row, KL(N(sqrt(g) m, g A + 1) || N(sqrt(g) a, 1))
    diff = m - a
    bias = np.sum(diff * diff, axis=-2) * g
    shift = np.sum(0.5 * bias + 0.5 * k * xm_log1p(t), axis=-1)
    pc = pa / (1.0 + t)                                   # p Var(W_T | y^)
    if student == "kernel":
        # E over y^ of ||mu_S(y^) - G y^||^2 in the Sigma_T^{-1} norm: mean part and variance part
        mean_part = lam * shrink * np.sum(m * m, axis=-2)
        var_part = k * v * (1.0 + t) * r * r
        quad = 0.5 * np.sum(mean_part + var_part, axis=-1)
        if sigma_kind == "teacher":                       # per eigenvalue p (Var(W_T | y^) + 1/p)
            cov = 0.5 * k * np.sum(xm_log1p(pc), axis=-1)
        elif sigma_kind == "scalar":
            sv = np.asarray(sigma_value, dtype=np.float64)[..., None]
            cov = 0.5 * k * np.sum(xm_log1p(pc + p * sv - 1.0), axis=-1)
        else:
            su = sigma_value                              # U^T Sigma_S U
            d = g.shape[-1]
            diag = np.einsum("...ii->...i", su)
            mat = su + (pc / p)[..., None, :] * np.eye(d)
            chol = np.linalg.cholesky(mat)
            logdet = 2.0 * np.sum(np.log(np.einsum("...ii->...i", chol)), axis=-1)
            cov = 0.5 * k * (np.sum(pc + p * diag - 1.0 - np.log(p), axis=-1) - logdet)
        kernel = quad + cov
    else:
        p_s = lam + beta_s * g
        # E y^2 along each eigenvector: g m^2 + (1 + t); p (gamma_s - gamma)^2 = g lam^2 (beta_s - beta)^2 / (p p_s^2)
        ey2 = g[..., None, :] * m * m + (1.0 + t)[..., None, :]
        weight = g * (shrink * (beta_s - beta) / p_s) ** 2 * p
        quad = 0.5 * np.sum(weight * np.sum(ey2, axis=-2), axis=-1)
        # r - 1 - ln r with r = p / p_s, which may underflow as beta_s >> beta_t while the value stays finite
        cov = 0.5 * k * np.sum(xm_log(p / p_s, np.log(p) - np.log(p_s)), axis=-1)
        kernel = quad + cov
    return ExactKL(dataset_shift=shift, kernel=kernel, kl=shift + kernel)


def normalise(g, noise: float):
    """Scale factors that make the label noise 1 and the largest Gram eigenvalue 1.

    K is invariant under (w*, y, noise, lam, Sigma_S) -> (w*/a, y/a, noise/a, lam a^2, Sigma_S/a^2)
    and under (x, w*, lam, Sigma_S) -> (x b, w*/b, lam b^2, Sigma_S/b^2); with a = noise and
    b = 1/sqrt(g_max) every eigenvalue lies in [0, 1] and c = beta_t, so no term overflows for
    any hyperparameters whose reduced prior precision ``lam noise^2 / g_max`` is representable.

    Returns ``(gmax, w_scale)``: divide g by ``gmax`` (..., 1); multiply W* coordinates by
    ``w_scale = sqrt(gmax) / noise`` (...,); multiply lam by ``noise^2 / gmax``.
    """
    gmax = g[..., -1:]
    gmax = np.where(gmax > 0, gmax, 1.0)
    return gmax, np.sqrt(gmax[..., 0]) / noise


@quiet_fp
def kl_terms(x, w_star, *, lam: float, beta_t: float, noise: float, student: str = "kernel",
             sigma_s="teacher", beta_s: float | None = None, y=None, eig: GramEigen | None = None) -> ExactKL:
    """The exact K given X (or D_n) split into its chain-rule parts; see :func:`kl_given_x`."""
    lam, beta_t, noise = _hyper(lam, beta_t, noise)
    x, w_star, y, k, sigma_s, beta_s, eig = _validate(x, w_star, y, student, sigma_s, beta_s, eig)
    gmax, w_scale = normalise(eig.g, noise)
    g = eig.g / gmax
    lam_n = lam * (noise / np.sqrt(gmax[..., 0])) ** 2
    a = (w_star @ eig.u) * w_scale[..., None, None]
    m = None
    if y is not None:
        yxu = (np.swapaxes(y, -1, -2) @ x) @ eig.u / (noise * np.sqrt(gmax))[..., None]
        m = yxu * (beta_t / (lam_n[..., None] + beta_t * g))[..., None, :]
    kind, value = "teacher", None
    if isinstance(sigma_s, float):
        kind, value = "scalar", sigma_s * gmax[..., 0] / noise ** 2
    elif not isinstance(sigma_s, str):
        kind = "matrix"
        value = (np.swapaxes(eig.u, -1, -2) @ sigma_s @ eig.u) * (gmax[..., 0] / noise ** 2)[..., None, None]
    return spectral_kl(g, a, m, lam=lam_n, beta=beta_t, k=k, student=student, sigma_kind=kind, sigma_value=value,
                       beta_s=beta_s)


def kl_given_x(x, w_star, *, lam: float, beta_t: float, noise: float, student: str = "kernel",
               sigma_s="teacher", beta_s: float | None = None, y=None, eig: GramEigen | None = None) -> np.ndarray:
    """Exact K = KL(student process || teacher process) given X (or given D_n), for a batch of datasets.

    Parameters
    ----------
    x : ndarray, (..., n, d)
        Features of each dataset, rows are samples (the paper's X is the
        transpose of each).  Leading axes are a batch of independent datasets.
    w_star : ndarray, (k, d) or (..., k, d)
        Ground truth (scikit-learn's ``coef_`` layout), broadcast over the batch.
    lam, beta_t, noise : float
        Prior precision, teacher inverse temperature, label-noise standard deviation (> 0).
    student : {"kernel", "refit"}
        ``"kernel"``: Theta | W_T ~ MN(W_T, I_k, Sigma_S) (no rank bottleneck:
        the student rank r >= min(k, d)).  ``"refit"``: Theta is the Gibbs
        posterior recomputed on the pseudo data (x, Y^) at inverse temperature
        ``beta_s``: covariance ``(lam I + (beta_s / noise^2) x^T x)^{-1}``, mean
        ``(beta_s / noise^2) Sigma_S' x^T Y^``.
    sigma_s : "teacher", float or ndarray (d, d)
        Kernel student's covariance: Sigma_T itself, ``s I_d``, or an SPD matrix.
        Only ``"teacher"`` (the default, ignored) with the refit student.
    beta_s : float, optional
        The refit student's inverse temperature (required for it, refused for the kernel student).
    y : ndarray, (..., n, k), optional
        None: expected mode, Y integrated out (K given X).  Given: conditional
        mode, K given D_n = (x, y) (its mean over Y bounds K given X by convexity).
    eig : GramEigen, optional
        ``gram_eigen(x)`` when the caller already has it.

    Returns
    -------
    ndarray, (...,)
        K in nats, summed over the k independent output rows.

    References
    ----------
    Li and He (ISIT 2026), Lemma 11 and eq. 28-39 (the model); the exact form is
    derived in docs/theory.md, "Exact K without a rank bottleneck" and "The refit student".
    """
    return kl_terms(x, w_star, lam=lam, beta_t=beta_t, noise=noise, student=student, sigma_s=sigma_s,
                    beta_s=beta_s, y=y, eig=eig).kl

