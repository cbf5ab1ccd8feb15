"""The one place that maps exceptions to exit statuses (cf. httpie's ``main``).

Every failure becomes one line on stderr and an :class:`ExitStatus`:
a user's mistake (:class:`~kdbound.errors.KdboundError` or a click usage
error) is ``USAGE``; anything else is a ``BUG``.
"""

from __future__ import annotations

import os
import sys

from typer.core import TyperGroup

from ..errors import KdboundError
from .click_api import Abort, ClickException, UsageError, echo
from .options import option_name
from .status import ExitStatus


def error_line(exc: BaseException) -> str:
    """The one line that explains a user's mistake, options spelled as on the command line."""
    if isinstance(exc, KdboundError):
        return exc.describe(option_name)
    if isinstance(exc, UsageError):
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
            rv = super().main(args, prog_name or "kdbound", complete_var, standalone_mode=False, **extra)
            return int(rv) if isinstance(rv, int) else ExitStatus.OK
        except (KdboundError, UsageError) as exc:
            _say(f"kdbound: error: {error_line(exc)}")
            return ExitStatus.USAGE
        except ClickException as exc:
            _say(f"kdbound: error: {exc.format_message()}")
            return exc.exit_code
        except (KeyboardInterrupt, Abort):
            _say("kdbound: interrupted")
            return ExitStatus.INTERRUPTED
        except BrokenPipeError:
            # the reader went away (e.g. `| head`): not an error of ours
            try:
                sys.stdout = open(os.devnull, "w")
            except OSError:
                pass
            return ExitStatus.OK
        except Exception as exc:  # a bug
            if os.environ.get("KDBOUND_DEBUG"):
                raise
            _say(f"kdbound: internal error: {type(exc).__name__}: {exc} (set KDBOUND_DEBUG=1 for a traceback)")
            return ExitStatus.BUG


def _say(line: str) -> None:
    echo(line, err=True)
