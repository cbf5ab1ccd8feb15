"""Issue: no traceback, no silent wrong number, no damaged file, on any input.

One test (at least) per failure class: output files, stdout, batch input,
numbers, the solver and the Python API.  Subprocess tests run the installed
console script, as a user's shell would.
"""

import json
import os
import re
import signal
import stat
import subprocess
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from kdbound import BOUND_SPECS, InputError, NoSolutionError, ParameterError, solve, tightness_radius, upper_bound
from kdbound.cli.app import app
from kdbound.formats import parse_number
from kdbound.render import Environment

UP = ["upper", "--gen-t", "0.05", "--kl", "0.2", "--sigma", "0.1"]
SWEEP = ["upper", "--gen-t", "0.05", "--sigma", "0.1", "--sweep", "kl=0:1:5"]


def invoke(*args, input=None, chunk_bytes=4 << 20, tty=False):
    return CliRunner().invoke(app, [str(a) for a in args], input=input,
                              obj=Environment(stdout_isatty=tty, no_color=True, chunk_bytes=chunk_bytes))


def one_line_error(r, *words):
    assert r.exit_code == 2, (r.exit_code, r.stdout, r.stderr)
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])


# ----------------------------------------------------------------------------- 1. output files

def test_symlink_is_followed_and_kept(tmp_path):
    target = tmp_path / "target.csv"
    target.write_text("old\n")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    r = invoke(*SWEEP, "-o", link)
    assert r.exit_code == 0, r.stderr
    assert link.is_symlink() and target.read_text().startswith("kl,bound")


def test_permissions_survive(tmp_path):
    out = tmp_path / "out.csv"
    out.write_text("old\n")
    out.chmod(0o600)
    assert invoke(*SWEEP, "-o", out).exit_code == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600 and out.read_text().startswith("kl,")


def test_character_device_is_written_through_not_replaced(tmp_path):
    dev = tmp_path / "null"
    try:
        os.mknod(dev, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except (PermissionError, OSError):
        pytest.skip("cannot create a device file here")
    assert invoke(*SWEEP, "-o", dev).exit_code == 0
    assert stat.S_ISCHR(dev.stat().st_mode)
    assert sorted(os.listdir(tmp_path)) == ["null"]


def test_fifo_is_written_through(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got = []
    import threading

    def read():
        with open(fifo) as f:
            got.append(f.read())

    reader = threading.Thread(target=read)
    reader.start()
    assert invoke(*SWEEP, "-o", fifo).exit_code == 0
    reader.join(10)
    assert got and got[0].startswith("kl,bound") and stat.S_ISFIFO(fifo.stat().st_mode)


def test_long_names_and_dash(tmp_path):
    long = tmp_path / ("a" * 250 + ".csv")
    assert invoke(*SWEEP, "-o", long).exit_code == 0 and long.exists()
    r = invoke(*SWEEP, "-o", "-")
    assert r.exit_code == 0 and r.stdout.startswith("kl\t") and not os.path.exists("-")


@pytest.mark.parametrize("where, words", [
    ("DIR", ["--output", "is a folder"]), ("DIR/", ["--output", "is a folder"]),
    ("", ["--output", "must name a file"]), ("/proc/x.csv", ["--output", "cannot write"]),
    ("MISSING/x.csv", ["--output", "does not exist"]),
])
def test_bad_output_paths_are_one_line_exit_2(tmp_path, where, words):
    where = where.replace("DIR", str(tmp_path)).replace("MISSING", str(tmp_path / "nope"))
    before = sorted(os.listdir(tmp_path))
    one_line_error(invoke(*SWEEP, "-o", where), *words)
    assert sorted(os.listdir(tmp_path)) == before


def test_plot_onto_a_folder_leaves_nothing(tmp_path):
    (tmp_path / "d.png").mkdir()
    one_line_error(invoke(*UP, "--plot", tmp_path / "d.png"), "--plot", "is a folder")
    assert os.listdir(tmp_path) == ["d.png"] and os.listdir(tmp_path / "d.png") == []


def test_header_only_input_gives_valid_empty_outputs(tmp_path):
    rows = tmp_path / "rows.csv"
    rows.write_text("gen_t,kl\n")
    assert invoke("upper", "-i", rows, "--sigma", "0.1", "-o", tmp_path / "out.parquet").exit_code == 0
    table = pq.read_table(tmp_path / "out.parquet")
    assert table.num_rows == 0 and "bound" in table.column_names
    r = invoke("upper", "-i", rows, "--sigma", "0.1", "-f", "csv")
    assert r.exit_code == 0 and r.stdout.startswith("gen_t,kl,bound") and len(r.stdout.splitlines()) == 1
    r = invoke("upper", "-i", rows, "--sigma", "0.1", "-f", "json")
    assert json.loads(r.stdout) == []


def test_plot_without_matplotlib_fails_before_any_output(tmp_path, monkeypatch):
    import builtins

    real = builtins.__import__

    def fake(name, *args, **kw):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError("no matplotlib")
        return real(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", fake)
    one_line_error(invoke(*SWEEP, "-o", tmp_path / "nm3.csv", "--plot", tmp_path / "nm3.png"), "--plot",
                   "matplotlib")
    assert os.listdir(tmp_path) == []
    one_line_error(invoke(*UP, "--plot", tmp_path / "x.png"), "--plot")


def test_sigterm_removes_the_temporary_file(tmp_path, exe):
    out = tmp_path / "out.csv"
    p = subprocess.Popen([exe, "upper", "-i", "-", "--sigma", "0.1", "-o", str(out)], stdin=subprocess.PIPE,
                         stderr=subprocess.PIPE, cwd=tmp_path)
    p.stdin.write(b"gen_t,kl\n" + b"0.05,0.1\n" * 1000)
    p.stdin.flush()
    deadline = time.time() + 20
    while time.time() < deadline and not any(".part" in n for n in os.listdir(tmp_path)):
        time.sleep(0.05)
    assert any(".part" in n for n in os.listdir(tmp_path))  # the run is under way
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=20)
    assert p.returncode == 143 and b"terminated" in err
    assert os.listdir(tmp_path) == []


def test_ctrl_c_is_exit_130_with_a_line_and_no_temporary_file(tmp_path, exe):
    p = subprocess.Popen([exe, "upper", "-i", "-", "--sigma", "0.1", "-o", str(tmp_path / "out.csv")],
                         stdin=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    p.stdin.write(b"gen_t,kl\n0.05,0.1\n")
    p.stdin.flush()
    deadline = time.time() + 20
    while time.time() < deadline and not any(".part" in n for n in os.listdir(tmp_path)):
        time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=20)
    assert p.returncode == 130 and err.decode().strip() == "kdbound: interrupted"
    assert os.listdir(tmp_path) == []


# ----------------------------------------------------------------------------- stdout

@pytest.mark.parametrize("args", [UP, ["--help"], ["--version"], ["demo"], ["upper", "--help"]])
def test_full_stdout_is_one_line_exit_2(exe, args):
    with open("/dev/full", "w") as full:
        p = subprocess.run([exe, *args], stdout=full, stderr=subprocess.PIPE, text=True, timeout=60)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "stdout" in p.stderr, p.stderr


def test_closed_stdout_is_one_line_exit_2(exe):
    p = subprocess.run(f"'{exe}' upper --gen-t 0.05 --kl 0.2 --sigma 0.1 >&-", shell=True, stderr=subprocess.PIPE,
                       text=True, timeout=60)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "stdout" in p.stderr


@pytest.mark.parametrize("args", [
    ["upper", "--gen-t", "0.05", "--sigma", "0.1", "--sweep", "kl=0:1:200000", "-f", "csv"],
    ["demo", "-f", "csv", "-q"],
    ["linear-gaussian", "--rank-sweep", "1:3", "-f", "csv", "--samples", "16", "-q"],
])
def test_broken_pipe_exits_0_quietly(exe, args):
    """(-q only silences the notes these commands print in any case, when the pipe is not yet broken.)"""
    for _ in range(3):
        p = subprocess.run(f"'{exe}' {' '.join(args)} | head -1; exit ${{PIPESTATUS[0]}}", shell=True,
                           executable="/bin/bash", capture_output=True, text=True, timeout=120)
        assert p.returncode == 0 and p.stderr == "", (p.returncode, p.stderr)
        assert p.stdout.count("\n") == 1


def test_broken_pipe_in_a_batch(exe, tmp_path):
    rows = tmp_path / "rows.csv"
    rows.write_text("gen_t,kl\n" + "0.05,0.1\n" * 300000)
    p = subprocess.run(f"'{exe}' upper -i '{rows}' --sigma 0.1 -f csv | head -1; exit ${{PIPESTATUS[0]}}",
                       shell=True, executable="/bin/bash", capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and p.stderr == "", p.stderr


# ----------------------------------------------------------------------------- 2. batch input

def test_late_jsonl_keys_stop_with_row_and_key(tmp_path):
    rows = "".join(json.dumps({"gen_t": 0.05, "kl": 0.1}) + "\n" for _ in range(200))
    for key in ("note", "loss_min"):
        r = invoke("upper", "-i", "-", "--input-format", "jsonl", "--sigma", "0.1", "-o", tmp_path / "out.parquet",
                   input=rows + json.dumps({"gen_t": 0.05, "kl": 0.1, key: 1}) + "\n", chunk_bytes=500)
        one_line_error(r, "row 201", repr(key))
        assert os.listdir(tmp_path) == []  # no partial file, no ParquetWriter complaint at exit


def test_jsonl_keys_may_vary_within_the_first_rows():
    text = '{"gen_t": 0.05, "kl": 0.1}\n{"gen_t": 0.05, "kl": 0.2, "tag": "x"}\n'
    r = invoke("upper", "-i", "-", "--input-format", "jsonl", "--sigma", "0.1", "-f", "csv", input=text)
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert lines[0].startswith("gen_t,kl,tag,bound") and len({line.count(",") for line in lines}) == 1


def test_pass_through_cells_come_out_as_they_went_in(tmp_path):
    text = "zip,gen_t,kl,code\n08123,0.05,0.2,1e3\n00001,0.1,0.3,abc\n"
    r = invoke("upper", "-i", "-", "--sigma", "0.1", "-f", "csv", input=text)
    out = [line.split(",") for line in r.stdout.splitlines()]
    assert [row[0] for row in out] == ["zip", "08123", "00001"] and [row[3] for row in out] == ["code", "1e3", "abc"]
    r = invoke("upper", "-i", "-", "--sigma", "0.1", "-f", "jsonl", input=text)
    assert [json.loads(line)["zip"] for line in r.stdout.splitlines()] == ["08123", "00001"]
    # integers for a whole block, then text: still valid
    big = "id,gen_t,kl\n" + "".join(f"{i},0.05,0.1\n" for i in range(3000)) + "abc,0.05,0.1\n"
    r = invoke("upper", "-i", "-", "--sigma", "0.1", "-f", "csv", input=big, chunk_bytes=1000)
    assert r.exit_code == 0 and r.stdout.splitlines()[-1].startswith("abc,")


def test_jsonl_values_keep_their_json_types():
    line = '{"gen_t": 0.05, "kl": 0.1, "z": "08123", "nest": {"a": [1]}, "t": true, "x": 1.50}\n'
    r = invoke("upper", "-i", "-", "--input-format", "jsonl", "--sigma", "0.1", "-f", "jsonl", input=line)
    row = json.loads(r.stdout)
    assert row["z"] == "08123" and row["nest"] == {"a": [1]} and row["t"] is True and row["x"] == 1.5
    r = invoke("upper", "-i", "-", "--input-format", "jsonl", "--sigma", "0.1", "-f", "csv", input=line)
    header, values = r.stdout.splitlines()
    assert values.startswith('0.05,0.1,08123,"{""a"": [1]}",true,1.50,')


def test_parquet_types_survive_and_nested_columns_become_json_text(tmp_path):
    path = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"gen_t": [0.05], "kl": [0.1], "when": pa.array([7], pa.int32()),
                             "s": pa.array([{"a": 1}])}), path)
    assert invoke("upper", "-i", path, "--sigma", "0.1", "-o", tmp_path / "o.parquet").exit_code == 0
    t = pq.read_table(tmp_path / "o.parquet")
    assert t.schema.field("when").type == pa.int32() and t.column("s").to_pylist() == [{"a": 1}]
    r = invoke("upper", "-i", path, "--sigma", "0.1", "-f", "csv")
    assert r.exit_code == 0 and '"{""a"": 1}"' in r.stdout


def test_binary_pass_through_that_is_not_utf8_cannot_go_to_csv(tmp_path):
    path = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"gen_t": [0.05], "kl": [0.1], "raw": pa.array([b"\xff\xfe"], pa.binary())}), path)
    one_line_error(invoke("upper", "-i", path, "--sigma", "0.1", "-f", "csv"), "'raw'", "UTF-8")


@pytest.mark.parametrize("payload, fmt, words", [
    ("a,a,kl\n1,2,3\n", "csv", ["--input", "appears twice"]),
    (b"gen_t,kl,note\n0.05,0.2,caf\xe9\n", "csv", ["--input", "UTF-8"]),
    ('{"gen_t": 0.05, "kl": ' + "1" * 5000 + "}\n", "jsonl", ["kl", "must be finite"]),
    ('{"gen_t": 0.05, "kl": {"a": 1}}\n', "jsonl", ["column kl", "must be a number"]),
    ('{"gen_t": 0.05, "kl": [1, 2]}\n', "jsonl", ["column kl", "must be a number"]),
    ("[1, 2]\n", "jsonl", ["--input", "not a JSON object"]),
])
def test_unusual_input_is_exit_2(payload, fmt, words):
    data = payload if isinstance(payload, str) else payload.decode("latin-1")
    r = invoke("upper", "-i", "-", "--input-format", fmt, "--sigma", "0.1", "-f", "csv",
               input=payload if isinstance(payload, bytes) else data)
    one_line_error(r, *words)


@pytest.mark.parametrize("cell, message", [
    ("NA", "must be a number (got 'NA')"), ("null", "must be a number (got 'null')"),
    ("nan", "must be finite (got nan)"), ("", "must not be empty (got '')"),
    ("1_0", "must be a number (got '1_0')"), ("١٢", "must be a number (got '١٢')"),
])
def test_cells_say_what_they_hold(cell, message):
    r = invoke("upper", "-i", "-", "--sigma", "0.1", input=f"gen_t,kl\n0.05,{cell}\n")
    one_line_error(r, f"row 1, column kl: {message}")


@pytest.mark.parametrize("spelling", ["1_0", "١٢", "0x10", "1,5"])
def test_unusual_number_spellings_are_refused_as_options(spelling):
    one_line_error(invoke("upper", "--gen-t", "0", "--sigma", "1", "--kl", spelling), "--kl", repr(spelling))


# the grammar of the numbers kdbound reads, written as a regular expression: the reference parse_number must agree with
_SPELLING = re.compile(r"\s*[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)\s*", re.I)


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet="0123456789.eE+-_ x\t\u00a0\u0663nNaAiIfFtTyY,", max_size=9))
def test_number_spellings_follow_the_documented_grammar(text):
    expected = float(text) if _SPELLING.fullmatch(text) else None
    got = parse_number(text)
    assert (got is None) == (expected is None), text
    assert got is None or got == expected or (got != got and expected != expected), text


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


# ----------------------------------------------------------------------------- 4. --solve

@pytest.mark.parametrize("args, unknown, check", [
    (["lower", "--gen-t", "0.05", "--kl", "0.01", "--loss-min", "0", "--loss-max", "1", "--beta", "1e-4",
      "--solve", "n", "--target", "0.038"], "n", lambda v, r: v == 36 and r["bound"] >= 0.038),
    (["upper", "--gen-t", "0.05", "--kl", "0.2", "--loss-max", "1", "--beta", "1e-4", "--n", "5000", "--solve",
      "loss-min", "--target", "0.5"], "loss_min", lambda v, r: -99 < v < -98 and r["bound"] <= 0.5),
    (["upper", "--gen-t", "0.05", "--kl", "0.2", "--loss-min", "0", "--beta", "1e-4", "--n", "5000", "--solve",
      "loss-max", "--target", "0.5"], "loss_max", lambda v, r: 99 < v < 100 and r["bound"] <= 0.5),
])
def test_solve_finds_a_solution_whenever_one_exists(run_json, args, unknown, check):
    out = run_json(*args)
    assert check(out["results"][unknown], out["results"]), out["results"]


def test_smallest_n_is_the_smallest():
    spec = BOUND_SPECS["lower"]
    values = dict(gen_t=0.05, kl=0.01, loss_min=0.0, loss_max=1.0, beta=1e-4)
    n = float(solve(spec, values, "n", 0.038).value)
    assert spec.evaluate({**values, "n": n})["bound"] >= 0.038
    assert spec.evaluate({**values, "n": n - 1})["bound"] < 0.038
    assert spec.evaluate({**values, "n": 5000})["bound"] == pytest.approx(0.048, abs=1e-3)


def test_solve_says_why(run, run_json):
    out = run_json("upper", "--gen-t", "0.05", "--kl", "0", "--solve", "sigma", "--target", "0.1")
    assert out["results"]["sigma"] is None and any("every sigma meets the target" in n for n in out["notes"])
    r = run("lower", "--gen-t", "0.05", "--kl", "0.2", "--sigma", "0.1", "--solve", "eta", "--target", "0.5")
    one_line_error(r, "--target", "eta does not affect the lower bound")
    r = run("upper", "--gen-t", "0.05", "--sigma", "0.1", "--solve", "kl", "--target", "0.01")
    one_line_error(r, "--target: no finite kl puts the upper bound at or below this target (got 0.01)")


def test_solve_with_plot(run, tmp_path):
    pytest.importorskip("matplotlib")
    r = run(*UP[:3], "--sigma", "0.1", "--solve", "kl", "--target", "0.1", "--plot", tmp_path / "s.png")
    assert r.exit_code == 0 and (tmp_path / "s.png").stat().st_size > 1000


# ----------------------------------------------------------------------------- 5. the Python API

@pytest.mark.parametrize("call, error, words", [
    (lambda: upper_bound([0.05, 0.1], [0.1, 0.2, 0.3], 0.1), InputError, "do not broadcast"),
    (lambda: solve(BOUND_SPECS["upper"], {"sigma": 0.1}, "kl", 0.1), ParameterError, "gen_t: is required"),
    (lambda: solve(BOUND_SPECS["upper"], {"gen_t": 0.05, "sigma": 0.1, "bogus": 1}, "kl", 0.1), InputError,
     "bogus"),
    (lambda: tightness_radius(-1, 10, 1, 1, 0, 1, 1), ParameterError, "kl: must be >= 0"),
    (lambda: tightness_radius(1, 10, 1, 1, 0, 1, 1, constants="wrong"), ParameterError, "constants"),
    (lambda: solve(BOUND_SPECS["upper"], {"gen_t": 0.05, "sigma": 0.1}, "kl", 0.01), NoSolutionError, "target"),
])
def test_api_raises_kdbound_errors(call, error, words):
    with pytest.raises(error, match=words):
        call()


# ----------------------------------------------------------------------------- found by trying it as a user

def test_data_is_never_read_as_markup(in_pty, tmp_path):
    rows = tmp_path / "m.csv"
    rows.write_text("run,gen_t,kl,sigma\n[/bold] a,0.05,0.2,0.1\n[red]b,0.05,0.3,0.1\n")
    text, status = in_pty(["upper", "-i", rows, "--columns", "run,bound"], 120)
    assert status == 0 and "[/bold] a" in text and "[red]b" in text
    text, status = in_pty(["upper", "--gen-t", "0.5", "--kl", "20", "--sigma", "0.1", "--loss-min", "0",
                           "--loss-max", "1"], 120)
    assert status == 0 and "for any loss in [a, b]" in " ".join(text.split())


def test_ctrl_c_while_writing_a_sweep_leaves_no_temporary(tmp_path, exe):
    p = subprocess.Popen([exe, "upper", "--gen-t", "0.05", "--sigma", "0.1", "--sweep", "kl=0:1:3000000", "-o",
                          str(tmp_path / "big.csv")], stderr=subprocess.PIPE, cwd=tmp_path,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 60
    while time.time() < deadline and not any(".part" in n for n in os.listdir(tmp_path)) and p.poll() is None:
        time.sleep(0.01)
    p.send_signal(signal.SIGINT)
    p.communicate(timeout=60)
    assert p.returncode in (0, 130)
    assert [n for n in os.listdir(tmp_path) if n.startswith(".kdbound-")] == []


def test_full_disk_for_an_output_file_and_for_stderr(exe):
    p = subprocess.run([exe, "upper", "--gen-t", "0.05", "--sigma", "0.1", "--sweep", "kl=0:1:5", "-o", "/dev/full"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "No space left" in p.stderr
    with open("/dev/full", "w") as full:
        p = subprocess.run([exe, "upper", "--gen-t", "0.05", "--kl", "0.2"], stderr=full, stdout=subprocess.PIPE,
                           timeout=60)
        assert p.returncode == 2
        p = subprocess.run([exe, "demo"], stderr=full, stdout=subprocess.PIPE, timeout=60)
        assert p.returncode == 0


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_a_full_disk_under_estimate_output_is_one_line(tmp_path, fmt):
    runs = tmp_path / "runs.csv"
    runs.write_text("role,gap\n" + "teacher,0.05\nteacher,0.07\nstudent,0.06\nstudent,0.09\n")
    out = "/dev/full" if fmt != "parquet" else str(tmp_path / "full.parquet")
    if fmt == "parquet":
        os.symlink("/dev/full", out)
    r = invoke("estimate", str(runs), "-o", out, *(("-f", fmt) if fmt != "parquet" else ()))
    assert r.exit_code == 2 and r.stdout == "" and r.stderr.count("\n") == 1, r.stderr
    assert "--output: cannot write" in r.stderr and "No space left" in r.stderr


def test_a_full_disk_under_a_plot_is_one_line(tmp_path):
    os.symlink("/dev/full", tmp_path / "full.png")
    r = invoke("upper", "--gen-t", "0.05", "--sigma", "0.1", "--sweep", "kl=0:1:5", "--plot", str(tmp_path / "full.png"),
               "-f", "csv")
    assert r.exit_code == 2 and r.stdout == "" and r.stderr.count("\n") == 1, r.stderr
    assert "--plot: cannot write" in r.stderr and "No space left" in r.stderr


def test_sharpness_below_kappa_over_n_is_no_bound(run_json):
    out = run_json("sharpness", "--gen-t", "0.05", "--kl", "0.5", "--n", "10000", "--loss-min", "0", "--loss-max",
                   "1", "--kappa", "2", "--lipschitz", "5", "--g0", "0.5", "--alpha", "10", "--tau", "2", "--rho", "1e-5")
    assert out["results"]["bound"] is None and out["results"]["tightens"] is False
    assert any("below kappa/n" in n for n in out["notes"])


def test_gen_t_outside_the_loss_range_is_refused(run):
    one_line_error(run("upper", "--gen-t", "2", "--kl", "0.2", "--sigma", "0.1", "--loss-min", "0", "--loss-max",
                       "1"), "--gen-t", "[-(b - a), b - a]")


def test_no_numpy_warning_reaches_the_user(exe):
    p = subprocess.run([exe, "upper", "--gen-t", "0.05", "--kl", "0.2", "--loss-min", "-1e308", "--loss-max", "1e308",
                        "--sigma", "1"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "Warning" not in p.stderr


def test_lower_at_k_0_and_sigma_0_says_what_it_prints(run_json):
    out = run_json("lower", "--gen-t", "0.05", "--kl", "0", "--sigma", "0")
    assert out["results"]["eta"] == 0.0 and not any("+inf" in n for n in out["notes"])


def test_output_to_dev_stdout_and_a_process_substitution(exe, tmp_path):
    """/dev/stdout on a pipe and bash's >(...) are links to pipes that realpath cannot resolve: written through."""
    p = subprocess.run([exe, "upper", "--gen-t", "0.05", "--sigma", "0.1", "--sweep", "kl=0:1:4", "-f", "csv",
                        "-o", "/dev/stdout"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stdout.splitlines()[0].startswith("kl,bound"), p.stderr
    assert len(p.stdout.splitlines()) == 5
    out = tmp_path / "lines"
    script = f"{exe} upper --gen-t 0.05 --sigma 0.1 --sweep kl=0:1:4 -f csv -q -o >(wc -l > {out}); echo $?; wait"
    p = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    assert p.stdout.strip() == "0", p.stderr
    for _ in range(100):
        if out.exists() and out.read_text().strip():
            break
        time.sleep(0.05)
    assert out.read_text().strip() == "5"


def test_columns_named_twice_are_refused():
    r = invoke("upper", "--gen-t", "0.05", "--kl", "0.2", "--sigma", "0.1", "--columns", "bound,bound", "-f", "jsonl")
    one_line_error(r, "--columns: names 'bound' twice")


@pytest.mark.parametrize("mode, words", [("stop", "input column 'error' is dropped"),
                                         ("null", "input column(s) 'error' are replaced by freshly computed")])
def test_an_input_error_column_is_said_to_be_dropped_or_replaced(mode, words):
    r = invoke("upper", "-i", "-", "--sigma", "0.1", "-f", "csv", "--on-error", mode, input="gen_t,kl,error\n0.05,0.2,old\n")
    assert r.exit_code == 0 and words in r.stderr and "old" not in r.stdout


def test_a_json_lines_key_given_twice_is_refused():
    r = invoke("upper", "-i", "-", "--input-format", "jsonl", "--sigma", "0.1",
               input='{"gen_t": 0.05, "kl": 0.1}\n{"gen_t": 0.05, "kl": 0.1, "kl": 0.2}\n')
    one_line_error(r, "--input: row 2 has the key 'kl' twice")


def test_loss_range_order_and_batch_rule_spelling():
    one_line_error(invoke("upper", "--gen-t", "0.1", "--kl", "0.02", "--sigma", "0.1", "--loss-min", "1", "--loss-max",
                          "0"), "--loss-max: must be > --loss-min (got 0.0)")
    one_line_error(invoke("lower", "--eta", "2", "--c", "0.5", "--gen-t", "0.1", "--kl", "0.02", "--loss-min", "1",
                          "--loss-max", "1"), "--loss-max: must be > --loss-min (got 1.0)")
    r = invoke("upper", "-i", "-", "--loss-min", "0", "--loss-max", "1", "--sigma", "0.1", input="gen_t,kl\n3,0.02\n")
    one_line_error(r, "row 1, column gen_t: must lie in [-(b - a), b - a] for a loss in [a, b] (--loss-min, "
                      "--loss-max) (got 3.0)")
    r = invoke("upper", "-i", "-", "--beta", "0.1", "--n", "10", input="gen_t,kl,loss_min,loss_max\n0.1,0.02,1,0\n")
    one_line_error(r, "row 1, column loss_max: must be > column loss_min (got 0.0)")


def test_output_to_dev_stdout_read_by_head_ends_quietly(exe, tmp_path):
    rows = tmp_path / "rows.csv"
    rows.write_text("gen_t,kl\n" + "".join(f"0.05,{i / 1e5}\n" for i in range(200000)))
    p = subprocess.run(["bash", "-c", f"{exe} upper -i {rows} --sigma 0.1 -f csv -o /dev/stdout | head -1; "
                                      "echo ${PIPESTATUS[0]} >&2"], capture_output=True, text=True, timeout=120)
    assert p.stdout.startswith("gen_t,kl,bound") and p.stderr.strip().splitlines()[-1] == "0", p.stderr
    assert "Broken pipe" not in p.stderr


def test_eta_with_a_non_positive_gen_t_is_not_checked_against_remark_2(run_json):
    out = run_json("lower", "--gen-t", "0", "--sigma", "0.1", "--kl", "1", "--eta", "300")
    assert out["results"]["bound"] == pytest.approx(-0.1 * 2 ** 0.5) and out["results"]["eta"] is None


def test_a_derived_sigma_beyond_float64_names_the_route():
    one_line_error(invoke("upper", "--gen-t", "0.1", "--kl", "1", "--loss-min", "0", "--loss-max", "1", "--kappa",
                          "1e300", "--lipschitz", "1e300", "--n", "1"),
                   "--kappa: with --loss-min --loss-max --lipschitz --n gives a sigma beyond float64's range")


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGQUIT])
def test_hang_up_and_quit_leave_no_temporary_file(exe, tmp_path, sig):
    # the default disposition, as kdbound sees it from a terminal: a shell without job control starts
    # background commands with SIGQUIT ignored (kdbound keeps an ignored signal ignored, as nohup wants)
    p = subprocess.Popen([exe, "simulate", "--datasets", "3000000", "--runs-out", "big.csv"], cwd=tmp_path,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=lambda: signal.signal(sig, signal.SIG_DFL))
    try:
        for _ in range(200):  # until the temporary exists
            if any(n.startswith(".kdbound-") and n.endswith(".csv") for n in os.listdir(tmp_path)):
                break
            time.sleep(0.02)
        p.send_signal(sig)
        p.communicate(timeout=60)
    finally:  # never leave the run behind
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert p.returncode == -sig  # died of the signal, as by default
    assert [n for n in os.listdir(tmp_path) if n.startswith(".kdbound-")] == []


def test_error_exits_after_pyarrow_never_abort(exe, tmp_path):
    """Arrow's C++ teardown could abort an early exit (status 134, ~10% of runs when several ran at once)."""
    from concurrent.futures import ThreadPoolExecutor
    path = tmp_path / "nullgap.parquet"
    pq.write_table(pa.table({"role": ["teacher", "student"] * 60, "gap": [0.1] * 119 + [None]}), path)

    def one(_):
        return subprocess.run([exe, "estimate", str(path)], capture_output=True, text=True, timeout=60)

    with ThreadPoolExecutor(4) as pool:
        runs = list(pool.map(one, range(40)))
    assert {r.returncode for r in runs} == {2}
    assert all(r.stderr == "kdbound: error: row 120, column gap: must be a number (the cell is empty)\n" for r in runs)
