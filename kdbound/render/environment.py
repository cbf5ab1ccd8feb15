"""Where output goes and how it should look: the object tests swap (cf. httpie's ``Environment``)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import TextIO

from ..formats import Format


@dataclass(eq=False)
class Environment:
    """Where output goes and how it should look; tests swap it (cf. httpie)."""

    out: TextIO | None = None          # None: whatever sys.stdout is when output is written
    err: TextIO | None = None
    stdout_isatty: bool | None = None  # None: ask the stream
    stderr_isatty: bool | None = None
    no_color: bool = field(default_factory=lambda: "NO_COLOR" in os.environ)
    quiet: bool = False
    chunk_bytes: int = 4 << 20         # batch block size (tests make it tiny to cross blocks)

    @property
    def stdout(self) -> TextIO:
        return self.out if self.out is not None else sys.stdout

    @property
    def stderr(self) -> TextIO:
        return self.err if self.err is not None else sys.stderr

    def __post_init__(self):
        if self.stdout_isatty is None:
            self.stdout_isatty = _isatty(self.stdout)
        if self.stderr_isatty is None:
            self.stderr_isatty = _isatty(self.stderr)

    def default_format(self) -> Format:
        """A table on a terminal, TSV otherwise (as ``gh`` does)."""
        return Format.TABLE if self.stdout_isatty else Format.TSV

    def warn(self, message: str) -> None:
        if not self.quiet:
            print(message, file=self.stderr)

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
