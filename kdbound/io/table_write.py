"""Tables out, block by block: CSV, TSV, JSON Lines, JSON and Parquet, to stdout or atomically to a file.

pyarrow is imported at this module's top (~0.1 s): the module is imported only by the batch
path (:mod:`kdbound.cli.batch`) and inside the functions that write a table (``--output``,
``--runs-out``), each after :func:`.arrow.require_pyarrow`; the scalar start-up never pays for
it.  CSV/TSV blocks are formatted on a second thread while the next block is read and
evaluated.  Files are written through :class:`~kdbound.io.atomic.AtomicFile`, so a failed run
leaves nothing behind.
"""

from __future__ import annotations

import csv as csvmod
import io
import json
import sys
import threading

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from ..errors import InputError
from ..formats import Format, plain
from .arrow import is_json, json_plain, one_line, parquet
from .atomic import AtomicFile, write_error


def arrow_column(values, null=None):
    """Engine output as a pyarrow array: NaN and infinities become null, as do rows where ``null`` is true."""
    if isinstance(values, list) and any(isinstance(x, (bool, np.bool_)) for x in values) \
            and all(x is None or isinstance(x, (bool, np.bool_)) for x in values):
        return pa.array([None if x is None else bool(x) for x in values], type=pa.bool_())  # booleans, some null
    arr = np.asarray(values)
    if arr.dtype == bool:
        return pa.array(arr, mask=null)
    if np.issubdtype(arr.dtype, np.integer):
        return pa.array(arr, mask=null)
    arr = arr.astype(np.float64, copy=False) + 0.0  # + 0.0: no "-0"
    if null is not None:
        arr = np.where(null, np.nan, arr)
    return pa.array(arr, mask=~np.isfinite(arr))


def null_column(n: int):
    """A boolean column of n nulls (a result that cannot be decided for these rows)."""
    return pa.nulls(n, type=pa.bool_())


def text_column(values):
    """A column of text (None is null)."""
    return pa.array(list(values), type=pa.string())


def column_names(table) -> list[str]:
    return list(table.schema.names)


def make_table(columns: dict, like=None):
    """A table from named columns (pyarrow arrays or numpy arrays); columns that pass through
    unchanged from ``like`` (an input batch) keep their field metadata (how to write them)."""
    table = pa.table(columns)
    if like is None:
        return table
    source = {f.name: f for f in like.schema}
    fields = [source[f.name] if f.name in source and source[f.name].type == f.type and source[f.name].metadata
              else f for f in table.schema]
    return pa.Table.from_arrays(table.columns, schema=pa.schema(fields))


def keep_rows(table, mask: np.ndarray):
    """The rows of ``table`` where ``mask`` is true."""
    return table.filter(pa.array(mask))


def to_columns(table) -> dict:
    """A table as {name: list of Python values} (for rendering; JSON Lines strings as their text)."""
    return {f.name: json_plain(col.to_pylist()) if is_json(f) else col.to_pylist()
            for f, col in zip(table.schema, table.columns)}


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

    def __init__(self, path: str | None, fmt: str, stdout=None, option: str = "output"):
        if fmt == Format.PARQUET and path is None:
            raise InputError("{format} parquet: needs {output} FILE (Parquet is binary)", refs=("format", "output"))
        self.path, self.fmt, self.option = path, fmt, option  # option: the one that named the file, for messages
        self._file = None
        self._pq = None
        self._rows = 0
        self._pending: list[_Job] = []
        self._rows_json = False
        if path is None:
            self._text = stdout if stdout is not None else sys.stdout
            self._bin = None
        else:
            self._file = AtomicFile(path, option, result=True)
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
            pq = parquet(self.option)
            table = _decoded(table, self.fmt)
            if self._pq is None:
                self._pq = pq.ParquetWriter(self._bin, table.schema)
            elif table.schema != self._pq.schema:
                try:
                    table = table.cast(self._pq.schema)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as exc:
                    raise InputError("the columns change type between blocks of rows, which Parquet cannot hold "
                                     f"({one_line(exc)}); write CSV or JSON Lines instead", self.option) from None
            try:
                self._pq.write_table(table)
            except OSError as exc:  # pyarrow's I/O errors are OSErrors (a full disk, a device)
                raise write_error(self.path, self.option, exc) from None
        else:
            lines = _json_lines(table)
            if self.fmt == Format.JSONL:
                text = "".join(line + "\n" for line in lines)
            else:
                text = ("[\n" if self._rows == 0 else ",\n") * bool(lines) + ",\n".join(lines)
                if lines:
                    self._rows_json = True
            self._emit(text.encode())
        self._rows += table.num_rows

    def _emit(self, data: bytes) -> None:
        """Bytes to the file, or to stdout (through its binary buffer when it has one)."""
        if self._bin is not None:
            try:
                self._bin.write(data)
            except OSError as exc:
                raise write_error(self.path, self.option, exc) from None
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
            self._emit(b"\n]\n" if self._rows_json else b"[]\n")
        try:
            if self._pq is not None:
                self._pq.close()
            if self._bin is not None:
                self._bin.close()  # flushes: a full disk shows here
        except OSError as exc:
            raise write_error(self.path, self.option, exc) from None
        if self._bin is not None:
            self._file.commit()

    def abort(self) -> None:
        """Drop a partial file: nothing is left behind."""
        for job in self._pending:
            job.join()
        self._pending = []
        if self._pq is not None:
            try:
                self._pq.close()  # closed here, not by its __del__ (which would report an error at exit)
            except Exception:  # the file is discarded anyway
                pass
            self._pq = None
        if self._bin is not None:
            try:
                self._bin.close()
            except OSError:  # the buffered rest cannot be written either: the file is discarded anyway
                pass
            finally:
                self._file.abort()

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
            return
        try:
            self.close()
        except BaseException:  # a failure (or Ctrl-C) while finishing: drop the partial file too
            self.abort()
            raise


def _decoded(table, fmt):
    """The table with every column as plain values a text or Parquet file can hold: JSON texts of
    JSON Lines input decoded (a string as its text, other values as JSON), nested Parquet values as
    JSON text, bytes as UTF-8 text (or an error naming the column)."""
    cols, fields = [], []
    for field, col in zip(table.schema, table.columns):
        if is_json(field):
            col, field = pa.array(json_plain(col.to_pylist()), type=pa.string()), pa.field(field.name, pa.string())
        elif pa.types.is_nested(field.type) and fmt != Format.PARQUET:
            values = [None if v is None else json.dumps(v, default=str, ensure_ascii=False) for v in col.to_pylist()]
            col, field = pa.array(values, type=pa.string()), pa.field(field.name, pa.string())
        elif (pa.types.is_binary(field.type) or pa.types.is_large_binary(field.type)) and fmt != Format.PARQUET:
            try:
                col = pc.cast(col, pa.string())
            except pa.ArrowInvalid:
                raise InputError(f"the column {field.name!r} holds bytes that are not UTF-8 text, which "
                                 f"{fmt.value.upper()} cannot carry; write Parquet instead", "output") from None
            field = pa.field(field.name, pa.string())
        cols.append(col)
        fields.append(field)
    return pa.Table.from_arrays(cols, schema=pa.schema(fields))


def _needs_quotes(column, sep: str) -> bool:
    """Whether some text cell holds the delimiter, a quote or a line break: a scan of the raw
    character bytes (a slice may include a few bytes around it, which errs only towards quoting)."""
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        return False
    offset_type = np.int64 if pa.types.is_large_string(column.type) else np.int32
    specials = [(sep + '"\n\r').encode()[i:i + 1] for i in range(4)]
    for chunk in (column.chunks if hasattr(column, "chunks") else [column]):
        if len(chunk) == 0:
            continue
        offsets_buf, data_buf = chunk.buffers()[1], chunk.buffers()[2]
        if data_buf is None:
            continue
        offsets = np.frombuffer(offsets_buf, dtype=offset_type)
        start, end = int(offsets[chunk.offset]), int(offsets[chunk.offset + len(chunk)])
        data = memoryview(data_buf)[start:end].tobytes()
        if any(byte in data for byte in specials):
            return True
    return False


def _csv_line(values, sep: str) -> bytes:
    buf = io.StringIO()
    csvmod.writer(buf, delimiter=sep, quoting=csvmod.QUOTE_MINIMAL, lineterminator="\n").writerow(values)
    return buf.getvalue().encode()


def _csv_bytes(table, fmt: str, header: bool) -> bytes:
    """One block as CSV/TSV bytes, with one quoting rule: a field is quoted only when it must be
    (it holds the delimiter, a quote or a line break), in the header and in every row alike."""
    fmt = Format(fmt)
    sep = fmt.delimiter
    table = _decoded(table, fmt)
    needs = any(_needs_quotes(c, sep) for c in table.columns)
    buf = io.BytesIO()
    if header:
        buf.write(_csv_line(table.column_names, sep))
    if not needs:
        pcsv.write_csv(table, buf, write_options=pcsv.WriteOptions(include_header=False, delimiter=sep,
                                                                   quoting_style="none"))
    else:  # some text needs quotes: the same number formatting as pyarrow's, minimal quoting by hand
        cols = [pc.fill_null(pc.cast(c, pa.string()), "").to_pylist() for c in table.columns]
        text = io.StringIO()
        csvmod.writer(text, delimiter=sep, quoting=csvmod.QUOTE_MINIMAL, lineterminator="\n").writerows(zip(*cols))
        buf.write(text.getvalue().encode())
    return buf.getvalue()


def _json_lines(table) -> list[str]:
    """Each row as one JSON object: JSON texts from JSON Lines input embedded as written, other
    values exact (floats by shortest repr, non-finite as null)."""
    names = [json.dumps(n, ensure_ascii=False) for n in table.column_names]
    columns = []
    for field, col in zip(table.schema, table.columns):
        if is_json(field):
            columns.append(["null" if v is None else v for v in col.to_pylist()])
        else:
            columns.append([json.dumps(plain(v), allow_nan=False, ensure_ascii=False, default=str)
                            for v in col.to_pylist()])
    return ["{" + ", ".join(f"{n}: {v}" for n, v in zip(names, row)) + "}" for row in zip(*columns)]


def write_table_file(columns: dict, path: str, fmt: str) -> None:
    """Write equal-length columns (a sweep; lists of text are text columns) to ``path`` atomically."""
    table = pa.table({k: text_column(v) if isinstance(v, list) and v and all(isinstance(x, str) for x in v)
                      else arrow_column(v) for k, v in columns.items()})
    with TableWriter(path, fmt) as writer:
        writer.write(table)
