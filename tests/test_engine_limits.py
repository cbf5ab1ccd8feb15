"""Size and memory limits live in the engine, next to the computation they protect; the CLI maps the engine's
error to an option. Library calls meet the same limits as the commands."""

import numpy as np
import pytest

from kdbound.engine import lingauss as LG
from kdbound.engine import sim_model as SM
from kdbound.engine import synthetic as SY
from kdbound.errors import InputError, ParameterError


def test_memory_of_the_synthetic_problem_is_checked_before_it_is_drawn():
    with pytest.raises(InputError) as e:
        SY.synthetic_problem(d=200_000)
    assert e.value.param == "d" and "needs about" in str(e.value) and "GiB of memory" in str(e.value)
    with pytest.raises(InputError) as e:
        SY.synthetic_problem(n=10 ** 9)
    assert e.value.param == "n"
    with pytest.raises(ParameterError):
        SY.synthetic_problem(k=0)


def test_linear_gaussian_refuses_a_rank_sweep_too_long_before_listing_it():
    x, w = SY.synthetic_problem(d=4, n=30, k=3)
    with pytest.raises(InputError, match="at most 10,000 ranks") as e:
        LG.linear_gaussian(x, w, rank_sweep=range(1, 10 ** 12))
    assert e.value.param == "rank_sweep"


def test_linear_gaussian_refuses_an_oversized_problem():
    x = np.lib.stride_tricks.as_strided(np.zeros(1), shape=(10, 40_000), strides=(0, 0))  # no memory behind it
    with pytest.raises(InputError, match="GiB of memory"):
        LG.linear_gaussian(x, k=1)


def test_simulate_limits():
    with pytest.raises(ParameterError, match=r"must be <= 1e\+08"):
        SM.check_run(10 ** 8 + 1, 0, 1.0)
    with pytest.raises(InputError, match="GiB"):
        SM.sim_model(n=10 ** 6, d=1000)


def test_one_generator_for_both_commands():
    x, w = SY.synthetic_problem(seed=4)
    assert x.shape == (SY.DEFAULT_N, SY.DEFAULT_D) and w.shape == (SY.DEFAULT_K, SY.DEFAULT_D)
    assert np.array_equal(w, SM.sim_model(seed=4).w_star)                  # simulate's W* is linear-gaussian's
    assert np.array_equal(SY.synthetic_problem(n=500, seed=4)[1], w)       # W* does not depend on n
    assert not np.array_equal(SY.synthetic_problem(seed=5)[1], w)
