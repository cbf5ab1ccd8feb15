"""Batch evaluation: one evaluation per input row, vectorised a block of rows at a time.

Memory stays bounded by the block size whatever the input length.  Bad rows
stop the run (``row N, column X: rule (got V)``, exit 2) or, with
``--on-error skip|null``, are dropped or nulled with the reason in an
``error`` column (exit 3 when any row failed).  Tables are read and written through
:mod:`kdbound.io.table_read` and :mod:`kdbound.io.table_write`, which import pyarrow at their
top: this module is imported only inside :func:`kdbound.cli.run.run_bound`, once
:func:`kdbound.io.arrow.require_pyarrow` has found pyarrow.  What a batch says (notes on
columns, nulls and failed rows) is :mod:`kdbound.render.explain`'s.
"""

from __future__ import annotations

import contextlib

import numpy as np

from ..engine._checks import collect_violations
from ..engine.solve import solve
from ..engine.specs import BoundSpec
from ..errors import InputError, ParameterError, format_value, spell_text
from ..formats import Format
from ..io import table_read, table_write
from ..render import Environment, explain, render_rows
from ..render.report import check_table_rows
from .options import Common, option_name, output_format, select_columns
from .status import ExitStatus


def _row_message(row: int, column: str, rule: str, value) -> str:
    return f"row {row}, column {column}: {rule} (got {format_value(value)})"


class RowErrors:
    """The failed rows of one block and why (first rule broken wins)."""

    def __init__(self, n: int, offset: int):
        self.n, self.offset = n, offset
        self.bad = np.zeros(n, dtype=bool)
        self.reasons = np.full(n, None, dtype=object)

    def flag(self, mask, column: str, rule: str, values) -> None:
        mask = np.broadcast_to(mask, (self.n,)) & ~self.bad
        if not mask.any():
            return
        idx = np.flatnonzero(mask)
        values = np.asarray(values)
        values = np.broadcast_to(values if values.dtype == object else values.astype(float), (self.n,))
        for i in idx:
            self.reasons[i] = _row_message(self.offset + i + 1, column, rule, values[i])
        self.bad[idx] = True

    @property
    def first(self) -> str | None:
        """The reason of the earliest failed row."""
        return self.reasons[int(np.argmax(self.bad))] if self.bad.any() else None


class _TableOutput:
    """Rich-table output of a batch, one table per block (terminals only); ``keep`` names the columns
    that stay when not all fit: the parameters that vary, the bound and the solved quantity."""

    def __init__(self, env: Environment):
        self.env = env
        self.keep: tuple[str, ...] = ()
        self.rows = 0

    def write(self, table) -> None:
        self.rows += table.num_rows
        check_table_rows(self.rows)  # the blocks drawn so far and this one
        render_rows(table_write.to_columns(table), Format.TABLE, self.env, keep=self.keep)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


def run_batch(spec: BoundSpec, values: dict, common: Common, env: Environment) -> int:
    fmt_in = table_read.input_format(common.input, common.input_format)
    fmt_out = output_format(common, env)
    run = _Batch(spec, values, common, fmt_out)
    writer = _TableOutput(env) if fmt_out == Format.TABLE else table_write.TableWriter(common.output, fmt_out,
                                                                                         env.stdout)
    blocks = table_read.read_batches(common.input, fmt_in, run.numeric, env.chunk_bytes)
    with writer, contextlib.closing(blocks):
        for batch in blocks:
            table, parsed = run.block(batch)
            if isinstance(writer, _TableOutput):
                writer.keep = run.keep(parsed)
            writer.write(table)
    for line in run.notes + run.nulls.notes(run.offset) + run.ends.notes(run.offset):
        env.note(f"{line}")  # after the output: a run that fails says only why
    if run.failed:
        env.warn(explain.failed_rows(run.failed, run.offset, common.on_error, run.first_error))
        return ExitStatus.ROWS_FAILED
    return ExitStatus.OK


class _Batch:
    """One batch run: the column mapping (from the first block), what every block adds to the
    notes, and the count of failed rows."""

    def __init__(self, spec: BoundSpec, values: dict, common: Common, fmt_out: Format):
        self.spec, self.common, self.fmt_out = spec, common, fmt_out
        self.unknown = common.unknown
        self.numeric = set(spec.numeric_names) | ({"target"} if self.unknown else set())
        self.constants = {k: v for k, v in values.items() if v is not None}
        self.columns: dict | None = None  # input column -> parameter, from the first block
        self.failed, self.first_error, self.offset = 0, None, 0
        self.nulls = explain.NullCells(spec, self.unknown if common.solve is not None else None)
        self.ends = explain.SolveEnds(self.unknown)
        self.notes: list[str] = []

    def block(self, batch):
        """One block of input rows: checked, evaluated, as the output table (and its parsed columns)."""
        names = table_write.column_names(batch)
        first_block = self.columns is None
        if first_block:
            self.columns = _check_columns(names, self.spec, self.constants, self.unknown, self.common)
            _check_header(names, self.columns)
        n = batch.num_rows
        errors = RowErrors(n, self.offset)
        chunk, parsed, target = self._parse(batch, errors)
        results, status = _evaluate(self.spec, chunk, self.unknown, target, self.columns, errors)
        if first_block:
            self.notes += explain.other_columns(names, self.columns, results, self.spec.name, self.common.on_error)
        if self.common.on_error == "stop" and errors.bad.any():
            raise InputError(errors.first)
        table = self._table(batch, names, parsed, results, errors.bad, errors.reasons)
        self.nulls.add(chunk, results, errors.bad, self.offset)
        if status is not None:
            self.ends.add(np.broadcast_to(status, (n,)), errors.bad, self.offset)
        self.failed += int(errors.bad.sum())
        self.first_error = self.first_error or errors.first
        self.offset += n
        return table, parsed

    def _parse(self, batch, errors: RowErrors):
        """The block's parameter columns as floats (bad cells flagged): the engine's chunk, the
        parsed columns by input name, and the target."""
        n = batch.num_rows
        chunk = {name: None for name in self.spec.param_names}
        chunk.update(self.constants)
        target = self.common.target
        parsed = {}
        for original, name in self.columns.items():
            floats, empty, not_number, raw = table_read.to_float(batch.column(original))
            parsed[original] = floats
            if empty.any():
                errors.flag(empty, original, "must not be empty", np.full(n, "", dtype=object))
            if not_number.any():
                errors.flag(not_number, original, "must be a number", raw if raw is not None else floats)
            if name == "target":
                target = floats
            else:
                chunk[name] = floats
        return chunk, parsed, target

    def _table(self, batch, names, parsed: dict, results: dict, bad_rows: np.ndarray, reasons):
        """The output table of a block: the input columns, then the results."""
        n = batch.num_rows
        out = {}
        for original in names:
            # CSV/TSV echo parameter cells as given (no reformatting); typed formats get numbers
            keep_text = original not in parsed or self.fmt_out in (Format.CSV, Format.TSV)
            out[original] = batch.column(original) if keep_text else table_write.arrow_column(parsed[original])
        for key, vals in results.items():
            if key in self.columns.values():
                continue  # the parameter column already holds the value used
            # failed rows: null results (skip drops those rows below); None: undecidable for every row
            out[key] = table_write.null_column(n) if vals is None else \
                table_write.arrow_column(np.broadcast_to(np.asarray(vals), (n,)), null=bad_rows)
        out.pop("error", None)
        if self.common.on_error == "null":
            out["error"] = table_write.text_column(reasons)
        table = table_write.make_table(out, like=batch)
        if self.common.on_error == "skip" and bad_rows.any():
            table = table_write.keep_rows(table, ~bad_rows)
        chosen = select_columns(self.common, table_write.column_names(table))
        return table if chosen is None else table.select(chosen)

    def keep(self, parsed: dict) -> tuple[str, ...]:
        """The columns a terminal table keeps when not all fit: the parameters that vary, the bound,
        the solved quantity and the error."""
        varying = [c for c in self.columns if len(set(np.asarray(parsed[c]).tolist())) > 1]
        return (*varying, "bound", *((self.unknown,) if self.unknown else ()), "error")


def _check_header(names: list[str], columns: dict) -> None:
    """A header that is one column holding tabs or semicolons: the file is not the CSV it was read as."""
    if not columns and len(names) == 1 and ("\t" in names[0] or ";" in names[0]):
        sep = "tabs" if "\t" in names[0] else "semicolons"
        raise InputError(f"the header is one column that holds {sep} ({names[0][:40]!r}): give "
                         "{input_format} tsv for tab-separated values (stdin is read as CSV)"
                         if sep == "tabs" else f"the header is one column that holds {sep}: kdbound "
                         "reads commas (CSV) or tabs (TSV)", "input", refs=("input_format",))


def _check_columns(names, spec: BoundSpec, constants: dict, unknown, common: Common) -> dict:
    """Map input column names (gen-t or gen_t) to parameters; complain about clashes."""
    columns = {}
    for original in names:
        name = original.strip().replace("-", "_")
        if name in spec.numeric_names or (name == "target" and unknown):
            if name in columns.values():
                raise InputError(f"two columns name the parameter {name!r}", "input")
            if name in constants:
                raise InputError(f"conflicts with the input column {original!r}; give a value once", name)
            if name == unknown:
                raise InputError(f"{{unknown}} {unknown}: the input has a column {original!r}; leave the unknown out",
                                 refs=("unknown",))
            if name == "target" and common.target is not None:
                raise InputError(f"conflicts with the input column {original!r}", "target")
            columns[original] = name
    if unknown and common.target is None and "target" not in columns.values():
        raise InputError("required with {unknown} (as an option or a 'target' column)", "target", refs=("unknown",))
    return columns


def _evaluate(spec: BoundSpec, chunk: dict, unknown, target, columns, errors: RowErrors) -> dict:
    """Evaluate (or solve) a block; rule violations become row errors through ``flag``."""
    param_column = {name: original for original, name in columns.items()}
    status = None
    with collect_violations() as found:
        if unknown is not None:
            sol = solve(spec, chunk, unknown, target)
            results, status = sol.as_results(), sol.status
        else:
            results = dict(spec.evaluate(chunk))
    for v in found:
        if np.ndim(v.mask) == 0:
            raise ParameterError(v.param, v.rule, float(np.asarray(v.values).reshape(-1)[0]))
        # other parameters named in the rule: as their input column, or as the option that gave them
        rule = spell_text(v.rule, lambda n: f"column {param_column[n]}" if n in param_column else option_name(n))
        errors.flag(v.mask, param_column.get(v.param, v.param), rule, v.values)
    return results, status
