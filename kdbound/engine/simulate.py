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

The work is split along its jobs: :mod:`.sim_model` (the configuration, its checks and
sizes), :mod:`.sim_draw` (one block of datasets), :mod:`.sim_stats` (streaming statistics);
this module runs the blocks and summarises them (bounds, standard errors, verdicts), and
re-exports the public names of the others.

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

from ..formats import html_table, json_ready
from .bounds import theorem1_bounds
from .numerics import linear_se, quiet_fp
from .sim_draw import (Block, SATURATED, Workspace, _block_rng, clipped_square_complement, clipped_square_mean,
                       draw_block, population_loss, tight_bound_terms)
from .sim_model import (DEFAULT_CLIP, DEFAULT_D, DEFAULT_K, DEFAULT_N, MAX_DATASET_BYTES, MAX_DATASETS,
                        REDUCED_RANGE, Reduced, SimModel, block_size, check_run, cost_us, default_datasets,
                        sim_model, synthetic_w_star)
from .cgf import dv_optimum, plugin_proxy
from .sim_stats import _Moments

__all__ = ["Simulation", "SimModel", "simulate", "block_plan", "BlockJob", "block_task",
           "sim_model", "population_loss", "default_datasets",
           "block_size", "cost_us", "Z_VERDICT", "verdict", "check_run", "Block", "draw_block", "clipped_square_mean",
           "tight_bound_terms", "synthetic_w_star", "plugin_proxy", "dv_optimum", "SIGMA_CERTIFIED",
           # re-exported from the modules the simulation is split into
           "Workspace", "Reduced", "clipped_square_complement", "SATURATED", "DEFAULT_D", "DEFAULT_N", "DEFAULT_K",
           "DEFAULT_CLIP", "MAX_DATASETS", "MAX_DATASET_BYTES", "REDUCED_RANGE"]

#: a bound's margin is "violated" below -Z_VERDICT standard errors, "holds" above +Z_VERDICT
Z_VERDICT = 4.0
#: the certified sub-Gaussian proxy of a gap in [-1, 1] (Hoeffding's lemma: (b - a) / 2 with b - a = 2)
SIGMA_CERTIFIED = 1.0


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

    @property
    def vacuous(self) -> bool:
        """The upper bound says nothing: gen_S <= 1 = b - a holds for any loss in [0, 1]."""
        return bool(self.upper_bound >= 1.0)

    def to_dict(self) -> dict:
        """The results, JSON-ready, under the keys ``kdbound simulate`` prints as ``results``."""
        return {k: json_ready(getattr(self, k)) for k in RESULT_KEYS}

    def _repr_html_(self) -> str:
        """A table for Jupyter (escaped), with the verdicts."""
        return html_table({**self.to_dict(), "kl_kind": self.kl_kind, "verdict_upper": self.verdict_upper,
                           "verdict_lower": self.verdict_lower}, "Simulation")


#: the result keys of :class:`Simulation`, in the order ``kdbound simulate`` prints them (JSON ``results``)
RESULT_KEYS = ("gen_t", "gen_t_se", "gen_s", "gen_s_se", "gen_s_real", "gen_s_real_se", "kl", "kl_se", "sigma",
               "sigma_hat", "upper_bound", "upper_bound_hat", "lower_bound", "dv_optimum", "slack_used", "z_upper",
               "z_lower", "vacuous")


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

# --------------------------------------------------------------------------- blocks, here or elsewhere

def block_plan(model: SimModel, datasets: int) -> list[tuple[int, int, int]]:
    """The blocks a simulation of ``datasets`` training sets draws, in order: ``(index, start, size)``.

    A function of the sizes only: block ``index`` draws from its own stream of the seed, so the
    blocks can be drawn in any process, in any order, and merged in this order.
    """
    size = min(block_size(model.n, model.d, model.k), datasets)
    return [(index, start, min(size, datasets - start)) for index, start in enumerate(range(0, datasets, size))]


class BlockJob:
    """What the block tasks of one simulation (or of each point of a sweep) share: per point, the model,
    the seed and the block size.  Sent once to each worker process, which keeps a workspace of its own."""

    def __init__(self, points):
        self.points = tuple(points)
        self._work: dict = {}

    def __getstate__(self) -> dict:
        return {"points": self.points}

    def __setstate__(self, state: dict) -> None:
        self.points, self._work = state["points"], {}

    def workspace(self, point: int) -> Workspace:
        """The workspace of ``point`` in this process (the last point's only: a sweep moves on)."""
        if point not in self._work:
            model, _, size = self.points[point]
            self._work = {point: Workspace(model, size)}
        return self._work[point]


def block_task(job: BlockJob, point: int, index: int, start: int, size: int) -> Block:
    """Block ``index`` of point ``point`` of ``job`` (a task of any executor): the block :func:`simulate`
    draws itself with the same index, start and size."""
    model, seed, _ = job.points[point]
    return draw_block(model, size, _block_rng(seed, index), start=start, work=job.workspace(point))


@quiet_fp
def simulate(w_star=None, *, n: int = DEFAULT_N, d: int | None = None, k: int | None = None, lam: float = 1.0,
             beta_t: float = 1.0, noise: float = 1.0, student: str = "kernel", rank: int | None = None,
             sigma_s=None, beta_s: float | None = None, clip: float = DEFAULT_CLIP, datasets: int | None = None,
             seed: int = 0, kl_scale: float = 1.0, progress: Callable[[int, int], None] | None = None,
             on_block: Callable[[Block], None] | None = None, model: SimModel | None = None,
             blocks: Callable | None = None) -> Simulation:
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
    blocks : callable, optional
        ``blocks(model, seed, plan)`` returns the blocks of :func:`block_plan`'s ``plan``, in its
        order, drawn elsewhere (by :func:`block_task`, on other processes); by default they are
        drawn here, one after the other.  The numbers are the same either way.

    Returns
    -------
    Simulation
        The gaps, K, the proxies, the bounds and a verdict per bound; ``to_dict()`` gives the
        results ``kdbound simulate`` prints.

    Examples
    --------
    >>> from kdbound import simulate
    >>> res = simulate(n=20, d=3, k=2, datasets=40)
    >>> res.verdict_upper, res.verdict_lower  # doctest: +SKIP
    ('holds', 'holds')

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
    plan = block_plan(model, datasets)
    source = _draw_blocks(model, seed, plan) if blocks is None else blocks(model, seed, plan)
    moments, teacher_gaps, k_ref, saturated = _run(datasets, source, progress, on_block)
    return _summarise(model, moments, teacher_gaps, kl_scale, k_ref, saturated)


def _draw_blocks(model: SimModel, seed: int, plan):
    """The blocks of ``plan``, drawn here one after the other in one workspace."""
    work = Workspace(model, plan[0][2])
    for index, start, m in plan:
        yield draw_block(model, m, _block_rng(seed, index), start=start, work=work)


def _run(datasets: int, source, progress, on_block):
    """Merge every block in order; returns the streamed moments of (h_T, h_S, h_S real, K / k_ref), the teacher
    gaps (kept for sigma_hat and dv_optimum: 8 bytes per dataset), k_ref and the count of saturated datasets."""
    moments = _Moments(4)                        # teacher gap, student gap, student gap (real labels), K
    teacher_gaps = np.empty(datasets)
    done = 0
    if progress is not None:
        progress(0, datasets)
    k_ref = None
    saturated = 0
    for blk in source:
        m = blk.teacher_gap.size
        if blk.start != done:
            raise ValueError(f"blocks out of order: one starts at {blk.start}, {done} expected")
        if k_ref is None:                        # K's scale, so that its streamed variance cannot overflow
            k_ref = float(np.mean(blk.kl))
            k_ref = k_ref if math.isfinite(k_ref) and k_ref > 0 else 1.0
        moments.add(np.column_stack([blk.teacher_gap, blk.student_gap, blk.student_gap_real, blk.kl / k_ref]))
        teacher_gaps[done:done + m] = blk.teacher_gap
        saturated += blk.saturated
        if on_block is not None:
            on_block(blk)
        done += m
        if progress is not None:
            progress(done, datasets)
    if done != datasets:
        raise ValueError(f"the blocks hold {done} datasets, {datasets} expected")
    return moments, teacher_gaps, k_ref, saturated


def _theorem1(gen_t: float, kl: float, kl_scale: float, sigma: float, sigma_hat: float):
    """(upper, lower, slack) with sigma and the upper bound with sigma_hat, at K x kl_scale, from the engine's
    Theorem 1 (:func:`~kdbound.engine.bounds.theorem1_bounds`): ``kdbound upper`` and ``kdbound lower`` print
    the same for these gen_t, K and sigma.  K x kl_scale is one float where it is one; where it overflows,
    the scale moves onto the proxies (sigma sqrt(2 K s) = sigma sqrt(s) sqrt(2K), finite when the truth is)."""
    k, root_s = (kl * kl_scale, 1.0) if kl_scale > 0 else (0.0, 1.0)   # a scale of 0 removes K, even an infinite one
    if math.isinf(k) and math.isfinite(kl):
        k, root_s = kl, math.sqrt(kl_scale)
    upper, lower, slack = theorem1_bounds(gen_t, k, [sigma * root_s, sigma_hat * root_s])
    return float(upper[0]), float(lower[0]), float(slack[0]), float(upper[1])


def _summarise(model: SimModel, moments: _Moments, teacher_gaps: np.ndarray, kl_scale: float, k_ref: float,
               saturated: int) -> Simulation:
    """Means, standard errors, bounds and verdicts from the streamed statistics and the teacher gaps.

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
    sigma_hat = plugin_proxy(teacher_gaps)
    upper, lower, slack, upper_hat = _theorem1(gen_t, kl, kl_scale, sigma, sigma_hat)
    # an overflowing K s leaves the limit l -> infinity, max h - mean h (finite whenever K is)
    dv = dv_optimum(teacher_gaps, k_used) if math.isfinite(kl) else math.inf
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
    se_u, se_l = linear_se(cu, cov, count), linear_se(cl, cov, count)
    z_u, z_l = _z(margin_u, se_u), _z(margin_l, se_l)
    return Simulation(
        datasets=count, kl_kind=model.kl_kind, gen_t=gen_t, gen_t_se=float(se[0]), gen_s=gen_s,
        gen_s_se=float(se[1]), gen_s_real=gen_s_real, gen_s_real_se=float(se[2]), kl=kl, kl_se=kl_se,
        kl_scale=kl_scale, sigma=sigma, sigma_hat=sigma_hat, upper_bound=upper, upper_bound_hat=upper_hat,
        lower_bound=lower, dv_optimum=dv, slack_used=slack_used, margin_upper=margin_u, margin_upper_se=se_u,
        margin_lower=margin_l, margin_lower_se=se_l, z_upper=z_u, z_lower=z_l, verdict_upper=verdict(z_u),
        verdict_lower=verdict(z_l), teacher_gap_sd=math.sqrt(max(float(cov[0, 0]), 0.0)),
        teacher_gap_max=float(moments.max[0]), saturated=saturated)
