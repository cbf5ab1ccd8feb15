"""The simulated problem: its configuration (:class:`SimModel`), validated up front, and its sizes.

The linear-Gaussian model of :mod:`kdbound.engine.simulate` (random design ``x ~ N(0, I_d)``,
``y | x ~ N(W* x, noise^2 I_k)``, Gibbs-posterior teacher, kernel or refit student, clipped
loss): the checks of a configuration and of the Monte Carlo settings, the same problem in
units where the label noise is 1 (:class:`Reduced`), the seeded synthetic W* (:mod:`.synthetic`), and the memory
and time one training set needs (block size, default number of datasets).

References
----------
Li and He (ISIT 2026), Lemma 11; docs/theory.md, section "Monte Carlo check of the
theorems (simulate)".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import InputError, ParameterError, format_value
from ._checks import integer, nonneg, positive
from .exact_kl import check_sigma_s
from .synthetic import DEFAULT_D, DEFAULT_K, DEFAULT_N, synthetic_w_star

__all__ = ["SimModel", "Reduced", "sim_model", "synthetic_w_star", "check_run", "block_size", "cost_us",
           "default_datasets", "DEFAULT_D", "DEFAULT_N", "DEFAULT_K", "DEFAULT_CLIP", "MAX_DATASETS",
           "MAX_DATASET_BYTES", "REDUCED_RANGE"]

#: the default clip level B of the loss min(r^2, B) / B (the sizes' defaults are the embedded problem's)
DEFAULT_CLIP = 4.0
#: largest number of datasets accepted: simulate keeps each teacher gap (8 bytes, 0.8 GB at this limit) for the
#: exact sigma_hat and dv_optimum, and a run this long takes hours
MAX_DATASETS = 10 ** 8
#: largest memory one dataset may need (the block holds at least one)
MAX_DATASET_BYTES = 1 << 30


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
    """Datasets per vectorised block: about 8 MiB of working memory, at most 4096, at least 1.

    Each block costs a fixed number of numpy calls whatever its size; at (n, d, k) = (200, 20, 5)
    blocks of about 80 datasets run about 5% faster per dataset than blocks of 40
    (benchmarks/bench_simulate.py); blocks of 160 were not faster.

    A function of the sizes only, so the same seed gives the same numbers on any machine.
    """
    return int(max(1, min(4096, (1 << 20) // _dataset_floats(n, d, k))))


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


def check_run(datasets, seed, kl_scale) -> tuple[int, int, float]:
    """The Monte Carlo settings, validated: datasets in 2..MAX_DATASETS, seed >= 0, kl_scale >= 0."""
    datasets = integer("datasets", datasets, 2)
    if datasets > MAX_DATASETS:
        raise ParameterError("datasets", f"must be <= {MAX_DATASETS:.0e} (simulate keeps every teacher gap, 8 bytes "
                             "each, for the exact sigma_hat)", datasets)
    return datasets, integer("seed", seed, 0), float(nonneg("kl_scale", kl_scale))
