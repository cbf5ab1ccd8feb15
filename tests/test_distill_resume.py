"""The runs file: written as runs complete, killed midway, resumed to the same bytes as an uninterrupted run."""

import dataclasses
import fcntl
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from conftest import SLOW_FACTORY

from kdbound.engine.distill import ROW_COLUMNS
from kdbound.errors import InputError, ParameterError
from kdbound.experiment.runner import DistillSettings, run_distill
from kdbound.io.runs import journal_path, lock_path, sidecar_path

FAST = DistillSettings(data="iris", teacher="logistic", students=("tree:depth=2",), n=30, runs=6, min_test=50)
SLOW_RUNS = 8

SCRIPT = textwrap.dedent("""
    import json, signal, sys
    from kdbound.experiment.runner import DistillSettings, run_distill

    def terminated(signum, frame):  # as the command line does: an exception, so that cleanup runs
        raise SystemExit(143)

    signal.signal(signal.SIGTERM, terminated)
    settings = json.loads(sys.argv[1])
    settings["students"] = tuple(settings["students"])
    try:
        run_distill(DistillSettings(**settings), runs_out=sys.argv[2], jobs=int(sys.argv[3]))
    except KeyboardInterrupt:
        sys.exit(130)
""")


@pytest.fixture(scope="module")
def slow_setup(tmp_path_factory):
    """A folder holding a factory whose runs take ~0.15 s each (a student that sleeps in fit), the script that
    runs an experiment in a process of its own, and the uninterrupted reference files."""
    home = tmp_path_factory.mktemp("slow")
    (home / "kdb_slow_factory.py").write_text(SLOW_FACTORY)
    (home / "script.py").write_text(SCRIPT)
    settings = dataclasses.replace(FAST, students=("kdb_slow_factory:slow",), runs=SLOW_RUNS)
    cwd = os.getcwd()
    os.chdir(home)
    try:
        refs = {ext: reference(settings, home, f"runs.{ext}") for ext in ("csv", "parquet")}
    finally:
        os.chdir(cwd)
    return home, settings, refs


@pytest.fixture
def slow(slow_setup, monkeypatch):
    home, settings, refs = slow_setup
    monkeypatch.chdir(home)
    return settings, refs


def complete_runs(path):
    """Runs whose two rows are in the file so far (a torn or half-written tail not counted)."""
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().split("\n")[:-1]
    except FileNotFoundError:
        return 0
    return sum(1 for line in lines if line.startswith(("student", '{"role": "student"')))


def start(settings, path, jobs=1):
    payload = dataclasses.asdict(settings)
    return subprocess.Popen([sys.executable, "script.py", json.dumps(payload), path, str(jobs)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def interrupt(settings, path, sig, jobs=1, after=2):
    """Start the experiment in a process, send ``sig`` once ``after`` runs are in the file; its exit status."""
    proc = start(settings, path, jobs)
    watched = journal_path(path) if path.endswith(".parquet") else path
    deadline = time.monotonic() + 120
    while complete_runs(watched) < after:
        assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
        assert time.monotonic() < deadline, "the experiment did not start"
        time.sleep(0.02)
    proc.send_signal(sig)
    proc.communicate(timeout=120)
    return proc.returncode


def reference(settings, tmp_path, name):
    path = str(tmp_path / f"reference-{name}")
    run_distill(settings, runs_out=path, jobs=1)
    return path


def read(path):
    with open(path, "rb") as fh:
        return fh.read()


@pytest.mark.parametrize("sig, jobs, status", [(signal.SIGKILL, 2, -9), (signal.SIGINT, 1, 130),
                                               (signal.SIGTERM, 1, 143)])
def test_killed_midway_then_resumed_gives_the_same_bytes(slow, tmp_path, sig, jobs, status):
    slow, refs = slow
    ref = refs["csv"]
    path = str(tmp_path / "runs.csv")
    assert interrupt(slow, path, sig, jobs) == status
    got = complete_runs(path)
    assert 2 <= got < SLOW_RUNS  # midway: some runs written, not all
    assert os.path.exists(sidecar_path(path)) and not os.path.exists(lock_path(path)) or sig == signal.SIGKILL
    res = run_distill(slow, runs_out=path, resume=True, jobs=1)
    assert res.kept >= 2 and res.kept + res.computed == SLOW_RUNS
    assert read(path) == read(ref)
    assert read(sidecar_path(path)) == read(sidecar_path(ref))
    assert not os.path.exists(lock_path(path))


def test_parquet_killed_midway_then_resumed_gives_the_same_bytes(slow, tmp_path):
    slow, refs = slow
    ref = refs["parquet"]
    assert not os.path.exists(journal_path(ref)) and not os.path.exists(sidecar_path(ref))
    path = str(tmp_path / "runs.parquet")
    assert interrupt(slow, path, signal.SIGKILL) == -9
    assert not os.path.exists(path) and os.path.exists(journal_path(path)) and os.path.exists(sidecar_path(path))
    run_distill(slow, runs_out=path, resume=True, jobs=1)
    assert read(path) == read(ref)
    assert not os.path.exists(journal_path(path)) and not os.path.exists(sidecar_path(path))
    import pyarrow.parquet as pq

    meta = pq.read_schema(path).metadata[b"kdbound.distill"]
    assert json.loads(meta)["student"] == slow.students[0]
    assert pq.read_table(path).column_names == list(ROW_COLUMNS)


@pytest.mark.parametrize("ext", ["csv", "tsv", "jsonl", "parquet"])
def test_raising_runs_on_resume_equals_one_longer_run(tmp_path, ext):
    ref = reference(FAST, tmp_path, f"runs.{ext}")
    path = str(tmp_path / f"runs.{ext}")
    run_distill(dataclasses.replace(FAST, runs=3), runs_out=path, jobs=1)
    res = run_distill(FAST, runs_out=path, resume=True, jobs=2 if ext == "csv" else 1)
    assert (res.kept, res.computed) == (3, 3)
    assert read(path) == read(ref)
    if ext != "parquet":
        assert read(sidecar_path(path)) == read(sidecar_path(ref))
    again = run_distill(FAST, runs_out=path, resume=True, jobs=1)  # nothing left to do
    assert (again.kept, again.computed) == (6, 0) and again.rows == res.rows and read(path) == read(ref)


@pytest.mark.parametrize("ext", ["csv", "jsonl"])
def test_a_torn_tail_and_a_one_row_run_are_dropped_and_redone(tmp_path, ext):
    ref = reference(FAST, tmp_path, f"runs.{ext}")
    lines = read(ref).decode().splitlines(keepends=True)
    head = 1 if ext == "csv" else 0
    path = str(tmp_path / f"runs.{ext}")
    # runs 0 and 2 complete, run 1's student row lost, then half a line of run 3
    kept = lines[:head] + lines[head:head + 3] + lines[head + 4:head + 6] + [lines[head + 6][:17]]
    with open(path, "w") as fh:
        fh.write("".join(kept))
    with open(sidecar_path(path), "wb") as fh:
        fh.write(read(sidecar_path(ref)))
    res = run_distill(FAST, runs_out=path, resume=True, jobs=1)
    assert res.kept == 2 and res.computed == 4
    assert read(path) == read(ref)


def test_resume_refuses_other_settings_naming_them(tmp_path):
    path = str(tmp_path / "runs.csv")
    run_distill(FAST, runs_out=path, jobs=1)
    before = read(path)
    with pytest.raises(InputError) as err:
        run_distill(dataclasses.replace(FAST, seed=1, n=40), runs_out=path, resume=True, jobs=1)
    msg = err.value.describe()
    assert msg.startswith(f"runs_out: {path!r} holds runs of other settings (") and "n: 30 -> 40" in msg
    assert "seed: 0 -> 1" in msg and "class_counts" in msg
    with pytest.raises(InputError, match="student: \"tree:depth=2\" -> \"tree:depth=3\""):
        run_distill(dataclasses.replace(FAST, students=("tree:depth=3",)), runs_out=path, resume=True, jobs=1)
    with pytest.raises(ParameterError, match=r"runs: must be > 5: .* already holds run 5"):
        run_distill(dataclasses.replace(FAST, runs=4), runs_out=path, resume=True, jobs=1)
    # library versions are settings too
    side = json.loads(read(sidecar_path(path)))
    side["versions"]["scikit-learn"] = "0.0"
    with open(sidecar_path(path), "w") as fh:
        json.dump(side, fh)
    with pytest.raises(InputError, match=r"versions.scikit-learn: \"0.0\" -> "):
        run_distill(FAST, runs_out=path, resume=True, jobs=1)
    assert read(path) == before


def test_an_existing_file_without_resume_is_an_error(tmp_path):
    path = str(tmp_path / "runs.csv")
    run_distill(FAST, runs_out=path, jobs=1)
    before = read(path)
    with pytest.raises(InputError, match=r"runs_out: .* exists .*: give resume"):
        run_distill(FAST, runs_out=path, jobs=1)
    assert read(path) == before
    # a journal alone counts too (a Parquet experiment killed before its end)
    pq_path = str(tmp_path / "runs.parquet")
    open(journal_path(pq_path), "w").close()
    with pytest.raises(InputError, match="exists"):
        run_distill(FAST, runs_out=pq_path, jobs=1)
    # a file without its settings cannot be resumed
    bare = tmp_path / "bare.csv"
    bare.write_text(read(path).decode())
    with pytest.raises(InputError, match="has no settings"):
        run_distill(FAST, runs_out=str(bare), resume=True, jobs=1)
    # a line kdbound did not write
    with open(path, "a") as fh:
        fh.write("teacher,oops\n")
    with pytest.raises(InputError, match="line 14 of .* is not a row kdbound wrote"):
        run_distill(FAST, runs_out=path, resume=True, jobs=1)


def test_one_writer_at_a_time(tmp_path):
    path = str(tmp_path / "runs.csv")
    fd = os.open(lock_path(path), os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        with pytest.raises(InputError, match="is being written by another kdbound process"):
            run_distill(FAST, runs_out=path, jobs=1)
    finally:
        os.close(fd)
    assert not os.path.exists(path)
    run_distill(FAST, runs_out=path, jobs=1)  # a stale lock file (its holder gone) is no obstacle
    assert not os.path.exists(lock_path(path))
