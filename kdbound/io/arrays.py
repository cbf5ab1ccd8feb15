"""Numeric arrays from files: ``.npy``, ``.npz`` (``file.npz:name``), ``.csv``, ``.tsv``.

Never unpickles (``allow_pickle=False``).  ``option`` is the engine name of the
parameter the file is for (``x``, ``w_star``); messages carry it.
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import InputError

ARRAY_FORMATS = ".npy, .npz (file.npz:name), .csv, .tsv"


def load_array(spec: str, option: str, mmap: bool = False) -> np.ndarray:
    """A numeric array from ``.npy``, ``.npz`` (``file.npz:name``), ``.csv`` or ``.tsv``.

    Never unpickles (``allow_pickle=False``).  ``mmap`` memory-maps ``.npy``
    files so that a large X is read once, in place.  Delimited text may have
    a header row.
    """
    path, name = spec, None
    if ".npz:" in spec.lower():
        cut = spec.lower().rindex(".npz:") + 4
        path, name = spec[:cut], spec[cut + 1:]
    ext = os.path.splitext(path.lower())[1]
    if not os.path.exists(path):
        raise InputError(f"no such file {path!r}", option)
    if os.path.isdir(path):
        raise InputError(f"{path!r} is a folder, not a file", option)
    try:
        if ext == ".npy":
            arr = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
        elif ext == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                names = list(archive.files)
                if name is None:
                    if len(names) != 1:
                        raise InputError(f"{path!r} holds {len(names)} arrays ({', '.join(names)}); "
                                         f"pick one with {path}:NAME", option)
                    name = names[0]
                if name not in names:
                    raise InputError(f"{path!r} has no array {name!r} (it has {', '.join(names)})", option)
                arr = archive[name]
        elif ext in (".csv", ".tsv", ".txt"):
            arr = _load_text(path, "," if ext == ".csv" else None)
        else:
            raise InputError(f"unsupported file type {ext or '(none)'!r}; use {ARRAY_FORMATS}", option)
    except InputError:
        raise
    except ValueError as exc:
        text = str(exc).lower()
        if "pickle" in text or "python objects" in text:
            raise InputError(f"{path!r} holds pickled Python objects; kdbound never unpickles files "
                             "(save a plain numeric array)", option) from None
        raise InputError(f"cannot read {path!r}: {exc}", option) from None
    except (OSError, EOFError) as exc:
        raise InputError(f"cannot read {path!r}: {exc}", option) from None
    if arr.dtype == bool:
        arr = arr.astype(np.float64)
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise InputError(f"{path!r} must hold real numbers (got dtype {arr.dtype})", option)
    return arr


def _load_text(path: str, delimiter: str | None) -> np.ndarray:
    with open(path, encoding="utf-8") as f:
        first = f.readline()
    if not first.strip():
        raise ValueError("the file is empty")
    if delimiter is None:
        delimiter = "\t" if "\t" in first else ("," if "," in first else None)
    cells = first.strip().split(delimiter)
    try:
        [float(c) for c in cells]
        skip = 0
    except ValueError:
        skip = 1  # a header row
    return np.loadtxt(path, delimiter=delimiter, skiprows=skip, ndmin=2, dtype=np.float64)
