"""`kdbound simulate` through the command line: the contract, the runs file, sweeps, plots, bad input."""

import csv
import json
import math
import os

import numpy as np
import pytest
from conftest import printed_bound
from hypothesis import given, settings
from hypothesis import strategies as st

FAST = ["simulate", "--datasets", "3000"]
RESULTS = {"gen_t", "gen_t_se", "gen_s", "gen_s_se", "gen_s_real", "gen_s_real_se", "kl", "kl_se", "sigma",
           "sigma_hat", "upper_bound", "upper_bound_hat", "lower_bound", "dv_optimum", "slack_used", "z_upper",
           "z_lower", "vacuous"}


def test_json_contract(run_json):
    out = run_json(*FAST)
    assert out["command"] == "simulate"
    assert set(out["results"]) == RESULTS
    assert out["kl_kind"] == "exact"
    assert out["verdict"] == {"upper": "holds", "lower": "holds"}
    assert out["inputs"]["datasets"] == 3000 and out["inputs"]["rank"] == 3 and out["inputs"]["student"] == "kernel"
    r = out["results"]
    assert r["sigma"] == 1.0
    # sqrt(2 K) is formed as sqrt(2) sqrt(K) (finite where 2 K overflows): equal to the last bit or so
    assert r["upper_bound"] == pytest.approx(r["gen_t"] + math.sqrt(2 * r["kl"]), rel=1e-15)
    assert r["lower_bound"] == pytest.approx(r["gen_t"] - math.sqrt(2 * r["kl"]), rel=1e-15)
    assert {c["status"] for c in out["checks"]} <= {"holds", "fails", "assumed"}
    assert any(c["status"] == "assumed" and "sigma_hat" in c["condition"] for c in out["checks"])


def test_planted_violation_and_kl_scale(run_json):
    out = run_json(*FAST, "--student", "refit", "--beta-s", "3", "--kl-scale", "1e-6")
    assert out["verdict"]["upper"] == "violated" and out["results"]["z_upper"] < -4
    assert out["inputs"]["kl_scale"] == 1e-6 and out["inputs"]["beta_s"] == 3.0
    assert any(c["status"] == "fails" and "kl_scale" in c["condition"] for c in out["checks"])
    assert any("--kl-scale" in n for n in out["notes"])


def test_same_seed_same_numbers(run):
    a = run(*FAST, "--seed", "4", "-f", "json").stdout
    b = run(*FAST, "--seed", "4", "-f", "json").stdout
    c = run(*FAST, "--seed", "5", "-f", "json").stdout
    assert a == b and a != c


def test_bottleneck_is_bound_tight_with_a_note(run_json):
    out = run_json(*FAST, "--rank", "1")
    assert out["kl_kind"] == "bound-tight"
    assert any("bottleneck" in n for n in out["notes"])


def test_csv_rows_carry_the_verdict(run):
    r = run(*FAST, "-f", "csv")
    rows = dict(line.split(",", 1) for line in r.stdout.strip().splitlines())
    assert rows["kl_kind"] == "exact" and rows["verdict_upper"] == "holds" and rows["verdict_lower"] == "holds"
    assert float(rows["gen_t"]) > 0 and rows["vacuous"] == "true"


def test_table_shows_verdicts_beside_z_and_assumptions(run):
    r = run(*FAST, tty=True)
    assert r.exit_code == 0, r.stderr
    assert "holds" in r.stdout and "exact" in r.stdout and "? assumed" in r.stdout and "…" not in r.stdout


def test_w_star_file_and_sigma_s_file(run_json, tmp_path):
    w = tmp_path / "w.npy"
    np.save(w, np.array([[0.5, -0.2, 0.1, 0.3], [0.0, 0.4, -0.3, 0.2]]))
    s = tmp_path / "s.npy"
    np.save(s, np.diag([0.5, 1.0, 2.0, 0.7]))
    out = run_json(*FAST, "--w-star", str(w), "--n", "20", "--sigma-s", str(s))
    assert (out["inputs"]["d"], out["inputs"]["k"], out["inputs"]["n"]) == (4, 2, 20)
    assert out["inputs"]["sigma_s"] == str(s) and out["kl_kind"] == "exact"


# --------------------------------------------------------------------------- the runs file

def _teacher_student(rows):
    t = [r for r in rows if r["role"] == "teacher"]
    s = [r for r in rows if r["role"] == "student"]
    return t, s


@pytest.mark.parametrize("ext", ["csv", "tsv", "jsonl", "parquet"])
def test_runs_out_reproduces_gen_t_and_gen_s(run, tmp_path, ext):
    path = tmp_path / f"runs.{ext}"
    r = run("simulate", "--datasets", "700", "--seed", "3", "--runs-out", str(path), "-f", "json")
    assert r.exit_code == 0, r.stderr
    res = json.loads(r.stdout)["results"]
    if ext == "parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        rows = table.to_pylist()
        assert str(table.schema.field("dataset").type) == "int64"
    elif ext == "jsonl":
        rows = [json.loads(line) for line in path.read_text().splitlines()]
    else:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f, delimiter="," if ext == "csv" else "\t"))
    assert list(rows[0]) == ["role", "train_loss", "test_loss", "gap", "dataset", "seed"]
    assert len(rows) == 1400
    t, s = _teacher_student(rows)
    assert [int(x["dataset"]) for x in t] == list(range(700)) == [int(x["dataset"]) for x in s]
    assert {int(x["seed"]) for x in rows} == {3}
    gaps = np.array([float(x["gap"]) for x in t])
    assert abs(gaps.mean() - res["gen_t"]) <= 1e-12
    assert abs(np.mean([float(x["gap"]) for x in s]) - res["gen_s"]) <= 1e-12
    for x in t[:50] + s[:50]:   # gap = test_loss - train_loss exactly, as written
        assert float(x["gap"]) == float(x["test_loss"]) - float(x["train_loss"])
        assert 0.0 <= float(x["train_loss"]) <= 1.0 and 0.0 <= float(x["test_loss"]) <= 1.0


def test_runs_out_does_not_change_the_numbers(run, tmp_path):
    a = json.loads(run(*FAST, "-f", "json").stdout)["results"]
    b = json.loads(run(*FAST, "-f", "json", "--runs-out", str(tmp_path / "r.csv")).stdout)["results"]
    assert a == b


# --------------------------------------------------------------------------- sweeps and plots

def test_sweep_rows_integers_and_file_output(run, tmp_path):
    r = run("simulate", "--datasets", "500", "--sweep", "n=10:13:5", "-f", "tsv")
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    header = lines[0].split("\t")
    assert header[0] == "n" and "verdict_upper" in header and "kl_kind" in header
    assert [line.split("\t")[0] for line in lines[1:]] == ["10", "11", "12", "13"]   # rounded, duplicates dropped
    out = tmp_path / "sweep.csv"
    r = run("simulate", "--datasets", "500", "--sweep", "clip=1:4:3", "-o", str(out))
    assert r.exit_code == 0, r.stderr
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [float(x["clip"]) for x in rows] == [1.0, 2.5, 4.0] and rows[0]["verdict_lower"] == "holds"
    import pyarrow.parquet as pq

    pqf = tmp_path / "sweep.parquet"
    r = run("simulate", "--datasets", "300", "--sweep", "n=10:20:2", "-o", str(pqf))
    assert r.exit_code == 0, r.stderr
    table = pq.read_table(pqf)
    assert str(table.schema.field("n").type) == "int64" and table.column("n").to_pylist() == [10, 20]
    assert str(table.schema.field("verdict_upper").type) == "string"


def test_sweep_plot_is_written(run, tmp_path):
    png = tmp_path / "sim.png"
    r = run("simulate", "--datasets", "400", "--sweep", "n=10:40:3", "--plot", str(png), "-f", "json")
    assert r.exit_code == 0, r.stderr
    assert png.stat().st_size > 10_000 and png.read_bytes()[:4] == b"\x89PNG"
    assert len(json.loads(r.stdout)) == 3


# --------------------------------------------------------------------------- bad input: one line, exit 2

BAD = [
    (["--clip", "0"], "--clip"), (["--clip", "-1"], "--clip"), (["--datasets", "1"], "--datasets"),
    (["--rank", "0"], "--rank"), (["--rank", "4"], "--rank"), (["--n", "2", "--rank", "3"], "--rank"),
    (["--student", "refit", "--beta-s", "0"], "--beta-s"), (["--student", "refit", "--beta-s", "-3"], "--beta-s"),
    (["--beta-s", "2"], "--beta-s"), (["--student", "kernel", "--beta-s", "2"], "--beta-s"),
    (["--student", "refit", "--rank", "1"], "--rank"), (["--student", "refit", "--sigma-s", "0.5"], "--sigma-s"),
    (["--student", "teacher"], "--student"), (["--noise", "0"], "--noise"), (["--lam", "-1"], "--lam"),
    (["--kl-scale", "-1"], "--kl-scale"), (["--seed", "-1"], "--seed"), (["--n", "0"], "--n"),
    (["--d", "0"], "--d"), (["--n", "1.5"], "--n"), (["--sigma-s", "-2"], "--sigma-s"),
    (["--n", "1000000", "--d", "10000"], "--n"), (["--datasets", "10000000000"], "--datasets"),
    (["--input", "rows.csv"], "--input"), (["--plot", "x.png"], "--plot"),
    (["--runs-out", "runs.xyz"], "--runs-out"), (["--runs-out", "/no/such/dir/r.csv"], "--runs-out"),
    (["--runs-out", "r.csv", "--sweep", "n=5:10:2"], "--runs-out"), (["--sweep", "n=5:10:2", "--n", "5"], "--sweep"),
    (["--sweep", "sigma=1:2:3"], "--sweep"), (["--sweep", "n=5:10"], "--sweep"), (["-f", "parquet"], "--format"),
    (["--clip", "1e-300"], "--clip --noise"), (["--noise", "1e-150"], "--lam --noise"),
    (["--lam", "1e300", "--noise", "1e150"], "--lam --noise"), (["--beta-t", "1e300"], "--beta-t"),
    (["--sigma-s", "1e300"], "--sigma-s --noise"), (["--student", "refit", "--beta-s", "1e300"], "--beta-s"),
]


@pytest.mark.parametrize("args, option", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_exits_2_with_one_line_naming_the_option(run, args, option):
    r = run("simulate", "--datasets", "50", *args)
    assert r.exit_code == 2, (r.exit_code, r.stderr, r.stdout)
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and option in lines[0], r.stderr
    assert "Traceback" not in r.stderr


def test_bad_w_star_files(run, tmp_path):
    bad = tmp_path / "w3d.npy"
    np.save(bad, np.ones((2, 3, 1)))
    nan = tmp_path / "wnan.npy"
    np.save(nan, np.array([[1.0, np.nan]]))
    good = tmp_path / "w.npy"
    np.save(good, np.ones((2, 3)))
    for args in (["--w-star", str(bad)], ["--w-star", str(nan)], ["--w-star", str(tmp_path / "missing.npy")],
                 ["--w-star", str(good), "--d", "4"], ["--w-star", str(good), "--sweep", "d=2:4:3"]):
        r = run("simulate", "--datasets", "50", *args)
        assert r.exit_code == 2 and r.stdout == "" and len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)
        assert "--w-star" in r.stderr or "--d" in r.stderr


def test_extreme_hyperparameters_print_finite_values_or_null_with_a_reason(run_json):
    out = run_json("simulate", "--datasets", "200", "--student", "refit", "--beta-s", "1e99")
    assert out["results"]["kl"] > 0 and out["results"]["upper_bound"] is not None  # finite: K grows like ln(beta_s)
    out = run_json("simulate", "--datasets", "200", "--clip", "1e-90")
    r = out["results"]
    assert r["gen_t"] is not None and 0 < abs(r["gen_t"]) < 1e-40       # kept its digits, not rounded to 0
    assert any("saturates" in n for n in out["notes"])
    out = run_json("simulate", "--datasets", "200", "--clip", "1e90")
    assert 0 < abs(out["results"]["gen_t"]) < 1e-85
    out = run_json("simulate", "--datasets", "200", "--noise", "1e-40", "--lam", "1e80", "--rank", "1")
    assert all(out["results"][key] is not None for key in ("gen_t", "gen_s", "kl", "upper_bound"))
    out = run_json("simulate", "--datasets", "200", "--kl-scale", "0")
    assert out["results"]["slack_used"] is None and out["results"]["upper_bound"] == out["results"]["gen_t"]
    assert any("slack_used is undefined" in n for n in out["notes"])


@pytest.mark.parametrize("columns", [80, 120])
def test_terminal_tables_never_cut_a_number(columns, in_pty):
    text, code = in_pty(["simulate", "--datasets", "2000", "--rank", "1"], columns)
    assert code == 0 and "…" not in text and "holds" in text and "bound-tight" in text
    text, code = in_pty(["simulate", "--datasets", "300", "--sweep", "n=10:40:3"], columns)
    assert code == 0 and "…" not in text and "verdict_upper" in text and "more columns" in text


OPTION_VALUES = {
    "--clip": ["4", "0", "-1", "1e-300", "1e300", "nan", "inf", "abc"],
    "--datasets": ["2", "3", "1", "0", "-5", "2.5"],
    "--rank": ["1", "2", "3", "0", "9"],
    "--n": ["1", "2", "7", "0", "-1"],
    "--d": ["1", "3", "0"],
    "--k": ["1", "2", "0"],
    "--lam": ["1", "1e-300", "1e300", "0", "-1", "nan"],
    "--beta-t": ["1", "1e-300", "1e300", "0"],
    "--noise": ["1", "1e-150", "1e150", "0", "inf"],
    "--student": ["kernel", "refit", "teacher", ""],
    "--beta-s": ["3", "1e300", "0", "-1", "nan"],
    "--sigma-s": ["teacher", "0.5", "1e300", "-1", "x"],
    "--kl-scale": ["1", "0", "1e-6", "1e308", "-1", "inf"],
    "--seed": ["0", "7", "-1"],
    "--format": ["json", "csv", "tsv", "jsonl", "table", "xml"],
}


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(OPTION_VALUES)), st.integers(0, 7), max_size=6))
def test_fuzz_options_exit_0_or_2_with_one_line(choice):
    from typer.testing import CliRunner

    from kdbound.cli.app import app

    args = ["simulate", "--datasets", "20"]
    for opt, i in choice.items():
        values = OPTION_VALUES[opt]
        args += [opt, values[i % len(values)]]
    r = CliRunner().invoke(app, args)
    assert r.exit_code in (0, 2), (args, r.exit_code, r.stderr, r.exception)
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, (args, r.stderr)
    if r.exit_code == 2:
        assert r.stdout == "" and len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)
    elif "--format" not in choice or OPTION_VALUES["--format"][choice["--format"] % 6] == "json":
        json.loads(r.stdout) if "--format" in choice else None


def test_sweep_notes_are_said_once_and_summarised(run):
    r = run("simulate", "--datasets", "300", "--sweep", "kl_scale=0:1:3", "--rank", "1", "-f", "csv")
    assert r.exit_code == 0, r.stderr
    notes = [line for line in r.stderr.splitlines() if line.startswith("kdbound: note: ")]
    assert len(notes) == len(set(notes))
    assert any("kl_scale != 1 at 2 of 3 points" in n for n in notes)
    assert any("slack_used is not finite at 1 of 3 points" in n for n in notes)
    assert any("rank bottleneck" in n for n in notes)


def test_a_non_finite_w_star_entry_is_shown_as_typed(run, tmp_path):
    np.save(tmp_path / "w.npy", np.array([[1.0, np.nan], [0.0, 1.0]]))
    r = run("simulate", "--w-star", str(tmp_path / "w.npy"), "--datasets", "100")
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr.strip() == "kdbound: error: --w-star: entries must be finite (got nan at row 1, column 2)"


# ----------------------------------------------------------------------------- the runs file cannot be written

def test_a_runs_out_write_failure_names_runs_out(run, tmp_path):
    os.symlink("/dev/full", tmp_path / "full.csv")
    r = run("simulate", "--datasets", "100", "--runs-out", str(tmp_path / "full.csv"), "-f", "json")
    assert r.exit_code == 2 and "--runs-out: cannot write" in r.stderr and r.stderr.count("\n") == 1


# ---------------------------------------------------- Theorem 1 formed once: simulate prints what upper and lower print

@pytest.mark.parametrize("args", [("--datasets", "400"), ("--datasets", "300", "--student", "refit", "--beta-s", "3"),
                                  ("--datasets", "300", "--kl-scale", "0.3")])
def test_simulate_prints_what_upper_and_lower_print(run_json, args):
    out = run_json("simulate", *args)
    r = out["results"]
    kl = r["kl"] * out["inputs"]["kl_scale"]
    assert printed_bound(run_json, "upper", r["gen_t"], kl, r["sigma"]) == r["upper_bound"]
    assert printed_bound(run_json, "lower", r["gen_t"], kl, r["sigma"]) == r["lower_bound"]
    assert printed_bound(run_json, "upper", r["gen_t"], kl, r["sigma_hat"]) == r["upper_bound_hat"]
