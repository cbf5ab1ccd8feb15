"""How one value is written for people: rounded to six significant digits
(machine formats write it exactly, see :mod:`kdbound.formats`)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..formats import field_text, plain  # noqa: F401  (re-exported: how machine formats write a value)


#: how a table shows a missing value (null in JSON, an empty field in CSV/TSV), in every command
MISSING = "—"


def table_text(x: Any) -> str:
    if x is None:
        return MISSING
    if isinstance(x, (bool, np.bool_)):
        return "yes" if x else "no"
    if isinstance(x, str):
        return x
    try:
        f = float(x)
    except (TypeError, ValueError):
        return str(x)
    if math.isnan(f):
        return MISSING
    if math.isinf(f):
        return "+inf" if f > 0 else "-inf"
    return f"{f + 0.0:.6g}"


def non_finite_notes(results: dict) -> list[str]:
    """A note for every non-finite number that a specific note does not already explain."""
    return [f"{k} is not finite ({'nan' if math.isnan(float(v)) else table_text(v)}): printed as null."
            for k, v in results.items()
            if not isinstance(v, (str, bool, np.bool_)) and v is not None and plain(v) is None]
