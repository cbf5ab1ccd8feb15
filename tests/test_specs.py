"""engine/specs.py: the bound commands as data, and the rules BoundSpec.evaluate applies to every call
(options, batch cells and library calls alike)."""

import pytest
from conftest import SH

from kdbound import BOUND_SPECS, InputError, ParameterError

UPPER, LOWER, SHARP = BOUND_SPECS["upper"], BOUND_SPECS["lower"], BOUND_SPECS["sharpness"]


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


def test_bound_specs_are_read_only():
    """The specs are shared by every command: nothing may change one after it is built."""
    from kdbound.engine.specs import UPPER

    with pytest.raises(AttributeError, match="read-only"):
        UPPER.name = "other"
    with pytest.raises(AttributeError, match="read-only"):
        del UPPER.params
    assert UPPER.name == "upper" and "upper" in repr(UPPER)
    with pytest.raises(TypeError):
        UPPER.closed_forms["kl"] = None  # the mapping is a read-only view
