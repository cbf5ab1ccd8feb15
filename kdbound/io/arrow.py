"""pyarrow's door: whether it can be imported, and what the table reader and writer share.

This module is light (pyarrow is imported inside its functions).  Every command path
that reads or writes a table calls :func:`require_pyarrow` before it imports
:mod:`.table_read` or :mod:`.table_write` (which import pyarrow at their top): a
missing or broken pyarrow is then one line naming the option that needs it and
how to install it (exit 2), not a traceback.
"""

from __future__ import annotations

from ..errors import InputError

#: field metadata marking a column whose cells are JSON texts (pass-through values of JSON Lines input)
JSON_KIND = {b"kdbound": b"json"}

#: what pyarrow serves, for the message when it cannot be imported
NEEDS = "kdbound reads and writes tables with it"


def one_line(exc: BaseException) -> str:
    """An exception's text on one line."""
    return " ".join(str(exc).split())


def _unusable(module: str, param: str | None, prefix: str, exc: Exception) -> InputError:
    missing = isinstance(exc, ModuleNotFoundError) and exc.name == "pyarrow"
    if missing:
        why, fix = "is not installed", "install it with: pip install pyarrow"
    else:
        why = f"cannot be imported ({type(exc).__name__}: {one_line(exc)[:200]})"
        fix = "reinstall it with: pip install --force-reinstall pyarrow"
    return InputError(f"{prefix}needs {module} ({NEEDS}), which {why}; {fix}", param)


def require_pyarrow(param: str | None, prefix: str = "") -> None:
    """Import pyarrow (and the parts the table modules import at their top), or raise an
    :class:`InputError` about ``param`` (the option that asked for a table; ``None`` with a
    ``prefix`` such as ``"RUNS: "``) saying how to install it."""
    try:
        # pyarrow (~0.1 s) only here, when a command is about to read or write a table
        import pyarrow
        import pyarrow.compute
        import pyarrow.csv  # noqa: F401  (the parts the table modules import at their top)
    except Exception as exc:  # not installed, or broken (a missing shared library, a numpy it was not built for)
        raise _unusable("pyarrow", param, prefix, exc) from None


def parquet(param: str | None = "input"):
    """pyarrow.parquet, imported on first use: only Parquet input or output needs it (~30 ms)."""
    try:
        import pyarrow.parquet as pq
    except Exception as exc:  # a pyarrow built without Parquet, or broken
        raise _unusable("pyarrow.parquet", param, "", exc) from None
    return pq


def is_json(field) -> bool:
    """Whether a table field holds JSON texts (a pass-through column of JSON Lines input)."""
    return bool(field.metadata) and field.metadata.get(b"kdbound") == b"json"


def json_plain(texts: list) -> list:
    """JSON texts (of a :func:`is_json` column) as the values people and text files show: a string as
    its text (``"tree:depth=3"`` -> ``tree:depth=3``), any other value as its JSON text, null as None."""
    import json  # only for JSON Lines input

    return [None if v is None else (json.loads(v) if v.startswith('"') else v) for v in texts]
