"""The linear-Gaussian case study (Lemma 11, eq. 28-39): the distillation divergence K
of a Gibbs-posterior linear teacher and a rank-r student, term by term.

Layout: ``x`` is n x d with samples as rows (the paper's X is its transpose),
``y`` is n x k, ``w_star`` is k x d (scikit-learn's ``coef_``).  Everything
comes from one eigendecomposition of the d x d Gram matrix ``x.T @ x`` plus
k x n and k x d products: no n x n matrix, no explicit inverse, no SVD of x.

Notation as in the paper: ``c = beta_t / noise^2``,
``Sigma_T = (lam I + c X X^T)^{-1}``, ``Wbar_T = c Y X^T Sigma_T``.  In the
eigenbasis ``X X^T = U diag(g) U^T`` every term is a sum over eigenvalues:
``v = g / (lam + c g)`` (eigenvalues of X^T Sigma_T X), ``s = c v`` (of the
smoother S) and ``t = s^2 + v / noise^2``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..errors import InputError, ParameterError
from ._checks import first_nonfinite, integer, positive, quiet_fp, require

EPS = np.finfo(np.float64).eps
COND_WARN = 1e10  # Gram condition number beyond which the apx estimate loses digits


# --------------------------------------------------------------------------- spectrum of X

@dataclass(frozen=True, eq=False)
class GramSpectrum:
    """Eigendecomposition of the Gram matrix X X^T (d x d): the one expensive step.

    ``g`` ascending eigenvalues (clipped at 0, numerically-zero ones set to 0),
    ``u`` the eigenvectors as columns, ``x_rank`` the numerical rank of X,
    ``cond`` the condition number g_max / g_min over the retained eigenvalues.
    """

    g: np.ndarray
    u: np.ndarray
    n: int
    x_rank: int
    cond: float

    @property
    def d(self) -> int:
        return self.g.size


def gram_spectrum(gram: np.ndarray, n: int) -> GramSpectrum:
    """Eigendecomposition of the symmetric positive semi-definite d x d Gram matrix X X^T."""
    g, u = np.linalg.eigh(gram)
    d = g.size
    gmax = float(g[-1]) if d else 0.0
    # eigenvalues below this are rounding noise of the Gram product: treat them as exact zeros
    tol = max(gmax, 0.0) * max(d, n, 64) * EPS
    g = np.where(g > tol, g, 0.0)
    kept = g[g > 0]
    x_rank = int(kept.size)
    cond = float(kept[-1] / kept[0]) if x_rank else math.inf
    return GramSpectrum(g=g, u=u, n=n, x_rank=x_rank, cond=cond)


def gram_products(x: np.ndarray, y: np.ndarray | None = None, block_rows: int = 16384):
    """``x.T @ x`` (d x d) and ``y.T @ x`` (k x d), in float64, one pass over x.

    float64 C-ordered input goes to BLAS whole; other dtypes are converted a
    block of rows at a time, so memory stays near the size of x.
    """
    n, d = x.shape
    if x.dtype == np.float64 and (y is None or y.dtype == np.float64):
        gram = x.T @ x
        yx = None if y is None else y.T @ x
        return gram, yx
    gram = np.zeros((d, d))
    yx = None if y is None else np.zeros((y.shape[1], d))
    for start in range(0, n, block_rows):
        xb = np.asarray(x[start:start + block_rows], dtype=np.float64)
        gram += xb.T @ xb
        if y is not None:
            yx += np.asarray(y[start:start + block_rows], dtype=np.float64).T @ xb
    return gram, yx


# --------------------------------------------------------------------------- closed forms

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


def eigen_terms(spec: GramSpectrum, h: Hyper):
    """Per-eigenvalue v, s, t and 1 / (lam + c g)."""
    inv = 1.0 / (h.lam + h.c * spec.g)
    v = spec.g * inv
    s = h.c * v
    t = s * s + v / h.noise ** 2
    return v, s, t, inv


def variance(spec: GramSpectrum, h: Hyper) -> float:
    """Var(D_n) = tr(Sigma_T X X^T) = sum_i v_i (eq. 28-33)."""
    return float(np.sum(eigen_terms(spec, h)[0]))


def residual_norm(spec: GramSpectrum, h: Hyper, w_star: np.ndarray) -> float:
    """||W* X (I - S)||_F^2 = sum_j ||(W* U)_j||^2 g_j (lam / (lam + c g_j))^2."""
    wu = w_star @ spec.u
    shrink = h.lam / (h.lam + h.c * spec.g)
    return float(np.sum(wu * wu, axis=0) @ (spec.g * shrink * shrink))


def bias_conditional(spec: GramSpectrum, wbar_u: np.ndarray, w_star: np.ndarray) -> float:
    """Bias(D_n) = ||(Wbar_T - W*) X||_F^2, with Wbar_T given in the eigenbasis (Wbar_T U)."""
    diff = wbar_u - w_star @ spec.u
    return float(np.sum(diff * diff, axis=0) @ spec.g)


def bias_expected(spec: GramSpectrum, h: Hyper, w_star: np.ndarray, k: int) -> float:
    """E_Y Bias = ||W* X (I - S)||_F^2 + k noise^2 sum_i s_i^2."""
    s = eigen_terms(spec, h)[1]
    return residual_norm(spec, h, w_star) + k * h.noise ** 2 * float(np.sum(s * s))


def dataset_shift_exact(spec: GramSpectrum, h: Hyper, w_star: np.ndarray, k: int) -> float:
    """Exact KL(Y^ | X || Y | X), Y integrated out (SPEC, derived there):
    ``||W* X (I - S)||^2 / (2 noise^2) + (k/2) sum_i (t_i - ln(1 + t_i))``."""
    t = eigen_terms(spec, h)[2]
    return residual_norm(spec, h, w_star) / (2 * h.noise ** 2) + 0.5 * k * float(np.sum(t - np.log1p(t)))


def convexity_gap(spec: GramSpectrum, h: Hyper, k: int) -> float:
    """How much the convexity bound exceeds the exact dataset shift on average: (k/2) sum ln(1 + t_i)."""
    return 0.5 * k * float(np.sum(np.log1p(eigen_terms(spec, h)[2])))


def spread_conditional(spec: GramSpectrum, h: Hyper, wbar_u: np.ndarray, k: int) -> float:
    """Spread(D_n) = lam^2 (||Wbar_T Sigma_T^{1/2}||^2 + k tr(Sigma_T^2)) + c^2 noise^2 k Var."""
    v, _, _, inv = eigen_terms(spec, h)
    quad = float(np.sum(wbar_u * wbar_u, axis=0) @ inv)
    return h.lam ** 2 * (quad + k * float(np.sum(inv * inv))) + h.c ** 2 * h.noise ** 2 * k * float(np.sum(v))


def spread_expected(spec: GramSpectrum, h: Hyper, w_star: np.ndarray, k: int) -> float:
    """E_Y Spread = lam^2 (||c W* X X^T Sigma_T^{3/2}||^2 + c^2 k noise^2 tr(X^T Sigma_T^3 X) + k tr(Sigma_T^2))
    + c^2 noise^2 k Var."""
    v, _, _, inv = eigen_terms(spec, h)
    wu = w_star @ spec.u
    c = h.c
    first = c * c * float(np.sum(wu * wu, axis=0) @ (spec.g ** 2 * inv ** 3))
    second = c * c * k * h.noise ** 2 * float(np.sum(spec.g * inv ** 3))
    return h.lam ** 2 * (first + second + k * float(np.sum(inv * inv))) + c * c * h.noise ** 2 * k * float(np.sum(v))


def covariance_cost(spec: GramSpectrum, h: Hyper, sigma_s, k: int) -> float:
    """Cov(Sigma_S, Sigma_T) = k/2 [tr(Sigma_T^{-1} Sigma_S) - d + ln det Sigma_T - ln det Sigma_S]:
    the KL of matrix normals with equal means (eq. 34-39).  ``sigma_s``: "teacher", a scalar s (s I) or
    a d x d symmetric positive-definite matrix."""
    if isinstance(sigma_s, str):
        return 0.0                         # Sigma_S = Sigma_T
    d = spec.d
    prec = h.lam + h.c * spec.g            # eigenvalues of Sigma_T^{-1}
    logdet_t = -float(np.sum(np.log(prec)))
    sigma_s = np.asarray(sigma_s, dtype=np.float64)
    if sigma_s.ndim == 0:
        s = float(sigma_s)
        return 0.5 * k * (s * float(np.sum(prec)) - d + logdet_t - d * math.log(s))
    chol = np.linalg.cholesky(sigma_s)     # validated positive definite by check_sigma_s
    logdet_s = 2.0 * float(np.sum(np.log(np.diag(chol))))
    # tr(Sigma_T^{-1} Sigma_S) = tr(U diag(prec) U^T Sigma_S) = sum_j prec_j (U^T Sigma_S U)_jj
    diag = np.einsum("ij,ij->j", spec.u, sigma_s @ spec.u)
    return 0.5 * k * (float(prec @ diag) - d + logdet_t - logdet_s)


def check_sigma_s(sigma_s, d: int):
    """Validate Sigma_S: 'teacher', a positive scalar, or a d x d symmetric positive-definite matrix."""
    if isinstance(sigma_s, str):
        if sigma_s != "teacher":
            raise ParameterError("sigma_s", "must be a positive number, 'teacher' or a d x d matrix", sigma_s)
        return sigma_s
    arr = np.asarray(sigma_s, dtype=np.float64)
    if arr.ndim == 0:
        return float(positive("sigma_s", arr))
    if arr.shape != (d, d):
        raise InputError(f"expected a d x d = {d} x {d} matrix (got shape {arr.shape})", "sigma_s")
    require("sigma_s", arr, ~np.isfinite(arr), "must have finite entries")
    if not np.allclose(arr, arr.T, rtol=1e-10, atol=1e-12 * float(np.max(np.abs(arr)) or 1.0)):
        raise InputError("must be symmetric (Sigma_S is a covariance matrix)", "sigma_s")
    arr = 0.5 * (arr + arr.T)
    try:
        np.linalg.cholesky(arr)
    except np.linalg.LinAlgError:
        low = float(np.linalg.eigvalsh(arr)[0])
        raise InputError(f"must be positive definite (smallest eigenvalue {low!r})", "sigma_s") from None
    return arr


# --------------------------------------------------------------------------- Apx by Monte Carlo

def apx_draw_terms(wrho: np.ndarray, d_rho: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Per-draw, per-singular-value contributions a_i to Apx, for a stack of draws.

    ``wrho``: (S, k, rho) draws of W_T U_rho (W_T in the basis of X's column space);
    ``d_rho``: the rho non-zero singular values of X; ``w = sqrt(lam + c g) / d``.
    With B = W_T U_rho diag(d) = L diag(sigma) R^T, the rank-r student leaves
    ``||B (I - R_r R_r^T) diag(w)||_F^2 = sum_{i >= r} sigma_i^2 ||diag(w) R_i||^2``:
    a tail sum of the a_i = sigma_i^2 ||w * R_i||^2 returned here (S, min(k, rho)).
    """
    b = wrho * d_rho
    _, sv, rt = np.linalg.svd(b, full_matrices=False)
    weighted = rt * w
    return sv * sv * np.einsum("sij,sij->si", weighted, weighted)


@dataclass(frozen=True, eq=False)
class ApxEstimate:
    """Monte Carlo estimate of Apx for each student rank in ``ranks``."""

    ranks: np.ndarray
    mean: np.ndarray
    stderr: np.ndarray
    null_space: float  # k (d - rank X): the exact contribution of X's null space


def apx_monte_carlo(spec: GramSpectrum, h: Hyper, k: int, ranks, samples: int, rng: np.random.Generator,
                    wbar_u: np.ndarray | None = None, w_star: np.ndarray | None = None,
                    progress: Callable[[int, int], None] | None = None, block: int = 64) -> ApxEstimate:
    """Apx(D_n) = E ||W_T (I - M*) Sigma_T^{-1/2}||_F^2, M* = X V_r V_r^T X^+ (canonical choice).

    Conditional on the data (``wbar_u`` = Wbar_T U given) or, with ``w_star``,
    averaged over Y as well (each draw also draws the label noise).  Each draw
    costs O(k rho min(k, rho)) in the rho-dimensional column space of X; the
    null space of X adds exactly k (d - rho), because M* vanishes there and
    W_T's null-space coordinates are N(0, 1/lam) with weight lam.
    """
    ranks = np.asarray(ranks, dtype=int)
    keep = spec.g > 0
    g = spec.g[keep]
    rho = g.size
    d_rho = np.sqrt(g)
    w = np.sqrt(h.lam + h.c * g) / d_rho
    post_sd = 1.0 / np.sqrt(h.lam + h.c * g)
    null_space = float(k * (spec.d - rho))
    if rho == 0:
        z = np.zeros(len(ranks))
        return ApxEstimate(ranks, z + null_space, z, null_space)
    if wbar_u is not None:
        mean_rho = wbar_u[:, keep]
    else:
        mean_rho = h.c * (w_star @ spec.u[:, keep]) * (g / (h.lam + h.c * g))
    total = np.zeros(len(ranks))
    total_sq = np.zeros(len(ranks))
    done = 0
    if progress is not None:
        progress(0, samples)
    while done < samples:
        m = min(block, samples - done)
        draws = rng.standard_normal((m, k, rho)) * post_sd
        if wbar_u is not None:
            wrho = mean_rho + draws
        else:  # Y = W* X + E: E X^T U_rho = noise Z' diag(d) in distribution
            label_noise = rng.standard_normal((m, k, rho)) * (h.noise * d_rho * h.c / (h.lam + h.c * g))
            wrho = mean_rho + label_noise + draws
        a = apx_draw_terms(wrho, d_rho, w)
        tails = np.cumsum(a[:, ::-1], axis=1)[:, ::-1]        # tails[:, i] = sum_{j >= i} a_j
        tails = np.concatenate([tails, np.zeros((m, 1))], axis=1)
        per_rank = tails[:, np.minimum(ranks, tails.shape[1] - 1)]
        total += per_rank.sum(axis=0)
        total_sq += (per_rank * per_rank).sum(axis=0)
        done += m
        if progress is not None:
            progress(done, samples)
    mean = total / samples
    var = np.maximum(total_sq / samples - mean * mean, 0.0) * samples / max(samples - 1, 1)
    stderr = np.sqrt(var / samples) if samples > 1 else np.full(len(ranks), np.nan)
    return ApxEstimate(ranks, mean + null_space, stderr, null_space)


# --------------------------------------------------------------------------- the whole decomposition

TERMS = ("bias", "var", "dataset_shift_bound", "dataset_shift_exact", "apx", "apx_stderr", "cov", "spread",
         "kl_bound")


@dataclass(frozen=True, eq=False)
class LinearGaussianResult:
    """K's decomposition (the paper's final display) and the exact dataset shift.

    Missing terms are NaN, with the reason in ``missing``.  ``rank_sweep``
    holds (rank, apx, apx_stderr, kl_bound) arrays when a sweep was asked for.
    """

    mode: str                 # "conditional" (given Y) or "expected" (Y integrated out)
    n: int
    d: int
    k: int
    rank: int
    x_rank: int
    cond: float
    bias: float
    var: float
    dataset_shift_bound: float
    dataset_shift_exact: float
    convexity_gap: float      # (k/2) sum ln(1 + t_i): E[bound] - exact
    apx: float
    apx_stderr: float
    cov: float
    spread: float
    kl_bound: float
    samples: int
    noise2: float             # noise^2, to split the dataset shift into its bias and variance parts
    missing: dict = field(default_factory=dict)  # term -> why, naming parameters as {w_star}
    rank_sweep: dict | None = None

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


def _matrix(name: str, a, rows: str, cols: str) -> np.ndarray:
    """A 2-D real array (memory maps stay memory maps); 1-D is not guessed here."""
    if isinstance(a, (list, tuple)):
        a = np.asarray(a)
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
        raise InputError(f"entries must be finite (got {v!r} at row {i + 1}, column {j + 1})", name)


def _problem(x, w_star, y, k):
    """Shapes checked against each other: x n x d, y n x k, w_star k x d; returns (x, w_star, y, n, d, k)."""
    x = _matrix("x", x, "n", "d")
    n, d = x.shape
    if n < 1 or d < 1:
        raise InputError(f"expected at least one sample and one feature (got shape {x.shape})", "x")
    if y is not None:
        y = np.asarray(y) if isinstance(y, (list, tuple)) else y
        if isinstance(y, np.ndarray) and y.ndim == 1 and y.shape[0] == n:
            y = y.reshape(n, 1)
        y = _matrix("y", y, "n", "k")
        if y.shape[0] != n:
            hint = " (transposed? rows must be samples)" if y.shape[1] == n else ""
            raise InputError(f"expected shape (n, k) = ({n}, k), rows are samples like {{x}} (got {y.shape}){hint}",
                             "y", refs=("x",))
        y = np.asarray(y, dtype=np.float64)
        _check_finite("y", y)
    if w_star is not None:
        w_star = np.asarray(w_star) if isinstance(w_star, (list, tuple)) else w_star
        if isinstance(w_star, np.ndarray) and w_star.ndim == 1 and w_star.shape[0] == d:
            w_star = w_star.reshape(1, d)
        w_star = _matrix("w_star", w_star, "k", "d")
        k_expected = y.shape[1] if y is not None else k
        if w_star.shape[1] != d or (k_expected is not None and w_star.shape[0] != k_expected):
            want = f"({k_expected if k_expected is not None else 'k'}, {d})"
            hint = " (transposed? W* is k x d like scikit-learn's coef_)" if w_star.shape[0] == d else ""
            raise InputError(f"expected shape (k, d) = {want} (got {w_star.shape}){hint}", "w_star")
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


@quiet_fp
def linear_gaussian(x, w_star: np.ndarray | None = None, y: np.ndarray | None = None, *,
                    lam: float = 1.0, beta_t: float = 1.0, noise: float = 1.0, rank: int = 1,
                    sigma_s="teacher", samples: int = 256, seed: int | None = 0, k: int | None = None,
                    rank_sweep=None, progress: Callable[[int, int], None] | None = None) -> LinearGaussianResult:
    """The distillation divergence K of the linear-Gaussian case study, term by term.

    ``K <= E[(Bias + k Var) / (2 noise^2) + Apx + Cov + Spread]``, with the exact
    dataset shift beside its convexity bound.  Every input is validated before
    the one expensive step (the Gram matrix ``x.T @ x``).

    Parameters
    ----------
    x : ndarray, n x d
        Features, rows are samples (the paper's X is its transpose).  A
        memory-mapped array is read once, a block of rows at a time.
    w_star : ndarray, k x d, optional
        Ground truth (scikit-learn's ``coef_`` layout).  Needed for the bias.
    y : ndarray, n x k, optional
        Labels.  With ``y`` the terms are conditional on this dataset; without
        it but with ``w_star`` they are averaged over Y.
    lam, beta_t, noise : float
        Prior precision, teacher inverse temperature and label-noise standard
        deviation (all > 0).
    rank : int
        Student rank r in ``1..min(k, d, n)``.
    sigma_s : "teacher", float or ndarray
        Student kernel covariance: Sigma_T itself, ``s I``, or a d x d SPD matrix.
    samples : int
        Monte Carlo draws of W_T for Apx (>= 1; >= 2 for a standard error).
    seed : int or None
        Random seed (>= 0); the same seed gives the same numbers.
    k : int, optional
        Number of outputs, when neither ``y`` nor ``w_star`` gives it.
    rank_sweep : sequence of int, optional
        More ranks to evaluate Apx and the bound at, with common random numbers.
    progress : callable, optional
        ``progress(done, total)`` during the Monte Carlo.

    Returns
    -------
    LinearGaussianResult
        The terms, with NaN and a reason in ``missing`` for terms that need
        data not given.

    References
    ----------
    Li and He (ISIT 2026), Lemma 11 and eq. 28-39; ``docs/theory.md``,
    "Linear-Gaussian case study".
    """
    h = check_hyper(lam, beta_t, noise)
    x, w_star, y, n, d, k_ = _problem(x, w_star, y, k)
    samples = integer("samples", samples, 1)
    if seed is not None:
        seed = integer("seed", seed, 0)
    max_rank = min(k_, d, n)
    sweep_ranks = [] if rank_sweep is None else list(rank_sweep)
    for name, r in [("rank", rank)] + [("rank_sweep", r) for r in sweep_ranks]:
        if isinstance(r, (bool, np.bool_)) or not isinstance(r, (int, np.integer)) or not 1 <= r <= max_rank:
            raise ParameterError(name, f"must be an integer in 1..min(k, d, n) = 1..{max_rank}",
                                 r if isinstance(r, (int, float, str)) else repr(r))
    ranks = [int(rank)] + [int(r) for r in sweep_ranks]
    sigma_s = check_sigma_s(sigma_s, d)
    gmat, yx = gram_products(x, y)
    if not (np.isfinite(gmat).all() and (yx is None or np.isfinite(yx).all())):
        _check_finite("x", x)
        raise InputError("X^T X is not finite: the features are too large (overflow); rescale them", "x")
    spec = gram_spectrum(gmat, n)
    missing: dict[str, str] = {}
    nan = math.nan
    var = variance(spec, h)
    cov = covariance_cost(spec, h, sigma_s, k_)
    gap = convexity_gap(spec, h, k_)
    rng = np.random.default_rng(seed)
    wbar_u = None
    if y is not None:
        wbar_u = h.c * (yx @ spec.u) / (h.lam + h.c * spec.g)
        mode = "conditional"
        spread = spread_conditional(spec, h, wbar_u, k_)
        bias = bias_conditional(spec, wbar_u, w_star) if w_star is not None else nan
    elif w_star is not None:
        mode = "expected"
        spread = spread_expected(spec, h, w_star, k_)
        bias = bias_expected(spec, h, w_star, k_)
    else:
        mode = "expected"
        spread = nan
        bias = nan
    if w_star is None:
        missing["bias"] = "needs W* ({w_star}): the teacher's bias is measured against the ground truth"
        missing["dataset_shift_bound"] = "needs the bias, hence W*"
        missing["dataset_shift_exact"] = "needs W* ({w_star})"
        missing["kl_bound"] = "needs the dataset-shift bound, hence W*"
        exact = nan
    else:
        exact = dataset_shift_exact(spec, h, w_star, k_)
    if y is None and w_star is None:
        missing["spread"] = "needs Y ({y}), or W* to average over Y"
        missing["apx"] = missing["apx_stderr"] = "needs Y ({y}), or W* to average over Y"
        est = None
    else:
        est = apx_monte_carlo(spec, h, k_, ranks, samples, rng, wbar_u=wbar_u, w_star=w_star, progress=progress)
    shift = (bias + k_ * var) / (2 * h.noise ** 2) if w_star is not None else nan
    apx = float(est.mean[0]) if est is not None else nan
    apx_se = float(est.stderr[0]) if est is not None else nan
    if samples < 2 and est is not None:
        missing["apx_stderr"] = "needs {samples} >= 2"
    kl = shift + apx + cov + spread
    sweep = None
    if rank_sweep is not None and est is not None:
        sweep = {"rank": est.ranks[1:], "apx": est.mean[1:], "apx_stderr": est.stderr[1:],
                 "kl_bound": shift + est.mean[1:] + cov + spread}
    return LinearGaussianResult(
        mode=mode, n=int(n), d=int(d), k=int(k_), rank=int(ranks[0]), x_rank=spec.x_rank, cond=spec.cond,
        bias=bias, var=var, dataset_shift_bound=shift, dataset_shift_exact=exact, convexity_gap=gap, apx=apx,
        apx_stderr=apx_se, cov=cov, spread=spread, kl_bound=kl, samples=samples, noise2=h.noise ** 2,
        missing=missing, rank_sweep=sweep)
