"""Without pyarrow (missing, or installed but broken), every command that reads or writes a table
says so in one line naming the option and how to install it (exit 2, nothing on stdout, no file
left behind); everything else works as before.  Each case runs in a fresh interpreter whose
``import pyarrow`` fails, as it would for a user."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
pytestmark = pytest.mark.subprocess

#: make ``import <name>`` fail (as when the package is not installed), then run the console script's run()
MISSING = ("import sys\nfor name in {names!r}:\n    sys.modules[name] = None\n"
           "sys.argv[0] = 'kdbound'\nfrom kdbound.cli.main import run\nrun()\n")

INSTALL = "install it with: pip install pyarrow"
REINSTALL = "reinstall it with: pip install --force-reinstall pyarrow"


def kdbound(*args, cwd, missing=("pyarrow",), env=None):
    code = MISSING.format(names=list(missing))
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=120)


def one_line(r, *words):
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


SWEEP = ["upper", "--gen-t", "0.05", "--sigma", "0.1", "--sweep", "kl=0:1:3"]


@pytest.mark.parametrize("args, prefix", [
    (["upper", "--input", EXAMPLES / "rows.csv"], "--input: needs pyarrow"),
    (["upper", "--input", EXAMPLES / "rows.csv", "-o", "out.csv"], "--input: needs pyarrow"),
    ([*SWEEP, "-o", "out.csv"], "--output: needs pyarrow"),
    (["simulate", "--datasets", "100", "--runs-out", "out.csv"], "--runs-out: needs pyarrow"),
    (["simulate", "--datasets", "100", "--sweep", "n=10:20:2", "-o", "out.csv"], "--output: needs pyarrow"),
    (["estimate", EXAMPLES / "runs" / "runs.csv"], "RUNS: needs pyarrow"),
])
def test_a_missing_pyarrow_is_one_line_naming_the_option(tmp_path, args, prefix):
    line = one_line(kdbound(*args, cwd=tmp_path), prefix, "is not installed", INSTALL)
    assert line.startswith(f"kdbound: error: {prefix}")
    assert os.listdir(tmp_path) == []  # no output file, no temporary


def test_a_broken_pyarrow_is_one_line_with_the_reason(tmp_path):
    fake = tmp_path / "site" / "pyarrow"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text('raise ImportError("libarrow.so.2000: cannot open shared object file")\n')
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    work = tmp_path / "work"
    work.mkdir()
    r = kdbound("upper", "--input", EXAMPLES / "rows.csv", cwd=work, missing=(), env=env)
    one_line(r, "--input: needs pyarrow", "cannot be imported (ImportError: libarrow.so.2000", REINSTALL)
    r = kdbound("estimate", EXAMPLES / "runs" / "runs.csv", cwd=work, missing=(), env=env)
    one_line(r, "RUNS: needs pyarrow", REINSTALL)


def test_a_pyarrow_without_parquet_is_one_line(tmp_path):
    r = kdbound("upper", "--input", EXAMPLES / "rows.csv", "-o", "out.parquet", cwd=tmp_path,
                missing=("pyarrow.parquet",))
    one_line(r, "--output: needs pyarrow.parquet", "cannot be imported", REINSTALL)
    assert os.listdir(tmp_path) == []
    r = kdbound("estimate", EXAMPLES / "runs" / "runs.parquet", cwd=tmp_path, missing=("pyarrow.parquet",))
    one_line(r, "RUNS: needs pyarrow.parquet", REINSTALL)


@pytest.mark.parametrize("args", [
    ["upper", "--gen-t", "0.05", "--kl", "0.2", "--sigma", "0.1", "--format", "json"],
    [*SWEEP, "--format", "csv"],
    ["demo", "--format", "tsv"],
    ["linear-gaussian", "--d", "6", "--n", "40", "--k", "2", "--samples", "8", "--format", "json"],
    ["simulate", "--datasets", "100", "--format", "json"],
])
def test_commands_without_tables_work_without_pyarrow(tmp_path, args):
    r = kdbound(*args, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout and "pyarrow" not in r.stderr
