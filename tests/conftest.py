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
