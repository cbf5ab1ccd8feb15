"""Batch evaluation: one evaluation per input row, vectorised a block of rows at a time.

Memory stays bounded by the block size whatever the input length.  Bad rows
stop the run (``row N, column X: rule (got V)``, exit 2) or, with
``--on-error skip|null``, are dropped or nulled with the reason in an
``error`` column (exit 3 when any row failed).  Tables are handled through
:mod:`kdbound.io.tables`, the one module that touches pyarrow.
"""

from __future__ import annotations

import contextlib

import numpy as np

from ..engine._checks import collect_violations
from ..engine.solve import solve
from ..engine.specs import BoundSpec
from ..errors import InputError, ParameterError, format_value, spell_text
from ..formats import Format
from ..io import tables
from ..render import Environment, explain, render_rows
from ..render.report import name_list
from .options import Common, option_name, output_format, select_columns
from .status import ExitStatus


def _row_message(row: int, column: str, rule: str, value) -> str:
    return f"row {row}, column {column}: {rule} (got {format_value(value)})"


class _SolveEnds:
    """Rows whose solution is not a crossing: said once per kind, with a count and the first row."""

    WHY = {1: "every value meets the target there: the answer is the end of the values that meet it",
           3: "{unknown} does not affect the bound there",
           4: "the smallest {unknown} allowed already meets the target there (larger values need not)"}

    def __init__(self, unknown):
        self.unknown = unknown
        self.count: dict[int, int] = {}
        self.first: dict[int, int] = {}

    def add(self, status, bad_rows, offset: int) -> None:
        for kind in self.WHY:
            rows = np.flatnonzero((status == kind) & ~bad_rows)
            if rows.size:
                self.count[kind] = self.count.get(kind, 0) + int(rows.size)
                self.first.setdefault(kind, offset + int(rows[0]) + 1)

    def notes(self, total: int) -> list[str]:
        return [f"{self.unknown} in {count} of {total} rows (first: row {self.first[kind]}): "
                + self.WHY[kind].format(unknown=self.unknown) for kind, count in self.count.items()]


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

    def write(self, table) -> None:
        render_rows(tables.to_columns(table), Format.TABLE, self.env, keep=self.keep)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


def run_batch(spec: BoundSpec, values: dict, common: Common, env: Environment) -> int:
    fmt_in = tables.input_format(common.input, common.input_format)
    fmt_out = output_format(common, env)
    unknown = common.unknown
    numeric = set(spec.numeric_names) | ({"target"} if unknown else set())
    constants = {k: v for k, v in values.items() if v is not None}
    failed, first_error, offset, columns = 0, None, 0, None
    nulls = explain.NullCells(spec, common.unknown if common.solve is not None else None)
    ends = _SolveEnds(unknown)
    notes: list[str] = []
    writer = _TableOutput(env) if fmt_out == Format.TABLE else tables.TableWriter(common.output, fmt_out, env.stdout)
    with writer, contextlib.closing(tables.read_batches(common.input, fmt_in, numeric, env.chunk_bytes)) as blocks:
        for batch in blocks:
            names = tables.column_names(batch)
            first_block = columns is None
            if first_block:
                columns = _check_columns(names, spec, constants, unknown, common)
                if not columns and len(names) == 1 and ("\t" in names[0] or ";" in names[0]):
                    sep = "tabs" if "\t" in names[0] else "semicolons"
                    raise InputError(f"the header is one column that holds {sep} ({names[0][:40]!r}): give "
                                     "{input_format} tsv for tab-separated values (stdin is read as CSV)"
                                     if sep == "tabs" else f"the header is one column that holds {sep}: kdbound "
                                     "reads commas (CSV) or tabs (TSV)", "input", refs=("input_format",))
            n = batch.num_rows
            chunk = {name: None for name in spec.param_names}
            chunk.update(constants)
            errors = RowErrors(n, offset)
            flag = errors.flag

            target = common.target
            parsed = {}
            for original, name in columns.items():
                floats, empty, not_number, raw = tables.to_float(batch.column(original))
                parsed[original] = floats
                if empty.any():
                    flag(empty, original, "must not be empty", np.full(n, "", dtype=object))
                if not_number.any():
                    flag(not_number, original, "must be a number", raw if raw is not None else floats)
                if name == "target":
                    target = floats
                else:
                    chunk[name] = floats
            results, status = _evaluate(spec, chunk, unknown, target, columns, errors)
            if first_block:
                notes += _other_columns(names, columns, results, spec, common.on_error)
            if common.on_error == "stop" and errors.bad.any():
                raise InputError(errors.first)
            bad_rows = errors.bad
            out = {}
            for original in names:
                # CSV/TSV echo parameter cells as given (no reformatting); typed formats get numbers
                keep_text = original not in parsed or fmt_out in (Format.CSV, Format.TSV)
                out[original] = batch.column(original) if keep_text else tables.arrow_column(parsed[original])
            for key, vals in results.items():
                if key in columns.values():
                    continue  # the parameter column already holds the value used
                # failed rows: null results (skip drops those rows below); None: undecidable for every row
                out[key] = tables.null_column(n) if vals is None else \
                    tables.arrow_column(np.broadcast_to(np.asarray(vals), (n,)), null=bad_rows)
            out.pop("error", None)
            if common.on_error == "null":
                out["error"] = tables.text_column(errors.reasons)
            table = tables.make_table(out, like=batch)
            if common.on_error == "skip" and bad_rows.any():
                table = tables.keep_rows(table, ~bad_rows)
            chosen = select_columns(common, tables.column_names(table))
            if chosen is not None:
                table = table.select(chosen)
            if isinstance(writer, _TableOutput):
                varying = [c for c in columns if len(set(np.asarray(parsed[c]).tolist())) > 1]
                writer.keep = (*varying, "bound", *((unknown,) if unknown else ()), "error")
            writer.write(table)
            nulls.add(chunk, results, bad_rows, offset)
            if status is not None:
                ends.add(np.broadcast_to(status, (n,)), bad_rows, offset)
            failed += int(bad_rows.sum())
            first_error = first_error or errors.first
            offset += n
    for line in notes + nulls.notes(offset) + ends.notes(offset):  # after the output: a run that fails says only why
        env.warn(f"kdbound: note: {line}")
    if failed:
        what = "skipped" if common.on_error == "skip" else "given null results"
        env.warn(f"kdbound: {failed} of {offset} rows failed and were {what}; first: {first_error}")
        return ExitStatus.ROWS_FAILED
    return ExitStatus.OK


def _other_columns(names, columns: dict, results: dict, spec: BoundSpec, on_error: str) -> list[str]:
    """Notes on input columns that are not parameters: passed through, or replaced by fresh results."""
    others = [name for name in names if name not in columns]
    replaced = [name for name in others if name in results or name == "error"]
    passed = [name for name in others if name not in replaced]
    notes = []
    if passed:
        notes.append(f"column(s) {name_list(map(repr, passed))} are not parameters of {spec.name}; passed "
                     "through unchanged")
    dropped = ["error"] if "error" in replaced and on_error != "null" else []
    replaced = [name for name in replaced if name not in dropped]
    if replaced:
        notes.append(f"input column(s) {name_list(map(repr, replaced))} are replaced by freshly computed results")
    if dropped:
        notes.append("input column 'error' is dropped: kdbound writes its own error column, with --on-error null")
    return notes


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
