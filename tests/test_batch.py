"""Batch evaluation: every input format, stdin, constants, chunks, errors and exit codes."""

import io
import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import SWEEP, invoke, one_line_error

from kdbound import lower_bound_subgaussian, sharpness_bound, upper_bound


def make_rows(n=500, seed=1):
    rng = np.random.default_rng(seed)
    return {"gen_t": rng.normal(0.05, 0.05, n), "sigma": rng.uniform(0, 1, n), "kl": rng.uniform(0, 2, n)}


def csv_text(cols, sep=",", dash=False):
    names = [n.replace("_", "-") if dash else n for n in cols]
    lines = [sep.join(names)] + [sep.join(repr(float(v)) for v in row) for row in zip(*cols.values())]
    return "\n".join(lines) + "\n"


def read_csv(text, sep=","):
    lines = text.strip().splitlines()
    header = lines[0].split(sep)
    rows = [line.split(sep) for line in lines[1:]]
    return {h: [r[i] for r in rows] for i, h in enumerate(header)}


def test_batch_equals_scalar_exactly_across_chunks(tmp_path):
    cols = make_rows(500)
    path = tmp_path / "rows.csv"
    path.write_text(csv_text(cols))
    r = invoke("upper", "--input", path, "--format", "csv", chunk_bytes=1000)  # many blocks
    assert r.exit_code == 0, r.stderr
    out = read_csv(r.stdout)
    assert list(out) == ["gen_t", "sigma", "kl", "bound", "slack", "lambda_opt", "lower_two_sided"]
    assert len(out["bound"]) == 500
    for i in range(500):
        s = upper_bound(cols["gen_t"][i], cols["kl"][i], cols["sigma"][i])
        assert float(out["bound"][i]) == float(s.bound)           # exact
        assert float(out["slack"][i]) == float(s.slack)
        assert float(out["lower_two_sided"][i]) == float(s.lower_two_sided)
        assert float(out["gen_t"][i]) == cols["gen_t"][i]         # input echoed in order


def _payload(fmt, cols):
    if fmt == "csv":
        return csv_text(cols)
    if fmt == "tsv":
        return csv_text(cols, sep="\t", dash=True)   # option spelling gen-t works too
    if fmt == "jsonl":
        return "".join(json.dumps({k: float(v[i]) for k, v in cols.items()}) + "\n" for i in range(len(cols["kl"])))
    buf = io.BytesIO()
    pq.write_table(pa.table(cols), buf)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl", "parquet"])
def test_every_format_from_stdin(fmt):
    cols = make_rows(50)
    r = invoke("upper", "--input", "-", "--input-format", fmt, "--format", "jsonl", input=_payload(fmt, cols))
    assert r.exit_code == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(rows) == 50
    expect = upper_bound(cols["gen_t"], cols["kl"], cols["sigma"]).bound
    np.testing.assert_array_equal([row["bound"] for row in rows], expect)


@pytest.mark.parametrize("fmt, ext", [("csv", ".csv"), ("tsv", ".tsv"), ("jsonl", ".jsonl"), ("parquet", ".parquet")])
def test_format_from_extension(tmp_path, fmt, ext):
    cols = make_rows(20)
    path = tmp_path / f"rows{ext}"
    data = _payload(fmt, cols)
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    r = invoke("upper", "--input", path, "--format", "json")
    assert r.exit_code == 0, r.stderr
    assert len(json.loads(r.stdout)) == 20


def test_constants_broadcast_and_passthrough(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("id,kl\na,0.1\nb,0.2\nc,0.5\n")
    r = invoke("upper", "--input", path, "--gen-t", "0.05", "--sigma", "0.2", "--format", "jsonl")
    assert r.exit_code == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [row["id"] for row in rows] == ["a", "b", "c"]
    for row in rows:
        assert row["bound"] == float(upper_bound(0.05, row["kl"], 0.2).bound)
    assert "'id' are not parameters" in r.stderr


def test_other_commands_batch(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("gen_t,kl\n0.05,0.01\n0.05,1.0\n0.2,0.3\n")
    r = invoke("lower", "--input", path, "--sigma", "0.1", "--format", "jsonl")
    assert r.exit_code == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [(row["gen_t"], row["kl"]) for row in rows] == [(0.05, 0.01), (0.05, 1.0), (0.2, 0.3)]
    for row in rows:  # the best lower bound (two-sided), and Remark 2's value beside it
        assert row["bound"] == float(upper_bound(row["gen_t"], row["kl"], 0.1).lower_two_sided)
        assert row["remark2_bound"] == float(lower_bound_subgaussian(row["gen_t"], row["kl"], 0.1).bound)
    path.write_text("rho\n0.001\n0.01\n0.3\n")
    r = invoke("sharpness", "--input", path, "--gen-t", "0.05", "--kl", "0.5", "--n", "10000", "--loss-min", "0",
               "--loss-max", "1", "--kappa", "2", "--lipschitz", "5", "--g0", "0.5", "--alpha", "10", "--tau", "2",
               "--format", "jsonl")
    assert r.exit_code == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(rows) == 3
    assert [row["tightens"] for row in rows] == [True, True, False]
    s = sharpness_bound(0.05, 0.5, 10000, 0, 1, 2, 5, 0.5, 10, 2, rho=0.01)
    assert rows[1]["bound"] == float(s.bound) and rows[1]["rho0"] == float(s.rho0)
    # issue 17, item 2: bound is the best valid bound in a batch too (B_std where B_sh is dominated)
    assert rows[2]["bound"] == rows[2]["standard_bound"] < rows[2]["sharpness_bound"]
    assert rows[1]["bound"] == rows[1]["sharpness_bound"] < rows[1]["standard_bound"]


BAD_ROWS = "gen_t,sigma,kl\n0.05,0.1,0.2\n0.1,0.2,-1\n0.1,,0.5\n0.2,abc,1\n0.3,0.1,0.1\n"


def test_bad_row_stops_with_row_and_column(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text(BAD_ROWS)
    r = invoke("upper", "--input", path)
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr.strip() == "kdbound: error: row 2, column kl: must be >= 0 (got -1.0)"


def test_on_error_null_and_skip(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text(BAD_ROWS)
    r = invoke("upper", "--input", path, "--on-error", "null", "--format", "jsonl")
    assert r.exit_code == 3
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(rows) == 5
    assert rows[0]["error"] is None and rows[0]["bound"] is not None
    assert rows[1]["bound"] is None and rows[1]["error"] == "row 2, column kl: must be >= 0 (got -1.0)"
    assert rows[2]["error"] == "row 3, column sigma: must not be empty (got '')"
    assert rows[3]["error"] == "row 4, column sigma: must be a number (got 'abc')"
    assert "3 of 5 rows failed" in r.stderr
    r = invoke("upper", "--input", path, "--on-error", "skip", "--format", "csv")
    assert r.exit_code == 3
    out = read_csv(r.stdout)
    assert out["gen_t"] == ["0.05", "0.3"] and "error" not in out


def test_failed_run_leaves_no_output_file(tmp_path):
    rows = make_rows(400)
    text = csv_text(rows)
    text += "0.1,0.1,-5\n"  # a bad row after several blocks have been written
    path = tmp_path / "rows.csv"
    path.write_text(text)
    target = tmp_path / "out.csv"
    r = invoke("upper", "--input", path, "--output", target, chunk_bytes=2000)
    assert r.exit_code == 2 and "row 401, column kl" in r.stderr
    assert not target.exists()
    assert os.listdir(tmp_path) == ["rows.csv"]  # no temporary left either


def test_output_file_formats(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text(csv_text(make_rows(30)))
    for ext in ("csv", "tsv", "jsonl", "parquet"):
        target = tmp_path / f"out.{ext}"
        r = invoke("upper", "--input", path, "--output", target)
        assert r.exit_code == 0 and r.stdout == "" and target.stat().st_size > 0
    table = pq.read_table(tmp_path / "out.parquet")
    assert table.num_rows == 30 and "bound" in table.column_names


@pytest.mark.parametrize("args, message", [
    (["--input", "nope.csv"], "--input: no such file"),
    (["--input", "x.dat"], "--input: cannot tell the format"),
    (["--input", "-", "--input-format", "xls"], "--input-format: must be one of"),
    (["--input", "-", "--on-error", "maybe"], "--on-error: must be stop, skip or null"),
    (["--on-error", "skip", "--gen-t", "0", "--kl", "1", "--sigma", "1"], "--on-error: only applies to a batch"),
    (["--input", "-", "--format", "parquet"], "--format parquet: needs --output"),
    (["--input", "-", "--sigma", "-1"], "--sigma: must be >= 0 (got -1.0)"),
])
def test_batch_option_errors(args, message):
    r = invoke("upper", *args, input="gen_t,kl\n0.1,0.1\n")
    assert r.exit_code == 2 and r.stdout == ""
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_column_and_option_conflict():
    r = invoke("upper", "--input", "-", "--kl", "1", input="gen_t,sigma,kl\n0.1,0.1,0.1\n")
    assert r.exit_code == 2 and "--kl: conflicts with the input column 'kl'" in r.stderr


def test_rerun_on_own_output_replaces_stale_results(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("gen_t,sigma,bound,error\n0.05,0.1,999,old\n")
    r = invoke("upper", "--input", path, "--kl", "0.2", "--format", "jsonl")
    row = json.loads(r.stdout)
    assert row["bound"] == float(upper_bound(0.05, 0.2, 0.1).bound)
    assert "error" not in row and "replaced by freshly computed results" in r.stderr


def test_a_uint64_parquet_column_beyond_2_53_is_read_as_its_nearest_float(run, tmp_path):
    path = tmp_path / "u.parquet"
    pq.write_table(pa.table({"gen_t": pa.array([1, 2 ** 64 - 1], type=pa.uint64()), "kl": [0.1, 0.2]}), path)
    r = run("upper", "-i", path, "--sigma", "0.1", "-f", "jsonl")
    assert r.exit_code == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert rows[1]["bound"] == float(2 ** 64 - 1) + 0.1 * (2 * 0.2) ** 0.5


# ----------------------------------------------------------------------------- rows, errors and notes

def test_whole_number_cells_in_a_batch(run):
    r = run("upper", "--input", "-", "--loss-min", "0", "--loss-max", "1", "--beta", "1e-3",
            input="gen_t,kl,n\n0.05,0.2,100\n0.05,0.2,100.5\n")
    one_line_error(r, "row 2, column n: must be a whole number (got 100.5)")


def test_null_cells_are_explained_in_batches_and_sweeps():
    r = invoke("upper", "-i", "-", "--sigma", "0.1", "-f", "csv", input="gen_t,kl\n0.05,0\n0.05,0.2\n")
    assert "lambda_opt is null in 1 of 2 rows (first: row 1): lambda_opt is undefined when K = 0" in r.stderr
    r = invoke(*SWEEP, "-f", "csv")
    assert "lambda_opt is null in 1 of 5 rows" in r.stderr


def test_stop_prints_the_rows_before_the_bad_one_to_stdout_as_documented():
    r = invoke("upper", "-i", "-", "--sigma", "0.1", "-f", "csv",
               input="gen_t,kl\n" + "0.05,0.1\n" * 3000 + "0.05,-1\n", chunk_bytes=1000)
    assert r.exit_code == 2 and "row 3001, column kl" in r.stderr
    assert r.stdout.startswith("gen_t,kl,bound")  # streams cannot be recalled (README, "Pipelines")


@pytest.mark.parametrize("mode, words", [("stop", "input column 'error' is dropped"),
                                         ("null", "input column(s) 'error' are replaced by freshly computed")])
def test_an_input_error_column_is_said_to_be_dropped_or_replaced(mode, words):
    r = invoke("upper", "-i", "-", "--sigma", "0.1", "-f", "csv", "--on-error", mode, input="gen_t,kl,error\n0.05,0.2,old\n")
    assert r.exit_code == 0 and words in r.stderr and "old" not in r.stdout


# issue 17 (grammar, engine part): a batch takes the loss-range route, sigma = b - a, row by row
def test_a_batch_takes_the_loss_range_route(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("gen_t,kl,loss_min,loss_max\n0.05,0.02,0,1\n0.1,0.5,0,2\n")
    r = invoke("upper", "--input", path, "--format", "jsonl")
    assert r.exit_code == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [row["sigma"] for row in rows] == [1.0, 2.0]
    assert [row["bound"] for row in rows] == [float(upper_bound(0.05, 0.02, 1.0).bound),
                                              float(upper_bound(0.1, 0.5, 2.0).bound)]
    assert [row["vacuous"] for row in rows] == [False, True]


# a null that Remark 2 explains was said to be 'not finite (undefined, ...)': the solved row's outputs eta, c
# and sigma were put back as its inputs, which changed its route
def test_a_solved_batch_explains_its_nulls_as_a_single_run_does(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("kl,target\n0.05,0.3\n0.05,-0.4\n")
    r = invoke("lower", "--input", path, "--loss-min", "0", "--loss-max", "1", "--beta", "1e-4", "--n", "5000",
               "--solve", "gen-t", "--format", "jsonl")
    assert r.exit_code == 0, r.stderr
    assert "eta is null in 1 of 2 rows (first: row 2): Remark 2 needs gen_T > 0" in r.stderr, r.stderr
