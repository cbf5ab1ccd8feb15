"""Engine tests added by mutation testing: each one fails for a deliberate bug that the rest of the
suite let through (the mutation is named in the comment above the test)."""

import math

import numpy as np
import pytest

from kdbound import BOUND_SPECS, InputError, ParameterError, sharpness_bound, solve, upper_bound
from kdbound.engine._checks import first_nonfinite
from kdbound.engine.exact_kl import check_sigma_s
from kdbound.engine.lingauss import gram_spectrum
from kdbound.engine.specs import BoundSpec, Param

UPPER, LOWER, SHARP = BOUND_SPECS["upper"], BOUND_SPECS["lower"], BOUND_SPECS["sharpness"]
SH = dict(gen_t=0.05, kl=0.5, n=10000.0, loss_min=0.0, loss_max=1.0, kappa=2.0, lipschitz=5.0, g0=0.5,
          alpha=10.0, tau=2.0)


def full(spec, **values):
    return {p: values.get(p) for p in spec.param_names}


# ----------------------------------------------------------------------------- bounds.py

# mutation: admissible = rho_min <= rho0
def test_kappa_zero_has_no_admissible_radius():
    r = sharpness_bound(**{**SH, "kappa": 0.0})
    assert r.rho_min == 0.0 and r.rho0 == 0.0  # A0 = kappa (L - g0) = 0: no radius tightens
    assert not r.admissible and not r.tightens


# found while mutation testing (Hypothesis drew it in test_refinements.py's
# test_improvement_positive_exactly_below_rho0, which then fails on the unmutated code): with alpha at the
# smallest subnormal, A2 = alpha / 2 underflowed to 0, and rho0 came out 55% too large (B_sh > B_std at
# 0.99 rho0); fixed by taking sqrt(A2) as sqrt(alpha)/sqrt(2).
def test_rho0_with_a_subnormal_smoothness_constant():
    base = dict(gen_t=0.0, kl=1.0, n=1.0, loss_min=0.0, loss_max=1.0, kappa=1.0, lipschitz=1.0, g0=0.0,
                alpha=5e-324, tau=5e-324)
    rho0 = float(sharpness_bound(**base, rho=1.0).rho0)
    assert rho0 == pytest.approx(4.869589201001414e161, rel=1e-9)  # the quadratic's root in exact arithmetic
    assert sharpness_bound(**base, rho=0.99 * rho0).tightens


# ----------------------------------------------------------------------------- specs.py

# mutation: the whole-number rule of BoundSpec.evaluate removed (the CLI checks options, not batch cells
# or library calls)
@pytest.mark.parametrize("spec, values, name", [
    (UPPER, dict(gen_t=0.05, kl=0.2, loss_min=0.0, loss_max=1.0, beta=1e-3, n=100.5), "n"),
    (SHARP, dict(SH, dim=2.5), "dim"),
])
def test_whole_numbers_are_checked_by_the_engine(spec, values, name):
    with pytest.raises(ParameterError, match=f"{name}: must be a whole number"):
        spec.evaluate(values)


# mutations: sigma_route's rules removed (beta with kappa; n with sigma); _loss_pair removed
@pytest.mark.parametrize("extra, param, words", [
    (dict(loss_min=0.0, loss_max=1.0, beta=1e-3, kappa=2.0, n=100.0), "beta", "conflicts with {kappa}"),
    (dict(sigma=0.1, n=100.0), "n", "not used with {sigma}"),
    (dict(sigma=0.1, loss_min=0.0), "loss_max", "required with {loss_min}"),
    (dict(sigma=0.1, loss_max=1.0), "loss_min", "required with {loss_max}"),
])
def test_conflicting_or_incomplete_sigma_routes_are_refused(extra, param, words):
    with pytest.raises(InputError) as e:
        UPPER.evaluate(dict(gen_t=0.05, kl=0.2, **extra))
    assert e.value.param == param and words in e.value.message


# mutations: vacuous with > instead of >=; width (b - a)/2; no vacuous flag on Theorem 10's route
@pytest.mark.parametrize("spec, values, vacuous", [
    (UPPER, dict(gen_t=1.0, kl=0.0, sigma=0.1), True),            # bound = b - a exactly: says nothing
    (UPPER, dict(gen_t=0.999, kl=0.0, sigma=0.1), False),
    (UPPER, dict(gen_t=0.6, kl=0.0, sigma=0.1), False),           # above (b - a)/2, below b - a
    (LOWER, dict(gen_t=-1.0, kl=0.0, sigma=0.1), True),           # bound = -(b - a) exactly
    (LOWER, dict(gen_t=-0.6, kl=0.0, sigma=0.1), False),
    (LOWER, dict(gen_t=0.05, kl=10.0, eta=1.0, c=0.5), True),     # Theorem 10: 0.025 - 10 <= -1
    (LOWER, dict(gen_t=0.05, kl=0.01, eta=1.0, c=0.5), False),
])
def test_vacuous_is_decided_against_the_width_b_minus_a(spec, values, vacuous):
    for a in (0.0, 2.0):  # the width, not the end b
        ev = spec.evaluate({**values, "loss_min": a, "loss_max": a + 1.0})
        assert bool(ev["vacuous"]) is vacuous, (values, a)


# mutation: _sharp_solve_kl gives K = 0 (not every K) when the bound does not depend on K
def test_solve_kl_when_the_bound_does_not_depend_on_k():
    values = full(SHARP, **{**SH, "kl": None}, rho=0.01, sigma_u=0.0, nu=0.0, sharpness=0.001)
    sol = solve(SHARP, values, "kl", 0.1)
    assert sol.value == np.inf and "every kl meets the target" in sol.note


# mutation: _lower_solve_kl with target < gen_T (the target gen_T itself has the answer K = 0)
def test_lower_solve_kl_at_the_target_gen_t():
    sol = solve(LOWER, full(LOWER, gen_t=0.05, sigma=0.1), "kl", 0.05)
    assert sol.value == 0.0 and float(sol.results["bound"]) == 0.05


# ----------------------------------------------------------------------------- solve.py

def _meets(spec, values, unknown, x, target):
    bound = float(spec.evaluate({**values, unknown: x})["bound"])
    return bound <= target if spec.target_sense == "at_most" else bound >= target


# mutations: _mid without its carry (a bracket of two odd keys stalls or collapses); _bisect_keys returning
# the non-meeting float
@pytest.mark.parametrize("spec, values, unknown, targets", [
    (LOWER, full(LOWER, gen_t=0.05, kl=0.01, eta=2.0), "c", np.linspace(0.001, 0.04, 40)),
    (LOWER, full(LOWER, kl=0.01, sigma=0.1), "gen_t", np.linspace(-0.5, 0.5, 40)),
])
def test_bisection_ends_on_the_boundary_float(spec, values, unknown, targets):
    for target in targets:
        sol = solve(spec, values, unknown, float(target))
        assert sol.method == "bisection"
        x = float(sol.value)
        assert _meets(spec, values, unknown, x, target), (target, x)
        down, up = np.nextafter(x, -np.inf), np.nextafter(x, np.inf)
        # x is the last float that meets: one of its neighbours does not
        assert not (_meets(spec, values, unknown, down, target) and _meets(spec, values, unknown, up, target)), \
            (target, x)


def toy(bound, name="x", integer=False):
    """A bound of one unknown, to test the generic solver on shapes the paper's bounds do not have."""
    return BoundSpec(name="toy", theorem="toy", formula="toy", params=(Param(name, "toy", integer=integer),),
                     route=lambda v: "given", compute=lambda v, route: {"bound": bound(np.asarray(v[name], float))})


def bands(*edges):
    """0 inside any [lo, hi] band, 1 outside (an upper bound that meets 0.5 only inside the bands)."""
    def bound(x):
        inside = np.zeros(np.shape(x), dtype=bool)
        for lo, hi in edges:
            inside |= (x >= lo) & (x <= hi)
        return np.where(inside, 0.0, 1.0)
    return bound


# mutations: _bracket takes the first leaving crossing; a 9-point scan (misses meeting values far apart)
def test_several_crossings_give_the_largest_value_that_meets():
    spec = toy(bands((1e-100, 1e-90), (1e50, 1e60)))
    sol = solve(spec, {}, "x", 0.5)
    assert sol.method == "bisection" and float(sol.value) == 1e60


def test_several_crossings_give_the_smallest_n_that_meets():
    spec = toy(bands((1e20, 1e30), (1e100, 1e110)), name="n", integer=True)
    sol = solve(spec, {}, "n", 0.5)
    assert float(sol.value) == 1e20


# mutation: the golden-section search moves the wrong end (a dip narrower than the scan is then missed)
def test_a_narrow_dip_between_scan_points_is_found():
    centre = 10.02
    spec = toy(lambda x: np.abs(np.log10(x) - centre))     # meets 1e-3 only for log10 x in [10.019, 10.021]
    sol = solve(spec, {}, "x", 1e-3)
    x = float(sol.value)
    assert _meets(spec, {}, "x", x, 1e-3) and not _meets(spec, {}, "x", np.nextafter(x, np.inf), 1e-3)
    assert math.log10(x) == pytest.approx(centre + 1e-3, abs=1e-9)  # the largest value that meets


# mutation: no +inf for an unknown that never stops meeting (the end of the search domain is printed instead)
def test_an_unknown_without_effect_is_unbounded():
    values = full(SHARP, **{**SH, "lipschitz": None}, rho=0.01)  # B_sh does not involve L
    sol = solve(SHARP, values, "lipschitz", 1.0)
    assert sol.value == np.inf and "does not affect" in sol.note


# mutation: no note when every value of a bounded unknown meets (status 1)
def test_every_value_of_a_bounded_unknown_meets_is_said():
    sol = solve(LOWER, full(LOWER, gen_t=0.05, kl=0.01, eta=2.0), "c", -1.0)
    assert sol.value == 1.0
    assert sol.note == "every c meets the target: the answer reported is c = 1, the end of the values that meet it."


# ----------------------------------------------------------------------------- _checks.py

# mutation: require reports the last violation, not the first
def test_the_first_violation_is_reported():
    with pytest.raises(ParameterError) as e:
        upper_bound(0.0, [0.1, -1.0, 0.2, -2.0], 1.0)
    assert e.value.index == 1 and e.value.value == -1.0


# mutation: first_nonfinite drops the block's offset
def test_first_nonfinite_counts_rows_across_blocks():
    arr = np.ones((10, 3))
    arr[7, 2] = np.inf
    arr[9, 0] = np.nan
    assert first_nonfinite(arr, block_rows=3) == (7, 2, math.inf)
    assert first_nonfinite(np.arange(5.0), block_rows=2) is None


# mutation: booleans accepted as numbers
@pytest.mark.parametrize("value", [True, np.bool_(False)])
def test_booleans_are_not_numbers(value):
    with pytest.raises(ParameterError, match="gen_t: must be a number"):
        upper_bound(value, 0.2, 0.1)


# ----------------------------------------------------------------------------- exact_kl.py, lingauss.py

# mutation: the symmetry check of Sigma_S removed (an asymmetric matrix was silently symmetrised)
def test_asymmetric_sigma_s_is_refused():
    with pytest.raises(InputError, match="sigma_s: must be symmetric"):
        check_sigma_s(np.array([[1.0, 0.5], [0.0, 1.0]]), 2)


# mutation: the numerical-rank tolerance uses min(n, d) instead of max(n, d) (numpy.linalg.matrix_rank's rule)
def test_numerical_rank_follows_matrix_rank():
    rng = np.random.default_rng(0)
    n, d = 1000, 2
    u, _ = np.linalg.qr(rng.standard_normal((n, d)))
    eps = np.finfo(float).eps
    for small, rank in ((300 * eps, 1), (3000 * eps, 2)):  # tolerance: max(n, d) eps sigma_max = 1000 eps
        x = u * np.array([1.0, small])
        spec = gram_spectrum(x.T @ x, n, x)
        assert spec.x_rank == np.linalg.matrix_rank(x) == rank
