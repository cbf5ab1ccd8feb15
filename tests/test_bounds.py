"""Every formula of docs/theory.md, "Upper bound", "sigma from stability", "Lower bound",
"Sharpness-aware bound" and "The tightness radius", against values computed by hand."""

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from kdbound import (ParameterError, lower_bound, lower_bound_subgaussian, sharpness_bound,
                     sigma_parameter_stability, sigma_stability, tightness_radius, upper_bound)

SQ = math.sqrt


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


SHARP = dict(gen_t=0.05, kl=0.5, n=10000.0, loss_min=0.0, loss_max=1.0, kappa=2.0, lipschitz=5.0,
             g0=0.5, alpha=10.0, tau=2.0)


def test_sharpness_by_hand():
    r = sharpness_bound(**SHARP, rho=0.01)
    rn = 100.0
    assert r.sigma0 == pytest.approx((2 * 5 + 0.5) / rn, rel=1e-15)
    assert r.sigma_u == pytest.approx((2 * (0.5 + 10 * 0.01) + 0.5) / rn, rel=1e-15)
    assert r.nu == pytest.approx((10 * 2 * 0.01 / 2 + 0.5 * 0.01 + 10 * 0.01 ** 2 / 2) / rn, rel=1e-15)
    assert r.sharpness_term == pytest.approx(2 * 0.01 ** 2 / 2, rel=1e-15)
    assert r.bound == pytest.approx(0.05 + 1e-4 + (r.sigma_u + r.nu) * 1.0, rel=1e-15)
    assert r.standard_bound == pytest.approx(0.05 + 0.105, rel=1e-15)
    assert (r.a0, r.a1, r.a2) == (9.0, 30.5, 5.0)
    # rho0 by the textbook quadratic formula
    s = SQ(1.0 / 10000)
    qa, qb, qc = 1.0 + s * 5, s * 30.5, -s * 9
    assert r.rho0 == pytest.approx((-qb + SQ(qb * qb - 4 * qa * qc)) / (2 * qa), rel=1e-12)
    assert r.rho_min == pytest.approx(2e-4)
    assert r.improvement == pytest.approx(r.standard_bound - r.bound, rel=1e-15)


def test_sharpness_dim_and_measured():
    r = sharpness_bound(**SHARP, rho=0.1, dim=8)
    assert r.sharpness_term == pytest.approx(2 * 0.01 * 8 / (2 * 10), rel=1e-15)
    m = sharpness_bound(**SHARP, rho=0.1, sigma_u=0.2, nu=0.01, sharpness=0.003)
    assert m.bound == pytest.approx(0.05 + 0.003 + 0.21, rel=1e-15)


def test_sharpness_default_rho_is_rho_min():
    r = sharpness_bound(**SHARP)
    assert r.rho == r.rho_min == pytest.approx(2e-4)


def test_rho0_special_cases():
    # no tightening when g0 >= L or K = 0
    assert tightness_radius(0.5, 100, 1.0, 1.0, 2.0, 1.0, 1.0)[0] == 0.0
    assert tightness_radius(0.0, 100, 1.0, 3.0, 2.0, 1.0, 1.0)[0] == 0.0
    # linear case tau = alpha = 0: rho0 = A0 / A1 = kappa (L - g0) / g0
    assert tightness_radius(0.5, 100, 2.0, 3.0, 1.0, 0.0, 0.0)[0] == pytest.approx(2.0 * 2.0 / 1.0)


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
            assert sharpness_bound(**base, rho=rho).improvement <= 1e-12
        return
    if not math.isfinite(rho0):  # tau = A1 = A2 = 0: every radius tightens
        for rho in (0.1, 1.0, 10.0):
            assert sharpness_bound(**base, rho=rho).improvement > 0
        return
    scale = max(float(sharpness_bound(**base, rho=rho0).standard_bound), 1e-300)
    for f in (0.01, 0.5, 0.99):
        assert sharpness_bound(**base, rho=f * rho0).improvement > -1e-13 * scale
    for f in (1.01, 2.0, 10.0):
        assert sharpness_bound(**base, rho=f * rho0).improvement < 1e-13 * scale
    # at rho0 itself the two bounds agree
    r = sharpness_bound(**base, rho=rho0)
    assert abs(float(r.improvement)) <= 1e-9 * max(1.0, float(r.standard_bound))


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
    (lambda: sharpness_bound(**{**SHARP, "alpha": -1}), "alpha: must be >= 0"),
    (lambda: sharpness_bound(**{**SHARP, "tau": -1}), "tau: must be >= 0"),
    (lambda: sharpness_bound(**{**SHARP, "lipschitz": -1}), "lipschitz: must be >= 0"),
    (lambda: sharpness_bound(**SHARP, rho=-0.1), "rho: must be > 0"),
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
