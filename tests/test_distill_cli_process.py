"""`kdbound distill` through the real console script: Ctrl-C (130), SIGTERM (143) and kill -9 leave a runs file
that --resume completes to the bytes of an uninterrupted run; a missing extra is one line naming it; bad input
is one line; the progress bar shows on a terminal only."""

import os
import re
import signal
import subprocess
import sys
import time

import pytest
from conftest import SLOW_FACTORY

pytest.importorskip("sklearn")

RUNS = 10
ARGS = ["distill", "--data", "iris", "--teacher", "logistic", "--student", "kdb_cli_slow:slow", "--n", "30",
        "--min-test", "50", "--runs", str(RUNS), "--format", "tsv"]


@pytest.fixture(scope="module")
def home(tmp_path_factory, exe):
    """A folder with the slow factory and the uninterrupted reference file (written by the console script)."""
    home = tmp_path_factory.mktemp("cli-slow")
    (home / "kdb_cli_slow.py").write_text(SLOW_FACTORY)
    p = subprocess.run([exe, *ARGS, "--jobs", "1", "--runs-out", "reference.csv"], cwd=home, capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    return home


def complete_runs(path):
    try:
        with open(path, encoding="utf-8") as fh:
            return sum(1 for line in fh.read().split("\n")[:-1] if line.startswith("student"))
    except FileNotFoundError:
        return 0


# SIGTERM in one process lands inside a fit: it was caught there as the model's error (exit 2, "the student
# ... failed: Terminated", and with --on-error skip the run went on to exit 0)
@pytest.mark.parametrize("sig, jobs, status", [(signal.SIGINT, 1, 130), (signal.SIGTERM, 2, 143),
                                               (signal.SIGTERM, 1, 143), (signal.SIGKILL, 2, -9)])
def test_interrupted_then_resumed_gives_the_uninterrupted_file(home, exe, tmp_path, sig, jobs, status):
    path = str(tmp_path / "runs.csv")
    proc = subprocess.Popen([exe, *ARGS, "--jobs", str(jobs), "--runs-out", path], cwd=home, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while complete_runs(path) < 2:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the experiment did not start"
        time.sleep(0.02)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == status, err
    assert 2 <= complete_runs(path) < RUNS and out == ""
    if sig != signal.SIGKILL:
        assert err.splitlines()[-1] == ("kdbound: interrupted" if sig == signal.SIGINT else "kdbound: terminated")
        assert "Traceback" not in err
    again = subprocess.run([exe, *ARGS, "--jobs", "1", "--runs-out", path, "--resume"], cwd=home,
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert re.search(r"\d+ computed in this process, \d+ kept from the runs file", again.stderr)
    with open(path, "rb") as a, open(home / "reference.csv", "rb") as b:
        assert a.read() == b.read()
    with open(path + ".settings.json", "rb") as a, open(home / "reference.csv.settings.json", "rb") as b:
        assert a.read() == b.read()


#: make ``import <name>`` fail as when the package is not installed, then run the console script
MISSING = ("import sys\nfor name in {names!r}:\n    sys.modules[name] = None\n"
           "sys.argv[0] = 'kdbound'\nfrom kdbound.cli.main import run\nrun()\n")


def without(names, *args, cwd):
    return subprocess.run([sys.executable, "-c", MISSING.format(names=list(names)), *args], capture_output=True,
                          text=True, cwd=cwd, timeout=120)


def one_line(p, start):
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert p.stdout == "" and "Traceback" not in p.stderr
    assert len(p.stderr.splitlines()) == 1 and p.stderr.startswith(start), p.stderr
    return p.stderr


def test_without_scikit_learn_one_line_names_the_extra(tmp_path):
    gone = ("sklearn", "joblib", "threadpoolctl")
    one_line(without(gone, "distill", cwd=tmp_path),
             "kdbound: error: distill needs scikit-learn: pip install 'kdbound[distill]'")
    one_line(without(gone, "distill", "--jobs", "2", "--student", "mlp:8", cwd=tmp_path),
             "kdbound: error: distill needs scikit-learn")
    helped = without(gone, "distill", "--help", cwd=tmp_path)
    assert helped.returncode == 0 and "--teacher" in helped.stdout
    assert os.listdir(tmp_path) == []


def test_without_dask_one_line_names_the_extra(tmp_path):
    one_line(without(("dask", "distributed"), "distill", "--backend", "dask", "--runs", "3", cwd=tmp_path),
             "kdbound: error: --backend: dask needs dask.distributed: pip install 'kdbound[dask]'")


@pytest.mark.parametrize("args, start", [
    (["--n", "1700"], "kdbound: error: --n: leaves 97 of the 1797 examples held out"),
    (["--runs", "1"], "kdbound: error: --runs: must be >= 2"),
    (["--student", "svm:3"], "kdbound: error: --student: unknown model 'svm:3'; choose one of logistic[:C=1], "),
    (["--scale", "minmax"], "kdbound: error: Invalid value for '--scale': 'minmax' is not one of 'none', 'standard'"),
])
def test_bad_input_through_the_console_script(exe, tmp_path, args, start):
    one_line(subprocess.run([exe, "distill", *args], capture_output=True, text=True, cwd=tmp_path, timeout=120),
             start)


@pytest.mark.dask
def test_an_unreachable_scheduler_is_one_line_within_about_ten_seconds(exe, tmp_path):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    p = subprocess.run([exe, "distill", "--data", "iris", "--n", "30", "--min-test", "50", "--runs", "3",
                        "--backend", "dask", "--scheduler", f"tcp://127.0.0.1:{port}"], capture_output=True,
                       text=True, cwd=tmp_path, timeout=120)
    assert time.monotonic() - start < 25
    one_line(p, f"kdbound: error: --scheduler: cannot reach the Dask scheduler 'tcp://127.0.0.1:{port}' within 10 s")


def test_progress_bar_on_a_terminal_only(home, in_pty, exe):
    args = [*ARGS[:-4], "--runs", "8", "--jobs", "1", "--format", "tsv"]
    text, status = in_pty(args, 100, cwd=home)
    assert status == 0, text
    assert "distill runs" in text and re.search(r"\d+%", text) and re.search(r"\d:\d\d:\d\d", text), text
    piped = subprocess.run([exe, *args], cwd=home, capture_output=True, text=True, timeout=300)
    assert piped.returncode == 0 and "distill runs" not in piped.stderr and "%" not in piped.stderr
