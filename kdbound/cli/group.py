"""The one place that maps exceptions to exit statuses (cf. httpie's ``main``).

Every failure becomes one line on stderr and an :class:`ExitStatus`:
a user's mistake (:class:`~kdbound.errors.KdboundError` or a click usage
error) is ``USAGE``; anything else is a ``BUG``.
"""

from __future__ import annotations

import os
import sys

from typer.core import TyperCommand, TyperGroup

from ..errors import KdboundError
from ..io.atomic import drop_results, interrupted
from ..io.stdout import StdoutClosed, StdoutError, silence_stdout
from .click_api import Abort, ClickException, UsageError, echo
from .options import option_name
from .status import ExitStatus


class Terminated(BaseException):
    """SIGTERM arrived (raised by the handler :func:`kdbound.cli.main.main` installs).  A BaseException, as
    KeyboardInterrupt is: code that catches a model's or a library's errors (``except Exception``) must not
    turn it into a failure of that model and go on."""


def error_line(exc: BaseException) -> str:
    """The one line that explains a user's mistake, options spelled as on the command line."""
    if isinstance(exc, KdboundError):
        return exc.describe(option_name)
    if isinstance(exc, UsageError):
        return _once(" ".join(exc.format_message().split()))
    return str(exc)


def _once(text: str) -> str:
    """A message with a repeated final sentence said once (click and typer both suggest a command)."""
    parts = text.split(" Did you mean")
    if len(parts) > 2:
        return parts[0] + " Did you mean" + parts[1]
    return text


class KdboundCommand(TyperCommand):
    """A command whose options may each be given once (click would keep the last one silently); only
    options that collect several values (``--sweep``, distill's ``--student``) repeat."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _argument_help(self)

    def parse_args(self, ctx, args):
        _refuse_repeats(self, ctx, list(args))
        return super().parse_args(ctx, args)


def _argument_help(command) -> None:
    """The help of the command's arguments (estimate's RUNS), which typer < 0.26 loses with click >= 8.3:
    taken again from the callback's annotations."""
    import inspect

    wrapped = getattr(command.callback, "__wrapped__", None)
    try:
        params = inspect.signature(wrapped).parameters if wrapped is not None else {}
    except (TypeError, ValueError):
        return
    for param in command.params:
        if param.param_type_name == "argument" and getattr(param, "help", None) is None and param.name in params:
            info = getattr(params[param.name].annotation, "__metadata__", (None,))[0]
            param.help = getattr(info, "help", None)


def _refuse_repeats(command, ctx, args: list[str]) -> None:
    parser = command.make_parser(ctx)
    try:
        _, _, order = parser.parse_args(args=args)
    except UsageError:  # the real parse says what is wrong
        return
    seen: set[str] = set()
    for param in order:
        if getattr(param, "multiple", True) or getattr(param, "count", False) or \
                set(param.opts) & set(ctx.help_option_names):
            continue
        if param.name in seen:
            name = max(param.opts, key=len)
            raise UsageError(f"{name}: given twice; give it once", ctx)
        seen.add(param.name)


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
            # typer turns Ctrl-C into this status before we see it; a library may have swallowed it
            if rv == ExitStatus.INTERRUPTED or interrupted():
                return _interrupted()
            sys.stdout.flush()  # a full disk shows here at the latest, while it can still be reported
            return int(rv) if isinstance(rv, int) else ExitStatus.OK
        except (KeyboardInterrupt, Abort):
            return _interrupted()
        except Terminated:  # as Ctrl-C: no temporary or result file of this run left behind
            drop_results()
            _say("kdbound: terminated")
            return ExitStatus.TERMINATED
        except Exception as exc:
            if interrupted():  # an error Ctrl-C caused (an import it broke): the interrupt is what happened
                return _interrupted()
            return _failure(exc)


def _failure(exc: Exception) -> int:
    """The one line and the status of a failure."""
    try:
        raise exc
    except StdoutClosed:
        # the reader went away (e.g. `| head`): not an error of ours
        silence_stdout()
        return ExitStatus.OK
    except StdoutError:
        silence_stdout()
        _say(f"kdbound: error: {error_line(exc)}")
        return ExitStatus.USAGE
    except UsageError:
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare `kdbound`: the help, and success
            try:
                echo(exc.ctx.get_help())
            except StdoutClosed:  # `kdbound | head`
                silence_stdout()
            return ExitStatus.OK
        _say(f"kdbound: error: {error_line(exc)}")
        return ExitStatus.USAGE
    except KdboundError:
        _say(f"kdbound: error: {error_line(exc)}")
        return ExitStatus.USAGE
    except ClickException:
        _say(f"kdbound: error: {exc.format_message()}")
        return exc.exit_code
    except BrokenPipeError:  # a pipe that is not stdout's (stdout's is StdoutClosed)
        silence_stdout()
        return ExitStatus.OK
    except Exception:  # a bug
        if os.environ.get("KDBOUND_DEBUG"):
            raise
        _say(f"kdbound: internal error: {type(exc).__name__}: {exc} (set KDBOUND_DEBUG=1 for a traceback)")
        return ExitStatus.BUG


def _interrupted() -> int:
    """Ctrl-C: no temporary or result file of this run left behind, one line, status 130."""
    drop_results()
    _say("kdbound: interrupted")
    return ExitStatus.INTERRUPTED


def _say(line: str) -> None:
    try:
        echo(line, err=True)
    except (OSError, ValueError):  # stderr itself cannot be written: the status says it all
        pass
