"""`estimate` with a loss range reports the bounds under both proxies (issue 17, item 6): the certified ones with
sigma_range = b - a as before, and beside them the plug-in ones with sigma_hat, each formed by Theorem 1's one
implementation; and `vacuous`, as `simulate` has it: whether the certified upper bound reaches b - a."""

import json

import numpy as np
import pytest

from kdbound.engine import estimate as E
from kdbound.engine.bounds import lower_bound_best, theorem1_bounds, upper_bound

PLUGIN = ("upper_bound_plugin", "upper_bound_plugin_hi", "lower_bound_plugin", "lower_bound_plugin_lo")


def runs(seed=0, m=150):
    rng = np.random.default_rng(seed)
    return rng.normal(0.05, 0.02, m), rng.normal(0.06, 0.025, m)


@pytest.mark.parametrize("method", ["gauss", "knn"])
def test_plugin_bounds_are_theorem_1_with_sigma_hat(method):
    teacher, student = runs()
    r = E.estimate(teacher, student, loss_min=0, loss_max=1, kl_method=method)
    # by hand, through the public bound functions of `kdbound upper` and `kdbound lower`
    s = r.sigma_hat
    assert r.upper_bound_plugin == float(upper_bound(r.gen_t, r.kl_gap, s).bound)
    assert r.upper_bound_plugin_hi == float(upper_bound(r.gen_t_hi, r.kl_gap_hi, s).bound)
    assert r.lower_bound_plugin == float(lower_bound_best(r.gen_t, r.kl_gap, s).bound)
    assert r.lower_bound_plugin_lo == float(lower_bound_best(r.gen_t_lo, r.kl_gap_hi, s).bound)
    # and the certified ones are unchanged: sigma = b - a
    up, low, _ = theorem1_bounds([r.gen_t, r.gen_t_hi, r.gen_t_lo], [r.kl_gap, r.kl_gap_hi, r.kl_gap_hi], 1.0)
    assert (r.upper_bound, r.upper_bound_hi, r.lower_bound, r.lower_bound_lo) == \
        (float(up[0]), float(up[1]), float(low[0]), float(low[2]))
    assert r.upper_bound_plugin < r.upper_bound and r.lower_bound_plugin > r.lower_bound
    assert all(r.basis[k] == "plug-in" for k in PLUGIN)


def test_without_a_loss_range_the_plugin_bounds_are_the_bounds():
    teacher, student = runs(1)
    r = E.estimate(teacher, student)
    assert r.sigma_used == "sigma_hat"
    assert (r.upper_bound_plugin, r.upper_bound_plugin_hi, r.lower_bound_plugin, r.lower_bound_plugin_lo) == \
        (r.upper_bound, r.upper_bound_hi, r.lower_bound, r.lower_bound_lo)
    assert r.vacuous is None and r.basis["vacuous"] is None


@pytest.mark.parametrize("shift, vacuous", [(0.0, False), (0.6, True)])
def test_vacuous_is_the_certified_upper_bound_reaching_b_minus_a(shift, vacuous):
    """As simulate's: upper_bound >= b - a (b - a = 1 here)."""
    teacher, student = runs(2)
    r = E.estimate(teacher, student + shift, loss_min=0, loss_max=1)
    assert r.vacuous is vacuous and (r.upper_bound >= 1.0) is vacuous


def test_the_table_shows_both_and_json_orders_the_keys(run, tmp_path):
    """The digits example of the issue: a certified bound that says nothing beside a plug-in one that does."""
    teacher, student = runs(3)
    student = student + 0.3  # K_h large: the certified bounds are vacuous, the plug-in ones are not
    path = tmp_path / "runs.csv"
    path.write_text("role,gap\n" + "".join(f"teacher,{float(g)!r}\n" for g in teacher) + "".join(f"student,{float(g)!r}\n" for g in student))
    out = json.loads(run("estimate", path, "--loss-min", 0, "--loss-max", 1, "-f", "json").stdout)
    keys = list(out["results"])
    assert keys == list(E.RESULT_KEYS) and keys[-1] == "vacuous"
    assert keys.index("upper_bound_plugin") == keys.index("lower_bound_lo") + 1
    r = out["results"]
    assert r["vacuous"] is True and r["upper_bound"] >= 1 > r["upper_bound_plugin"]
    res = run("estimate", path, "--loss-min", 0, "--loss-max", 1, tty=True)
    lines = res.stdout.splitlines()
    line = next(li for li in lines if " upper_bound_plugin " in li)
    assert line.rstrip().endswith("plug-in") and "vacuous" not in line
    assert next(li for li in lines if " upper_bound " in li).rstrip().endswith("plug-in, vacuous")
    assert next(li for li in lines if li.split()[:1] == ["vacuous"]).split() == ["vacuous", "yes", "plug-in"]


def test_without_a_loss_range_vacuous_is_null_with_a_note(run_json, tmp_path):
    teacher, student = runs(4)
    path = tmp_path / "runs.csv"
    path.write_text("role,gap\n" + "".join(f"teacher,{float(g)!r}\n" for g in teacher) + "".join(f"student,{float(g)!r}\n" for g in student))
    out = run_json("estimate", path)
    assert out["results"]["vacuous"] is None and out["results"]["sigma_range"] is None
    note = next(n for n in out["notes"] if n.startswith("sigma_range is null"))
    assert "vacuous is null" in note and "*_plugin bounds equal them" in note
    assert not any(n.startswith("vacuous is not finite") for n in out["notes"])
