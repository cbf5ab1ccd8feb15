"""The ``kdbound`` console script's first code, outside the package.

Importing ``kdbound`` loads numpy, typer and rich (most of a scalar run's time).  Ctrl-C during
those imports would otherwise end in a ``KeyboardInterrupt`` traceback; here it ends as Ctrl-C
does at any other moment: ``kdbound: interrupted`` on stderr and exit status 130.  The handler
installed here records the interrupt too, so one that an import swallowed is not lost;
:func:`kdbound.cli.main.main` then installs the package's own handler.
"""

import os
import sys

import _signal  # the C module: `signal` imports enum, a few milliseconds in which Ctrl-C would go unhandled

_HIT = [False]


def on_sigint(signum, frame):
    _HIT[0] = True
    raise KeyboardInterrupt


def _stop() -> None:
    try:
        sys.stderr.write("kdbound: interrupted\n")
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass
    os._exit(130)


def run() -> None:
    try:
        if _signal.getsignal(_signal.SIGINT) is _signal.default_int_handler:  # not when ignored (background job)
            _signal.signal(_signal.SIGINT, on_sigint)
        from kdbound.cli.main import run as main_run
        if _HIT[0]:
            raise KeyboardInterrupt
    except BaseException:
        if _HIT[0]:  # KeyboardInterrupt, or the error an import it broke raised instead
            _stop()
        raise
    main_run()
