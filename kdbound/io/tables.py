"""Batch tables in and out, a block at a time: the one place kdbound imports pyarrow.

pyarrow costs ~0.1 s to import, so this module is imported only inside the
functions that read or write tables (``--input``, ``--output``); the scalar
start-up never pays for it.  Output files are written through
:class:`~kdbound.io.atomic.AtomicFile`, so a failed run leaves nothing behind.
"""

from __future__ import annotations

import io
import json
import sys
import threading
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from ..errors import InputError
from ..formats import INPUT_FORMATS, Format, from_extension, names, plain
from .atomic import AtomicFile


def _parquet():
    """pyarrow.parquet, imported on first use: only Parquet input or output needs it (~30 ms)."""
    import pyarrow.parquet as pq

    return pq


def input_format(path: str, given: str | None) -> Format:
    """The format of a batch input: ``--input-format``, else the extension (stdin: CSV)."""
    if given is not None:
        try:
            fmt = Format(given.lower())
        except ValueError:
            fmt = None
        if fmt not in INPUT_FORMATS:
            raise InputError(f"must be one of {names(INPUT_FORMATS)} (got {given!r})", "input_format")
        return fmt
    if path == "-":
        return Format.CSV
    fmt = from_extension(path)
    if fmt is None:
        raise InputError(f"cannot tell the format from the extension of {path!r}; "
                         f"give {{input_format}} {'|'.join(f.value for f in INPUT_FORMATS)}", "input",
                         refs=("input_format",))
    return fmt


def _open_binary(path: str, option: str):
    """``path`` opened for reading (``-`` is stdin); ``option`` is the parameter it came from."""
    if path == "-":
        return sys.stdin.buffer
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise InputError(f"no such file {path!r}", option) from None
    except IsADirectoryError:
        raise InputError(f"{path!r} is a folder, not a file", option) from None
    except OSError as exc:
        raise InputError(f"cannot read {path!r} ({exc.strerror})", option) from None

def read_batches(path: str, fmt: str, numeric: set[str], block_bytes: int = 4 << 20) -> Iterator:
    """Yield pyarrow RecordBatches of the input, in order, a block at a time.

    Columns named in ``numeric`` (parameter columns, after '-' -> '_') are read
    as text, to be converted by :func:`to_float` with a row-level message for
    anything that is not a number; other columns pass through as inferred.
    """

    stream = _open_binary(path, "input")
    try:
        if fmt in (Format.CSV, Format.TSV):
            yield from _read_csv(stream, fmt, numeric, block_bytes)
        elif fmt == Format.JSONL:
            yield from _read_jsonl(stream, numeric, block_bytes)
        else:
            pq = _parquet()

            source = io.BytesIO(stream.read()) if path == "-" else stream
            try:
                pf = pq.ParquetFile(source)
            except (pa.ArrowInvalid, OSError) as exc:
                raise InputError(f"{path!r} is not a readable Parquet file ({exc})", "input") from None
            yield from pf.iter_batches(batch_size=max(1024, block_bytes // 64))
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()


def _read_csv(stream, fmt, numeric, block_bytes):

    sep = Format(fmt).delimiter
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
            raise InputError("the file is empty (a header row naming the columns is required)", "input") from None
        raise InputError(f"not a readable {fmt.upper()} file ({exc})", "input") from None
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return
        except pa.ArrowInvalid as exc:
            raise InputError(f"malformed {fmt.upper()} ({exc})", "input") from None
        yield batch


def _read_jsonl(stream, numeric, block_bytes):

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
            raise InputError(f"line {lineno} is not valid JSON ({exc.msg})", "input") from None
        except ValueError as exc:  # e.g. an integer of more than 4,300 digits
            raise InputError(f"line {lineno} cannot be read ({exc})", "input") from None
        if not isinstance(obj, dict):
            raise InputError(f"line {lineno} is not a JSON object", "input")
        for k in obj:
            if k not in names:
                names.append(k)
        rows.append(obj)
        size += len(line)
        if size >= block_bytes:
            yield _rows_to_batch(rows, names, numeric)
            rows, size = [], 0
    if rows or not names:
        if not names:
            raise InputError("the file is empty (no JSON objects)", "input")
        yield _rows_to_batch(rows, names, numeric)


def _rows_to_batch(rows, names, numeric):
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


def read_columns(path: str, fmt: str, numeric: set[str]) -> dict:
    """A whole table as {column name: pyarrow ChunkedArray}, for commands that need every row at once.

    Numeric columns are read as by :func:`read_batches`.  A JSON Lines key that
    first appears late is null in the rows before it; a column whose blocks
    were inferred with different types is read as text.
    """
    batches = list(read_batches(path, fmt, numeric))
    first = batches[0].schema.names if batches else []
    for name in first:
        if first.count(name) > 1:
            raise InputError(f"two columns are named {name!r}", "input")
    names = list(dict.fromkeys(n for b in batches for n in b.schema.names))
    out = {}
    for name in names:
        chunks = [b.column(name) if name in b.schema.names else pa.nulls(b.num_rows) for b in batches]
        types = {c.type for c in chunks if not pa.types.is_null(c.type)}
        kind = types.pop() if len(types) == 1 else pa.string()
        try:
            out[name] = pa.chunked_array([c.cast(kind) for c in chunks], type=kind)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise InputError(f"column {name!r} holds nested or mixed values", "input") from None
    return out


def text_codes(column, choices: tuple[str, ...]) -> np.ndarray:
    """Per cell: the index of its text in ``choices``, -1 for any other value, -2 for an empty cell."""
    try:
        text = pc.cast(column, pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        text = pa.chunked_array([pa.array([None if v is None else str(v) for v in column.to_pylist()],
                                          type=pa.string())])
    codes = np.full(len(column), -1, dtype=np.int64)
    for i, choice in enumerate(choices):
        codes[pc.fill_null(pc.equal(text, choice), False).to_numpy(zero_copy_only=False)] = i
    codes[column.is_null().to_numpy(zero_copy_only=False)] = -2
    return codes


def category_codes(column) -> np.ndarray:
    """Integer codes of a column's values (equal values, equal codes); -1 for an empty cell."""
    codes = pc.index_in(column, value_set=pc.unique(column), skip_nulls=True)
    return np.asarray(pc.fill_null(codes, -1).to_numpy(zero_copy_only=False), dtype=np.int64)


def cell(column, row: int):
    """One cell of a column as a Python value (for messages)."""
    return column[row].as_py()


def _both_spellings(names):
    return {n for name in names for n in (name, name.replace("_", "-"))}


def to_float(column) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A pyarrow column as float64, with masks of empty cells and of non-numbers.

    Returns (values, empty, not_a_number, raw) where raw holds the original
    text for the error messages.
    """

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


def arrow_column(values, null=None):
    """Engine output as a pyarrow array: NaN and infinities become null, as do rows where ``null`` is true."""

    arr = np.asarray(values)
    if arr.dtype == bool:
        return pa.array(arr, mask=null)
    arr = arr.astype(np.float64, copy=False)
    if null is not None:
        arr = np.where(null, np.nan, arr)
    return pa.array(arr, mask=~np.isfinite(arr))


def text_column(values):
    """A column of text (None is null)."""

    return pa.array(list(values), type=pa.string())


def column_names(table) -> list[str]:
    return list(table.schema.names)


def make_table(columns: dict):
    """A table from named columns (pyarrow arrays or numpy arrays)."""

    return pa.table(columns)


def keep_rows(table, mask: np.ndarray):
    """The rows of ``table`` where ``mask`` is true."""

    return table.filter(pa.array(mask))


def to_columns(table) -> dict:
    """A table as {name: list of Python values} (for rendering)."""
    return {n: table.column(n).to_pylist() for n in table.column_names}


class _Job(threading.Thread):
    """``func(*args)`` on a thread of its own; :meth:`result` waits for it (and re-raises its error)."""

    def __init__(self, func, *args):
        super().__init__(daemon=True)
        self.func, self.args = func, args
        self.value, self.error = None, None
        self.start()

    def run(self) -> None:
        try:
            self.value = self.func(*self.args)
        except BaseException as exc:  # handed to the caller by result()
            self.error = exc

    def done(self) -> bool:
        return not self.is_alive()

    def result(self):
        self.join()
        if self.error is not None:
            raise self.error
        return self.value


class TableWriter:
    """Writes pyarrow tables chunk by chunk to stdout or, atomically, to a file.

    Formats: csv, tsv (with a header), jsonl, json (one array), parquet (files only).
    As a context manager it finishes the output on success and drops a partial
    file on any failure::

        with TableWriter(path, Format.CSV) as out:
            for table in tables:
                out.write(table)
    """

    def __init__(self, path: str | None, fmt: str, stdout=None):
        if fmt == Format.PARQUET and path is None:
            raise InputError("{format} parquet: needs {output} FILE (Parquet is binary)", refs=("format", "output"))
        self.path, self.fmt = path, fmt
        self._file = None
        self._pq = None
        self._rows = 0
        self._pending: list[_Job] = []
        if path is None:
            self._text = stdout if stdout is not None else sys.stdout
            self._bin = None
        else:
            self._file = AtomicFile(path)
            self._bin = open(self._file.tmp, "wb")
            self._text = None

    def write(self, table) -> None:
        if self.fmt in (Format.CSV, Format.TSV):
            # text formatting of floats is the slow part: format blocks on a second thread
            # while the next block is read and evaluated, and keep the output in order
            self._pending.append(_Job(_csv_bytes, table, self.fmt, self._rows == 0))
            while len(self._pending) > 2 or (self._pending and self._pending[0].done()):
                self._emit(self._pending.pop(0).result())
        elif self.fmt == Format.PARQUET:
            pq = _parquet()

            if self._pq is None:
                self._pq = pq.ParquetWriter(self._bin, table.schema)
            self._pq.write_table(table)
        else:
            names = table.column_names
            lines = []
            for row in zip(*(c.to_pylist() for c in table.columns)):
                lines.append(json.dumps({n: plain(v) for n, v in zip(names, row)}, allow_nan=False))
            if self.fmt == Format.JSONL:
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
        for job in self._pending:
            self._emit(job.result())
        self._pending = []
        if self.fmt == Format.JSON:
            self._emit(b"\n]\n" if self._rows else b"[]\n")
        if self._pq is not None:
            self._pq.close()
        if self._bin is not None:
            self._bin.close()
            self._file.commit()

    def abort(self) -> None:
        """Drop a partial file: nothing is left behind."""
        for job in self._pending:
            job.join()
        self._pending = []
        if self._bin is not None:
            try:
                self._bin.close()
            finally:
                self._file.abort()

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def _csv_bytes(table, fmt: str, header: bool) -> bytes:
    """One block as CSV/TSV bytes; quotes only where a value needs them."""

    sep = Format(fmt).delimiter
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

    table = pa.table({k: arrow_column(v) for k, v in columns.items()})
    with TableWriter(path, fmt) as writer:
        writer.write(table)
