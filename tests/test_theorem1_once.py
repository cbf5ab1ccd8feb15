"""Theorem 1 exists once: upper/lower, estimate and simulate print identical bounds for the same inputs.

Before, estimate and simulate formed gen_T +- sigma sqrt(2K) by their own float expressions
(sigma sqrt(2) sqrt(K)), which round differently from the engine's bound functions: at
gen_T = 0.1, K = 0.5, sigma = 0.1 the lower value, exactly 0, came out as 0.0, -1.39e-17 and
-2.78e-17 from the three.  Now they all go through upper_bound and lower_bound_best.
"""

import math
from pathlib import Path

import numpy as np
import pytest

from kdbound import lower_bound_best, upper_bound
from kdbound.engine import estimate as E
from kdbound.engine import simulate as S
from kdbound.engine.bounds import theorem1_bounds

RUNS = Path(__file__).parent.parent / "examples" / "runs" / "runs.csv"


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


def test_simulate_moves_an_overflowing_kl_scale_onto_sigma():
    up, low, slack, _ = S._theorem1(0.0, 1e200, 1e200, 1.0, 0.5)      # K s = 1e400: sqrt(2 K s) = 1.41e200
    assert slack == pytest.approx(math.sqrt(2.0) * 1e200, rel=1e-15) and up == slack and low == -slack
    assert S._theorem1(0.25, math.inf, 0.0, 1.0, 0.5) == (0.25, 0.25, 0.0, 0.25)   # a scale of 0 removes K


def _bound(run_json, command, gen_t, kl, sigma):
    return run_json(command, "--gen-t", repr(gen_t), "--kl", repr(kl), "--sigma", repr(sigma))["results"]["bound"]


@pytest.mark.parametrize("args", [("--datasets", "400"), ("--datasets", "300", "--student", "refit", "--beta-s", "3"),
                                  ("--datasets", "300", "--kl-scale", "0.3")])
def test_simulate_prints_what_upper_and_lower_print(run_json, args):
    out = run_json("simulate", *args)
    r = out["results"]
    kl = r["kl"] * out["inputs"]["kl_scale"]
    assert _bound(run_json, "upper", r["gen_t"], kl, r["sigma"]) == r["upper_bound"]
    assert _bound(run_json, "lower", r["gen_t"], kl, r["sigma"]) == r["lower_bound"]
    assert _bound(run_json, "upper", r["gen_t"], kl, r["sigma_hat"]) == r["upper_bound_hat"]


@pytest.mark.parametrize("args", [(), ("--loss-min", "0", "--loss-max", "1"), ("--kl-method", "knn", "--jitter", "auto")])
def test_estimate_prints_what_upper_and_lower_print(run_json, args):
    out = run_json("estimate", RUNS, *args)
    r = out["results"]
    sigma = r[out["sigma_used"]]
    assert _bound(run_json, "upper", r["gen_t"], r["kl_gap"], sigma) == r["upper_bound"]
    assert _bound(run_json, "lower", r["gen_t"], r["kl_gap"], sigma) == r["lower_bound"]
    assert _bound(run_json, "upper", r["gen_t_hi"], r["kl_gap_hi"], sigma) == r["upper_bound_hi"]
    assert _bound(run_json, "lower", r["gen_t_lo"], r["kl_gap_hi"], sigma) == r["lower_bound_lo"]
