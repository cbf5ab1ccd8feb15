"""engine/synthetic.py: the embedded synthetic problem of linear-gaussian and simulate (one generator, its
memory checked before it is drawn)."""

import numpy as np
import pytest

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


def test_one_generator_for_both_commands():
    x, w = SY.synthetic_problem(seed=4)
    assert x.shape == (SY.DEFAULT_N, SY.DEFAULT_D) and w.shape == (SY.DEFAULT_K, SY.DEFAULT_D)
    assert np.array_equal(w, SM.sim_model(seed=4).w_star)                  # simulate's W* is linear-gaussian's
    assert np.array_equal(SY.synthetic_problem(n=500, seed=4)[1], w)       # W* does not depend on n
    assert not np.array_equal(SY.synthetic_problem(seed=5)[1], w)
