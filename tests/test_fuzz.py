"""Hostile invocations of the bound commands, generated: every option and input format with valid
and invalid values.  Whatever the input, kdbound exits 0, 2 or 3 (never 1), prints no traceback,
explains a failure in one stderr line with nothing on stdout (a batch may have streamed rows before
a bad one, as documented), and leaves no file behind or changed but the output it was asked for."""

import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings, strategies as st
from typer.testing import CliRunner

from kdbound.cli.app import app
from kdbound.engine.specs import BOUND_SPECS
from kdbound.render import Environment

NUMBERS = ["0", "0.05", "1", "2", "1e-3", "10000", "-1", "-0.5", "1e308", "1e-320", "nan", "inf", "-inf",
           "", "abc", "1_0", "0x10", "١٢", " 1", "1e400", "5e-324", "100.5"]
FORMATS = [None, "table", "json", "jsonl", "csv", "tsv", "parquet", "xml"]
CELLS = ["0.05", "0.2", "1", "0", "-1", "", "NA", "nan", "abc", "1e400", "3"]


def number():
    return st.sampled_from(NUMBERS)


def write_rows(path, fmt, cols, rows):
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
        pq.write_table(pa.table({c: [r[i] for r in rows] for i, c in enumerate(cols)}), path)


@st.composite
def batch_file(draw, spec, tmp):
    fmt = draw(st.sampled_from(["csv", "tsv", "jsonl", "parquet"]))
    cols = draw(st.lists(st.sampled_from(list(spec.numeric_names) + ["target", "tag"]), min_size=1,
                         max_size=4, unique=True))
    rows = draw(st.lists(st.lists(st.sampled_from(CELLS), min_size=len(cols), max_size=len(cols)), max_size=5))
    path = os.path.join(tmp, f"rows.{fmt}")
    write_rows(path, fmt, cols, rows)
    return path


@st.composite
def invocation(draw, tmp):
    name = draw(st.sampled_from(sorted(BOUND_SPECS)))
    spec = BOUND_SPECS[name]
    args = [name]
    for p in spec.params:
        if draw(st.booleans()):
            value = draw(st.sampled_from(["paper", "refined", "other"])) if p.choices else draw(number())
            args += [f"--{p.name.replace('_', '-')}", value]
    files = []
    if draw(st.integers(0, 3)) == 0:  # a batch
        path = draw(batch_file(spec, tmp))
        files.append(path)
        args += ["--input", path]
        if draw(st.booleans()):
            args += ["--on-error", draw(st.sampled_from(["stop", "skip", "null", "maybe"]))]
        if draw(st.booleans()):
            args += ["--input-format", draw(st.sampled_from(["csv", "tsv", "jsonl", "parquet", "xls"]))]
    if draw(st.booleans()):
        args += ["--solve", draw(st.sampled_from(list(spec.numeric_names) + ["zeta"]))]
        if draw(st.booleans()):
            args += ["--target", draw(number())]
    if draw(st.integers(0, 3)) == 0:
        p = draw(st.sampled_from(list(spec.numeric_names) + ["zeta"]))
        args += ["--sweep", draw(st.sampled_from([f"{p}=0:1:3", f"{p}=log:1e-3:1:3", f"{p}=1:2", "x", f"{p}=0:1:1"]))]
    if draw(st.integers(0, 3)) == 0:
        args += ["--output", draw(st.sampled_from([os.path.join(tmp, "out.csv"), os.path.join(tmp, "out.parquet"),
                                                   tmp, "", os.path.join(tmp, "nope", "x.csv"), "-"]))]
    if draw(st.integers(0, 4)) == 0:
        args += ["--columns", draw(st.sampled_from(["bound", "bound,sigma", "nope", ","]))]
    fmt = draw(st.sampled_from(FORMATS))
    if fmt:
        args += ["--format", fmt]
    return args, files


def run(args):
    return CliRunner().invoke(app, args, obj=Environment(stdout_isatty=False, no_color=True, chunk_bytes=64))


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(data=st.data())
def test_no_invocation_crashes_damages_or_litters(tmp_path, data):
    for leftover in os.listdir(tmp_path):
        os.remove(os.path.join(tmp_path, leftover)) if os.path.isfile(os.path.join(tmp_path, leftover)) else None
    args, files = data.draw(invocation(str(tmp_path)))
    before = {f: Path(f).read_bytes() for f in files}
    r = run(args)
    assert r.exit_code in (0, 2, 3), (args, r.exit_code, r.stderr)
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, (args, r.stderr)
    if r.exit_code == 2:
        assert len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)
        if "--input" not in args:
            assert r.stdout == "", (args, r.stdout)
    for f, content in before.items():  # inputs untouched
        assert Path(f).read_bytes() == content
    left = set(os.listdir(tmp_path)) - {os.path.basename(f) for f in files}
    assert not any(name.startswith(".kdbound-") for name in left), (args, left)
    if r.exit_code == 2:
        assert not (left - {"nope"}), (args, left)  # a failed run writes no output file
