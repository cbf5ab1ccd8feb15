"""The float-safety helpers of kdbound.engine.numerics against 60-digit decimal arithmetic.

Their guarantee: a finite true value comes out finite and correct.  Each test below
fails if a helper falls back to the naive float64 expression (which overflows,
underflows or cancels on exactly these inputs).
"""

import math
import statistics
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from kdbound.engine import numerics as NU

pytestmark = pytest.mark.usefixtures("decimal_60")  # 60 digits, in each test's own context
D = Decimal
HUGE, TINY = D("1.7976931348623157e308"), D("2.2250738585072014e-308")



@pytest.fixture(autouse=True)
def quiet():
    """The helpers run inside engine functions decorated with quiet_fp: here too."""
    with np.errstate(all="ignore"):
        yield


factor = st.floats(-300, 300).map(lambda e: float(10.0 ** e))


@settings(max_examples=300, deadline=None)
@given(st.lists(factor, min_size=1, max_size=5), st.lists(factor, max_size=4))
def test_prod_ratio_is_the_exact_product_whenever_it_is_a_float(num, den):
    exact = math.prod(D(x) for x in num) / math.prod((D(x) for x in den), start=D(1))
    got = float(NU.quiet_fp(NU.prod_ratio)(num, den))
    if exact > HUGE:
        assert got == math.inf
    elif exact >= TINY:
        assert abs(D(got) - exact) <= D("1e-12") * exact
    else:
        assert 0.0 <= got <= 1e-300


def test_prod_ratio_where_the_naive_product_fails():
    assert float(NU.prod_ratio([1e300, 1e300], [1e300, 1e300])) == pytest.approx(1.0, rel=1e-13)  # inf / inf
    assert float(NU.prod_ratio([1e-300, 1e-300], [1e-300])) == pytest.approx(1e-300, rel=1e-13)  # 0 / x
    assert float(NU.prod_ratio([0.0, 1e300, 1e300])) == 0.0                                      # inf * 0
    assert float(NU.prod_ratio([1e300, 1e300])) == math.inf                                     # truly beyond


def test_root_2k_rounds_once():
    assert float(NU.root_2k(0.5)) == 1.0                      # sqrt(2) * sqrt(0.5) is 1.0000000000000002
    assert float(NU.root_2k(8.0)) == 4.0
    assert float(NU.root_2k(1.5e308)) == pytest.approx(math.sqrt(2) * math.sqrt(1.5e308), rel=1e-15)  # 2K overflows


def test_rescaled_sums_terms_that_exceed_float64_alone():
    # -1e308 + 1.5e308 * 2: the product alone is beyond float64, the sum is not
    assert float(NU.plus_product(-1e308, [1.5e308, 2.0])) == pytest.approx(2e308 - 1e308, rel=1e-15)
    assert float(NU.plus_product(1e308, [1e308, 2.0], sign=-1.0)) == pytest.approx(-1e308, rel=1e-15)
    assert float(NU.plus_product(1.0, [1e308, 1e308])) == math.inf


def test_half_factors_of_the_widest_and_the_narrowest_range():
    assert float(NU.prod_ratio(NU.half_factors(-1e308, 1e308))) == 1e308
    assert float(NU.half_range(-1.7e308, 1.7e308)) == 1.7e308
    tiny = 5e-324 * 3                                          # a subnormal width: halving first would round it
    assert float(NU.prod_ratio(NU.half_factors(0.0, tiny))) == pytest.approx(tiny / 2, abs=5e-324)


def _xm_log1p_exact(x):
    return D(x) - (1 + D(x)).ln()


@pytest.mark.parametrize("x", [1e-12, -1e-12, 3e-7, -9e-4, 9.99e-4, 1e-3, -0.5, 0.7, 50.0, 1e200, -0.999999])
def test_xm_log1p_against_decimal(x):
    exact = _xm_log1p_exact(x)
    # just above the series range (|x| = 1e-3) x - log1p(x) cancels by a factor 2 / |x|: about 1e-13 relative
    assert abs(D(float(NU.xm_log1p(x))) - exact) <= D("3e-13") * exact


def test_xm_log1p_with_a_given_logarithm():
    # x = r^2 - 1 with r = 1e-200: 1 + x is 0 in float64, ln(1 + x) = 2 ln r is not
    r = 1e-200
    got = float(NU.xm_log1p(r * r - 1.0, 2.0 * math.log(r)))
    assert got == pytest.approx(-1.0 - 2.0 * math.log(r), rel=1e-15)


@pytest.mark.parametrize("r", [1e-300, 1e-5, 0.5, 1 - 1e-9, 1 + 1e-6, 3.0, 1e300])
def test_xm_log_against_decimal(r):
    exact = D(r) - 1 - D(r).ln()
    assert abs(D(float(NU.xm_log(r))) - exact) <= D("1e-14") * exact


def test_xm_log_beyond_the_normal_range_uses_the_given_logarithm():
    log_r = -800.0                                            # r = e^-800 underflows to 0
    assert float(NU.xm_log(0.0, log_r)) == pytest.approx(-1.0 + 800.0, rel=1e-15)


def test_pow2_scale_is_a_power_of_two_near_the_largest_magnitude():
    for top in (3e-320, 1e-5, 1.0, 7.5, 1e308):
        s = float(NU.pow2_scale(np.array([top / 3, -top])))
        assert math.frexp(s)[0] == 0.5 and top / 2 <= s * 2 and s <= top * 2
    assert float(NU.pow2_scale(np.zeros(3))) == 1.0


@pytest.mark.parametrize("scale", [1e-310, 1.0, 1e300])
def test_scaled_sd_anywhere_in_float64(scale):
    values = np.array([0.1, 0.4, -0.25, 0.3]) * scale
    exact = statistics.stdev([Fraction(v) for v in values])    # exact rationals: no overflow or underflow
    assert NU.scaled_sd(values) == pytest.approx(float(exact), rel=1e-12 if scale > 1e-300 else 1e-6)
    assert NU.scaled_sd(np.full(5, 0.1 + 0.2)) == 0.0


def test_linear_se_with_a_huge_coefficient():
    cov = np.array([[2.0, 0.5], [0.5, 1.0]])
    c = np.array([1e200, -3e200])
    direct = float(((D(1e200) ** 2 * 2 + 2 * D(1e200) * D(-3e200) * D(0.5) + D(3e200) ** 2) / 10).sqrt())
    assert NU.linear_se(c, cov, 10) == pytest.approx(direct, rel=1e-14)
    assert NU.linear_se(np.array([math.inf, 1.0]), cov, 10) == math.inf


def test_quiet_fp_returns_inf_without_a_warning():
    @NU.quiet_fp
    def overflow():
        return np.float64(1e308) * 10.0

    assert overflow() == math.inf
