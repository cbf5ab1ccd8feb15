"""The one place that maps exceptions to exit statuses (cf. httpie's ``main``).

0  success
1  internal error (a bug: please report it; KDBOUND_DEBUG=1 shows the traceback)
2  bad input: invalid value, file, shape or option combination; no solution
3  a batch finished but some rows failed (``--on-error skip|null``)
130 interrupted
"""

from __future__ import annotations

import os
import sys

import click
import numpy as np
from typer.core import TyperGroup

from ..errors import KdboundError, ParameterError, option_name

EXIT_OK, EXIT_BUG, EXIT_USAGE, EXIT_ROWS_FAILED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def error_line(exc: BaseException) -> str:
    if isinstance(exc, ParameterError):
        return exc.describe(option_name(exc.param))
    if isinstance(exc, click.UsageError):
        return exc.format_message()
    return str(exc)


class KdboundGroup(TyperGroup):
    """Runs the command and turns every failure into one stderr line and an exit status."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        code = self.run(args, prog_name, complete_var, **extra)
        if standalone_mode:
            sys.exit(code)
        return code

    def run(self, args=None, prog_name=None, complete_var=None, **extra) -> int:
        try:
            # overflow to inf or an undefined 0/0 is reported as null with a note, not a numpy warning
            with np.errstate(all="ignore"):
                rv = super().main(args, prog_name or "kdbound", complete_var, standalone_mode=False, **extra)
            return rv if isinstance(rv, int) else EXIT_OK
        except (KdboundError, click.UsageError) as exc:
            _say(f"kdbound: error: {error_line(exc)}")
            return EXIT_USAGE
        except click.ClickException as exc:
            _say(f"kdbound: error: {exc.format_message()}")
            return exc.exit_code
        except (KeyboardInterrupt, click.Abort):
            _say("kdbound: interrupted")
            return EXIT_INTERRUPTED
        except BrokenPipeError:
            # the reader went away (e.g. `| head`): not an error of ours
            try:
                sys.stdout = open(os.devnull, "w")
            except OSError:
                pass
            return EXIT_OK
        except Exception as exc:  # a bug
            if os.environ.get("KDBOUND_DEBUG"):
                raise
            _say(f"kdbound: internal error: {type(exc).__name__}: {exc} (set KDBOUND_DEBUG=1 for a traceback)")
            return EXIT_BUG


def _say(line: str) -> None:
    click.echo(line, err=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``kdbound`` console script."""
    from .app import app, app_for
    from typer.main import get_command

    args = sys.argv[1:] if argv is None else list(argv)
    completing = any(key.startswith("_KDBOUND_COMPLETE") for key in os.environ)
    command = get_command(app if completing else app_for(args))
    return command.main(args, prog_name="kdbound", standalone_mode=True)
