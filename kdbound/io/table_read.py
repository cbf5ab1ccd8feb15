"""Batch tables in, a block at a time: CSV, TSV, JSON Lines and Parquet through pyarrow.

pyarrow is imported at this module's top, and costs ~0.1 s: the module is imported only by
the batch path (:mod:`kdbound.cli.batch`, itself imported inside the bound commands' run
function when ``--input`` is given) and inside the functions of ``estimate`` that read its
runs, each after :func:`.arrow.require_pyarrow`; the scalar start-up never pays for it.
Cells travel as they came (text stays text) and become numbers in :func:`to_float`, with a
row-level message for anything that is not a number.
"""

from __future__ import annotations

import csv as csvmod
import io
import json
import math
import sys
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from ..errors import InputError
from ..formats import INPUT_FORMATS, Format, from_extension, names, parse_number
from .arrow import JSON_KIND, is_json, json_plain, one_line, parquet


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
    """Yield pyarrow RecordBatches of the input, in order, a block at a time (at least one, maybe empty).

    Cells travel as they came: CSV/TSV cells as text (nothing inferred: ``08123``
    stays ``08123``); JSON Lines values as their JSON text (columns marked with
    :data:`JSON_KIND`); Parquet columns with their own types.  Parameter columns
    (names in ``numeric``, with ``-`` or ``_``) are converted later by
    :func:`to_float`, with a row-level message for anything that is not a number.
    """
    stream = _open_binary(path, "input")
    try:
        yield from _stream_batches(stream, path, fmt, numeric, block_bytes)
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()


def _stream_batches(stream, path: str, fmt: str, numeric: set[str], block_bytes: int) -> Iterator:
    if fmt in (Format.CSV, Format.TSV):
        yield from _read_csv(stream, Format(fmt), block_bytes)
    elif fmt == Format.JSONL:
        yield from _read_jsonl(stream, numeric, block_bytes)
    else:
        yield from _read_parquet(stream, path, block_bytes)



def _check_names(names: list[str]) -> None:
    seen = set()
    for name in names:
        if name in seen:
            raise InputError(f"the column {name!r} appears twice in the header", "input")
        seen.add(name)


class _Chained(io.RawIOBase):
    """``head`` (bytes already read), then the rest of ``stream``: the CSV reader after the header."""

    def __init__(self, head: bytes, stream):
        self.head, self.stream = head, stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.head:
            n = min(len(buffer), len(self.head))
            buffer[:n], self.head = self.head[:n], self.head[n:]
            return n
        data = self.stream.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


def _header_line(stream) -> tuple[bytes, bytes]:
    """The header row and the bytes read after it.  A line ends at LF, CRLF or a lone CR (old Mac OS files,
    which the CSV reader reads too); the header is read in pieces, never the whole file at once."""
    buf, read = b"", stream.read1 if hasattr(stream, "read1") else stream.read  # read1: what a pipe has now
    while True:
        chunk = read(1 << 16)
        buf += chunk
        ends = [i for i in (buf.find(b"\r"), buf.find(b"\n")) if i >= 0]
        if not chunk or (ends and not (buf[min(ends)] == 13 and min(ends) == len(buf) - 1)):
            break  # the end of the file, or of a line (a CR last in the buffer may be a CRLF's first half)
    if not ends:
        return buf, b""
    i = min(ends)
    after = i + 2 if buf[i:i + 2] == b"\r\n" else i + 1
    return buf[:i], buf[after:]


def _read_csv(stream, fmt: Format, block_bytes: int):
    sep = fmt.delimiter
    head, rest = _header_line(stream)
    if not head.strip():
        raise InputError("the file is empty (a header row naming the columns is required)", "input")
    if head.startswith(b"PAR1"):
        raise InputError("this is a Parquet file, not " + fmt.value.upper() + "; give {input_format} parquet",
                         "input", refs=("input_format",))
    try:
        line = head.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError("the header row is not UTF-8 text", "input") from None
    stream = io.BufferedReader(_Chained(rest, stream), 1 << 16)
    names = next(csvmod.reader([line], delimiter=sep))
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
    text = one_line(exc)
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


def _json_row(line: str, row: int) -> dict:
    """One line of JSON Lines as an object, or an error naming its row."""
    try:
        obj = _loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(f"row {row} is not valid JSON ({exc.msg})", "input") from None
    except _DuplicateKey as exc:
        raise InputError(f"row {row} has the key {exc.args[0]!r} twice", "input") from None
    except (ValueError, RecursionError) as exc:
        raise InputError(f"row {row} cannot be read as JSON ({one_line(exc)})", "input") from None
    if not isinstance(obj, dict):
        raise InputError(f"row {row} is not a JSON object", "input")
    return obj


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
            obj = _json_row(line, row)
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
    pq = parquet("input")
    source = io.BytesIO(stream.read()) if path == "-" else stream
    try:
        pf = pq.ParquetFile(source)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"{path!r} is not a readable Parquet file ({one_line(exc)})", "input") from None
    try:
        _check_names(pf.schema_arrow.names)
        yielded = False
        try:
            for batch in pf.iter_batches(batch_size=max(1024, block_bytes // 64), use_threads=False):
                yielded = True
                yield batch
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError(f"{path!r} is not a readable Parquet file ({one_line(exc)})", "input") from None
        if not yielded:
            yield pa.RecordBatch.from_pylist([], schema=pf.schema_arrow)
    finally:
        pf.close()


def read_columns(path: str, fmt: str, text: set[str]) -> dict:
    """A whole table as {column name: pyarrow ChunkedArray}, for commands that need every row at once.

    Columns named in ``text`` arrive as by :func:`read_batches` for parameter
    columns: cells as text (JSON strings as they are), for :func:`to_float`,
    :func:`text_codes` or :func:`category_codes`.  The other columns of JSON Lines
    arrive as plain text too: a JSON string as its text (not its quoted JSON), any
    other value as its JSON text.
    """
    return _columns(read_batches(path, fmt, text))


def read_columns_of(data: bytes, fmt: str, text: set[str]) -> dict:
    """:func:`read_columns` of a table held in memory: ``data`` is what the file would hold (CSV, TSV or JSON
    Lines), read by the same readers, so the columns are those the file would give."""
    return _columns(_stream_batches(io.BytesIO(data), "<memory>", fmt, text, 4 << 20))


def _columns(batches) -> dict:
    batches = list(batches)
    out = {}
    for field in batches[0].schema:
        name = field.name
        chunks = [b.column(name) for b in batches]
        if is_json(field):  # JSON texts of a JSON Lines column: strings as their text, as in the other formats
            chunks = [pa.array(json_plain(c.to_pylist()), type=pa.string()) for c in chunks]
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
