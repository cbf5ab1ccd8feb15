"""The table formats kdbound reads and writes, named once, and how a value is
written in the machine formats (exactly: the shortest repr that round-trips,
null for non-finite numbers)."""

from __future__ import annotations

import math
import os
from enum import Enum
from typing import Any

import numpy as np


class Format(str, Enum):
    """An output or input format.  ``Format("csv") == "csv"``."""

    TABLE = "table"
    JSON = "json"
    JSONL = "jsonl"
    CSV = "csv"
    TSV = "tsv"
    PARQUET = "parquet"

    def __str__(self) -> str:
        return self.value

    @property
    def delimiter(self) -> str:
        return "," if self is Format.CSV else "\t"


#: what a result can be printed as on stdout
STDOUT_FORMATS = (Format.TABLE, Format.JSON, Format.JSONL, Format.CSV, Format.TSV)
#: what an ``--output`` file can hold
FILE_FORMATS = (Format.CSV, Format.TSV, Format.JSONL, Format.JSON, Format.PARQUET)
#: what a batch ``--input`` can be
INPUT_FORMATS = (Format.CSV, Format.TSV, Format.JSONL, Format.PARQUET)

_EXTENSIONS = {".csv": Format.CSV, ".tsv": Format.TSV, ".tab": Format.TSV, ".txt": Format.TSV,
               ".jsonl": Format.JSONL, ".ndjson": Format.JSONL, ".json": Format.JSONL,
               ".parquet": Format.PARQUET, ".pq": Format.PARQUET}


def names(formats) -> str:
    """``csv, tsv, jsonl`` for messages and help."""
    return ", ".join(f.value for f in formats)


def from_extension(path: str, allowed=INPUT_FORMATS) -> Format | None:
    """The format a file name's extension implies, if it is one of ``allowed``."""
    fmt = _EXTENSIONS.get(os.path.splitext(path.lower())[1])
    return fmt if fmt in allowed else None



#: the number spellings kdbound reads, as options and as table cells: ASCII digits, an optional
#: decimal point and exponent, inf and nan (which the rules then refuse); not 1_000, 0x10 or other
#: scripts' digits.  float() checks the structure once the characters are known to be these (a regular
#: expression would say the same, at ~0.3 ms of compilation on every start-up).
_NUMBER_CHARS = frozenset("0123456789.eE+-")
_NUMBER_WORDS = frozenset(("inf", "infinity", "nan"))


def parse_number(text: str) -> float | None:
    """``text`` as a float when it is spelled as kdbound reads numbers, else None."""
    s = text.strip()
    if not (set(s) <= _NUMBER_CHARS or s.lstrip("+-").lower() in _NUMBER_WORDS):
        return None
    try:
        return float(s)
    except ValueError:
        return None


def plain(x: Any) -> Any:
    """A JSON-ready Python value: finite floats, bools, str; None for NaN/inf; dicts and lists recursively."""
    if x is None or isinstance(x, (str, bool)):
        return x
    if isinstance(x, dict):
        return {str(k): plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [plain(v) for v in x]
    if isinstance(x, (np.bool_,)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    try:
        f = float(x)
    except (TypeError, ValueError):
        return str(x)
    return f + 0.0 if math.isfinite(f) else None  # + 0.0: no "-0.0"


def field_text(x: Any) -> str:
    """A CSV/TSV field: exact float repr, true/false, empty for null."""
    v = plain(x)
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return repr(v) if isinstance(v, float) else str(v)


def json_ready(x: Any) -> Any:
    """:func:`plain` for a result: numpy arrays become (nested) lists, with None for NaN and infinities."""
    if isinstance(x, np.ndarray) and x.ndim:
        return plain(x.tolist())
    return plain(x)


def _html_cell(value: Any) -> str:
    v = plain(value)
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


#: rows an HTML table shows before it says how many it left out
HTML_ROWS = 20


def html_table(results: dict, title: str) -> str:
    """A result as an HTML table for Jupyter: one row per key for a scalar result, one column per key and a
    row per element (the first :data:`HTML_ROWS`) for an array one.  Every text is escaped."""
    import html

    esc = html.escape
    arrays = {k: np.asarray(v) for k, v in results.items()}
    shape = next((a.shape for a in arrays.values() if a.ndim), ())
    head = f"<p><b>{esc(title)}</b></p>"
    if not shape:
        rows = "".join(f"<tr><td><code>{esc(str(k))}</code></td><td style='text-align:right'>{esc(_html_cell(v))}"
                       "</td></tr>" for k, v in results.items())
        return f"{head}<table><thead><tr><th>result</th><th>value</th></tr></thead><tbody>{rows}</tbody></table>"
    flat = {k: np.broadcast_to(a, shape).reshape(-1) for k, a in arrays.items()}
    size = int(np.prod(shape))
    cols = "".join(f"<th>{esc(str(k))}</th>" for k in flat)
    body = "".join("<tr>" + "".join(f"<td style='text-align:right'>{esc(_html_cell(col[i]))}</td>"
                                    for col in flat.values()) + "</tr>" for i in range(min(size, HTML_ROWS)))
    more = f"<p>{size - HTML_ROWS} more rows (shape {shape})</p>" if size > HTML_ROWS else ""
    return f"{head}<table><thead><tr>{cols}</tr></thead><tbody>{body}</tbody></table>{more}"
