"""Where output goes and how it should look: the object tests swap (cf. httpie's ``Environment``)."""

from __future__ import annotations

import os
import sys
from typing import TextIO

from ..formats import Format


#: the prefix of every note on stderr (errors are ``kdbound: error:``)
NOTE = "kdbound: note: "


class Environment:
    """Where output goes and how it should look; tests swap it (cf. httpie).

    ``out``/``err`` None: whatever ``sys.stdout``/``sys.stderr`` is when output is written;
    ``stdout_isatty``/``stderr_isatty`` None: ask the stream; ``no_color`` None: ``NO_COLOR``
    is set; ``chunk_bytes``: the batch block size (tests make it tiny to cross blocks).
    A plain class rather than a dataclass: it is built on every start-up.
    """

    __slots__ = ("out", "err", "stdout_isatty", "stderr_isatty", "no_color", "quiet", "chunk_bytes")

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None, stdout_isatty: bool | None = None,
                 stderr_isatty: bool | None = None, no_color: bool | None = None, quiet: bool = False,
                 chunk_bytes: int = 4 << 20):
        self.out, self.err, self.quiet, self.chunk_bytes = out, err, quiet, chunk_bytes
        self.no_color = "NO_COLOR" in os.environ if no_color is None else no_color
        self.stdout_isatty = _isatty(self.stdout) if stdout_isatty is None else stdout_isatty
        self.stderr_isatty = _isatty(self.stderr) if stderr_isatty is None else stderr_isatty

    def replace(self, **changes) -> Environment:
        """A copy with ``changes`` applied (the streams' tty answers carried over)."""
        fields = {name: getattr(self, name) for name in self.__slots__}
        return Environment(**(fields | changes))

    def __repr__(self) -> str:
        return "Environment(" + ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__) + ")"

    @property
    def stdout(self) -> TextIO:
        return self.out if self.out is not None else sys.stdout

    @property
    def stderr(self) -> TextIO:
        return self.err if self.err is not None else sys.stderr

    def default_format(self) -> Format:
        """A table on a terminal, TSV otherwise (as ``gh`` does)."""
        return Format.TABLE if self.stdout_isatty else Format.TSV

    def warn(self, message: str) -> None:
        if not self.quiet:
            print(message, file=self.stderr)

    def note(self, text: str) -> None:
        """A note on stderr, with the one prefix every command's notes have: ``kdbound: note:``."""
        self.warn(f"{NOTE}{text}")

    def console(self, stderr: bool = False):
        from rich.console import Console  # only when drawing

        tty = self.stderr_isatty if stderr else self.stdout_isatty
        return Console(file=self.stderr if stderr else self.stdout, force_terminal=bool(tty) and not self.no_color,
                       no_color=self.no_color or not tty, highlight=False, soft_wrap=False,
                       width=None if tty else 100)


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
