import json

import pytest
from typer.testing import CliRunner

from kdbound.cli.app import app
from kdbound.render import Environment


@pytest.fixture
def run():
    """Invoke the CLI in-process; returns the click Result (stdout, stderr, exit_code)."""
    runner = CliRunner()

    def _run(*args, tty=False, input=None, env=None):
        return runner.invoke(app, [str(a) for a in args], input=input, env=env,
                             obj=Environment(stdout_isatty=tty, no_color=True) if tty else None)

    return _run


@pytest.fixture
def run_json(run):
    def _run(*args):
        r = run(*args, "--format", "json")
        assert r.exit_code == 0, r.stderr
        return json.loads(r.stdout)

    return _run


@pytest.fixture(scope="session")
def exe():
    """The installed kdbound console script (beside this interpreter, or on PATH)."""
    import os
    import shutil
    import sys

    path = os.path.join(os.path.dirname(sys.executable), "kdbound")
    path = path if os.path.exists(path) else shutil.which("kdbound")
    if path is None:
        pytest.skip("the kdbound console script is not installed")
    return path


@pytest.fixture
def in_pty(exe):
    """Run kdbound with stdout and stderr on a real pseudo-terminal of the given width.

    Returns (text with ANSI codes and carriage returns removed, exit status).
    """
    import fcntl
    import os
    import pty
    import re
    import struct
    import subprocess
    import termios

    def _run(args, columns, cwd=None):
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
        env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR")}
        env.update(TERM="xterm-256color", COLUMNS=str(columns))
        p = subprocess.Popen([exe, *map(str, args)], stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd,
                             close_fds=True)
        os.close(slave)
        chunks = []
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        os.close(master)
        status = p.wait(timeout=120)
        text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", b"".join(chunks).decode("utf-8", "replace"))
        return text.replace("\r", ""), status

    return _run
