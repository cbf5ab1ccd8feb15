"""Entry point of the ``kdbound`` console script (cf. httpie's tiny ``__main__`` and ``main``).

Exit statuses are :class:`~kdbound.cli.status.ExitStatus`; the mapping from
exceptions lives in :class:`~kdbound.cli.group.KdboundGroup`.  Here the process
is prepared: stdout that reports its own failures, and SIGTERM that removes
temporary files before exiting.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys

from typer.main import get_command

from ..io.atomic import drop_results, interrupted, note_interrupt, remove_temporaries
from ..io.stdout import GuardedStream, QuietStream, StdoutClosed, StdoutError
from .app import app, app_for
from .group import Terminated
from .status import ExitStatus


def _on_sigterm(signum, frame):
    remove_temporaries()
    raise Terminated()


def _on_sigint(signum, frame):
    """Ctrl-C: recorded first (a library that swallows the KeyboardInterrupt cannot make the run go on to
    exit 0 and put its files in place), then raised."""
    note_interrupt()
    raise KeyboardInterrupt


def _unraisable(hook) -> None:
    """Python's hook for an exception it cannot raise (one in a weakref callback or a finalizer): Ctrl-C or
    SIGTERM can land there.  Ctrl-C is recorded by its handler and ends the run with status 130 when the
    command returns; SIGTERM ends the process here, as it would have, with its line and status 143.  Anything
    else goes to Python's own hook."""
    if issubclass(hook.exc_type, KeyboardInterrupt):
        return
    if issubclass(hook.exc_type, Terminated):
        drop_results()
        try:
            sys.stderr.write("kdbound: terminated\n")
            sys.stderr.flush()
        finally:
            os._exit(ExitStatus.TERMINATED)
    sys.__unraisablehook__(hook)


def _on_fatal_signal(signum, frame):
    """Hang-up, quit, user signals: remove temporary files, then die of the signal as the default would."""
    remove_temporaries()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


#: signals whose default action ends the process: each first removes kdbound's temporary files
_FATAL = ("SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")


def main(argv: list[str] | None = None) -> int:
    """Run ``kdbound`` with ``argv`` (default: the process arguments); returns the exit status."""
    if sys.stdout is None:  # started with stdout closed (`kdbound ... >&-`)
        if sys.stderr is not None:
            sys.stderr.write("kdbound: error: cannot write to stdout (it is closed)\n")
        return ExitStatus.USAGE
    if not isinstance(sys.stdout, GuardedStream):
        sys.stdout = GuardedStream(sys.stdout)
    if sys.stderr is not None and not isinstance(sys.stderr, QuietStream):
        sys.stderr = QuietStream(sys.stderr)
    try:
        signal.signal(signal.SIGTERM, _on_sigterm)
        sys.unraisablehook = _unraisable
        early = sys.modules.get("_kdbound_console")
        if early is not None and early._HIT[0]:  # Ctrl-C came during the imports and was swallowed there
            note_interrupt()
        if signal.getsignal(signal.SIGINT) in (signal.default_int_handler, getattr(early, "on_sigint", None)):
            signal.signal(signal.SIGINT, _on_sigint)  # not when ignored (a background job of a shell)
        for name in _FATAL:
            if hasattr(signal, name) and signal.getsignal(getattr(signal, name)) == signal.SIG_DFL:
                signal.signal(getattr(signal, name), _on_fatal_signal)
    except ValueError:  # not the main thread
        pass
    args = sys.argv[1:] if argv is None else list(argv)
    completing = any(key.startswith("_KDBOUND_COMPLETE") for key in os.environ)
    command = get_command(app if completing else app_for(args))
    return command.main(args, prog_name="kdbound", standalone_mode=True)


def run() -> None:
    """The console script: :func:`main`, then the process ends with its status, skipping the
    interpreter's finalization (``os._exit`` once stdout and stderr are flushed).

    Finalization frees every module and object one by one, about 15% of a scalar run (measured
    with ``benchmarks/bench_startup.py --teardown``), and nothing kdbound writes depends on it:
    output files are complete (renamed into place) and temporary files removed before
    :func:`main` returns.  It is also where Arrow's C++ teardown can abort an early exit
    (``terminate called without an active exception``, status 134) once pyarrow is loaded.
    Exit handlers (:mod:`atexit`, such as a coverage tool's) still run, except where pyarrow
    was loaded.
    """
    try:
        try:
            status = main()
        except SystemExit as exc:
            status = exc.code
        status = status if isinstance(status, int) else (0 if status is None else ExitStatus.BUG)
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # the run is over: a late Ctrl-C changes nothing
        except ValueError:  # not the main thread
            pass
        if interrupted() and status != ExitStatus.INTERRUPTED:
            raise KeyboardInterrupt  # it came while the run ended, or a library swallowed it
    except KeyboardInterrupt:
        status = _interrupted()
    status = _flush(int(status))
    if "pyarrow" not in sys.modules:
        atexit._run_exitfuncs()
    os._exit(status)


def _interrupted() -> int:
    """Ctrl-C: no result file left behind, one line, status 130."""
    drop_results()
    try:
        sys.stderr.write("kdbound: interrupted\n")
    except (OSError, ValueError):
        pass
    return ExitStatus.INTERRUPTED


def _flush(status: int) -> int:
    """Flush stdout and stderr before ``os._exit``; a stdout that cannot take the output is an error
    (exit 2) unless the run failed already, and a reader that went away is not."""
    try:
        if sys.stdout is not None:  # None: started with stdout closed, already reported
            sys.stdout.flush()
    except StdoutClosed:
        pass
    except (StdoutError, OSError) as exc:
        if status == ExitStatus.OK:
            sys.stderr.write(f"kdbound: error: {exc}\n")
            status = ExitStatus.USAGE
    try:
        sys.stderr.flush()
    except Exception:  # nothing left to tell it with
        pass
    return int(status)
