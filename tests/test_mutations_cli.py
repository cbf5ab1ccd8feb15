"""CLI, rendering and I/O tests added by mutation testing: each one fails for a deliberate bug that the
rest of the suite let through (the mutation is named in the comment above the test)."""

import json
import math
import os
import shutil
import stat
import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest

from kdbound.cli.group import Terminated
from kdbound.cli.main import _on_sigterm
from kdbound.errors import InputError
from kdbound.io.arrays import load_array
from kdbound.io.atomic import AtomicFile, remove_temporaries
from kdbound.render.report import fit_columns
from kdbound.render.values import non_finite_notes, table_text

UP = ["upper", "--gen-t", "0.05", "--kl", "0.2", "--sigma", "0.1"]
SHARP = ["sharpness", "--gen-t", "0.05", "--kl", "0.5", "--n", "10000", "--loss-min", "0", "--loss-max", "1",
         "--kappa", "2", "--lipschitz", "5", "--g0", "0.5", "--alpha", "10", "--tau", "2"]


def one_line_error(r, *words):
    assert r.exit_code == 2, (r.exit_code, r.stdout, r.stderr)
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])


@pytest.fixture(scope="module")
def exe():
    path = shutil.which("kdbound") or os.path.join(os.path.dirname(sys.executable), "kdbound")
    if not os.path.exists(path):
        pytest.skip("the kdbound console script is not installed")
    return path


# ----------------------------------------------------------------------------- options and routes

# mutations: sigma_route's rules (beta with kappa, n with sigma), _loss_pair, --target without --solve, a swept
# parameter also given, the whole-number rule of the engine (batch cells reach only that one)
@pytest.mark.parametrize("args, words", [
    (["upper", "--gen-t", "0.05", "--kl", "0.2", "--loss-min", "0", "--loss-max", "1", "--beta", "0.01",
      "--kappa", "2", "--n", "100"], ["--beta: conflicts with --kappa/--lipschitz"]),
    (UP + ["--n", "100"], ["--n: not used with --sigma"]),
    (UP + ["--loss-min", "0"], ["--loss-max: required with --loss-min"]),
    (UP + ["--target", "0.1"], ["--target: only with --solve"]),
    (UP + ["--sweep", "kl=0:1:5"], ["--sweep kl: conflicts with --kl"]),
])
def test_options_that_do_not_go_together(run, args, words):
    one_line_error(run(*args), *words)


def test_whole_number_cells_in_a_batch(run):
    r = run("upper", "--input", "-", "--loss-min", "0", "--loss-max", "1", "--beta", "1e-3",
            input="gen_t,kl,n\n0.05,0.2,100\n0.05,0.2,100.5\n")
    one_line_error(r, "row 2, column n: must be a whole number (got 100.5)")


# ----------------------------------------------------------------------------- what a result says

# mutations: Check.ok False for assumptions; the gen_T > 0 check always holding; the beta sqrt(n) check negated
def test_check_statuses_in_json(run_json):
    checks = run_json(*UP)["checks"]
    assert [(c["status"], c["ok"]) for c in checks] == [("holds", True), ("assumed", None)]
    checks = run_json("lower", "--gen-t", "-0.05", "--kl", "0.01", "--sigma", "0.1")["checks"]
    remark2 = next(c for c in checks if c["condition"] == "gen_T > 0 (Remark 2)")
    assert remark2["status"] == "fails" and remark2["ok"] is False
    route = ["upper", "--gen-t", "0", "--kl", "0.5", "--loss-min", "0", "--loss-max", "1", "--n", "100"]
    for beta, ok in (("0.01", True), ("0.2", False)):   # beta sqrt(n) = 0.1, then 2
        check = next(c for c in run_json(*route, "--beta", beta)["checks"] if c["condition"] == "beta = o(1/sqrt(n))")
        assert check["ok"] is ok


# mutation: the vacuous notes of the upper and the lower bound swapped
def test_vacuous_notes_name_the_right_bound(run_json):
    rng = ["--loss-min", "0", "--loss-max", "1"]
    notes = run_json("lower", "--gen-t", "-1", "--kl", "0", "--sigma", "0.1", *rng)["notes"]
    assert any(n.startswith("The lower bound -1 is vacuous: gen_S >= -(b - a) = -1") for n in notes), notes
    notes = run_json("upper", "--gen-t", "1", "--kl", "0", "--sigma", "0.1", *rng)["notes"]
    assert any(n.startswith("The upper bound 1 is vacuous: gen_S <= b - a = 1") for n in notes), notes


# mutations: the generic note for a non-finite result skipped, or given to finite values
def test_every_non_finite_result_has_a_note(run_json):
    out = run_json("upper", "--gen-t", "0", "--kl", "1e308", "--sigma", "1e300")
    r = out["results"]
    assert r["bound"] is None and r["slack"] is None and r["lower_two_sided"] is None
    assert r["lambda_opt"] == pytest.approx(math.sqrt(2.0) * 1e154 / 1e300)  # finite: no note
    assert "bound is not finite (+inf): printed as null." in out["notes"]
    assert "lower_two_sided is not finite (-inf): printed as null." in out["notes"]
    assert not any(n.startswith("lambda_opt") for n in out["notes"])
    assert non_finite_notes({"a": 1.0, "b": float("nan"), "c": True, "d": "word"}) == \
        ["b is not finite (n/a): printed as null."]


# mutation: -inf shown as +inf in tables
def test_table_text_of_infinities():
    assert (table_text(-math.inf), table_text(math.inf), table_text(math.nan)) == ("-inf", "+inf", "n/a")


# mutation: the headline of the sharpness table is B_std when B_sh is tighter (and the reverse)
@pytest.mark.parametrize("rho, first", [("0.01", "bound"), ("0.5", "standard_bound")])
def test_the_tighter_bound_heads_the_sharpness_table(run, rho, first):
    r = run(*SHARP, "--rho", rho, tty=True)
    assert r.exit_code == 0, r.stderr
    row = next(line for line in r.stdout.splitlines() if "results" in line)
    assert row.split()[1] == first, row


# mutation: booleans written True/False in CSV
def test_booleans_in_csv_are_lowercase(run):
    rows = dict(line.split(",", 1) for line in run(*SHARP, "--rho", "0.01", "--format", "csv").stdout.splitlines())
    assert rows["tightens"] == "true" and rows["admissible"] == "true"


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


# mutation: fit_columns ignores the columns to keep
def test_kept_columns_come_first_when_space_is_short():
    names = ["aaaa", "bound", "cc"]
    texts = {"aaaa": ["1"], "bound": ["0.5"], "cc": ["2"]}
    assert fit_columns(names, texts, width=12, keep=("bound",)) == ["bound"]
    assert fit_columns(names, texts, width=200, keep=("bound",)) == names


# mutation: escape() removed: rich takes E[h(...)] for markup and the help loses the text
def test_brackets_survive_in_help(run):
    r = run("sharpness", "--help")
    assert "E[h(D_n, f_T)]" in r.stdout and "E[S_P(f_T)]" in r.stdout


# mutation: an internal error (a bug) exits 0 instead of 1
def test_a_bug_is_exit_1_with_one_line(run, monkeypatch):
    import kdbound.cli.run as run_module

    def broken(*args, **kwargs):
        raise ZeroDivisionError("deliberate")

    monkeypatch.setattr(run_module, "bound_report", broken)
    monkeypatch.delenv("KDBOUND_DEBUG", raising=False)
    r = run(*UP)
    assert r.exit_code == 1 and r.stdout == ""
    assert r.stderr == ("kdbound: internal error: ZeroDivisionError: deliberate "
                        "(set KDBOUND_DEBUG=1 for a traceback)\n")


# mutation: integers in messages shown as floats
def test_integer_values_are_echoed_as_typed(run):
    r = run("linear-gaussian", "--rank", "0", "--samples", "4")
    one_line_error(r, "--rank: must be an integer in 1..min(k, d, n) = 1..3 (got 0)")


# mutation: _once removed (click and typer both suggest a command)
def test_a_suggestion_is_made_once(run):
    r = run("uppr")
    assert r.exit_code == 2 and r.stderr.count("Did you mean") == 1, r.stderr


# ----------------------------------------------------------------------------- linear-gaussian

def lg(folder, *extra):
    return ["linear-gaussian", "--x", folder / "x.npy", "--w-star", folder / "w.npy", "--samples", "16", *extra]


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 4))
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "w.npy", rng.normal(size=(3, 4)))
    return tmp_path


# mutation: the --noise warning at a factor of 4 instead of 2 (either way)
def test_noise_warning_beyond_a_factor_of_two(run, files):
    rng = np.random.default_rng(4)
    x, w = np.load(files / "x.npy"), np.load(files / "w.npy")
    y = x @ w.T + 0.5 * rng.normal(size=(x.shape[0], w.shape[0]))
    np.save(files / "y.npy", y)
    est = math.sqrt(np.mean((y - x @ w.T) ** 2))   # the residual estimate with W* known
    for factor, warned in ((3.0, True), (1 / 3.0, True), (1.9, False), (0.55, False)):
        r = run(*lg(files, "--y", files / "y.npy", "--noise", repr(factor * est), "--format", "json"))
        assert r.exit_code == 0, r.stderr
        assert ("differs from the data's estimate" in r.stderr) is warned, (factor, r.stderr)


# mutation: looseness = exact - bound (expected mode: the bound exceeds the exact shift by the convexity gap)
def test_looseness_is_the_convexity_gap_in_expected_mode(run_json, files):
    r = run_json(*lg(files, "--rank", "3"))["results"]
    assert r["looseness"] == pytest.approx(r["dataset_shift_bound"] - r["dataset_shift_exact"], rel=1e-12)
    assert r["looseness"] == pytest.approx(r["convexity_gap"], rel=1e-9) and r["looseness"] > 0


# mutations: |gen_T| <= b - a not checked; vacuous with > instead of >= (exactly at the edge)
def test_plug_in_range_rules_at_the_edges(run, run_json, files):
    one_line_error(run(*lg(files, "--gen-t", "1.5", "--sigma", "0.1", "--loss-min", "0", "--loss-max", "1")),
                   "--gen-t: must lie in [-(b - a), b - a]", "(got 1.5)")
    r = run_json(*lg(files, "--rank", "3", "--gen-t", "0.05", "--sigma", "0.1"))["results"]
    up, low = r["upper_bound"], r["lower_bound"]
    assert low < 0 < up
    r = run_json(*lg(files, "--rank", "3", "--gen-t", "0.05", "--sigma", "0.1", "--loss-min", "0",
                     "--loss-max", repr(up)))["results"]
    assert r["vacuous"] is True                       # upper_bound == b - a exactly: vacuous
    r = run_json(*lg(files, "--rank", "3", "--gen-t", "0.05", "--sigma", "0.1", "--loss-min", repr(low),
                     "--loss-max", "0"))["results"]
    assert r["lower_vacuous"] is True                 # lower_bound == -(b - a) exactly


# ----------------------------------------------------------------------------- files

# mutation: arrow_column without the mask (NaN written as a number, not null)
def test_batch_nulls_are_empty_cells_and_parquet_nulls(run, tmp_path):
    text = "gen_t,kl\n0.05,0\n0.05,0.2\n"
    r = run("upper", "--input", "-", "--sigma", "0.1", "--format", "csv", input=text)
    assert r.exit_code == 0, r.stderr
    header, first, _ = r.stdout.splitlines()
    assert dict(zip(header.split(","), first.split(",")))["lambda_opt"] == ""
    out = tmp_path / "out.parquet"
    assert run("upper", "--input", "-", "--sigma", "0.1", "-o", out, input=text).exit_code == 0
    col = pq.read_table(out).column("lambda_opt")
    assert col.null_count == 1 and col.to_pylist()[1] == pytest.approx(math.sqrt(0.4) / 0.1)


# mutation: the existing file's permission bits not kept (the test with 0o600 cannot tell: temporaries are 0o600)
def test_output_permissions_are_kept_or_follow_the_umask(run, tmp_path):
    sweep = ["upper", "--gen-t", "0.05", "--sigma", "0.1", "--sweep", "kl=0:1:3"]
    old = tmp_path / "old.csv"
    old.write_text("old\n")
    old.chmod(0o640)
    assert run(*sweep, "-o", old).exit_code == 0
    assert stat.S_IMODE(old.stat().st_mode) == 0o640
    umask = os.umask(0o022)
    try:
        new = tmp_path / "new.csv"
        assert run(*sweep, "-o", new).exit_code == 0
        assert stat.S_IMODE(new.stat().st_mode) == 0o644
    finally:
        os.umask(umask)


# mutations: remove_temporaries skipped, or not called by the SIGTERM handler (normally the writer's own
# abort also removes the file; the handler covers a signal between creating the temporary and the writer)
def test_sigterm_handler_removes_live_temporaries(tmp_path):
    f = AtomicFile(str(tmp_path / "out.csv"))
    assert os.path.exists(f.tmp)
    with pytest.raises(Terminated):
        _on_sigterm(15, None)
    assert os.listdir(tmp_path) == []
    g = AtomicFile(str(tmp_path / "again.csv"))
    remove_temporaries()
    assert not os.path.exists(g.tmp)


# mutations: the header-size check removed (a truncated file is then "cannot read", not "truncated"); bool arrays
# not converted to float; the object-dtype check removed (an .npz member then fails with numpy's words)
def test_array_files_are_checked_and_converted(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.ones((100, 3)))
    path.write_bytes(path.read_bytes()[:-80])
    with pytest.raises(InputError, match="truncated or corrupt"):
        load_array(str(path), "x")
    np.save(tmp_path / "b.npy", np.array([[True, False]]))
    arr = load_array(str(tmp_path / "b.npy"), "x")
    assert arr.dtype == np.float64 and arr.tolist() == [[1.0, 0.0]]
    np.savez(tmp_path / "o.npz", a=np.array([{"x": 1}], dtype=object))
    with pytest.raises(InputError, match="pickled Python objects; kdbound never unpickles"):
        load_array(str(tmp_path / "o.npz"), "x")


# ----------------------------------------------------------------------------- stdout, as a user's shell has it

# mutations: OSError from flush not converted; no flush of stdout before exit.  Python buffers stdout unless
# PYTHONUNBUFFERED is set (as it may be in a test environment): both ways must be one line and exit 2
@pytest.mark.parametrize("unbuffered", [False, True])
def test_full_stdout_with_and_without_buffering(exe, unbuffered):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    if unbuffered:
        env["PYTHONUNBUFFERED"] = "1"
    with open("/dev/full", "w") as full:
        p = subprocess.run([exe, *UP], stdout=full, stderr=subprocess.PIPE, text=True, timeout=60, env=env)
    assert p.returncode == 2, p.stderr
    assert p.stderr == "kdbound: error: cannot write to stdout (No space left on device)\n"

