"""The runs file of a distillation experiment: written as runs complete, resumable after any interruption.

One process, the driver, writes it, holding an exclusive lock (``fcntl.flock`` on
a hidden ``.<name>.lock`` beside it).  The settings of the experiment are written
whole, before the first row:

* CSV, TSV and JSON Lines: in a sidecar ``<name>.settings.json``; the rows are
  appended to the file itself, a run's two rows in one ``write``;
* Parquet, which cannot be appended to: the rows go to a journal
  ``<name>.journal.jsonl`` (JSON Lines, appended the same way) beside a sidecar;
  when the experiment finishes, the Parquet file is written whole with the
  settings in its metadata (key ``kdbound.distill``), and the journal and sidecar
  are removed.

So a ``kill -9`` leaves at worst a torn last line, which a resume drops, as it
drops a run with only one of its rows.  A finished file holds its runs in
(run, role) order and nothing that depends on timing or the host, so that two
files of one experiment compare equal byte for byte.  A new file refuses to
replace an existing one (the one exception to kdbound's write-then-rename rule
for outputs: the file is the experiment's journal); a resume refuses settings
that differ, naming them.  Cells are written exactly (floats by their shortest
round-trip repr), so a resumed file is the file an uninterrupted run writes.
"""

from __future__ import annotations

import csv
import fcntl
import io
import json
import os
from dataclasses import dataclass

from ..engine.distill import ROLES, ROW_COLUMNS, GapRow
from ..errors import InputError
from ..formats import Format, field_text, from_extension, plain
from .atomic import AtomicFile, resolve_output, write_error

#: the formats a runs file can have
RUNS_FORMATS = (Format.CSV, Format.TSV, Format.JSONL, Format.PARQUET)
#: the Parquet metadata key of the settings
METADATA_KEY = b"kdbound.distill"
_FLOATS = ("train_loss", "test_loss", "gap", "loss_min", "loss_max", "test_accuracy")
_INTS = ("dataset", "seed", "n_test")
_OPTION = "runs_out"


def runs_format(path: str) -> Format:
    """The runs file's format, from its extension."""
    fmt = from_extension(path, RUNS_FORMATS)
    if fmt is None:
        raise InputError(f"cannot tell the format from the extension of {path!r}; use .csv, .tsv, .jsonl or "
                         ".parquet", _OPTION)
    return fmt


def sidecar_path(path: str) -> str:
    return path + ".settings.json"


def journal_path(path: str) -> str:
    return path + ".journal.jsonl"


def lock_path(path: str) -> str:
    folder, name = os.path.split(path)
    return os.path.join(folder, f".{name}.lock")


# --------------------------------------------------------------------------- lines

def row_line(row: GapRow, fmt: Format) -> str:
    """One row as a line of the file (CSV/TSV with minimal quoting, or a JSON object), newline included."""
    if fmt == Format.JSONL or fmt == Format.PARQUET:  # Parquet's journal is JSON Lines
        return json.dumps({k: plain(v) for k, v in zip(ROW_COLUMNS, row.values())}, ensure_ascii=False) + "\n"
    buf = io.StringIO()
    csv.writer(buf, delimiter=fmt.delimiter, lineterminator="\n").writerow([field_text(v) for v in row.values()])
    return buf.getvalue()


def header_line(fmt: Format) -> str:
    if fmt in (Format.CSV, Format.TSV):
        return fmt.delimiter.join(ROW_COLUMNS) + "\n"
    return ""


def runs_text(rows, fmt: Format = Format.CSV) -> str:
    """The text of a finished runs file (CSV, TSV or JSON Lines) holding ``rows``, in the order given."""
    return header_line(fmt) + "".join(row_line(r, fmt) for r in rows)


def _row(cells: dict) -> GapRow:
    """A row from its cells (text or JSON values); ValueError when one is not what kdbound writes."""
    values = {}
    for name in ROW_COLUMNS:
        v = cells[name]
        if name in _FLOATS:
            if isinstance(v, bool) or not isinstance(v, (int, float, str)):
                raise ValueError(name)
            values[name] = float(v)
        elif name in _INTS:
            if isinstance(v, (bool, float)) or (isinstance(v, str) and not v.isdigit()):
                raise ValueError(name)
            values[name] = int(v)
        elif name == "converged":
            if v not in (True, False, "true", "false"):
                raise ValueError(name)
            values[name] = v in (True, "true")
        else:
            if not isinstance(v, str):
                raise ValueError(name)
            values[name] = v
    if values["role"] not in ROLES:
        raise ValueError("role")
    return GapRow(**values)


def _parse_lines(text: str, fmt: Format, where: str, skip_header: bool) -> list[GapRow]:
    """Rows of complete lines (the text after the last newline is a torn tail, dropped)."""
    lines = text.split("\n")[:-1]  # the last piece is empty or a torn tail
    start = 0
    if skip_header and fmt in (Format.CSV, Format.TSV):
        if not lines:
            return []
        if lines[0] != header_line(fmt).rstrip("\n"):
            raise InputError(f"{where} does not start with the header kdbound writes ({header_line(fmt).strip()!r}); "
                             "it is not a runs file of distill", _OPTION)
        start = 1
    rows = []
    for number, line in enumerate(lines[start:], start + 1):
        try:
            if fmt in (Format.CSV, Format.TSV):
                cells = next(csv.reader([line], delimiter=fmt.delimiter))
                if len(cells) != len(ROW_COLUMNS):
                    raise ValueError("width")
                rows.append(_row(dict(zip(ROW_COLUMNS, cells))))
            else:
                obj = json.loads(line)
                if not isinstance(obj, dict) or list(obj) != list(ROW_COLUMNS):
                    raise ValueError("keys")
                rows.append(_row(obj))
        except (ValueError, TypeError, KeyError):
            raise InputError(f"line {number} of {where} is not a row kdbound wrote ({line[:60]!r}); the file was "
                             "changed by something else: remove that line or start a new file", _OPTION) from None
    return rows


# --------------------------------------------------------------------------- the lock

class _Lock:
    """An exclusive ``flock`` on a lock file, removed when released (re-checked after locking, so that a file
    unlinked by the previous holder is never mistaken for the live one)."""

    def __init__(self, path: str, target: str):
        self.path, self.fd = path, None
        for _ in range(100):
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise write_error(target, _OPTION, exc) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise InputError(f"{target!r} is being written by another kdbound process (its lock {path!r} is "
                                 "held)", _OPTION) from None
            try:
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self.fd = fd
                return
            os.close(fd)
        raise InputError(f"cannot take the lock {path!r}", _OPTION)  # pragma: no cover - 100 races in a row

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            os.unlink(self.path)
        except OSError:
            pass
        os.close(self.fd)  # closing releases the lock
        self.fd = None


# --------------------------------------------------------------------------- the file

@dataclass(frozen=True)
class Existing:
    """What a resume found: the settings, every complete run's two rows, and what was dropped."""

    settings: dict
    runs: dict
    torn: bool
    incomplete: tuple[int, ...]


def settings_text(settings: dict) -> str:
    return json.dumps(settings, indent=2, ensure_ascii=False) + "\n"


def differences(recorded: dict, current: dict, ignore=()) -> list[str]:
    """The settings that differ, as ``name: recorded -> current`` (nested dictionaries by dotted names)."""
    out = []
    for key in list(recorded) + [k for k in current if k not in recorded]:
        if key in ignore:
            continue
        a, b = recorded.get(key), current.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += [f"{key}.{d}" for d in differences(a, b)]
        elif a != b:
            out.append(f"{key}: {json.dumps(a)} -> {json.dumps(b)}")
    return out


class RunsFile:
    """The runs file at ``path`` of one experiment with ``settings`` (a JSON-ready dictionary).

    A new file (``resume`` false) must not exist.  With ``resume`` the settings
    beside or inside the existing file must equal ``settings`` except for the keys
    in ``resumable`` (the number of runs may grow); the complete runs found are in
    :attr:`existing`.  :meth:`append` writes one run, :meth:`finish` puts the
    file in its final (run, role) order, :meth:`close` leaves it resumable.
    """

    def __init__(self, path: str, settings: dict, resume: bool, resumable=("runs",)):
        self.path, self.settings = path, settings
        self.fmt = runs_format(path)
        self.target, direct = resolve_output(path, _OPTION)
        if direct:
            raise InputError(f"{path!r} is not a regular file; the runs file is appended to and resumed", _OPTION)
        self._lock = _Lock(lock_path(self.target), path)
        self._fd = None
        self.runs: dict[int, tuple[GapRow, GapRow]] = {}
        try:
            self.existing = self._load(resumable) if resume else None
            if not resume:
                self._refuse_existing()
            if self.existing is not None:
                self.runs = dict(self.existing.runs)
            self._start()
        except BaseException:
            self.close()
            raise

    # -- paths
    @property
    def _sidecar(self) -> str:
        return sidecar_path(self.target)

    @property
    def _appended(self) -> str:
        """The file rows are appended to: the file itself, or Parquet's journal."""
        return journal_path(self.target) if self.fmt == Format.PARQUET else self.target

    def _refuse_existing(self) -> None:
        for p in (self.target, self._sidecar, journal_path(self.target)):
            if os.path.exists(p):
                raise InputError(f"{self.path!r} exists (or its settings or journal do): give {{resume}} to "
                                 "continue that experiment, or another file name", _OPTION, refs=("resume",))

    # -- reading
    def _load(self, resumable) -> Existing | None:
        recorded, rows, torn = None, [], False
        if os.path.exists(self._sidecar):
            recorded = self._read_sidecar()
        if self.fmt == Format.PARQUET:
            if os.path.exists(self.target):
                meta, rows = _read_parquet(self.target)
                recorded = recorded if recorded is not None else meta
            if os.path.exists(self._appended):
                more, torn = self._read_appended()
                rows += more
        elif os.path.exists(self.target):
            rows, torn = self._read_appended()
        if recorded is None:
            if rows or os.path.exists(self.target):
                raise InputError(f"{self.path!r} has no settings ({os.path.basename(self._sidecar)!r} is missing), "
                                 "so it cannot be resumed: start a new file", _OPTION)
            return None
        diff = differences(recorded, self.settings, ignore=resumable)
        if diff:
            raise InputError(f"{self.path!r} holds runs of other settings ({'; '.join(diff)}): resume with the same "
                             "settings, or write another file", _OPTION)
        runs, incomplete = _complete_runs(rows, self.path)
        return Existing(recorded, runs, torn, incomplete)

    def _read_sidecar(self) -> dict:
        try:
            with open(self._sidecar, encoding="utf-8") as fh:
                value = json.load(fh)
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read the settings {self._sidecar!r} ({exc})", _OPTION) from None
        if not isinstance(value, dict):
            raise InputError(f"{self._sidecar!r} does not hold the settings of an experiment", _OPTION)
        return value

    def _read_appended(self) -> tuple[list[GapRow], bool]:
        where = self._appended
        try:
            with open(where, encoding="utf-8", newline="") as fh:
                text = fh.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read {where!r} ({exc})", _OPTION) from None
        torn = bool(text) and not text.endswith("\n")
        return _parse_lines(text, self.fmt, repr(where), skip_header=where == self.target), torn

    # -- writing
    def _start(self) -> None:
        """Settings first (whole), then the file rewritten with the complete runs only, then open for appending."""
        with AtomicFile(self._sidecar, _OPTION) as tmp, open(tmp, "w", encoding="utf-8") as fh:
            fh.write(settings_text(self.settings))
        with AtomicFile(self._appended, _OPTION) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write(header_line(self.fmt) if self.fmt != Format.PARQUET else "")
            for index in sorted(self.runs):
                fh.write("".join(row_line(r, self.fmt) for r in self.runs[index]))
        self._fd = os.open(self._appended, os.O_WRONLY | os.O_APPEND)

    def append(self, index: int, rows: tuple[GapRow, GapRow]) -> None:
        """Write run ``index``'s teacher and student rows together (one ``write``, no buffer left behind)."""
        data = "".join(row_line(r, self.fmt) for r in rows).encode("utf-8")
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view):]
        except OSError as exc:
            raise write_error(self.path, _OPTION, exc) from None
        self.runs[index] = rows

    def finish(self) -> None:
        """The final file: every run in (run, role) order; for Parquet, the file with its settings, journal removed."""
        self._close_fd()
        ordered = [r for index in sorted(self.runs) for r in self.runs[index]]
        if self.fmt == Format.PARQUET:
            _write_parquet(self.path, ordered, self.settings)
            for p in (self._appended, self._sidecar):
                try:
                    os.unlink(p)
                except FileNotFoundError:
                    pass
        else:
            with AtomicFile(self.target, _OPTION) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
                fh.write(runs_text(ordered, self.fmt))
        self.close()

    def discard(self) -> None:
        """Remove the files this experiment created, when it stops before any run completed; a resumed file (or
        one with runs) is finished instead."""
        if self.existing is not None or self.runs:
            self.finish()
            return
        self._close_fd()
        for p in (self.target, self._sidecar, journal_path(self.target)):
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass
        self.close()

    def _close_fd(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def close(self) -> None:
        """Stop writing, leaving the file as it is (resumable); release the lock."""
        self._close_fd()
        self._lock.release()


def _complete_runs(rows: list[GapRow], path: str) -> tuple[dict, tuple[int, ...]]:
    """{run: (teacher row, student row)} of the runs with both rows; the indices of runs with one."""
    found: dict[int, dict[str, GapRow]] = {}
    for r in rows:
        have = found.setdefault(r.dataset, {})
        if r.role in have and have[r.role] != r:
            raise InputError(f"{path!r} holds two different {r.role} rows for run {r.dataset}; it was not written "
                             "by one experiment: start a new file", _OPTION)
        have[r.role] = r
    runs = {i: (v["teacher"], v["student"]) for i, v in found.items() if len(v) == 2}
    return runs, tuple(sorted(i for i, v in found.items() if len(v) != 2))


# --------------------------------------------------------------------------- settings, for estimate

def read_settings(path: str, input_format: str | None = None) -> dict | None:
    """The settings a runs file carries: its sidecar ``<path>.settings.json`` (CSV, TSV, JSON Lines, or an
    unfinished Parquet file), else a Parquet file's metadata (key ``kdbound.distill``); None when there are
    none (stdin, or a table distill did not write).  A sidecar or metadata that is not a JSON object is
    refused in one line naming RUNS."""
    if path == "-":
        return None
    sidecar = sidecar_path(path)
    if os.path.exists(sidecar):
        try:
            with open(sidecar, encoding="utf-8") as fh:
                value = json.load(fh)
        except (OSError, ValueError) as exc:
            raise InputError(f"RUNS: cannot read the settings {sidecar!r} ({' '.join(str(exc).split())})") from None
        if not isinstance(value, dict):
            raise InputError(f"RUNS: {sidecar!r} does not hold the settings of an experiment (a JSON object)")
        return value
    fmt = input_format.lower() if input_format else from_extension(path)
    if fmt is None or fmt != Format.PARQUET.value:
        return None
    return _parquet_settings(path)


def _parquet_settings(path: str) -> dict | None:
    import pyarrow as pa  # pyarrow (~0.1 s), only for a Parquet runs file
    import pyarrow.parquet as pq

    try:
        meta = (pq.read_schema(path).metadata or {}).get(METADATA_KEY)
    except (pa.ArrowInvalid, OSError):  # the table reader has said what is wrong with the file
        return None
    if meta is None:
        return None
    try:
        value = json.loads(meta)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise InputError(f"RUNS: the Parquet metadata {METADATA_KEY.decode()!r} of {path!r} is not the settings of "
                         "an experiment (a JSON object)")
    return value


# --------------------------------------------------------------------------- Parquet

def _write_parquet(path: str, rows: list[GapRow], settings: dict) -> None:
    import pyarrow as pa  # pyarrow (~0.1 s), only for a Parquet runs file
    import pyarrow.parquet as pq

    types = {"role": pa.string(), "teacher": pa.string(), "student": pa.string(), "converged": pa.bool_(),
             **{n: pa.float64() for n in _FLOATS}, **{n: pa.int64() for n in _INTS}}
    columns = {n: pa.array([getattr(r, n) for r in rows], type=types[n]) for n in ROW_COLUMNS}
    table = pa.table(columns).replace_schema_metadata({METADATA_KEY: settings_text(settings).encode()})
    with AtomicFile(path, _OPTION) as tmp:
        pq.write_table(table, tmp)


def _read_parquet(path: str) -> tuple[dict | None, list[GapRow]]:
    import pyarrow as pa  # pyarrow (~0.1 s), only for a Parquet runs file
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"{path!r} is not a readable Parquet file ({' '.join(str(exc).split())})", _OPTION) from None
    meta = (table.schema.metadata or {}).get(METADATA_KEY)
    if table.column_names != list(ROW_COLUMNS):
        raise InputError(f"{path!r} does not have the columns of a runs file of distill", _OPTION)
    try:
        rows = [_row(d) for d in table.to_pylist()]
        settings = json.loads(meta) if meta is not None else None
    except (ValueError, TypeError):
        raise InputError(f"{path!r} holds values kdbound did not write", _OPTION) from None
    return settings, rows
