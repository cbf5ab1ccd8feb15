"""--sweep: linear and log grids of any parameter, whole numbers, with --solve, bad grids."""

import json
import math
import os

import numpy as np
import pytest

from kdbound import upper_bound

UP_NO_KL = ["upper", "--gen-t", "0.05", "--sigma", "0.1"]


def test_linear_and_log_grids(run):
    r = run(*UP_NO_KL, "--sweep", "kl=0:2:5", "--format", "json")
    rows = json.loads(r.stdout)
    assert [row["kl"] for row in rows] == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert rows[3]["bound"] == float(upper_bound(0.05, 1.5, 0.1).bound)
    r = run(*UP_NO_KL, "--sweep", "kl=log:0.001:10:5", "--format", "csv")
    lines = r.stdout.splitlines()
    assert lines[0].split(",")[:2] == ["kl", "bound"]
    np.testing.assert_allclose([float(line.split(",")[0]) for line in lines[1:]], [1e-3, 1e-2, 1e-1, 1, 10],
                               rtol=1e-12)


def test_sweep_table_and_tsv(run):
    r = run(*UP_NO_KL, "--sweep", "kl=0:1:3", tty=True)
    assert r.exit_code == 0 and "sweep of kl" in r.stdout
    r = run(*UP_NO_KL, "--sweep", "kl=0:1:3")
    assert r.stdout.splitlines()[0].split("\t")[0] == "kl" and len(r.stdout.splitlines()) == 4


def test_sweep_with_solve(run):
    r = run("upper", "--sigma", "0.1", "--sweep", "gen_t=0:0.05:3", "--solve", "kl", "--target", "0.1",
            "--format", "jsonl")
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [round(row["kl"], 12) for row in rows] == [0.5, round(0.5 * 0.75 ** 2, 12), 0.125]


# mutation: a sweep of a whole-number parameter not rounded (the engine then refuses n = 3.25)
def test_a_sweep_of_n_takes_each_whole_number_once(run):
    r = run("upper", "--gen-t", "0", "--kl", "0.5", "--loss-min", "0", "--loss-max", "1", "--beta", "0.01",
            "--sweep", "n=1:10:5", "--format", "jsonl")
    assert r.exit_code == 0, r.stderr
    assert [json.loads(line)["n"] for line in r.stdout.splitlines()] == [1.0, 3.0, 6.0, 8.0, 10.0]


# mutation: JSON Lines rows without plain() (NaN instead of null)
def test_sweep_jsonl_writes_null_not_nan(run):
    r = run("upper", "--gen-t", "0.05", "--sigma", "0.1", "--sweep", "kl=0:1:3", "--format", "jsonl")
    assert r.exit_code == 0, r.stderr

    def refuse(name):
        raise ValueError(f"{name} is not JSON")

    rows = [json.loads(line, parse_constant=refuse) for line in r.stdout.splitlines()]
    assert rows[0]["lambda_opt"] is None and rows[1]["lambda_opt"] == pytest.approx(math.sqrt(1.0) / 0.1)


def test_a_sweep_across_all_of_float64_is_exact(run):
    r = run("upper", "--kl", "0.2", "--sigma", "0.1", "--sweep", "gen_t=-1e308:1e308:3", "-f", "csv")
    assert r.exit_code == 0 and r.stderr == "", r.stderr
    assert [line.split(",")[0] for line in r.stdout.splitlines()[1:]] == ["-1e+308", "0.0", "1e+308"]


# ----------------------------------------------------------------------------- bad grids

@pytest.mark.parametrize("spec, message", [
    ("kl", "must look like"), ("zeta=0:1:3", "PARAM must be one of"), ("kl=0:1:1", "NUM must be in 2..10,000,000 (got 1)"),
    ("kl=log:0:1:3", "log grid needs START > 0"), ("kl=a:1:3", "must be numbers"),
])
def test_bad_sweeps(run, spec, message):
    r = run(*UP_NO_KL, "--sweep", spec)
    assert r.exit_code == 2 and message in r.stderr and r.stdout == ""


@pytest.mark.parametrize("sweep, words", [
    ("kl=0:1:99999999999", "NUM must be in 2..10,000,000 (got 99999999999)"),
    ("kl=0:1_0:3", "START and STOP must be numbers"),       # the grammar of every other number option
    ("kl=0:1:\u0661\u0662", "START and STOP must be numbers"),
])
def test_sweeps_refuse_what_number_options_refuse(run, sweep, words):
    r = run("upper", "--gen-t", "0.05", "--sigma", "0.1", "--sweep", sweep)
    assert r.exit_code == 2 and r.stdout == "" and r.stderr.count("\n") == 1 and words in r.stderr, r.stderr


def test_sweep_details_found_by_a_second_attack(run):
    # n beyond int64 stays a float (was a cast warning and n = -9.2e18)
    r = run("upper", "--gen-t", "0.05", "--kl", "1", "--sweep", "n=log:1:1e20:4", "--loss-min", "0", "--loss-max", "1",
            "--beta", "0.01", "-f", "csv")
    assert r.exit_code == 0 and r.stdout.splitlines()[-1].startswith("1e+20,") and "Warning" not in r.stderr
    # with --solve, the offending grid point is the one named (not the first point)
    r = run("upper", "--sigma", "0.1", "--sweep", "gen_t=0:2:5", "--loss-min", "0", "--loss-max", "1", "--solve", "kl",
            "--target", "0.1")
    assert r.exit_code == 2 and "(got 1.5)" in r.stderr and r.stderr.count("\n") == 1


# mutations: check_table_rows skipped in the sweep (minutes of drawing) or in the batch's table output
def test_a_table_longer_than_the_limit_is_refused_before_any_work(run):
    import time

    from conftest import one_line_error
    from kdbound.render.report import MAX_TABLE_ROWS

    t = time.perf_counter()
    r = run("upper", "--gen-t", "0.05", "--sigma", "0.1", "--sweep", "kl=0:1:1000000", "-f", "table")
    one_line_error(r, "--format: table: 1,000,000 rows", f"at most {MAX_TABLE_ROWS:,}", "--format tsv or csv",
                   "--output FILE")
    assert time.perf_counter() - t < 5
    rows = "gen_t,kl\n" + "0.05,0.1\n" * (MAX_TABLE_ROWS + 1)
    r = run("upper", "--sigma", "0.1", "-i", "-", "-f", "table", input=rows, tty=True)
    assert r.exit_code == 2 and "rows are too many for a terminal table" in r.stderr
    ok = run("upper", "--gen-t", "0.05", "--sigma", "0.1", "--sweep", f"kl=0:1:{MAX_TABLE_ROWS}", "-f", "tsv")
    assert ok.exit_code == 0 and len(ok.stdout.splitlines()) == MAX_TABLE_ROWS + 1


# ----------------------------------------------------------------------------- two sweeps: a grid

# mutations: the second --sweep dropped (it used to replace the first silently), the grid's order swapped
def test_two_sweeps_make_a_grid(run):
    r = run("upper", "--gen-t", "0.05", "--sweep", "kl=0:1:3", "--sweep", "sigma=0.1:0.2:2", "-f", "csv")
    assert r.exit_code == 0, r.stderr
    header, *rows = r.stdout.splitlines()
    assert header.startswith("kl,sigma,bound,")
    cells = [[float(c) for c in row.split(",")[:3]] for row in rows]
    assert [(kl, s) for kl, s, _ in cells] == [(0.0, 0.1), (0.5, 0.1), (1.0, 0.1), (0.0, 0.2), (0.5, 0.2), (1.0, 0.2)]
    for kl, s, bound in cells:
        assert bound == pytest.approx(0.05 + s * (2 * kl) ** 0.5, rel=1e-12)


@pytest.mark.parametrize("args, words", [
    (["--sweep", "kl=0:1:3", "--sweep", "sigma=0.1:0.2:2", "--sweep", "gen_t=0:1:2"], "--sweep: at most twice"),
    (["--sweep", "kl=0:1:3", "--sweep", "kl=0:2:2"], "--sweep: names kl twice"),
    (["--sweep", "kl=0:1:3", "--sweep", "sigma=0.1:0.2:13", "--plot", "x.png"], "--plot: draws one curve per value"),
])
def test_grids_refused_in_one_line(run, tmp_path, monkeypatch, args, words):
    from conftest import one_line_error

    monkeypatch.chdir(tmp_path)
    one_line_error(run("upper", "--gen-t", "0.05", *args), words)
    assert os.listdir(tmp_path) == []


def test_linear_gaussian_sweeps_its_scalar_parameters(run_json, run):
    base = ["linear-gaussian", "--d", "6", "--n", "40", "--k", "2", "--samples", "8"]
    r = run(*base, "--sweep", "lam=0.5:2:2", "--sweep", "rank=1:2:2", "-f", "jsonl")
    assert r.exit_code == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [(row["lam"], row["rank"]) for row in rows] == [(0.5, 1), (2.0, 1), (0.5, 2), (2.0, 2)]
    for row in rows:  # each row is the single evaluation at its point
        single = run_json(*base, "--lam", row["lam"], "--rank", row["rank"])["results"]
        assert row["kl_bound"] == single["kl_bound"] and row["apx"] == single["apx"]
    r = run(*base, "--sweep", "rank=1:2:2", "--rank-sweep", "1:2")
    assert r.exit_code == 2 and "--sweep: conflicts with --rank-sweep" in r.stderr
    r = run(*base, "--sweep", "seed=1:2:2")
    assert r.exit_code == 2 and "PARAM must be one of lam, beta_t, noise, rank" in r.stderr


def test_simulate_grid_rows(run):
    r = run("simulate", "--d", "3", "--k", "2", "--datasets", "100", "--sweep", "n=10:20:2", "--sweep", "lam=1:2:2",
            "-f", "csv", "--columns", "n,lam,datasets")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines() == ["n,lam,datasets", "10,1.0,100", "20,1.0,100", "10,2.0,100", "20,2.0,100"]


def test_a_whole_number_sweep_stays_within_its_range(run):
    """n=1.5:3.5:3 rounds 3.5 to 4: a point outside the range asked for was evaluated."""
    r = run("upper", "--gen-t", "0.05", "--kl", "0.2", "--loss-min", "0", "--loss-max", "1", "--beta", "1e-4",
            "--sweep", "n=1.5:3.5:3", "--format", "csv", "--columns", "n")
    assert r.exit_code == 0, r.stderr
    assert [int(x) for x in r.stdout.split()[1:]] == [2]
    r = run("upper", "--gen-t", "0.05", "--kl", "0.2", "--loss-min", "0", "--loss-max", "1", "--beta", "1e-4",
            "--sweep", "n=1.2:1.4:3")
    assert r.exit_code == 2 and "n takes whole numbers, and none lies in 1.2..1.4" in r.stderr
