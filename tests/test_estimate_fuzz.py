"""Hostile invocations of `kdbound estimate`, generated: every option and input format with valid and
invalid values and hostile cells.  Whatever the input, it exits 0 or 2 (never 1), prints no
traceback, explains a failure in one stderr line with nothing on stdout, and leaves no file behind
but the output it was asked for."""

import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings, strategies as st
from typer.testing import CliRunner

from kdbound.cli.app import app
from kdbound.render import Environment

ROLES = ["teacher", "student", "Teacher", "", "tutor", "1"]
CELLS = ["0.05", "0.2", "0.1", "0", "-1", "", "NA", "nan", "abc", "1e400", "3", "1_0", "0.3", "-0.02", "1e-320"]
OPTIONS = {
    "--loss-min": ["0", "-1", "nan", "1", "abc"],
    "--loss-max": ["1", "0", "inf", "2"],
    "--delta": ["0.05", "0", "1", "0.5", "-0.1", "nan"],
    "--kl-method": ["gauss", "knn", "kde", ""],
    "--jitter": ["auto", "0.01", "0", "-1", "x", "1e-300"],
    "--bootstrap": ["1000", "40", "10", "0", "-5", "2.5"],
    "--seed": ["0", "7", "-1"],
    "--format": ["table", "json", "jsonl", "csv", "tsv", "parquet", "xml"],
    "--input-format": ["csv", "tsv", "jsonl", "parquet", "xls"],
}


@st.composite
def invocation(draw, tmp):
    cols = ["role"] + draw(st.lists(st.sampled_from(["train_loss", "test_loss", "gap", "n_test", "dataset", "seed",
                                                     "note"]), min_size=1, max_size=4, unique=True))
    if draw(st.integers(0, 5)) == 0:
        cols.remove("role")
    many = draw(st.booleans())  # enough runs for knn, or a handful of hostile ones
    rows = []
    for i in range(draw(st.integers(0, 6)) if not many else 120):
        row = []
        for c in cols:
            if c == "role":
                row.append(draw(st.sampled_from(ROLES)) if not many else ("teacher", "student")[i % 2])
            elif many:
                row.append(repr(0.01 * (i % 37) + 0.001 * i) if c != "n_test" else "100")
            else:
                row.append(draw(st.sampled_from(CELLS)))
        rows.append(row)
    fmt = draw(st.sampled_from(["csv", "tsv", "jsonl", "parquet"]))
    path = os.path.join(tmp, f"runs.{fmt}")
    if fmt in ("csv", "tsv"):
        sep = "," if fmt == "csv" else "\t"
        with open(path, "w") as f:
            f.write(sep.join(cols) + "\n" + "".join(sep.join(r) + "\n" for r in rows))
    elif fmt == "jsonl":
        with open(path, "w") as f:
            for r in rows:
                f.write(json.dumps(dict(zip(cols, r))) + "\n")
            if not rows:
                f.write("{}\n")
    else:
        pq.write_table(pa.table({c: pa.array([r[i] for r in rows], type=pa.string()) for i, c in enumerate(cols)}),
                       path)
    args = ["estimate", path]
    for opt, values in OPTIONS.items():
        if draw(st.integers(0, 3)) == 0:
            args += [opt, draw(st.sampled_from(values))]
    if draw(st.integers(0, 3)) == 0:
        args += ["--output", draw(st.sampled_from([os.path.join(tmp, "out.json"), os.path.join(tmp, "out.parquet"),
                                                   tmp, "", os.path.join(tmp, "nope", "x.csv"), "-"]))]
    return args, [path]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(data=st.data())
def test_no_invocation_crashes_or_litters(tmp_path, data):
    for leftover in os.listdir(tmp_path):
        if os.path.isfile(os.path.join(tmp_path, leftover)):
            os.remove(os.path.join(tmp_path, leftover))
    args, files = data.draw(invocation(str(tmp_path)))
    before = {f: Path(f).read_bytes() for f in files}
    if "--bootstrap" not in args and "knn" not in args:  # knn takes no replicates
        args += ["--bootstrap", "100"]  # keep the run short
    r = CliRunner().invoke(app, args, obj=Environment(stdout_isatty=False, no_color=True))
    assert r.exit_code in (0, 2), (args, r.exit_code, r.stderr)
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, (args, r.stderr)
    if r.exit_code == 2:
        assert len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)
        assert r.stdout == "", (args, r.stdout)
    for f, content in before.items():
        assert Path(f).read_bytes() == content
    left = set(os.listdir(tmp_path)) - {os.path.basename(f) for f in files}
    assert not any(name.startswith(".kdbound-") for name in left), (args, left)
    if r.exit_code == 2:
        assert not (left - {"nope"}), (args, left)
