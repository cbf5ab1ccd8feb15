"""Exceptions shared by the engine, the file readers and the CLI.

Every error a user can cause is a :class:`KdboundError`.  Errors carry the
*engine* name of the parameter they are about (``gen_t``, ``w_star``); only
the caller decides how to spell it (``--gen-t`` on the command line,
``row 3, column gen-t`` in a batch, ``gen_t`` in Python).  A message may
name other parameters as ``{name}`` placeholders (listed in ``refs``),
spelled the same way; other text, such as a file name, is left as it is.
"""

from __future__ import annotations

import re
from typing import Callable, Iterable

Spell = Callable[[str], str]


def _identity(name: str) -> str:
    return name


_PLACEHOLDER = r"\{([a-z][a-z0-9_]*)\}"


def spell_text(text: str, spell: Spell = _identity, refs: Iterable[str] | None = None) -> str:
    """``text`` with each ``{param}`` placeholder of ``refs`` replaced by ``spell(param)``.

    Without ``refs`` every ``{identifier}`` counts (for rules, which are code text).
    """
    names = set(re.findall(_PLACEHOLDER, text)) if refs is None else refs
    for name in names:
        text = text.replace("{" + name + "}", spell(name))
    return text


def spell_params(params: str | Iterable[str], spell: Spell = _identity) -> str:
    """One parameter, or several separated by spaces, in the caller's spelling."""
    if isinstance(params, str):
        return spell(params)
    return " ".join(spell(p) for p in params)


class KdboundError(Exception):
    """An error caused by the user's input (the CLI exits with status 2)."""

    def describe(self, spell: Spell = _identity) -> str:  # pragma: no cover - overridden
        return str(self)


class ParameterError(KdboundError, ValueError):
    """A parameter value breaks a rule, in the style of ``scipy.stats``.

    ``param`` is the engine's name (``gen_t``), ``rule`` the rule in words
    (``must be >= 0``), ``value`` the offending value and ``index`` its
    position when the input was an array: an int for 1-D input, a
    multi-index such as ``(1, 2)`` for 2-D and beyond (``None`` for scalars).
    The message (``str``) names the index; :meth:`describe` (the command
    line's one line, where arrays come from a sweep or a batch that names
    its rows itself) does not.
    """

    def __init__(self, param: str, rule: str, value: object, index: int | tuple[int, ...] | None = None):
        self.param = param
        self.rule = rule
        self.value = value
        self.index = index
        where = "" if index is None else f" at index {index}"
        super().__init__(self.describe() + where)

    def describe(self, spell: Spell = _identity) -> str:
        """The message with the parameter spelled by ``spell`` (an option, a column, or as is)."""
        rule = spell_text(self.rule, spell)
        if self.value is None:
            return f"{spell(self.param)}: {rule}"
        return f"{spell(self.param)}: {rule} (got {format_value(self.value)})"


class NoSolutionError(ParameterError):
    """``solve`` found no value of the unknown that meets the target (a rule broken by ``target``)."""


class InputError(KdboundError, ValueError):
    """A file, shape or combination of parameters that cannot be used (a ``ValueError``, as
    :class:`ParameterError` is, in the style of scipy's errors).

    ``param`` names the parameter (or parameters) the message is about, in
    engine spelling; ``None`` for errors that concern no single parameter.
    """

    def __init__(self, message: str, param: str | tuple[str, ...] | None = None, refs: tuple[str, ...] = ()):
        self.param = param
        self.message = message
        self.refs = refs
        super().__init__(self.describe())

    def describe(self, spell: Spell = _identity) -> str:
        text = spell_text(self.message, spell, self.refs)
        if self.param is None:
            return text
        return f"{spell_params(self.param, spell)}: {text}"


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
