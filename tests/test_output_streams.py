"""io/stdout.py and the console script's streams, as a user's shell has them: a full disk, a closed
stdout, a broken pipe, /dev/stdout and process substitutions.  These run the installed console script."""

import os
import subprocess
import time

import pytest
from conftest import UP


# ----------------------------------------------------------------------------- a full or closed stdout

@pytest.mark.parametrize("args", [UP, ["--help"], ["--version"], ["demo"], ["upper", "--help"]])
def test_full_stdout_is_one_line_exit_2(exe, args):
    with open("/dev/full", "w") as full:
        p = subprocess.run([exe, *args], stdout=full, stderr=subprocess.PIPE, text=True, timeout=60)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "stdout" in p.stderr, p.stderr


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


def test_closed_stdout_is_one_line_exit_2(exe):
    p = subprocess.run(f"'{exe}' upper --gen-t 0.05 --kl 0.2 --sigma 0.1 >&-", shell=True, stderr=subprocess.PIPE,
                       text=True, timeout=60)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "stdout" in p.stderr


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


# ----------------------------------------------------------------------------- a reader that stops early

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


def test_output_to_dev_stdout_read_by_head_ends_quietly(exe, tmp_path):
    rows = tmp_path / "rows.csv"
    rows.write_text("gen_t,kl\n" + "".join(f"0.05,{i / 1e5}\n" for i in range(200000)))
    p = subprocess.run(["bash", "-c", f"{exe} upper -i {rows} --sigma 0.1 -f csv -o /dev/stdout | head -1; "
                                      "echo ${PIPESTATUS[0]} >&2"], capture_output=True, text=True, timeout=120)
    assert p.stdout.startswith("gen_t,kl,bound") and p.stderr.strip().splitlines()[-1] == "0", p.stderr
    assert "Broken pipe" not in p.stderr


# ----------------------------------------------------------------------------- /dev/stdout and process substitutions

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
