"""Up-front validation of engine inputs, element by element.

Every engine function converts its inputs with :func:`as_float` and states
its rules with :func:`require`.  By default the first violation raises a
:class:`~kdbound.errors.ParameterError` naming the parameter, the rule and the
value (and its flat index for arrays), as ``scipy.stats`` does.

Batch evaluation wants every bad row at once instead: inside
``with collect_violations() as found`` the rules record a mask per rule and
the computation goes on (bad rows then hold meaningless numbers, which the
caller discards).  This is the one mechanism behind both behaviours.
"""

from __future__ import annotations

import contextlib
from contextvars import ContextVar
from typing import Iterator, NamedTuple

import numpy as np

from ..errors import InputError, ParameterError
from .numerics import quiet_fp as quiet_fp  # re-exported: its former home


class Violation(NamedTuple):
    """Rows (a boolean mask) where ``param`` breaks ``rule``; ``values`` are the inputs."""

    param: str
    rule: str
    mask: np.ndarray
    values: np.ndarray


_found: ContextVar[list[Violation] | None] = ContextVar("kdbound_violations", default=None)


@contextlib.contextmanager
def collect_violations() -> Iterator[list[Violation]]:
    """Record rule violations instead of raising, and silence numpy's warnings."""
    found: list[Violation] = []
    token = _found.set(found)
    try:
        with np.errstate(all="ignore"):
            yield found
    finally:
        _found.reset(token)


def as_float(name: str, x: object) -> np.ndarray:
    """``x`` as a float64 array (0-d for scalars); non-numbers are a ParameterError."""
    if x is None:
        raise ParameterError(name, "is required", None)
    if isinstance(x, (bool, np.bool_)):
        raise ParameterError(name, "must be a number", x)
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise ParameterError(name, "must be a number", x) from None
    return arr


def shape_of(name: str, x: object) -> tuple:
    """The shape of ``x`` as numpy sees it; a ragged sequence is an InputError naming ``name``."""
    try:
        return np.shape(x)
    except ValueError:
        raise InputError("is a ragged sequence (rows of different lengths): give a number or a rectangular "
                         "array", name) from None


def broadcastable(**named) -> tuple:
    """The shape every input broadcasts to, or an InputError naming them (None values are left out)."""
    shapes = {k: shape_of(k, v) for k, v in named.items() if v is not None}
    try:
        return np.broadcast_shapes(*shapes.values())
    except ValueError:
        listed = ", ".join(f"{k} {s}" for k, s in shapes.items())
        names = tuple(k for k, s in shapes.items() if s)
        raise InputError(f"shapes do not broadcast together ({listed})", names) from None


def require(name: str, values: np.ndarray, bad: np.ndarray | bool, rule: str,
            error: type[ParameterError] = ParameterError) -> None:
    """State that ``bad`` is false everywhere; ``values`` are the inputs it was computed from.

    The first violation raises ``error`` (a :class:`ParameterError`), unless
    violations are being collected (:func:`collect_violations`).
    """
    bad = np.asarray(bad, dtype=bool)
    if not bad.any():
        return
    found = _found.get()
    if found is not None:
        found.append(Violation(name, rule, bad, np.asarray(values)))
        return
    flat = int(np.flatnonzero(bad)[0])
    vals = np.broadcast_to(np.asarray(values), bad.shape) if bad.ndim else np.asarray(values)
    value = float(vals.flat[flat]) if vals.ndim else float(vals)
    # the position in the checked array: an int for 1-D input, a multi-index (a tuple) beyond
    index = None if not bad.ndim else flat if bad.ndim == 1 else tuple(map(int, np.unravel_index(flat, bad.shape)))
    raise error(name, rule, value, index)


def finite(name: str, x: object) -> np.ndarray:
    arr = as_float(name, x)
    require(name, arr, ~np.isfinite(arr), "must be finite")
    return arr


def nonneg(name: str, x: object) -> np.ndarray:
    arr = finite(name, x)
    require(name, arr, arr < 0, "must be >= 0")
    return arr


def positive(name: str, x: object) -> np.ndarray:
    arr = finite(name, x)
    require(name, arr, arr <= 0, "must be > 0")
    return arr


def at_least(name: str, x: object, low: float) -> np.ndarray:
    arr = finite(name, x)
    require(name, arr, arr < low, f"must be >= {low:g}")
    return arr


def integer(name: str, x: object, low: int) -> int:
    """A whole number >= ``low`` given as a Python or numpy integer (or an integral float)."""
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, np.integer, float, np.floating)):
        raise ParameterError(name, "must be an integer", x if isinstance(x, (int, float, str)) else repr(x))
    if isinstance(x, (float, np.floating)) and not float(x).is_integer():
        raise ParameterError(name, "must be an integer", float(x))
    value = int(x)
    if value < low:
        raise ParameterError(name, f"must be >= {low}", value)
    return value


def first_nonfinite(arr: np.ndarray, block_rows: int = 16384):
    """(row, column, value) of the first NaN or infinity, scanning a block of rows at a time; or None."""
    arr2 = arr.reshape(arr.shape[0], -1) if arr.ndim > 1 else arr.reshape(-1, 1)
    for start in range(0, arr2.shape[0], block_rows):
        block = np.asarray(arr2[start:start + block_rows], dtype=np.float64)
        bad = ~np.isfinite(block)
        if bad.any():
            i, j = np.argwhere(bad)[0]
            return start + int(i), int(j), float(block[i, j])
    return None


def scalar_or_array(x: np.ndarray):
    """0-d arrays become numpy scalars (as ufuncs return), others stay arrays."""
    return x[()] if isinstance(x, np.ndarray) and x.ndim == 0 else x
