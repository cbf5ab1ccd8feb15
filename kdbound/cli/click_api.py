"""The click names kdbound uses, reached through this one module.

typer 0.26 vendors its own copy of click, whose exceptions are not the ones
``import click`` gives; moving to such a typer means changing the imports
here and nowhere else.
"""

from click import Abort, Choice, ClickException, Context, ParamType, UsageError, echo

__all__ = ["Abort", "Choice", "ClickException", "Context", "ParamType", "UsageError", "echo"]
