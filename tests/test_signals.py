"""Signals (cli/main.py's handlers, io/atomic.py's temporaries): SIGTERM, Ctrl-C, hang-up and quit end
kdbound with the documented status and leave no temporary or partial file."""

import os
import signal
import random
import subprocess
import sys
import time

import pytest

from kdbound.cli.group import Terminated
from kdbound.cli.main import _on_sigterm
from kdbound.io.atomic import AtomicFile, remove_temporaries


# ----------------------------------------------------------------------------- SIGTERM

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


# ----------------------------------------------------------------------------- Ctrl-C

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


def test_ctrl_c_exits_130_and_leaves_no_partial_file(tmp_path, exe):
    # SIGINT as at a terminal: a shell without job control starts background commands (a suite run
    # with `&`) with SIGINT ignored, and the child would inherit that
    p = subprocess.Popen([exe, "simulate", "--datasets", "50000000", "--runs-out", "runs.csv", "-f", "json"],
                         cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.time() + 20
        while time.time() < deadline and not any(name.endswith(".part.csv") for name in os.listdir(tmp_path)):
            time.sleep(0.05)
        time.sleep(0.3)
        p.send_signal(signal.SIGINT)
        out, _ = p.communicate(timeout=30)
    finally:  # never leave a 50-million-dataset run behind
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert p.returncode == 130
    assert out == b""
    assert os.listdir(tmp_path) == []


def _python_start_up() -> float:
    """Seconds the interpreter takes to start before any of kdbound's code runs (the fastest of three)."""
    times = []
    for _ in range(3):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append(time.perf_counter() - t)
    return min(times)


# mutations: the console script's first module not installing its handler (a traceback during the imports),
# the SIGINT handler not recording the interrupt, AtomicFile.commit not checking it, drop_results skipped
@pytest.mark.subprocess
def test_ctrl_c_at_any_moment_is_exit_130_one_line_and_no_file(exe, tmp_path):
    rng = random.Random(17)
    start = _python_start_up()
    args = [exe, "upper", "--gen-t", "0.05", "--sigma", "0.1", "--sweep", "kl=0:1:50", "--plot", "p.png",
            "-o", "out.csv"]
    t = time.perf_counter()
    subprocess.run(args, cwd=tmp_path, capture_output=True, check=True)
    whole = time.perf_counter() - t
    interrupted = 0
    for i in range(24):  # from the end of the interpreter's own start-up (imports included) to the end of the run
        where = tmp_path / str(i)
        where.mkdir()
        p = subprocess.Popen(args, cwd=where, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        time.sleep(rng.uniform(start, 0.9 * whole))
        if p.poll() is not None:  # it finished first
            p.communicate()
            continue
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
        if p.returncode == 0:  # it was over (the last instants ignore Ctrl-C): the whole output, no word of it
            assert sorted(os.listdir(where)) == ["out.csv", "p.png"] and "interrupted" not in err.decode()
            continue
        interrupted += 1
        lines = err.decode().splitlines()
        assert p.returncode == 130 and lines[-1] == "kdbound: interrupted" and "Traceback" not in err.decode(), err
        assert out == b"" and os.listdir(where) == [], os.listdir(where)
    assert interrupted >= 8  # most of them (under load some runs are over before their signal)


# ----------------------------------------------------------------------------- hang-up and quit

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
