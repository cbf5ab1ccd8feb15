"""The loop with simulate: `kdbound simulate --runs-out` writes runs whose every quantity is known,
and `kdbound estimate` must agree with it (issue 12, "The loop with simulate")."""

import json
import math

import numpy as np
import pytest

from kdbound.cli.app import app
from kdbound.engine import estimate as E

HAS_SIMULATE = any((c.name or c.callback.__name__) == "simulate" for c in app.registered_commands)
pytestmark = pytest.mark.skipif(not HAS_SIMULATE, reason="kdbound simulate (--runs-out) is not in this build")

STUDENTS = {"kernel": (), "refit": ("--student", "refit", "--beta-s", "3")}


@pytest.fixture(scope="module")
def loops(tmp_path_factory):
    """For each student: simulate's JSON and the runs file it wrote (one simulation each, reused)."""
    from typer.testing import CliRunner

    runner = CliRunner()
    out = {}
    for name, args in STUDENTS.items():
        path = tmp_path_factory.mktemp("loop") / "runs.csv"
        res = runner.invoke(app, ["simulate", "--datasets", "3000", "--seed", "7", *args, "--runs-out", str(path),
                                  "--format", "json"])
        assert res.exit_code == 0, res.stderr
        out[name] = (json.loads(res.stdout), path)
    return out


def gaps(path, role):
    rows = [line.split(",") for line in path.read_text().splitlines()]
    head = rows[0]
    return np.array([float(r[head.index("gap")]) for r in rows[1:] if r[head.index("role")] == role])


@pytest.mark.parametrize("student", list(STUDENTS))
def test_gen_t_is_simulates_gen_t(run_json, loops, student):
    sim, path = loops[student]
    est = run_json("estimate", path, "--loss-min", 0, "--loss-max", 1)
    assert abs(est["results"]["gen_t"] - sim["results"]["gen_t"]) <= 1e-12
    assert abs(est["results"]["gen_s_observed"] - sim["results"]["gen_s"]) <= 1e-12
    assert est["teacher_runs"] == est["student_runs"] == 3000
    assert est["conditional"] is False  # one teacher and one student per dataset id: the paired design


@pytest.mark.parametrize("student", list(STUDENTS))
@pytest.mark.parametrize("method", ["gauss", "knn"])
def test_kl_gap_is_at_most_the_exact_kl(run_json, loops, student, method):
    """Data processing: K_h <= K, so the estimate stays below simulate's exact K plus 4 standard errors."""
    sim, path = loops[student]
    assert sim["kl_kind"] == "exact"
    replicates = ("--bootstrap", 400) if method == "gauss" else ()  # knn takes no replicates
    est = run_json("estimate", path, "--kl-method", method, *replicates)
    # the estimate's standard error (the engine on the same gaps and seed; the runs are paired by dataset id)
    eng = E.estimate(gaps(path, "teacher"), gaps(path, "student"), kl_method=method,
                     replicates=400 if method == "gauss" else None, seed=0, pairs=np.arange(3000))
    assert eng.kl_gap == pytest.approx(est["results"]["kl_gap"], rel=1e-12)
    se = math.hypot(eng.kl_gap_se, sim["results"]["kl_se"])
    assert est["results"]["kl_gap"] <= sim["results"]["kl"] + 4 * se


@pytest.mark.parametrize("student", list(STUDENTS))
def test_upper_bound_with_sigma_range_holds_against_simulates_gen_s(run_json, loops, student):
    sim, path = loops[student]
    est = run_json("estimate", path, "--loss-min", 0, "--loss-max", 1)
    r = est["results"]
    assert est["sigma_used"] == "sigma_range" and r["sigma_range"] == 1.0
    assert r["upper_bound"] >= sim["results"]["gen_s"] + 4 * sim["results"]["gen_s_se"]
    assert r["upper_bound_hi"] >= r["upper_bound"]
    assert r["lower_bound"] <= sim["results"]["gen_s"] - 4 * sim["results"]["gen_s_se"]
    # and the bound with K_h is never looser than simulate's with the exact K (data processing)
    assert r["upper_bound"] <= sim["results"]["upper_bound"]
