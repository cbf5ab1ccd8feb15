"""The empirical CGF, the plug-in proxy sigma_hat and the DV optimum (kdbound.engine.cgf).

Checked against known answers (two-point laws, the Gaussian limit), against brute force on a
dense grid refined around its best point in extended precision, and for being one function:
estimate and simulate give the identical sigma_hat for the same gaps.
"""

import math
from decimal import Decimal, getcontext

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.special import ndtri

from kdbound.engine import cgf as C
from kdbound.engine import estimate as E
from kdbound.engine import simulate as S

LD = np.longdouble
# the decimal test sets its precision in a context of its own, not in the thread's
pytestmark = pytest.mark.usefixtures("decimal_60")


def _lme(c: np.ndarray, lam, dtype=LD) -> np.ndarray:
    """log mean exp(lam c) in extended precision (or ``dtype``), directly (a log-sum-exp per lambda): the brute
    force.  Where every |lam c| < 1, log1p(mean(expm1(lam c))), which keeps the digits of Lambda ~ lam^2 var / 2
    at small lam."""
    z = np.multiply.outer(np.asarray(lam, dtype=dtype), c.astype(dtype))
    top = z.max(axis=1)
    out = top + np.log(np.mean(np.exp(z - top[:, None]), axis=1))
    small = np.abs(z).max(axis=1) < 1
    out[small] = np.log1p(np.mean(np.expm1(z[small]), axis=1))
    return out


def _centred(h):
    c = np.asarray(h, dtype=LD) - np.mean(np.asarray(h, dtype=LD))
    return (c - c.mean()).astype(np.float64)


def brute_sigma_hat(h, per_side=3000):
    """sup 2 Lambda / l^2 on a dense grid of u = |l| sd in [1e-6, 1e3] (a nearly symmetric sample peaks near its
    skewness, e.g. u = 3e-4 for 0, 0, 288, 284), then a fine grid between the best
    point's neighbours (spacing ~1e-6 in log u, so the grid's error is ~1e-12 of the value).  Computed on
    h / max|h| (sigma_hat scales with h), so that no square under- or overflows."""
    top = float(np.max(np.abs(h)))
    if top != 1.0:
        return top * brute_sigma_hat(np.asarray(h) / top, per_side)
    c = _centred(h)
    sd = math.sqrt(float(np.mean(c.astype(LD) ** 2)))
    best = float(np.mean(c.astype(LD) ** 2))
    for sign in (1.0, -1.0):
        t = np.linspace(math.log(1e-6), math.log(1e3), per_side)
        lam = sign * np.exp(t) / sd
        f = 2 * _lme(c, lam) / lam.astype(LD) ** 2
        i = int(np.argmax(f))
        fine = np.linspace(t[max(i - 1, 0)], t[min(i + 1, t.size - 1)], 4001)
        lam = sign * np.exp(fine) / sd
        best = max(best, float(np.max(2 * _lme(c, lam) / lam.astype(LD) ** 2)))
    return math.sqrt(best)


# --------------------------------------------------------------------------- known answers

@pytest.mark.parametrize("ones, n", [(1, 10), (3, 20), (1, 4), (49, 100), (1, 100000)])
def test_two_point_law_gives_the_optimal_bernoulli_proxy(ones, n):
    """A sample with exact proportions has the Bernoulli(p) CGF, whose optimal proxy is
    sqrt((1 - 2p) / (2 ln((1 - p) / p))) (Kearns and Saul), for either sign of the gap."""
    p = ones / n
    want = math.sqrt((1 - 2 * p) / (2 * math.log((1 - p) / p)))
    h = np.array([1.0] * ones + [0.0] * (n - ones))
    assert C.plugin_proxy(h) == pytest.approx(want, rel=2e-15)
    assert C.plugin_proxy(-3.0 * h) == pytest.approx(3.0 * want, rel=2e-15)


def test_symmetric_two_point_law_is_its_standard_deviation():
    # log cosh(l) < l^2 / 2: the supremum is the l -> 0 limit, the variance
    assert C.plugin_proxy(np.array([1.0, -1.0] * 5)) == 1.0
    assert C.plugin_proxy(np.array([0.3, 0.3, 0.3])) == 0.0


@pytest.mark.parametrize("n", [100, 10000, 300000])
def test_gaussian_quantiles_give_the_standard_deviation(n):
    """The Gaussian's CGF is l^2 sd^2 / 2 exactly; its quantile sample (symmetric, tails cut) has sigma_hat = sd."""
    h = 0.2 + 3.0 * ndtri((np.arange(n) + 0.5) / n)
    assert C.plugin_proxy(h) == pytest.approx(float(np.std(h)), rel=1e-14)


def test_gaussian_samples_come_near_the_standard_deviation():
    """A random sample's largest values set the empirical CGF at large l, so the approach is slow (about 3%
    above sd at N = 3e5 here, where one value lies 5 sd out); never below sd."""
    for n in (1000, 300000):
        h = np.random.default_rng(11).standard_normal(n)
        assert 1.0 <= C.plugin_proxy(h) / float(np.std(h)) < 1.05


# --------------------------------------------------------------------------- brute force

@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3, allow_nan=False, allow_subnormal=False), min_size=2, max_size=40))
def test_equals_a_refined_dense_grid(values):
    h = np.array(values)
    c = _centred(h / np.max(np.abs(h))) if np.any(h) else h
    if np.ptp(h) == 0 or np.mean(c * c) < 1e-12:
        return
    got = C.plugin_proxy(h)
    want = brute_sigma_hat(h)
    assert want * (1 - 1e-11) <= got <= want * (1 + 1e-9)


@pytest.mark.parametrize("seed", range(4))
def test_skewed_and_heavy_samples_against_the_refined_grid(seed):
    rng = np.random.default_rng(seed)
    h = rng.exponential(size=300) ** 3 * rng.choice([-1.0, 1.0], 300)
    got = C.plugin_proxy(h)
    assert got == pytest.approx(brute_sigma_hat(h), rel=1e-9)
    assert np.std(h) <= got <= np.ptp(h) / 2


def test_an_outlier_far_below_the_grid_of_u():
    """One gap of 1 among 10^5 zeros: the supremum sits where l ~ ln(N), u = l sd ~ 0.04."""
    h = np.zeros(100000)
    h[7] = 1.0
    p = 1e-5
    assert C.plugin_proxy(h) == pytest.approx(math.sqrt((1 - 2 * p) / (2 * math.log((1 - p) / p))), rel=2e-15)


def test_scale_equivariant_and_shift_invariant():
    h = np.random.default_rng(3).gamma(2.0, 1.0, 500)
    base = C.plugin_proxy(h)
    assert C.plugin_proxy(2.0 ** 900 * h) == 2.0 ** 900 * base        # rescaled by powers of two: exact
    assert C.plugin_proxy(1e300 * h) == pytest.approx(1e300 * base, rel=1e-13)
    assert C.plugin_proxy(h + 1e3) == pytest.approx(base, rel=1e-9)


def test_the_cgf_against_decimal_arithmetic():
    """log mean exp(l c) in 40-digit decimal arithmetic: every digit, also at tiny l where Lambda ~ l^2 var / 2."""
    getcontext().prec = 40
    c = _centred(np.random.default_rng(5).standard_normal(300) ** 2)
    lams = [-50.0, -3.0, -1e-2, -1e-7, 1e-9, 1e-4, 0.3, 0.9, 2.0, 40.0, 400.0]
    got = C.centred_cgf(c, np.array(lams))
    cd = [Decimal(float(v)) for v in c]
    mean = sum(cd) / len(cd)                               # c's own mean (~1e-17): the CGF of c - mean c
    for lam, g in zip(lams, got):
        want = (sum((Decimal(lam) * (v - mean)).exp() for v in cd) / len(cd)).ln()
        assert abs(Decimal(float(g)) - want) <= Decimal("1e-14") * want, lam


# --------------------------------------------------------------------------- the DV optimum

def brute_dv(h, kl):
    """min over l > 0 of (K + Lambda(l)) / l on a grid of t = ln l in [-15, 15] (6000 points, in float64: it only
    brackets the minimum), then twice 401 points between the best point's neighbours in extended precision
    (spacing ~1e-7 in t, so the grid's error is far below 1e-12 of the value).  The function decreases, then
    increases (its derivative has the sign of l Lambda'(l) - Lambda(l) - K, which grows with l), so the
    neighbours of a grid's best point hold the minimum."""
    c = _centred(h)
    t = np.linspace(-15, 15, 6000)
    v = (kl + _lme(c, np.exp(t), np.float64)) / np.exp(t)
    for points in (401, 401):
        i = int(np.argmin(v))
        t = np.linspace(t[max(i - 1, 0)], t[min(i + 1, t.size - 1)], points)
        v = (kl + _lme(c, np.exp(t))) / np.exp(t).astype(LD)
    return min(float(np.min(v)), float(c.max()))


@pytest.mark.parametrize("kl", [1e-8, 1e-3, 0.1, 1.0, 3.0])
def test_dv_optimum_against_brute_force(kl):
    h = np.random.default_rng(2).gamma(2.0, 0.05, 2000) - 0.1
    assert C.dv_optimum(h, kl) == pytest.approx(brute_dv(h, kl), rel=1e-9)


def test_dv_optimum_limits():
    h = np.random.default_rng(4).uniform(-1, 1, 1000)
    c = _centred(h)
    assert C.dv_optimum(h, 0.0) == 0.0
    assert C.dv_optimum(np.full(4, 0.2), 1.0) == 0.0
    # K >= ln N (one value at the maximum): no finite minimiser, the l -> infinity limit max h - mean h
    assert C.dv_optimum(h, math.log(1000) + 1e-9) == pytest.approx(float(c.max()), rel=1e-12)
    assert C.dv_optimum(h, math.inf) == pytest.approx(float(c.max()), rel=1e-12)
    # tiny K: the optimum sqrt(2 K var) of Lambda ~ l^2 var / 2
    assert C.dv_optimum(h, 1e-14) == pytest.approx(math.sqrt(2e-14 * float(np.mean(c * c))), rel=1e-5)
    # never above the plug-in sub-Gaussian slack
    assert C.dv_optimum(h, 0.2) <= C.plugin_proxy(h) * math.sqrt(0.4)


# --------------------------------------------------------------------------- one function

def test_estimate_and_simulate_give_the_identical_sigma_hat_for_the_same_gaps():
    blocks = []
    res = S.simulate(n=20, datasets=3000, seed=9, on_block=blocks.append)
    gaps = np.concatenate([b.teacher_gap for b in blocks])
    assert E.plugin_proxy(gaps) == res.sigma_hat == C.plugin_proxy(gaps)
    assert res.dv_optimum == C.dv_optimum(gaps, res.kl)


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_estimate_on_simulate_runs_prints_simulate_sigma_hat(run_json, tmp_path, suffix):
    runs = tmp_path / f"runs{suffix}"
    sim = run_json("simulate", "--datasets", "500", "--seed", "3", "--runs-out", runs)["results"]
    est = run_json("estimate", runs)["results"]
    assert est["sigma_hat"] == sim["sigma_hat"]
