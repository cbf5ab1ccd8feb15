"""Numeric arrays from files: ``.npy``, ``.npz`` (``file.npz:name``), ``.csv``, ``.tsv``.

Never unpickles (``allow_pickle=False``).  ``option`` is the engine name of the
parameter the file is for (``x``, ``w_star``); messages carry it.  Before any data is
read, the ``.npy`` header's shape is checked against the bytes actually present (a
header that claims an impossible shape, a truncated file or archive member, an
archive member that is not an ``.npy`` array are all an :class:`InputError`), and an
array that would be loaded into memory must fit in :data:`MAX_LOAD` bytes.
"""

from __future__ import annotations

import math
import os
import re
import warnings
import zipfile
import zlib

import numpy as np

from ..errors import InputError

ARRAY_FORMATS = ".npy, .npz (file.npz:name), .csv, .tsv"
#: the largest array read into memory (a memory-mapped .npy is not counted: it stays on disk)
MAX_LOAD = 4 << 30
#: the largest delimited-text file read (text is parsed into memory; use .npy for large arrays)
MAX_TEXT = 1 << 30


def _gib(n: float) -> str:
    return f"{n / 2 ** 30:.1f} GiB"


def _read_header(f, where: str, option: str):
    """(shape, fortran_order, dtype) from an open .npy stream positioned at its start."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(f, max_header_size=10000)
        elif version == (2, 0):
            shape, fortran, dtype = fmt.read_array_header_2_0(f, max_header_size=10000)
        elif version == (3, 0) and hasattr(fmt, "_read_array_header"):
            shape, fortran, dtype = fmt._read_array_header(f, version, max_header_size=10000)
        else:
            raise ValueError(f"unsupported .npy format version {version}")
    except (ValueError, EOFError, OSError, SyntaxError, TypeError) as exc:
        raise InputError(f"{where} is not a valid .npy array ({exc})", option) from None
    if dtype.hasobject:
        raise InputError(f"{where} holds pickled Python objects; kdbound never unpickles files "
                         "(save a plain numeric array)", option)
    if not all(isinstance(s, int) and s >= 0 for s in shape):
        raise InputError(f"{where} has an invalid shape {shape}", option)
    return shape, fortran, dtype


def _check_size(shape, dtype, available: int, where: str, option: str, in_memory: bool) -> None:
    """The header's claim against the bytes present, and against the memory limit."""
    need = math.prod(shape) * dtype.itemsize
    if need > available:
        raise InputError(f"{where}: the header claims shape {shape} of {dtype} ({need:,} bytes) but only "
                         f"{available:,} bytes of data follow (truncated or corrupt file)", option)
    if in_memory and need > MAX_LOAD:
        raise InputError(f"{where}: shape {shape} of {dtype} needs {_gib(need)} of memory; kdbound's limit is "
                         f"{_gib(MAX_LOAD)} (X may be larger as an .npy file, which is memory-mapped)", option)


def _load_npy(path: str, option: str, mmap: bool) -> np.ndarray:
    with open(path, "rb") as f:
        shape, _, dtype = _read_header(f, repr(path), option)
        offset = f.tell()
    _check_size(shape, dtype, os.path.getsize(path) - offset, repr(path), option, in_memory=not mmap)
    return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)


def _load_npz(path: str, name: str | None, option: str) -> np.ndarray:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError) as exc:
        raise InputError(f"{path!r} is not a readable .npz archive ({exc}; truncated or corrupt?)", option) from None
    with archive:
        members = {m.filename[:-4] if m.filename.endswith(".npy") else m.filename: m for m in archive.infolist()}
        names = list(members)
        if name is None:
            if len(names) != 1:
                raise InputError(f"{path!r} holds {len(names)} arrays ({', '.join(names) or 'none'}); "
                                 f"pick one with {path}:NAME", option)
            name = names[0]
        if name not in members:
            raise InputError(f"{path!r} has no array {name!r} (it has {', '.join(names) or 'none'})", option)
        info = members[name]
        where = f"{path}:{name}"
        if not info.filename.endswith(".npy"):
            raise InputError(f"{where!r} is not an .npy array inside the archive", option)
        try:
            with archive.open(info) as f:
                shape, fortran, dtype = _read_header(f, repr(where), option)
                offset = f.tell() if f.seekable() else None
                header_len = offset if offset is not None else 0
                _check_size(shape, dtype, info.file_size - header_len, repr(where), option, in_memory=True)
                data = f.read()
        except InputError:
            raise
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError) as exc:
            raise InputError(f"cannot read {where!r} ({exc}; truncated or corrupt archive?)", option) from None
    need = math.prod(shape) * dtype.itemsize
    if len(data) < need:
        raise InputError(f"{where!r}: truncated data ({len(data):,} of {need:,} bytes)", option)
    arr = np.frombuffer(data, dtype=dtype, count=math.prod(shape))
    return arr.reshape(shape, order="F" if fortran else "C")


def load_array(spec: str, option: str, mmap: bool = False) -> np.ndarray:
    """A numeric array from ``.npy``, ``.npz`` (``file.npz:name``), ``.csv`` or ``.tsv``.

    Never unpickles (``allow_pickle=False``).  ``mmap`` memory-maps ``.npy``
    files so that a large X is read once, in place.  Delimited text may have
    a header row.  Every problem with the file is an :class:`InputError`.
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
            arr = _load_npy(path, option, mmap)
        elif ext == ".npz":
            arr = _load_npz(path, name, option)
        elif ext in (".csv", ".tsv", ".txt"):
            size = os.path.getsize(path)
            if size > MAX_TEXT:
                raise InputError(f"{path!r} is {_gib(size)} of text; kdbound reads delimited text up to "
                                 f"{_gib(MAX_TEXT)} (save large arrays as .npy, which is memory-mapped)", option)
            arr = _load_text(path, "," if ext == ".csv" else None)
        else:
            raise InputError(f"unsupported file type {ext or '(none)'!r}; use {ARRAY_FORMATS}", option)
    except InputError:
        raise
    except UnicodeDecodeError:
        raise InputError(f"cannot read {path!r}: not UTF-8 text", option) from None
    except ValueError as exc:
        text = str(exc).lower()
        if "pickle" in text or "python objects" in text:
            raise InputError(f"{path!r} holds pickled Python objects; kdbound never unpickles files "
                             "(save a plain numeric array)", option) from None
        raise InputError(f"cannot read {path!r}: {_plain_reason(exc)}", option) from None
    except (OSError, EOFError, MemoryError) as exc:
        raise InputError(f"cannot read {path!r}: {exc}", option) from None
    if arr.dtype == bool:
        arr = arr.astype(np.float64)
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise InputError(f"{path!r} must hold real numbers (got dtype {arr.dtype})", option)
    return arr


def _load_text(path: str, delimiter: str | None) -> np.ndarray:
    # utf-8-sig: a byte-order mark is not part of the first cell (else a headerless file loses its first row)
    with open(path, encoding="utf-8-sig") as f:
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
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "input contained no data": said below, in one line
        arr = np.loadtxt(path, delimiter=delimiter, skiprows=skip, ndmin=2, dtype=np.float64, encoding="utf-8-sig")
    if arr.size == 0:
        raise ValueError("the file has a header but no rows of numbers" if skip else "the file holds no numbers")
    return arr


def _plain_reason(exc: Exception) -> str:
    """numpy's reason, one line, without its advice about its own arguments (``usecols``)."""
    text = " ".join(str(exc).split())
    text = text.split("; use `usecols`")[0]
    # numpy counts rows of data from 0; every other message (and the user) counts from 1
    return re.sub(r"\bat row (\d+)", lambda m: f"at row {int(m.group(1)) + 1}", text)
