"""Exceptions shared by the engine, the file readers and the CLI.

Every error a user can cause is a :class:`KdboundError`; the CLI maps it to
one line on stderr and exit status 2.  Anything else is a bug.
"""

from __future__ import annotations


def option_name(param: str) -> str:
    """The command-line spelling of an engine parameter: ``gen_t`` -> ``--gen-t``."""
    return "--" + param.replace("_", "-")


class KdboundError(Exception):
    """An error caused by the user's input (exit status 2)."""

    exit_status = 2


class ParameterError(KdboundError, ValueError):
    """A parameter value breaks a rule, in the style of ``scipy.stats``.

    ``param`` is the engine's name (``gen_t``), ``rule`` the rule in words
    (``must be >= 0``), ``value`` the offending value and ``index`` its flat
    position when the input was an array (``None`` for scalars).
    """

    def __init__(self, param: str, rule: str, value: object, index: int | None = None):
        self.param = param
        self.rule = rule
        self.value = value
        self.index = index
        super().__init__(self.describe(param))

    def describe(self, name: str) -> str:
        """The message with ``name`` standing for the parameter (an option or a column)."""
        if self.value is None:
            return f"{name}: {self.rule}"
        return f"{name}: {self.rule} (got {format_value(self.value)})"


class InputError(KdboundError):
    """A file, shape or option combination that cannot be used."""


class NoSolutionError(KdboundError):
    """``--solve`` found no value of the unknown that meets the target."""


def format_value(value: object) -> str:
    """Show an offending value the way the user typed it, as far as possible."""
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    try:
        return repr(float(value))  # numpy scalars print as plain floats
    except (TypeError, ValueError):
        return repr(value)
