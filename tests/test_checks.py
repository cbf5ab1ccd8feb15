"""engine/_checks.py: the input checks every engine function runs first."""

import math

import numpy as np
import pytest

from kdbound import ParameterError, upper_bound
from kdbound.engine._checks import first_nonfinite


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
