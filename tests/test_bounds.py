"""engine/bounds.py: every formula of docs/theory.md, "Upper bound", "sigma from stability", "Lower bound",
"Sharpness-aware bound" and "The tightness radius", against values computed another way: by hand, in
60-digit decimal arithmetic (huge and tiny inputs), and on exact finite distributions (the theorems
themselves); Theorem 1 formed once for every command."""

import math
from decimal import Decimal

import numpy as np
import pytest
from conftest import SH
from hypothesis import given, settings, strategies as st
from scipy.optimize import minimize_scalar
from scipy.special import logsumexp

from kdbound import (ParameterError, lower_bound, lower_bound_best, lower_bound_subgaussian,
                     sharpness_bound, sigma_parameter_stability, sigma_stability, tightness_radius, upper_bound)
from kdbound.engine import estimate as E
from kdbound.engine import simulate as S
from kdbound.engine.bounds import sharpness_constants, theorem1_bounds

SQ = math.sqrt
# the decimal oracles below compute in 60 digits
pytestmark = pytest.mark.usefixtures("decimal_60")


# ----------------------------------------------------------------------------- Theorem 1 and the sigma routes, by hand

def test_upper_by_hand():
    r = upper_bound(0.05, 0.2, 0.1)
    assert r.slack == pytest.approx(0.1 * SQ(0.4), rel=1e-15)
    assert r.bound == pytest.approx(0.05 + 0.1 * SQ(0.4), rel=1e-15)
    assert r.lambda_opt == pytest.approx(SQ(0.4) / 0.1, rel=1e-15)
    assert r.lower_two_sided == pytest.approx(0.05 - 0.1 * SQ(0.4), rel=1e-15)


def test_upper_edge_cases():
    assert upper_bound(0.3, 0.0, 2.0).bound == 0.3
    assert math.isnan(upper_bound(0.3, 0.0, 2.0).lambda_opt)
    r = upper_bound(0.3, 1.0, 0.0)
    assert r.bound == 0.3 and r.lambda_opt == math.inf


def test_upper_broadcasts_like_a_ufunc():
    r = upper_bound(np.array([0.0, 0.1]), np.array([[0.5], [2.0]]), 1.0)
    assert r.bound.shape == (2, 2)
    np.testing.assert_allclose(r.bound, [[1.0, 1.1], [2.0, 2.1]])
    assert isinstance(upper_bound(0.0, 0.5, 1.0).bound, np.floating)


def test_sigma_from_stability_prop9():
    # c = 2 beta + (b - a)/n = 0.03; sigma = sqrt(n) c / 2 = 0.15
    assert float(sigma_stability(0, 1, 0.01, 100).sigma) == pytest.approx(0.15, rel=1e-15)
    # route: shrinking loss range and n
    assert float(sigma_stability(-1, 3, 0.0, 4).sigma) == pytest.approx(4 / (2 * 2), rel=1e-15)


def test_sigma0_lemma13():
    assert float(sigma_parameter_stability(0, 1, 2, 5, 10000).sigma) == pytest.approx(10.5 / 100, rel=1e-15)
    # equals Proposition 9 with beta = kappa L / n
    s9 = sigma_stability(0, 2, 3 * 0.7 / 50, 50).sigma
    s13 = sigma_parameter_stability(0, 2, 3, 0.7, 50).sigma
    assert float(s9) == pytest.approx(float(s13), rel=1e-14)


# --------------------------------------------------------------- Theorem 10 and Remark 2, by hand; the best lower bound

def test_lower_central_by_hand():
    r = lower_bound(0.05, 0.01, 2.0, 0.5)
    assert r.bound == pytest.approx(0.025 - 0.005, rel=1e-15)


def test_lower_remark2_interior():
    r = lower_bound_subgaussian(0.05, 0.01, 0.1)
    eta = SQ(0.02) / 0.1
    assert r.eta == pytest.approx(eta, rel=1e-15)
    assert r.c == pytest.approx(1 - eta * 0.01 / 0.1, rel=1e-14)
    assert r.bound == pytest.approx(0.05 - 0.1 * SQ(0.02), rel=1e-14)
    # it is Theorem 10 evaluated at Remark 2's pair
    assert float(lower_bound(0.05, 0.01, r.eta, r.c).bound) == pytest.approx(float(r.bound), rel=1e-12)
    assert not r.boundary


def test_lower_remark2_boundary():
    # eta* = sqrt(2)/0.1 = 14.1 > 2 mu / sigma^2 = 10
    r = lower_bound_subgaussian(0.05, 1.0, 0.1)
    assert r.boundary and r.c == 0.0 and r.eta == pytest.approx(10.0)
    assert r.bound == pytest.approx(-1.0 * 0.01 / 0.1, rel=1e-14)
    # the supremum over the interval approaches the boundary value
    etas = np.linspace(1e-3, 10 - 1e-9, 200001)
    vals = 0.05 - etas * 0.01 / 2 - 1.0 / etas
    assert vals.max() <= r.bound + 1e-12 and vals.max() == pytest.approx(float(r.bound), abs=1e-6)


def test_lower_remark2_fixed_eta_and_errors():
    r = lower_bound_subgaussian(0.05, 0.01, 0.1, eta=1.0)
    assert r.bound == pytest.approx(0.05 - 0.01 / 2 - 0.01, rel=1e-14)
    with pytest.raises(ParameterError, match="eta: must be < 2 gen_t / sigma"):
        lower_bound_subgaussian(0.05, 0.01, 0.1, eta=10.0)
    with pytest.raises(ParameterError, match="gen_t: must be > 0"):
        lower_bound_subgaussian(-0.05, 0.01, 0.1)


@settings(max_examples=300, deadline=None)
@given(gen_t=st.floats(-1, 1).filter(lambda g: g == 0 or abs(g) > 1e-300), kl=st.floats(0, 50),
       sigma=st.floats(0, 10), eta_frac=st.floats(0.01, 0.99))
def test_remark2_never_beats_the_two_sided_bound(gen_t, kl, sigma, eta_frac):
    best = lower_bound_best(gen_t, kl, sigma)
    assert float(best.bound) == pytest.approx(gen_t - sigma * math.sqrt(2 * kl), abs=1e-12)
    if gen_t > 0:
        assert float(best.remark2_bound) <= float(best.bound) + 1e-12
        if sigma > 1e-100:  # any eta in Remark 2's interval gives less (AM-GM)
            eta = eta_frac * 2 * gen_t / sigma ** 2
            if 0 < eta < math.inf:
                assert float(lower_bound_subgaussian(gen_t, kl, sigma, eta).bound) <= float(best.bound) + 1e-12
    else:
        assert math.isnan(float(best.remark2_bound))


# ----------------------------------------------------------------------------- Theorem 12 and the tightness radius

def test_sharpness_by_hand():
    r = sharpness_bound(**SH, rho=0.01, constants="paper")
    rn = 100.0
    assert r.sigma0 == pytest.approx((2 * 5 + 0.5) / rn, rel=1e-15)
    assert r.sigma_u == pytest.approx((2 * (0.5 + 10 * 0.01) + 0.5) / rn, rel=1e-15)
    assert r.nu == pytest.approx((10 * 2 * 0.01 / 2 + 0.5 * 0.01 + 10 * 0.01 ** 2 / 2) / rn, rel=1e-15)
    assert r.sharpness_term == pytest.approx(2 * 0.01 ** 2 / 2, rel=1e-15)
    assert r.sharpness_bound == pytest.approx(0.05 + 1e-4 + (r.sigma_u + r.nu) * 1.0, rel=1e-15)
    assert r.standard_bound == pytest.approx(0.05 + 0.105, rel=1e-15)
    assert r.bound == r.sharpness_bound and r.tightens and r.bound_source == "sharpness"  # the better of the two
    assert (r.a0, r.a1, r.a2) == (9.0, 30.5, 5.0)
    # rho0 by the textbook quadratic formula
    s = SQ(1.0 / 10000)
    qa, qb, qc = 1.0 + s * 5, s * 30.5, -s * 9
    assert r.rho0 == pytest.approx((-qb + SQ(qb * qb - 4 * qa * qc)) / (2 * qa), rel=1e-12)
    assert r.rho_min == pytest.approx(2e-4)
    assert r.improvement == pytest.approx(r.standard_bound - r.sharpness_bound, rel=1e-15)


def test_sharpness_dim_and_measured():
    r = sharpness_bound(**SH, rho=0.1, dim=8)
    assert r.sharpness_term == pytest.approx(2 * 0.01 * 8 / (2 * 10), rel=1e-15)
    m = sharpness_bound(**SH, rho=0.1, sigma_u=0.2, nu=0.01, sharpness=0.003)
    assert m.sharpness_bound == pytest.approx(0.05 + 0.003 + 0.21, rel=1e-15)
    assert m.bound == m.standard_bound and not m.tightens and m.bound_source == "standard"  # B_sh is dominated


def test_sharpness_default_rho_is_rho_min():
    r = sharpness_bound(**SH)
    assert r.rho == r.rho_min == pytest.approx(2e-4)


def test_rho0_special_cases():
    # no tightening when g0 >= L or K = 0
    assert tightness_radius(0.5, 100, 1.0, 1.0, 2.0, 1.0, 1.0)[0] == 0.0
    assert tightness_radius(0.0, 100, 1.0, 3.0, 2.0, 1.0, 1.0)[0] == 0.0
    # linear case tau = alpha = 0: rho0 = A0 / A1 = kappa (L - g0) / g0
    assert tightness_radius(0.5, 100, 2.0, 3.0, 1.0, 0.0, 0.0, constants="paper")[0] == pytest.approx(2.0 * 2.0 / 1.0)


# mutation: some_radius_tightens = rho_min <= rho0
def test_kappa_zero_has_no_admissible_radius():
    r = sharpness_bound(**{**SH, "kappa": 0.0})
    assert r.rho_min == 0.0 and r.rho0 == 0.0  # A0 = kappa (L - g0) = 0: no radius tightens
    assert not r.some_radius_tightens and not r.tightens


# found while mutation testing (Hypothesis drew it in
# test_improvement_positive_exactly_below_rho0 below, which then fails on the unmutated code): with alpha at the
# smallest subnormal, A2 = alpha / 2 underflowed to 0, and rho0 came out 55% too large (B_sh > B_std at
# 0.99 rho0); fixed by taking sqrt(A2) as sqrt(alpha)/sqrt(2).
def test_rho0_with_a_subnormal_smoothness_constant():
    base = dict(gen_t=0.0, kl=1.0, n=1.0, loss_min=0.0, loss_max=1.0, kappa=1.0, lipschitz=1.0, g0=0.0,
                alpha=5e-324, tau=5e-324)
    rho0 = float(sharpness_bound(**base, rho=1.0).rho0)
    assert rho0 == pytest.approx(4.869589201001414e161, rel=1e-9)  # the quadratic's root in exact arithmetic
    assert sharpness_bound(**base, rho=0.99 * rho0).tightens


def test_rho0_matches_its_quadratic_for_both_constant_sets():
    for constants in ("paper", "refined"):
        r = sharpness_bound(**SH, rho=0.01, dim=50, constants=constants)
        a0, a1, a2 = sharpness_constants(1e4, 2.0, 5.0, 0.5, 10.0, 50.0, constants)
        s = math.sqrt(2 * 0.5 / 1e4)
        tau_eff = 2.0 * 50 / 52
        rho0 = float(r.rho0)
        assert (tau_eff / 2 + s * a2) * rho0 ** 2 + s * a1 * rho0 - s * a0 == pytest.approx(0, abs=1e-12)
        assert float(r.a0) == pytest.approx(float(a0))


# ----------------------------------------------------------------------------- properties

pos = st.floats(0.01, 10.0)


const = st.one_of(st.just(0.0), st.floats(1e-6, 10.0))  # zero, or a physically sized constant


@settings(max_examples=200, deadline=None)
@given(g=st.floats(-1, 1), k1=st.floats(0, 5), k2=st.floats(0, 5), s1=st.floats(0, 5), s2=st.floats(0, 5))
def test_upper_monotone_in_k_and_sigma(g, k1, k2, s1, s2):
    lo_k, hi_k = sorted((k1, k2))
    lo_s, hi_s = sorted((s1, s2))
    assert upper_bound(g, lo_k, lo_s).bound <= upper_bound(g, hi_k, lo_s).bound
    assert upper_bound(g, lo_k, lo_s).bound <= upper_bound(g, lo_k, hi_s).bound
    assert lower_bound_subgaussian(0.1 + abs(g), hi_k, 1.0).bound <= lower_bound_subgaussian(0.1 + abs(g), lo_k, 1.0).bound


@settings(max_examples=300, deadline=None)
@given(kl=pos, n=st.floats(1, 1e5), kappa=pos, lip=pos, g0=const, alpha=const, tau=const)
def test_sharpness_tightens_exactly_below_rho0(kl, n, kappa, lip, g0, alpha, tau):
    base = dict(gen_t=0.0, kl=kl, n=n, loss_min=0.0, loss_max=1.0, kappa=kappa, lipschitz=lip, g0=g0,
                alpha=alpha, tau=tau)
    rho0 = float(sharpness_bound(**base, rho=1.0).rho0)
    if rho0 == 0.0:
        for rho in (1e-6, 0.1, 1.0):
            assert _below(base, rho, 1e-12)
        return
    if not math.isfinite(rho0):  # tau = A1 = A2 = 0: every radius tightens
        for rho in (0.1, 1.0, 10.0):
            assert _above(base, rho, 0.0)
        return
    scale = max(float(sharpness_bound(**base, rho=rho0).standard_bound), 1e-300)
    for f in (0.01, 0.5, 0.99):
        assert _above(base, f * rho0, -1e-13 * scale)
    for f in (1.01, 2.0, 10.0):
        assert _below(base, f * rho0, 1e-13 * scale)
    # at rho0 itself the two bounds agree
    gain = _gain(base, rho0)
    assert gain is None or abs(gain) <= 1e-9 * max(1.0, float(sharpness_bound(**base, rho=rho0).standard_bound))


const20 = st.floats(0, 20)


def _gain(base, rho):
    """improvement at rho, or None below kappa/n where B_sh is no bound (improvement is then null)."""
    r = sharpness_bound(**base, rho=rho)
    if rho < float(r.rho_min):
        assert math.isnan(float(r.improvement)) and math.isnan(float(r.sharpness_bound))
        assert float(r.bound) == float(r.standard_bound) and not r.tightens
        return None
    return float(r.improvement)


def _above(base, rho, floor):
    gain = _gain(base, rho)
    return gain is None or gain > floor


def _below(base, rho, ceiling):
    gain = _gain(base, rho)
    return gain is None or gain <= ceiling


@settings(max_examples=300, deadline=None)
@given(kl=st.floats(1e-6, 50), n=st.floats(1, 1e5), kappa=st.floats(1e-3, 20), lip=const20, g0=const20, alpha=const20,
       tau=const20, dim=st.one_of(st.none(), st.floats(1, 1e6)), constants=st.sampled_from(["paper", "refined"]))
def test_improvement_positive_exactly_below_rho0(kl, n, kappa, lip, g0, alpha, tau, dim, constants):
    base = dict(gen_t=0.0, kl=kl, n=n, loss_min=0.0, loss_max=1.0, kappa=kappa, lipschitz=lip, g0=g0, alpha=alpha,
                tau=tau, dim=dim, constants=constants)
    rho0 = float(sharpness_bound(**base, rho=1.0).rho0)
    scale = max(float(sharpness_bound(**base, rho=1.0).standard_bound), 1e-300)
    if rho0 == 0.0:
        for rho in (1e-6, 0.1, 1.0):
            assert _below(base, rho, 1e-12 * scale)
        return
    if not math.isfinite(rho0):
        return
    for f in (0.01, 0.5, 0.99):
        assert _above(base, f * rho0, -1e-12 * scale)
    for f in (1.01, 2.0, 10.0):
        assert _below(base, f * rho0, 1e-12 * scale)


# ----------------------------------------------------------------------------- rules

@pytest.mark.parametrize("call, match", [
    (lambda: upper_bound(0, -1, 1), "kl: must be >= 0"),
    (lambda: upper_bound(0, 1, -1), "sigma: must be >= 0"),
    (lambda: upper_bound(float("nan"), 1, 1), "gen_t: must be finite"),
    (lambda: upper_bound(0, float("inf"), 1), "kl: must be finite"),
    (lambda: upper_bound("x", 1, 1), "gen_t: must be a number"),
    (lambda: lower_bound(0, 1, 0, 0.5), "eta: must be > 0"),
    (lambda: lower_bound(0, 1, 1, 1.5), r"c: must be in \(0, 1\]"),
    (lambda: lower_bound(0, 1, 1, 0), "c: must be > 0"),
    (lambda: sigma_stability(1, 1, 0, 10), "loss_max: must be > loss_min"),
    (lambda: sigma_stability(0, 1, -0.1, 10), "beta: must be >= 0"),
    (lambda: sigma_stability(0, 1, 0.1, 0.5), "n: must be >= 1"),
    (lambda: sharpness_bound(**{**SH, "alpha": -1}), "alpha: must be >= 0"),
    (lambda: sharpness_bound(**{**SH, "tau": -1}), "tau: must be >= 0"),
    (lambda: sharpness_bound(**{**SH, "lipschitz": -1}), "lipschitz: must be >= 0"),
    (lambda: sharpness_bound(**SH, rho=-0.1), "rho: must be > 0"),
])
def test_rules_echo_the_value(call, match):
    with pytest.raises(ParameterError, match=match):
        call()


def test_array_error_names_the_index():
    with pytest.raises(ParameterError) as e:
        upper_bound([0.1, 0.2, 0.3], [0.1, -2.0, 0.3], 1.0)
    assert e.value.index == 1 and e.value.value == -2.0


def test_result_repr_names_every_field_like_a_dataclass():
    from kdbound.engine.bounds import SigmaEstimate

    assert repr(SigmaEstimate(sigma=0.5, route="given")) == "SigmaEstimate(sigma=0.5, route='given')"
    r = repr(upper_bound(gen_t=0.05, kl=0.2, sigma=0.1))
    assert r.startswith("UpperBound(bound=") and ", lambda_opt=" in r and r.endswith(")")


# ----------------------------------------------------------------------------- nu_refined, numerically

def ball_cos_mean(t, d):
    """E cos(v . U) for U uniform on the d-ball of radius 1, with t = |v| (d = 3: 3 (sin t - t cos t) / t^3)."""
    t = np.asarray(t, dtype=float)
    small = t < 1e-4
    safe = np.where(small, 1.0, t)
    val = 3.0 * (np.sin(safe) - safe * np.cos(safe)) / safe ** 3
    return np.where(small, 1.0 - t * t / 10.0, val)


def test_bounded_difference_of_empirical_sharpness_behind_nu_refined():
    """|S_D(f) - S_D'(f')| <= alpha rho (kappa + rho) / n when one example changes and ||f - f'|| <= kappa / n.

    Losses l(w; z) = sum_j c_j cos(v_j . w + z_j) on R^3, alpha-smooth with alpha = sum_j |c_j| |v_j|^2;
    E_U l(w + U; z) is exact through the ball's characteristic function, so S_D has no Monte Carlo error.
    """
    rng = np.random.default_rng(0)
    d, worst = 3, 0.0
    for _ in range(400):
        m = rng.integers(1, 4)
        v = rng.normal(size=(m, d)) * rng.uniform(0.2, 5.0)
        c = rng.normal(size=m)
        alpha = float(np.sum(np.abs(c) * np.sum(v * v, axis=1)))
        n = int(rng.integers(2, 30))
        rho = float(rng.uniform(0.01, 2.0))
        kappa = float(rng.uniform(0.0, 3.0))
        z = rng.uniform(0, 2 * np.pi, size=(n, m))
        z2 = z.copy()
        z2[rng.integers(n)] = rng.uniform(0, 2 * np.pi, size=m)
        f = rng.normal(size=d)
        step = rng.normal(size=d)
        f2 = f + step / np.linalg.norm(step) * kappa / n * rng.uniform(0.5, 1.0)
        shrink = ball_cos_mean(rho * np.linalg.norm(v, axis=1), d)

        def s_d(w, zz, v=v, c=c, shrink=shrink):
            phase = w @ v.T + zz                     # (n, m)
            return float(np.mean(np.sum(c * np.cos(phase) * (shrink - 1.0), axis=1)))

        diff = abs(s_d(f, z) - s_d(f2, z2))
        bound = alpha * rho * (kappa + rho) / n
        assert diff <= bound * (1 + 1e-9) + 1e-15
        worst = max(worst, diff / bound)
    # the cases come close enough to the bound for the test to mean something: dropping either term of
    # the bound (kappa rho or rho^2) makes it fail
    assert worst > 0.1


# ------------------------------------------------------------- huge and tiny inputs against 60-digit decimal arithmetic

# The oracle evaluates the same formulas in 60-digit decimal arithmetic, which neither overflows nor
# underflows in this range; the engine must agree wherever the true value is a normal float64, and say
# inf/NaN only where it is not (issue: no wrong value with exit 0).

TINY, HUGE = Decimal("2.3e-308"), Decimal("1.7e308")
# from subnormal (1e-323) to near the top of float64, and a few exact extremes
magnitude = st.one_of(st.floats(-323, 308).map(lambda e: float(10.0 ** e)),
                      st.sampled_from([5e-324, 2.2250738585072014e-308, 1e308, 1.7976931348623157e308]))
signed = st.one_of(magnitude, magnitude.map(lambda x: -x), st.just(0.0))
D = Decimal


def close(engine, exact, scale=None):
    """engine equals the exact value to 1e-9 relative (of ``scale``, for sums that cancel)."""
    if abs(exact) > HUGE:
        return not math.isfinite(engine) or abs(engine) > 1e307
    if exact != 0 and abs(exact) < TINY:
        return abs(engine) <= 1e-300
    if not math.isfinite(engine):
        return False
    scale = abs(exact) if scale is None else scale
    return abs(D(engine) - exact) <= D("1e-9") * scale + TINY


def sqrt(x):
    return x.sqrt()


@settings(max_examples=400, deadline=None)
@given(gen_t=signed, kl=magnitude, sigma=magnitude)
def test_upper_bound_has_no_spurious_overflow(gen_t, kl, sigma):
    r = upper_bound(gen_t, kl, sigma)
    slack = D(sigma) * sqrt(2 * D(kl))
    assert close(float(r.slack), slack)
    assert close(float(r.bound), D(gen_t) + slack, abs(D(gen_t)) + slack)
    assert close(float(r.lower_two_sided), D(gen_t) - slack, abs(D(gen_t)) + slack)
    lam = sqrt(2 * D(kl)) / D(sigma)
    assert close(float(r.lambda_opt), lam)


@settings(max_examples=300, deadline=None)
@given(gen_t=signed, kl=magnitude, sigma=magnitude)
def test_best_lower_bound_has_no_spurious_overflow(gen_t, kl, sigma):
    r = lower_bound_best(gen_t, kl, sigma)
    slack = D(sigma) * sqrt(2 * D(kl))
    assert close(float(r.bound), D(gen_t) - slack, abs(D(gen_t)) + slack)
    if gen_t > 0:
        assert float(r.remark2_bound) <= float(r.bound) or math.isnan(float(r.remark2_bound))
        # c is in [0, 1] whenever it is a number
        c = float(r.c)
        assert math.isnan(c) or 0.0 <= c <= 1.0


@settings(max_examples=300, deadline=None)
@given(a=signed, width=magnitude, beta=magnitude, kappa=magnitude, lip=magnitude, n=st.floats(0, 300))
def test_sigma_routes_have_no_spurious_overflow(a, width, beta, kappa, lip, n):
    n = float(10.0 ** n)
    b = a + width
    if not (math.isfinite(b) and b > a):
        return
    half = (D(b) - D(a)) / 2
    s = sigma_stability(a, b, beta, n).sigma
    assert close(float(s), sqrt(D(n)) * D(beta) + half / sqrt(D(n)))
    s = sigma_parameter_stability(a, b, kappa, lip, n).sigma
    assert close(float(s), (D(kappa) * D(lip) + half) / sqrt(D(n)))


def sharp_oracle(gen_t, kl, n, a, b, kappa, lip, g0, alpha, tau, rho, dim, constants):
    gen_t, kl, n, a, b, kappa, lip, g0, alpha, tau, rho = map(D, (gen_t, kl, n, a, b, kappa, lip, g0, alpha, tau,
                                                                rho))
    half = (b - a) / 2
    rn = sqrt(n)
    tau_eff = tau if dim is None else tau * D(dim) / (D(dim) + 2)
    m = D(1) if dim is None else D(dim) / (D(dim) + 1)
    sigma0 = (kappa * lip + half) / rn
    if constants == "paper":
        su = (kappa * (g0 + alpha * rho) + half) / rn
        nu = (alpha * kappa * rho / 2 + g0 * rho + alpha * rho * rho / 2) / rn
        a0, a1 = kappa * (lip - g0), 3 * alpha * kappa / 2 + g0
    else:
        su = (kappa * (g0 + alpha * rho * m + alpha * kappa / (2 * n)) + half) / rn
        nu = alpha * (kappa * rho + rho * rho) / (2 * rn)
        a0, a1 = kappa * (lip - g0) - alpha * kappa * kappa / (2 * n), alpha * kappa * (m + D("0.5"))
    a2 = alpha / 2
    sp = tau_eff * rho * rho / 2
    rk = sqrt(2 * kl)
    s = sqrt(2 * kl / n)
    qa, qb = tau_eff / 2 + s * a2, s * a1
    if a0 <= 0 or s == 0:
        rho0 = D(0)
    else:
        rho0 = 2 * s * a0 / (qb + sqrt(qb * qb + 4 * qa * s * a0))
    return dict(bound=gen_t + sp + (su + nu) * rk, standard_bound=gen_t + sigma0 * rk, sigma_u=su, nu=nu,
                sharpness_term=sp, rho0=rho0, scale=abs(gen_t) + sp + (su + nu + sigma0) * rk,
                improvement=(a0 - a1 * rho - a2 * rho * rho) * s - sp,
                improvement_scale=(abs(kappa * (lip - g0)) + abs(a0 - kappa * (lip - g0)) + a1 * rho + a2 * rho * rho)
                * s + sp)


@settings(max_examples=400, deadline=None)
@given(gen_t=signed, kl=magnitude, n=st.floats(0, 300), width=magnitude, kappa=magnitude, lip=magnitude,
       g0=magnitude, alpha=magnitude, tau=magnitude, rho=magnitude,
       dim=st.one_of(st.none(), st.floats(0, 308).map(lambda e: float(10.0 ** e))),
       constants=st.sampled_from(["paper", "refined"]))
def test_sharpness_has_no_spurious_overflow(gen_t, kl, n, width, kappa, lip, g0, alpha, tau, rho, dim, constants):
    n = float(10.0 ** n)
    r = sharpness_bound(gen_t, kl, n, 0.0, width, kappa, lip, g0, alpha, tau, rho=rho, dim=dim, constants=constants)
    o = sharp_oracle(gen_t, kl, n, 0.0, width, kappa, lip, g0, alpha, tau, rho, dim, constants)
    for key in ("sigma_u", "nu", "sharpness_term", "rho0"):
        assert close(float(getattr(r, key)), o[key]), (key, float(getattr(r, key)), o[key])
    assert close(float(r.standard_bound), o["standard_bound"], o["scale"])
    # B_std - B_sh from its own terms: the (b - a)/2 parts cancel exactly, so a loss range of 1e6 cannot hide 1e-14
    if float(r.rho) < float(r.rho_min):  # outside Lemmas 14-15: B_sh is no bound, the bound is B_std
        assert np.isnan(float(r.sharpness_bound)) and np.isnan(float(r.improvement))
        assert float(r.bound) == float(r.standard_bound)
    else:
        assert close(float(r.improvement), o["improvement"], o["improvement_scale"]), (float(r.improvement),
                                                                                       o["improvement"])
        assert close(float(r.sharpness_bound), o["bound"], o["scale"]), (float(r.sharpness_bound), o["bound"])
        assert float(r.bound) == (float(r.sharpness_bound) if r.tightens else float(r.standard_bound))


@pytest.mark.parametrize("call, expect", [
    (lambda: upper_bound(0.05, 1e308, 1e-300).bound, 0.05),
    # found by an attack: a product through the subnormal range lost 30%; a sum whose term overflowed alone
    (lambda: upper_bound(0.0, 1e308, 5e-324).bound, float(D(5e-324) * sqrt(2 * D(1e308)))),
    (lambda: upper_bound(-1e308, 2.0, 1e308).bound, 1e308),
    (lambda: lower_bound_best(1e308, 2.0, 1e308).bound, -1e308),
    (lambda: lower_bound_best(1e308, 2.0, 1e308).c, 0.0),
    (lambda: lower_bound_best(1e-300, 0.01, 1e-160).remark2_bound, float(-D(0.01) * D(1e-160) ** 2 / (2 * D(1e-300)))),
    (lambda: lower_bound_best(5e-324, 0.01, 1e-160).remark2_bound, float(-D(0.01) * D(1e-160) ** 2 / (2 * D(5e-324)))),
    (lambda: sharpness_bound(0.05, 0.5, 1e4, 0, 1e6, 1e-12, 1, 0, 0, 0).improvement, 1e-12 / 100),
    (lambda: lower_bound_best(0.05, 0.01, 1e-320).bound, 0.05),
    (lambda: sharpness_bound(0.05, 0.5, 1e4, 0, 1, 2, 5, 0.5, 10, 2, dim=1e308).bound,
     float(sharpness_bound(0.05, 0.5, 1e4, 0, 1, 2, 5, 0.5, 10, 2).bound)),
])
def test_issue_reproducers(call, expect):
    assert float(call()) == pytest.approx(expect, rel=1e-12)


def test_genuinely_out_of_range_values_are_not_finite():
    assert np.isinf(upper_bound(0.05, 1e308, 1e-300).lambda_opt)   # sqrt(2e308)/1e-300 ~ 1.4e454
    assert np.isinf(upper_bound(0.0, 1e308, 1e300).bound)          # 1.4e454


def test_details_found_by_a_second_attack():
    # sqrt(2K) in one rounding: gen_T - sigma sqrt(2K) is exactly 0 here
    assert float(lower_bound_best(0.1, 0.5, 0.1).bound) == 0.0
    assert float(upper_bound(0.05, 0.5, 0.3).slack) == 0.3
    # K = 0 with kappa L near float64's top: B_std is gen_T (was inf * 0 = NaN)
    r = sharpness_bound(0.5, 0.0, 1.0, 0.0, 1.0, 1e300, 1e300, 1.0, 1.0, 1.0, rho=1.0)
    assert float(r.standard_bound) == 0.5
    # a subnormal loss range: |gen_T| = b - a is allowed and a bound of 0 is not vacuous
    from kdbound import BOUND_SPECS
    ev = BOUND_SPECS["upper"].evaluate(dict(gen_t=5e-324, kl=1.0, sigma=0.0, loss_min=0.0, loss_max=5e-324))
    assert float(ev["bound"]) == 5e-324  # allowed; and, being b - a, vacuous by definition
    ev = BOUND_SPECS["upper"].evaluate(dict(gen_t=0.0, kl=1.0, sigma=0.0, loss_min=0.0, loss_max=5e-324))
    assert float(ev["bound"]) == 0.0 and not bool(ev["vacuous"])


# --------------------------------------------------------------------------- the theorems on exact finite distributions

# P is the law of the teacher gap under the teacher process, Q under the student process, both on the
# same finite support.  K = KL(Q || P) is exact, the sub-Gaussian proxy of the gap under P is the
# supremum of 2 psi(l) / l^2 over l (psi the centred cumulant generating function), and a
# central-condition pair (eta, c) is exact: c = -log E_P exp(-eta X) / (eta E_P X).  Every bound
# kdbound prints must then hold for gen_S = E_Q X.


def proxy(x, p):
    """sup_l 2 psi(l) / l^2 for X ~ p on support x (a valid sub-Gaussian sigma)."""
    mean = p @ x
    xc = x - mean
    logp = np.log(p)

    def ratio(l):  # noqa: E741
        if abs(l) < 1e-8:
            return p @ xc ** 2
        return 2.0 * logsumexp(logp + l * xc) / (l * l)

    grid = np.concatenate([-np.geomspace(1e-4, 1e4, 400), np.geomspace(1e-4, 1e4, 400)])
    vals = 2.0 * logsumexp(logp + grid[:, None] * xc, axis=1) / grid ** 2
    best = max(p @ xc ** 2, vals.max())
    i = int(vals.argmax())
    lo, hi = sorted((grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]))
    res = minimize_scalar(lambda l: -ratio(l), bounds=(lo, hi), method="bounded")
    best = max(best, -res.fun)
    return np.sqrt(best) * (1 + 1e-9)


def cases(count=300, seed=7):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        m = int(rng.integers(2, 8))
        x = rng.normal(0.2, rng.uniform(0.05, 1.0), m)
        p = rng.dirichlet(np.ones(m))
        # Q: a tilt of P, sometimes strong, so that K ranges from tiny to large
        q = p * np.exp(rng.normal(0, rng.uniform(0.01, 3.0), m))
        q /= q.sum()
        yield x, p, q


@pytest.mark.parametrize("x, p, q", list(cases()))
def test_bounds_hold_on_exact_finite_distributions(x, p, q):
    kl = float(np.sum(q * np.log(q / p)))
    gen_t, gen_s = float(p @ x), float(q @ x)
    sigma = proxy(x, p)
    tol = 1e-12
    up = upper_bound(gen_t, kl, sigma)
    assert gen_s <= up.bound + tol                     # Theorem 1
    assert gen_s >= up.lower_two_sided - tol           # its two-sided form
    if gen_t > 0:
        assert gen_s >= lower_bound_subgaussian(gen_t, kl, sigma).bound - tol   # Remark 2, optimal eta
        for eta in (0.1, 1.0, 10.0, 100.0):
            c = -np.log(p @ np.exp(-eta * x)) / (eta * gen_t)   # exact central-condition pair
            if 0 < c <= 1:
                assert gen_s >= lower_bound(gen_t, kl, eta, c).bound - tol   # Theorem 10


def test_the_cases_are_not_vacuous():
    """Some cases come close to the bounds, so the test can fail."""
    gaps = []
    for x, p, q in cases():
        kl = float(np.sum(q * np.log(q / p)))
        up = upper_bound(float(p @ x), kl, proxy(x, p))
        gaps.append((float(up.bound) - float(q @ x)) / max(float(up.slack), 1e-300))
    assert min(gaps) < 0.2  # the slack is at least 80% used in some case


# ----------------------------------------------------------------------------- Theorem 1 exists once

# upper/lower, estimate and simulate print identical bounds for the same inputs (the commands' side:
# test_simulate_cli.py and test_estimate_cli.py).  Before, estimate and simulate formed
# gen_T +- sigma sqrt(2K) by their own float expressions (sigma sqrt(2) sqrt(K)), which round
# differently: at gen_T = 0.1, K = 0.5, sigma = 0.1 the lower value, exactly 0, came out as 0.0,
# -1.39e-17 and -2.78e-17 from the three.


def test_the_example_is_exactly_zero_everywhere():
    # sqrt(2 * 0.5) = 1 exactly, so 0.1 - 0.1 * 1 = 0; sqrt(2) * sqrt(0.5) = 1.0000000000000002 is not 1
    assert float(upper_bound(0.1, 0.5, 0.1).lower_two_sided) == 0.0
    assert float(lower_bound_best(0.1, 0.5, 0.1).bound) == 0.0
    upper, lower, slack = theorem1_bounds(0.1, 0.5, 0.1)
    assert (float(upper), float(lower), float(slack)) == (0.2, 0.0, 0.1)
    gt = E.GapInterval(mean=np.float64(0.1), lo=np.float64(0.1), hi=np.float64(0.1), sd=0.0, se=0.0, half_t=0.0,
                       hoeffding=0.0, runs=2, skew=0.0)
    assert E.runs_bounds(gt, 0.5, 0.5, 0.1) == (0.2, 0.2, 0.0, 0.0)
    up, low, sl, up_hat = S._theorem1(0.1, 0.5, 1.0, 0.1, 0.1)
    assert (up, low, sl, up_hat) == (0.2, 0.0, 0.1, 0.2)


def test_limits_where_an_estimate_left_float64():
    inf = math.inf
    upper, lower, slack = theorem1_bounds([0.1, 0.1, 0.1, inf, 0.1], [inf, 0.0, 2.0, 0.5, inf], [0.0, inf, inf, 0.1, 1.0])
    assert list(upper) == [inf, 0.1, inf, inf, inf]
    assert list(lower) == [-inf, 0.1, -inf, inf, -inf]
    assert list(slack) == [inf, 0.0, inf, 0.1, inf]
