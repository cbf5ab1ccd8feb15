"""Huge and tiny inputs: every finite true value prints finite and right (issue: no wrong value with exit 0).

The oracle evaluates the same formulas in 60-digit decimal arithmetic, which
neither overflows nor underflows in this range; the engine must agree wherever
the true value is a normal float64, and say inf/NaN only where it is not.
"""

import math
from decimal import Decimal, getcontext

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from kdbound import lower_bound_best, sharpness_bound, sigma_parameter_stability, sigma_stability, upper_bound

getcontext().prec = 60
getcontext().Emax = 10 ** 6
getcontext().Emin = -10 ** 6

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
    assert close(float(r.improvement), o["improvement"], o["improvement_scale"]), (float(r.improvement),
                                                                                   o["improvement"])
    if float(r.rho) < float(r.rho_min):  # outside Lemmas 14-15: no bound
        assert np.isnan(float(r.bound))
    else:
        assert close(float(r.bound), o["bound"], o["scale"]), (float(r.bound), o["bound"])


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
