"""File I/O shared by every command: batch tables in and out (pyarrow), arrays in (numpy).

pyarrow is imported here only, and this module is imported only on the batch
and file paths, so the scalar start-up never pays for it.  Output files are
written to a temporary name in the target folder and renamed when complete,
so a failed run never leaves a partial file behind.  User files are never
unpickled.
"""

from __future__ import annotations

import io
import json
import os
import sys
import tempfile
from typing import Iterator

import numpy as np

from .errors import InputError

INPUT_FORMATS = ("csv", "tsv", "jsonl", "parquet")
_EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".txt": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
               ".json": "jsonl", ".parquet": "parquet", ".pq": "parquet"}


def format_from_extension(path: str, allowed=INPUT_FORMATS) -> str | None:
    ext = os.path.splitext(path.lower())[1]
    fmt = _EXTENSIONS.get(ext)
    return fmt if fmt in allowed else None


def input_format(path: str, given: str | None) -> str:
    if given is not None:
        fmt = given.lower()
        if fmt not in INPUT_FORMATS:
            raise InputError(f"--input-format: must be one of {', '.join(INPUT_FORMATS)} (got {given!r})")
        return fmt
    if path == "-":
        return "csv"
    fmt = format_from_extension(path)
    if fmt is None:
        raise InputError(f"--input: cannot tell the format from the extension of {path!r}; "
                         f"give --input-format {'|'.join(INPUT_FORMATS)}")
    return fmt


def _open_binary(path: str, option: str):
    if path == "-":
        return sys.stdin.buffer
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise InputError(f"{option}: no such file {path!r}") from None
    except IsADirectoryError:
        raise InputError(f"{option}: {path!r} is a folder, not a file") from None
    except OSError as exc:
        raise InputError(f"{option}: cannot read {path!r} ({exc.strerror})") from None


# --------------------------------------------------------------------------- batch tables

def read_batches(path: str, fmt: str, numeric: set[str], block_bytes: int = 4 << 20) -> Iterator:
    """Yield pyarrow RecordBatches of the input, in order, a block at a time.

    Columns named in ``numeric`` (parameter columns, after '-' -> '_') are read
    as text, to be converted by :func:`to_float` with a row-level message for
    anything that is not a number; other columns pass through as inferred.
    """
    import pyarrow as pa

    stream = _open_binary(path, "--input")
    try:
        if fmt in ("csv", "tsv"):
            yield from _read_csv(stream, fmt, numeric, block_bytes)
        elif fmt == "jsonl":
            yield from _read_jsonl(stream, numeric, block_bytes)
        else:
            import pyarrow.parquet as pq

            source = io.BytesIO(stream.read()) if path == "-" else stream
            try:
                pf = pq.ParquetFile(source)
            except (pa.ArrowInvalid, OSError) as exc:
                raise InputError(f"--input: {path!r} is not a readable Parquet file ({exc})") from None
            yield from pf.iter_batches(batch_size=max(1024, block_bytes // 64))
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()


def _read_csv(stream, fmt, numeric, block_bytes):
    import pyarrow as pa
    import pyarrow.csv as pcsv

    sep = "," if fmt == "csv" else "\t"
    try:
        reader = pcsv.open_csv(
            stream,
            read_options=pcsv.ReadOptions(block_size=block_bytes),
            parse_options=pcsv.ParseOptions(delimiter=sep),
            convert_options=pcsv.ConvertOptions(
                column_types={name: pa.string() for name in _both_spellings(numeric)},
                strings_can_be_null=True),
        )
    except pa.ArrowInvalid as exc:
        if "Empty CSV file" in str(exc):
            raise InputError("--input: the file is empty (a header row naming the columns is required)") from None
        raise InputError(f"--input: not a readable {fmt.upper()} file ({exc})") from None
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return
        except pa.ArrowInvalid as exc:
            raise InputError(f"--input: malformed {fmt.upper()} ({exc})") from None
        yield batch


def _read_jsonl(stream, numeric, block_bytes):
    import pyarrow as pa

    text = io.TextIOWrapper(stream, encoding="utf-8")
    rows: list[dict] = []
    names: list[str] = []
    size = 0
    for lineno, line in enumerate(text, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"--input: line {lineno} is not valid JSON ({exc.msg})") from None
        if not isinstance(obj, dict):
            raise InputError(f"--input: line {lineno} is not a JSON object")
        for k in obj:
            if k not in names:
                names.append(k)
        rows.append(obj)
        size += len(line)
        if size >= block_bytes:
            yield _rows_to_batch(rows, names, numeric, pa)
            rows, size = [], 0
    if rows or not names:
        if not names:
            raise InputError("--input: the file is empty (no JSON objects)")
        yield _rows_to_batch(rows, names, numeric, pa)


def _rows_to_batch(rows, names, numeric, pa):
    arrays = []
    for name in names:
        vals = [r.get(name) for r in rows]
        if name.replace("-", "_") in numeric:
            arrays.append(pa.array([None if v is None else (v if isinstance(v, str) else json.dumps(v))
                                    for v in vals], type=pa.string()))
        else:
            try:
                arrays.append(pa.array(vals))
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                arrays.append(pa.array([None if v is None else str(v) for v in vals], type=pa.string()))
    return pa.RecordBatch.from_arrays(arrays, names=names)


def _both_spellings(names):
    return {n for name in names for n in (name, name.replace("_", "-"))}


def to_float(column) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A pyarrow column as float64, with masks of empty cells and of non-numbers.

    Returns (values, empty, not_a_number, raw) where raw holds the original
    text for the error messages.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    empty = np.asarray(column.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        try:
            values = pc.cast(column, pa.float64())
            bad = np.zeros(len(column), dtype=bool)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raw = column.to_pylist()
            out = np.empty(len(raw))
            bad = np.zeros(len(raw), dtype=bool)
            for i, text in enumerate(raw):
                try:
                    out[i] = float(text) if text is not None else np.nan
                except ValueError:
                    out[i], bad[i] = np.nan, True
            return out, empty, bad, np.asarray(column.to_pylist(), dtype=object)
        out = values.to_numpy(zero_copy_only=False)
    elif pa.types.is_boolean(column.type):
        out = np.full(len(column), np.nan)
        bad = ~empty
    else:
        try:
            out = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
            bad = np.zeros(len(column), dtype=bool)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            out, bad = np.full(len(column), np.nan), ~empty
    out = np.where(empty, np.nan, np.asarray(out, dtype=np.float64))
    return out, empty, bad, None


def arrow_column(values):
    """Engine output as a pyarrow array: NaN and infinities become null."""
    import pyarrow as pa

    arr = np.asarray(values)
    if arr.dtype == bool:
        return pa.array(arr)
    arr = arr.astype(np.float64, copy=False)
    return pa.array(arr, mask=~np.isfinite(arr))


class AtomicFile:
    """A temporary file beside ``path``, renamed onto it by :meth:`commit` or removed by :meth:`abort`.

    The one mechanism behind every output file (batch tables, sweeps, plots):
    a failed run never leaves a partial or truncated file.  As a context
    manager it yields the temporary path and commits on success.
    """

    def __init__(self, path: str, option: str = "--output"):
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise InputError(f"{option}: folder {folder!r} does not exist")
        ext = os.path.splitext(path)[1]
        fd, self.tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".part" + ext,
                                        dir=folder)
        os.close(fd)
        self.path = path

    def commit(self) -> None:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(self.tmp, 0o666 & ~umask)  # as an ordinary new file, not mkstemp's 0600
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        if os.path.exists(self.tmp):
            os.unlink(self.tmp)

    def __enter__(self) -> str:
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


class TableWriter:
    """Writes pyarrow tables chunk by chunk to stdout or, atomically, to a file.

    Formats: csv, tsv (with a header), jsonl, json (one array), parquet (files only).
    """

    def __init__(self, path: str | None, fmt: str, stdout=None):
        if fmt == "parquet" and path is None:
            raise InputError("--format parquet: needs --output FILE (Parquet is binary)")
        self.path, self.fmt = path, fmt
        self._file = None
        self._pq = None
        self._rows = 0
        self._pool = None
        self._pending: list = []
        if path is None:
            self._text = stdout if stdout is not None else sys.stdout
            self._bin = None
        else:
            self._file = AtomicFile(path)
            self._bin = open(self._file.tmp, "wb")
            self._text = None

    def write(self, table) -> None:
        if self.fmt in ("csv", "tsv"):
            # text formatting of floats is the slow part: format blocks on a second thread
            # while the next block is read and evaluated, and keep the output in order
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(max_workers=2)
            self._pending.append(self._pool.submit(_csv_bytes, table, self.fmt, self._rows == 0))
            while len(self._pending) > 2 or (self._pending and self._pending[0].done()):
                self._emit(self._pending.pop(0).result())
        elif self.fmt == "parquet":
            import pyarrow.parquet as pq

            if self._pq is None:
                self._pq = pq.ParquetWriter(self._bin, table.schema)
            self._pq.write_table(table)
        else:
            from .render import plain

            names = table.column_names
            lines = []
            for row in zip(*(c.to_pylist() for c in table.columns)):
                lines.append(json.dumps({n: plain(v) for n, v in zip(names, row)}, allow_nan=False))
            if self.fmt == "jsonl":
                text = "".join(line + "\n" for line in lines)
            else:
                text = ("[\n" if self._rows == 0 else ",\n") * bool(lines) + ",\n".join(lines)
            self._emit(text.encode())
        self._rows += table.num_rows

    def _emit(self, data: bytes) -> None:
        """Bytes to the file, or to stdout (through its binary buffer when it has one)."""
        if self._bin is not None:
            self._bin.write(data)
            return
        self._text.flush()
        out = getattr(self._text, "buffer", None)
        if out is not None:
            out.write(data)
            out.flush()
        else:
            self._text.write(data.decode())

    def close(self) -> None:
        """Finish the output; for a file, rename the complete temporary into place."""
        for future in self._pending:
            self._emit(future.result())
        self._pending = []
        if self._pool is not None:
            self._pool.shutdown()
        if self.fmt == "json":
            self._emit(b"\n]\n" if self._rows else b"[]\n")
        if self._pq is not None:
            self._pq.close()
        if self._bin is not None:
            self._bin.close()
            self._file.commit()

    def abort(self) -> None:
        """Drop a partial file: nothing is left behind."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
        if self._bin is not None:
            try:
                self._bin.close()
            finally:
                self._file.abort()


def _csv_bytes(table, fmt: str, header: bool) -> bytes:
    """One block as CSV/TSV bytes; quotes only where a value needs them."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    sep = "," if fmt == "csv" else "\t"
    plain_names = not any(c in name for name in table.column_names for c in (sep, '"', "\n", "\r"))
    buf = io.BytesIO()
    try:
        pcsv.write_csv(table, buf, write_options=pcsv.WriteOptions(
            include_header=header, delimiter=sep, quoting_style="none",
            quoting_header="none" if plain_names else "needed"))
    except pa.ArrowInvalid:  # some text needs quoting
        buf = io.BytesIO()
        pcsv.write_csv(table, buf, write_options=pcsv.WriteOptions(include_header=header, delimiter=sep,
                                                                   quoting_style="needed"))
    return buf.getvalue()


def write_table_file(columns: dict, path: str, fmt: str) -> None:
    """Write equal-length columns (a sweep) to ``path`` atomically."""
    import pyarrow as pa

    table = pa.table({k: arrow_column(v) for k, v in columns.items()})
    writer = TableWriter(path, fmt)
    try:
        writer.write(table)
        writer.close()
    except BaseException:
        writer.abort()
        raise


# --------------------------------------------------------------------------- arrays

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
        raise InputError(f"{option}: no such file {path!r}")
    if os.path.isdir(path):
        raise InputError(f"{option}: {path!r} is a folder, not a file")
    try:
        if ext == ".npy":
            arr = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
        elif ext == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                names = list(archive.files)
                if name is None:
                    if len(names) != 1:
                        raise InputError(f"{option}: {path!r} holds {len(names)} arrays ({', '.join(names)}); "
                                         f"pick one with {path}:NAME")
                    name = names[0]
                if name not in names:
                    raise InputError(f"{option}: {path!r} has no array {name!r} (it has {', '.join(names)})")
                arr = archive[name]
        elif ext in (".csv", ".tsv", ".txt"):
            arr = _load_text(path, "," if ext == ".csv" else None)
        else:
            raise InputError(f"{option}: unsupported file type {ext or '(none)'!r}; use {ARRAY_FORMATS}")
    except InputError:
        raise
    except ValueError as exc:
        text = str(exc).lower()
        if "pickle" in text or "python objects" in text:
            raise InputError(f"{option}: {path!r} holds pickled Python objects; kdbound never unpickles files "
                             "(save a plain numeric array)") from None
        raise InputError(f"{option}: cannot read {path!r}: {exc}") from None
    except (OSError, EOFError) as exc:
        raise InputError(f"{option}: cannot read {path!r}: {exc}") from None
    if arr.dtype == bool:
        arr = arr.astype(np.float64)
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise InputError(f"{option}: {path!r} must hold real numbers (got dtype {arr.dtype})")
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
