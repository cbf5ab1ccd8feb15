"""The exit statuses of the ``kdbound`` command (the README's table)."""

from enum import IntEnum


class ExitStatus(IntEnum):
    OK = 0
    BUG = 1                # an internal error: please report it (KDBOUND_DEBUG=1 shows the traceback)
    USAGE = 2              # bad input: a value, file, shape or option combination; no solution
    ROWS_FAILED = 3        # a batch finished with --on-error skip|null but some rows failed
    INTERRUPTED = 130      # Ctrl-C (128 + SIGINT)
    TERMINATED = 143       # SIGTERM (128 + 15); temporary files are removed first
