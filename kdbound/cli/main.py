"""Entry point of the ``kdbound`` console script (cf. httpie's tiny ``__main__`` and ``main``).

Exit statuses are :class:`~kdbound.cli.status.ExitStatus`; the mapping from
exceptions lives in :class:`~kdbound.cli.group.KdboundGroup`.
"""

from __future__ import annotations

import os
import sys

from typer.main import get_command

from .app import app, app_for


def main(argv: list[str] | None = None) -> int:
    """Run ``kdbound`` with ``argv`` (default: the process arguments); returns the exit status."""
    args = sys.argv[1:] if argv is None else list(argv)
    completing = any(key.startswith("_KDBOUND_COMPLETE") for key in os.environ)
    command = get_command(app if completing else app_for(args))
    return command.main(args, prog_name="kdbound", standalone_mode=True)
