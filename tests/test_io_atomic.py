"""io/atomic.py: every output file appears whole or not at all, where the user asked for it (links
followed, permissions kept, devices and pipes written through), and a path that cannot be written is one
line naming the option."""

import os
import stat

import pytest
from conftest import SWEEP, invoke, one_line_error


# ----------------------------------------------------------------------------- where the output goes

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


# ----------------------------------------------------------------------------- paths that cannot be written

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
