"""Standard output that fails clearly.

Writing to a full disk (``> /dev/full``) or a closed stream is the user's
environment, not a bug: :class:`GuardedStream` turns such an ``OSError`` into
a :class:`StdoutError` (one line, exit 2).  A reader that went away
(``| head -1``, EPIPE) is not an error at all: it becomes :class:`StdoutClosed`,
which the CLI ends quietly with exit 0.  Neither is an ``OSError``, so no
framework in between mistakes them for its own.
"""

from __future__ import annotations

import errno
import os

from ..errors import KdboundError


class StdoutClosed(Exception):
    """The reader of stdout went away (EPIPE): stop writing, nothing went wrong."""


class StdoutError(KdboundError):
    """stdout cannot be written (a full disk, a closed descriptor, an I/O error)."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(self.describe())

    def describe(self, spell=None) -> str:
        return f"cannot write to stdout ({self.reason})"


def _convert(exc: OSError) -> Exception:
    if exc.errno == errno.EPIPE or isinstance(exc, BrokenPipeError):
        return StdoutClosed()
    return StdoutError(exc.strerror or str(exc))


class GuardedStream:
    """A stream whose write errors are :class:`StdoutError` or :class:`StdoutClosed`."""

    def __init__(self, stream):
        self._stream = stream
        self._buffer = None

    def write(self, data):
        try:
            return self._stream.write(data)
        except OSError as exc:
            raise _convert(exc) from None
        except ValueError as exc:  # write to a closed file
            raise StdoutError(str(exc)) from None

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        try:
            return self._stream.flush()
        except OSError as exc:
            raise _convert(exc) from None
        except ValueError:
            return None

    @property
    def buffer(self):
        if self._buffer is None:
            self._buffer = GuardedStream(self._stream.buffer)
        return self._buffer

    def __getattr__(self, name):
        return getattr(self._stream, name)


def silence_stdout() -> None:
    """Point file descriptor 1 at /dev/null, so that no later flush (at exit) can fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
    except OSError:
        pass


class QuietStream:
    """stderr that cannot fail: when it cannot be written (a full disk, a closed descriptor),
    messages are lost but the exit status still tells what happened."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, data):
        try:
            return self._stream.write(data)
        except (OSError, ValueError):
            return len(data)

    def flush(self):
        try:
            return self._stream.flush()
        except (OSError, ValueError):
            return None

    def __getattr__(self, name):
        return getattr(self._stream, name)
