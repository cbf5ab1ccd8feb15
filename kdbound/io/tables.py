"""Batch tables in and out, a block at a time: the one place kdbound imports pyarrow.

pyarrow costs ~0.1 s to import, so this module is imported only inside the
functions that read or write tables (``--input``, ``--output``); the scalar
start-up never pays for it.  Output files are written through
:class:`~kdbound.io.atomic.AtomicFile`, so a failed run leaves nothing behind.
"""

from __future__ import annotations

import csv as csvmod
import io
import json
import math
import sys
import threading
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from ..errors import InputError
from ..formats import INPUT_FORMATS, Format, from_extension, names, parse_number, plain
from .atomic import AtomicFile, write_error


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

#: field metadata marking a column whose cells are JSON texts (pass-through values of JSON Lines input)
JSON_KIND = {b"kdbound": b"json"}


def read_batches(path: str, fmt: str, numeric: set[str], block_bytes: int = 4 << 20) -> Iterator:
    """Yield pyarrow RecordBatches of the input, in order, a block at a time (at least one, maybe empty).

    Cells travel as they came: CSV/TSV cells as text (nothing inferred: ``08123``
    stays ``08123``); JSON Lines values as their JSON text (columns marked with
    :data:`JSON_KIND`); Parquet columns with their own types.  Parameter columns
    (names in ``numeric``, with ``-`` or ``_``) are converted later by
    :func:`to_float`, with a row-level message for anything that is not a number.
    """
    stream = _open_binary(path, "input")
    try:
        if fmt in (Format.CSV, Format.TSV):
            yield from _read_csv(stream, Format(fmt), block_bytes)
        elif fmt == Format.JSONL:
            yield from _read_jsonl(stream, numeric, block_bytes)
        else:
            yield from _read_parquet(stream, path, block_bytes)
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


def _check_names(names: list[str]) -> None:
    seen = set()
    for name in names:
        if name in seen:
            raise InputError(f"the column {name!r} appears twice in the header", "input")
        seen.add(name)


def _read_csv(stream, fmt: Format, block_bytes: int):
    sep = fmt.delimiter
    head = stream.readline()
    if not head.strip():
        raise InputError("the file is empty (a header row naming the columns is required)", "input")
    if head.startswith(b"PAR1"):
        raise InputError("this is a Parquet file, not " + fmt.value.upper() + "; give {input_format} parquet",
                         "input", refs=("input_format",))
    try:
        line = head.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError("the header row is not UTF-8 text", "input") from None
    names = next(csvmod.reader([line.rstrip("\r\n")], delimiter=sep))
    _check_names(names)
    strings = {name: pa.string() for name in names}
    ragged = []

    def wrong_width(row):  # a row with too few or too many fields: malformed, named by its number
        ragged.append(row)
        return "skip"

    def check_widths():
        if ragged:
            row = ragged[0]
            text = row.text if len(row.text) <= 60 else row.text[:57] + "..."
            raise InputError(f"row {row.number} has {row.actual_columns} fields, the header {row.expected_columns} "
                             f"({text!r}): the file is malformed (--on-error applies to values, not to the "
                             "file's shape)", "input")

    try:
        reader = pcsv.open_csv(
            stream,
            # no reader threads: as fast for this streaming read, and no native thread can outlive
            # the reader when an error ends the process early
            read_options=pcsv.ReadOptions(block_size=block_bytes, column_names=names, use_threads=False),
            parse_options=pcsv.ParseOptions(delimiter=sep, invalid_row_handler=wrong_width),
            convert_options=pcsv.ConvertOptions(column_types=strings, strings_can_be_null=False,
                                                quoted_strings_can_be_null=False),
        )
    except pa.ArrowInvalid as exc:
        if "Empty CSV file" in str(exc):  # a header and nothing else
            yield pa.RecordBatch.from_pylist([], schema=pa.schema(list(strings.items())))
            return
        raise _csv_error(exc, fmt, "not a readable") from None
    yielded = False
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            break
        except pa.ArrowInvalid as exc:
            raise _csv_error(exc, fmt, "malformed") from None
        check_widths()
        yielded = True
        yield batch
    check_widths()
    if not yielded:
        yield pa.RecordBatch.from_pylist([], schema=reader.schema)


def _csv_error(exc: Exception, fmt: Format, what: str) -> InputError:
    text = _one_line(exc)
    if "utf8" in text.lower():
        return InputError(f"not UTF-8 text ({text})", "input")
    return InputError(f"{what} {fmt.value.upper()} file ({text})", "input")


class _Raw(str):
    """A JSON number (or NaN/Infinity constant) kept as the text it was written as."""


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs):
    """A JSON object whose keys are distinct (json keeps the last of a repeated key without a word)."""
    obj = dict(pairs)
    if len(obj) < len(pairs):
        seen = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return obj


def _loads(line: str):
    return json.loads(line, parse_float=_Raw, parse_int=_Raw, parse_constant=_Raw, object_pairs_hook=_unique_keys)


def _json_text(value) -> str | None:
    """The JSON text of a parsed value (numbers as written), None for null."""
    if value is None:
        return None
    if isinstance(value, _Raw):
        return str(value)
    return json.dumps(_numbers(value), ensure_ascii=False, allow_nan=False)


def _numbers(value):
    """A parsed value with its numbers as Python numbers (for re-serialising nested values)."""
    if isinstance(value, _Raw):
        try:
            return int(value)
        except ValueError:
            try:
                return float(value) if math.isfinite(float(value)) else str(value)
            except ValueError:
                return str(value)
    if isinstance(value, dict):
        return {k: _numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_numbers(v) for v in value]
    return value


def _cell_text(value) -> str | None:
    """A parameter cell from JSON as text for :func:`to_float` (strings as they are, anything else as JSON)."""
    if value is None:
        return None
    if isinstance(value, str):  # _Raw numbers included
        return str(value)
    return _json_text(value)


def _read_jsonl(stream, numeric: set[str], block_bytes: int):
    """JSON Lines, a block at a time.  The columns are the keys of the first block's rows (the union:
    a row may leave a key out, which is then null); a key that first appears in a later block stops
    the run with the row and the key named, so that the output always has the same columns."""
    text = io.TextIOWrapper(stream, encoding="utf-8", errors="strict")
    rows: list[dict] = []
    names: list[str] | None = None
    seen: dict[str, None] = {}
    size, row = 0, 0
    try:
        for line in text:
            if not line.strip():
                continue
            row += 1
            try:
                obj = _loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"row {row} is not valid JSON ({exc.msg})", "input") from None
            except _DuplicateKey as exc:
                raise InputError(f"row {row} has the key {exc.args[0]!r} twice", "input") from None
            except (ValueError, RecursionError) as exc:
                raise InputError(f"row {row} cannot be read as JSON ({_one_line(exc)})", "input") from None
            if not isinstance(obj, dict):
                raise InputError(f"row {row} is not a JSON object", "input")
            if names is None:
                for key in obj:
                    seen.setdefault(key)
            else:
                new = [key for key in obj if key not in seen]
                if new:
                    raise InputError(f"row {row} has the key {new[0]!r}, which no earlier row has; the columns are "
                                     "the keys of the first rows (~4 MB): give every key in an early row (null is "
                                     "fine)", "input")
            rows.append(obj)
            size += len(line)
            if size >= block_bytes:
                if names is None:
                    names = list(seen)
                yield _rows_to_batch(rows, names, numeric)
                rows, size = [], 0
    except UnicodeDecodeError:
        raise InputError(f"row {row + 1} is not UTF-8 text", "input") from None
    finally:
        text.detach()  # the caller closes the stream itself
    if names is None:
        if not seen:
            raise InputError("the file is empty (no JSON objects)", "input")
        names = list(seen)
    if rows or row == 0:
        yield _rows_to_batch(rows, names, numeric)


def _rows_to_batch(rows, names, numeric):
    arrays, fields = [], []
    for name in names:
        vals = [r.get(name) for r in rows]
        if name.replace("-", "_") in numeric:
            arrays.append(pa.array([_cell_text(v) for v in vals], type=pa.string()))
            fields.append(pa.field(name, pa.string()))
        else:
            arrays.append(pa.array([_json_text(v) for v in vals], type=pa.string()))
            fields.append(pa.field(name, pa.string(), metadata=JSON_KIND))
    _check_names(names)
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))


def _read_parquet(stream, path: str, block_bytes: int):
    pq = _parquet()
    source = io.BytesIO(stream.read()) if path == "-" else stream
    try:
        pf = pq.ParquetFile(source)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"{path!r} is not a readable Parquet file ({_one_line(exc)})", "input") from None
    try:
        _check_names(pf.schema_arrow.names)
        yielded = False
        try:
            for batch in pf.iter_batches(batch_size=max(1024, block_bytes // 64), use_threads=False):
                yielded = True
                yield batch
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError(f"{path!r} is not a readable Parquet file ({_one_line(exc)})", "input") from None
        if not yielded:
            yield pa.RecordBatch.from_pylist([], schema=pf.schema_arrow)
    finally:
        pf.close()


def read_columns(path: str, fmt: str, text: set[str]) -> dict:
    """A whole table as {column name: pyarrow ChunkedArray}, for commands that need every row at once.

    Columns named in ``text`` arrive as by :func:`read_batches` for parameter
    columns: cells as text (JSON strings as they are), for :func:`to_float`,
    :func:`text_codes` or :func:`category_codes`.
    """
    batches = list(read_batches(path, fmt, text))
    out = {}
    for name in batches[0].schema.names:
        chunks = [b.column(name) for b in batches]
        try:
            out[name] = pa.chunked_array(chunks, type=chunks[0].type)
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # Parquet row groups that disagree
            raise InputError(f"column {name!r} changes type within the file", "input") from None
    return out


def text_codes(column, choices: tuple[str, ...]) -> np.ndarray:
    """Per cell: the index of its text in ``choices``, -1 for any other value, -2 for an empty cell."""
    try:
        text = pc.cast(column, pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        text = pa.chunked_array([pa.array([None if v is None else _shown(v) for v in column.to_pylist()],
                                          type=pa.string())])
    codes = np.full(len(column), -1, dtype=np.int64)
    for i, choice in enumerate(choices):
        codes[pc.fill_null(pc.equal(text, choice), False).to_numpy(zero_copy_only=False)] = i
    codes[pc.fill_null(pc.equal(text, ""), True).to_numpy(zero_copy_only=False)] = -2
    return codes


def category_codes(column) -> np.ndarray:
    """Integer codes of a column's values (equal values, equal codes); -1 for an empty cell."""
    column = _plain_column(column)
    if pa.types.is_nested(column.type):  # lists or structs (Parquet): compared as the text a message would show
        column = pa.array([None if v is None else _shown(v) for v in column.to_pylist()], pa.string())
    codes = pc.index_in(column, value_set=pc.unique(column), skip_nulls=True)
    codes = np.asarray(pc.fill_null(codes, -1).to_numpy(zero_copy_only=False), dtype=np.int64)
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        codes[pc.fill_null(pc.equal(column, ""), True).to_numpy(zero_copy_only=False)] = -1
    return codes


def cell(column, row: int):
    """One cell of a column as a Python value (for messages)."""
    return column[row].as_py()


def _plain_column(column):
    """A Parquet column in the types the readers handle: dictionary-encoded (pandas ``category``) decoded,
    ``string_view`` as string, half floats as float32."""
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if getattr(pa.types, "is_string_view", lambda t: False)(column.type):
        column = column.cast(pa.string())
    if pa.types.is_float16(column.type):
        column = pa.array(np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float32))
    return column


def to_float(column) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """A pyarrow column as float64, with masks of empty cells and of non-numbers.

    Returns (values, empty, not_a_number, raw) where raw holds the cells as
    given, for the error messages.  Text is read strictly (:func:`kdbound.formats.parse_number`):
    ``1_0``, other scripts' digits, ``NA`` or ``null`` are not numbers; ``nan`` and ``inf`` are,
    and the rules of each parameter then refuse them by name.
    """
    column = _plain_column(column)
    n = len(column)
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        try:  # the common case: every cell a number, one vectorised cast
            if column.null_count == 0:
                values = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
                return values, np.zeros(n, dtype=bool), np.zeros(n, dtype=bool), None
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
        empty = np.asarray(pc.fill_null(pc.equal(column, ""), True).to_numpy(zero_copy_only=False), dtype=bool)
        try:
            values = pc.cast(pc.if_else(pc.fill_null(pc.equal(column, ""), True), "nan", column), pa.float64())
            return (np.where(empty, np.nan, values.to_numpy(zero_copy_only=False)), empty, np.zeros(n, dtype=bool),
                    None)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raw = column.to_pylist()
            out = np.full(n, np.nan)
            bad = np.zeros(n, dtype=bool)
            for i, text in enumerate(raw):
                if empty[i]:
                    continue
                number = parse_number(text)
                if number is None:
                    bad[i] = True
                else:
                    out[i] = number
            return out, empty, bad, np.asarray(["" if t is None else t for t in raw], dtype=object)
    empty = np.asarray(column.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type) or pa.types.is_decimal(column.type):
        # safe=False: an integer beyond 2^53 (a uint64 near 1.8e19) becomes its nearest float, as in a text cell
        out = pc.cast(column, pa.float64(), safe=False).to_numpy(zero_copy_only=False)
        return np.where(empty, np.nan, np.asarray(out, dtype=np.float64)), empty, np.zeros(n, dtype=bool), None
    # booleans, dates, nested values...: not numbers
    raw = np.asarray([_shown(v) for v in column.to_pylist()], dtype=object)
    return np.full(n, np.nan), empty, ~empty, raw


def _shown(value) -> str:
    """A non-numeric cell as the user would recognise it in a message."""
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    return str(value)


def arrow_column(values, null=None):
    """Engine output as a pyarrow array: NaN and infinities become null, as do rows where ``null`` is true."""
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
            self._file = AtomicFile(path, option)
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
            table = _decoded(table, self.fmt)
            if self._pq is None:
                self._pq = pq.ParquetWriter(self._bin, table.schema)
            elif table.schema != self._pq.schema:
                try:
                    table = table.cast(self._pq.schema)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as exc:
                    raise InputError("the columns change type between blocks of rows, which Parquet cannot hold "
                                     f"({_one_line(exc)}); write CSV or JSON Lines instead", self.option) from None
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


def _is_json(field) -> bool:
    return bool(field.metadata) and field.metadata.get(b"kdbound") == b"json"


def _decoded(table, fmt):
    """The table with every column as plain values a text or Parquet file can hold: JSON texts of
    JSON Lines input decoded (a string as its text, other values as JSON), nested Parquet values as
    JSON text, bytes as UTF-8 text (or an error naming the column)."""
    cols, fields = [], []
    for field, col in zip(table.schema, table.columns):
        if _is_json(field):
            values = [None if v is None else (json.loads(v) if v.startswith('"') else v) for v in col.to_pylist()]
            col, field = pa.array(values, type=pa.string()), pa.field(field.name, pa.string())
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
        if _is_json(field):
            columns.append(["null" if v is None else v for v in col.to_pylist()])
        else:
            columns.append([json.dumps(plain(v), allow_nan=False, ensure_ascii=False, default=str)
                            for v in col.to_pylist()])
    return ["{" + ", ".join(f"{n}: {v}" for n, v in zip(names, row)) + "}" for row in zip(*columns)]


def write_table_file(columns: dict, path: str, fmt: str) -> None:
    """Write equal-length columns (a sweep) to ``path`` atomically."""
    table = pa.table({k: arrow_column(v) for k, v in columns.items()})
    with TableWriter(path, fmt) as writer:
        writer.write(table)
