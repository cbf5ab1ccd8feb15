"""A pool of labelled examples from a file: CSV, TSV, Parquet or ``.npz``, with a target column.

Every column other than the target is a feature and must hold numbers (a
non-numeric column is refused in one line naming it).  The target's distinct
values are the classes, in sorted order (numerically when every value is a
number), coded ``0..C-1``.  ``.npz`` archives are read without unpickling: the
target is the array named by ``target``, every other array (1-D, or 2-D with one
row per example) gives feature columns.  Errors name ``data`` (the file) or
``target`` (the column).
"""

from __future__ import annotations

import os
import zipfile
import zlib

import numpy as np

from ..errors import InputError, KdboundError, format_value
from ..formats import Format, from_extension, parse_number

#: the file types a pool can come from
POOL_FORMATS = ".csv, .tsv, .parquet, .npz"


def read_pool(path: str, target: str) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], tuple[str, ...]]:
    """(features ``(N, d)`` float64, class codes ``(N,)`` int64, class names, feature names) of a data file."""
    if not os.path.exists(path):
        raise InputError(f"no such file {path!r} (nor a bundled data set)", "data")
    if os.path.isdir(path):
        raise InputError(f"{path!r} is a folder, not a file", "data")
    if path.lower().endswith(".npz"):
        columns = _npz_columns(path, target)
    else:
        fmt = from_extension(path, (Format.CSV, Format.TSV, Format.PARQUET))
        if fmt is None:
            raise InputError(f"cannot tell the format of {path!r} from its extension; use {POOL_FORMATS}", "data")
        columns = _table_columns(path, fmt, target)
    labels = columns.pop(target)
    codes, classes = class_codes(labels)
    if not columns:
        raise InputError(f"{path!r} has no feature columns besides the target {target!r}", "data")
    x = np.empty((codes.size, len(columns)))
    for j, values in enumerate(columns.values()):
        x[:, j] = values
    return x, codes, classes, tuple(columns)


def _table_columns(path: str, fmt: Format, target: str) -> dict:
    from .arrow import require_pyarrow

    require_pyarrow("data")  # a missing or broken pyarrow is one line naming --data
    from . import table_read as tables  # pyarrow (~0.1 s), only for a table file

    try:
        found = tables.read_columns(path, fmt, set())
    except KdboundError as exc:
        if isinstance(exc, InputError) and exc.param == "input":
            raise InputError(exc.message, "data", refs=exc.refs) from None
        raise
    if target not in found:
        names = ", ".join(map(repr, found)) or "none"
        raise InputError(f"{path!r} has no column {target!r} (its columns: {names})", "target")
    out: dict = {}
    for name, col in found.items():
        if name == target:
            values, empty, not_number, raw = tables.to_float(col)
            if not_number.any() or empty.any():
                text = [None if v is None else str(v) for v in col.to_pylist()]
                out[name] = np.asarray(["" if t is None else t for t in text], dtype=object)
            else:
                out[name] = values
            continue
        values, empty, not_number, raw = tables.to_float(col)
        if not_number.any():
            r = int(np.flatnonzero(not_number)[0])
            cell = raw[r] if raw is not None else tables.cell(col, r)
            raise InputError(f"column {name!r} is not numeric (row {r + 1}: {cell!r}); every column but the target "
                             "is a feature and must hold numbers", "data")
        bad = empty | ~np.isfinite(values)
        if bad.any():
            r = int(np.flatnonzero(bad)[0])
            what = "is empty" if empty[r] else f"is {format_value(float(values[r]))}"
            raise InputError(f"column {name!r}, row {r + 1}: {what}; features must be finite numbers", "data")
        out[name] = values
    return out


def _npz_columns(path: str, target: str) -> dict:
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise InputError(f"{path!r} is not a readable .npz archive ({exc})", "data") from None
    except ValueError as exc:
        raise InputError(f"{path!r} holds pickled Python objects or a damaged array ({exc}); kdbound never "
                         "unpickles files", "data") from None
    if target not in arrays:
        raise InputError(f"{path!r} has no array {target!r} (its arrays: {', '.join(arrays) or 'none'})", "target")
    labels = arrays.pop(target)
    if labels.ndim != 1:
        raise InputError(f"the target array {target!r} must be 1-D (got shape {labels.shape})", "target")
    out = {target: labels if labels.dtype.kind in "iufb" else labels.astype(str).astype(object)}
    for name, arr in arrays.items():
        if arr.dtype.kind not in "iufb":
            raise InputError(f"array {name!r} is not numeric (dtype {arr.dtype}); every array but the target is a "
                             "feature", "data")
        if arr.ndim not in (1, 2) or arr.shape[0] != labels.size:
            raise InputError(f"array {name!r} has shape {arr.shape}; features need one row per example "
                             f"({labels.size}), 1-D or 2-D", "data")
        cols = [arr] if arr.ndim == 1 else [arr[:, j] for j in range(arr.shape[1])]
        for j, col in enumerate(cols):
            values = np.asarray(col, dtype=np.float64)
            key = name if arr.ndim == 1 else f"{name}[{j}]"
            if not np.all(np.isfinite(values)):
                r = int(np.flatnonzero(~np.isfinite(values))[0])
                raise InputError(f"array {key!r}, row {r + 1}: is {format_value(float(values[r]))}; features must be "
                                 "finite", "data")
            out[key] = values
    return out


def class_codes(labels: np.ndarray) -> tuple[np.ndarray, tuple[str, ...]]:
    """(codes ``0..C-1``, class names): the distinct labels sorted, numerically when every label is a number."""
    if labels.dtype.kind in "iufb":
        values = labels.astype(np.float64)
    else:
        text = [str(v) for v in labels]
        empty = [i for i, t in enumerate(text) if t.strip() == ""]
        if empty:
            raise InputError(f"row {empty[0] + 1}: the class label is empty", "target")
        numbers = [parse_number(t) for t in text]
        if all(v is not None for v in numbers):
            values = np.asarray(numbers, dtype=np.float64)
        else:
            uniq, codes = np.unique(np.asarray(text, dtype=str), return_inverse=True)
            return codes.astype(np.int64), tuple(str(u) for u in uniq)
    if not np.all(np.isfinite(values)):
        r = int(np.flatnonzero(~np.isfinite(values))[0])
        raise InputError(f"row {r + 1}: the class label is {values[r]!r}", "target")
    uniq, codes = np.unique(values, return_inverse=True)
    names = tuple(str(int(u)) if float(u).is_integer() else repr(float(u)) for u in uniq)
    return codes.astype(np.int64), names
