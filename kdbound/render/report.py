"""Rendering shared by every command: rich tables for people, JSON/CSV/TSV for machines.

Machine formats print floats with ``repr`` (the shortest string that
round-trips exactly) and non-finite values as ``null`` (JSON) or an empty
field (CSV/TSV), with the explanation in ``notes``.  Tables round to six
significant digits.  rich is imported only when a table or progress bar is
actually drawn, so the machine-format path stays light.
"""

from __future__ import annotations

import io
from typing import Mapping, NamedTuple, Sequence

import numpy as np

from ..errors import InputError
from ..formats import Format
from ..io.atomic import write_text
from .environment import Environment
from .values import field_text, plain, table_text


HOLDS, FAILS, ASSUMED = "holds", "fails", "assumed"


class Check(NamedTuple):
    """One condition of a theorem for these inputs, with its ``status``:

    * ``holds``: kdbound verified it on the numbers given;
    * ``fails``: kdbound verified that it does not hold;
    * ``assumed``: kdbound cannot check it; the result is conditional on it.
    """

    status: str
    condition: str
    reason: str

    @classmethod
    def verified(cls, ok: bool, condition: str, reason: str) -> Check:
        """A condition kdbound checked: ``holds`` when ``ok``, else ``fails``."""
        return cls(HOLDS if ok else FAILS, condition, reason)

    @classmethod
    def assumed(cls, condition: str, reason: str) -> Check:
        return cls(ASSUMED, condition, reason)

    @property
    def ok(self) -> bool | None:
        """True for holds, False for fails, None for assumed (the JSON ``ok`` key)."""
        return None if self.status == ASSUMED else self.status == HOLDS


class Report(NamedTuple):
    """What a command hands to the renderer for one evaluation."""

    command: str
    theorem: str
    formula: str
    inputs: dict
    results: dict
    checks: Sequence = ()     # objects with ok, condition, reason
    notes: Sequence = ()
    extra: Mapping = {}       # more top-level JSON keys (mode, sizes, nested objects, ...)
    sections: Sequence = ()   # [(title, {column: values})] extra tables
    labels: Mapping = {}      # result key -> a word shown beside its value in tables (e.g. what backs it)
    headline: str = "bound"   # the result shown first and in bold in tables: the best bound printed

    def as_json(self) -> dict:
        out = {"command": self.command, "theorem": self.theorem, "formula": self.formula}
        out.update({k: plain(v) for k, v in self.extra.items()})
        out["inputs"] = {k: plain(v) for k, v in self.inputs.items()}
        out["results"] = {k: plain(v) for k, v in self.results.items()}
        out["checks"] = [{"status": c.status, "ok": c.ok, "condition": c.condition, "reason": c.reason}
                         for c in self.checks]
        out["notes"] = list(self.notes)
        for title, cols in self.sections:
            out[title] = [dict(zip(cols, (plain(v) for v in row))) for row in zip(*cols.values())]
        return out


#: how a check's status is shown in a table: a mark and its word (so it reads without colour)
MARKS = {HOLDS: "[green]✓ holds[/]", FAILS: "[red]✗ fails[/]", ASSUMED: "[cyan]? assumed[/]"}


def render_report(report: Report, fmt: Format, env: Environment) -> None:
    """One evaluation: a table (inputs, results, conditions, notes, theorem) or a machine format."""
    out = env.stdout
    if fmt in (Format.JSON, Format.JSONL):
        import json  # only for JSON: the table and TSV of a scalar run do without it (~1 ms at start-up)

        json.dump(report.as_json(), out, indent=2 if fmt == Format.JSON else None, allow_nan=False)
        out.write("\n")
    elif fmt in (Format.CSV, Format.TSV):
        if report.sections:  # one row per entry of the section (e.g. per rank), the other results repeated
            _, cols = report.sections[0]
            n = len(next(iter(cols.values()))) if cols else 0
            wide = {k: list(v) for k, v in cols.items()}
            wide.update({k: [v] * n for k, v in report.results.items() if k not in cols})
            render_rows(wide, fmt, env)
        else:
            sep = Format(fmt).delimiter
            if fmt == Format.CSV:  # a header, as every CSV kdbound writes has (TSV: name<TAB>value lines, as gh's)
                out.write("name,value\n")
            for k, v in report.results.items():
                out.write(f"{k}{sep}{field_text(v)}\n")
        for note in report.notes:
            env.note(f"{note}")
    else:
        _report_table(report, env)


def write_report(report: Report, fmt: Format, path: str, env: Environment) -> None:
    """One evaluation to the file ``path``, atomically: JSON, JSON Lines, CSV or TSV as
    :func:`render_report` writes them, or its results as one row of Parquet.  The notes go to
    stderr once the file is written (a failed write says one line)."""
    if fmt == Format.PARQUET:
        from ..io.table_write import write_table_file  # pyarrow, only for a Parquet file

        write_table_file({k: [v] for k, v in report.results.items()}, path, fmt)
        for note in report.notes:  # as for CSV/TSV: the file holds the values, stderr says why some are null
            env.note(f"{note}")
        return
    buf, said = io.StringIO(), io.StringIO()
    render_report(report, fmt, Environment(out=buf, err=said, stdout_isatty=False, quiet=env.quiet))
    write_text(path, buf.getvalue())
    env.stderr.write(said.getvalue())


def write_reports(reports: dict, fmt: Format, path: str, env: Environment, key: str = "command") -> None:
    """Several reports to the file ``path``, atomically, as :func:`render_reports` prints them, or as
    Parquet rows of results, one per report (its name in the column ``key``)."""
    if len(reports) == 1:
        write_report(next(iter(reports.values())), fmt, path, env)
        return
    if fmt == Format.PARQUET:
        from ..io.table_write import write_table_file  # pyarrow, only for a Parquet file

        names = list(dict.fromkeys(n for r in reports.values() for n in r.results))  # every report's keys
        columns = {key: list(reports), **{n: [r.results.get(n) for r in reports.values()] for n in names}}
        write_table_file(columns, path, fmt)
        for k, r in reports.items():
            for note in r.notes:
                env.note(f"{k}: {note}")
        return
    buf, said = io.StringIO(), io.StringIO()
    render_reports(reports, fmt, Environment(out=buf, err=said, stdout_isatty=False, quiet=env.quiet), key)
    write_text(path, buf.getvalue())
    env.stderr.write(said.getvalue())


#: the columns a value needs beside the longest name (the widest number, 23 characters, and the table's
#: borders and padding): on a narrower terminal a table would cut numbers, so the results come as lines
NARROWEST_VALUE = 34


def _report_table(report: Report, env: Environment) -> None:
    """The table of one report.  Every text from data or prose is a rich ``Text`` (never parsed as
    markup: a cell ``[red]b`` or a note about ``[a, b]`` shows as written)."""
    from rich import box  # rich only when a table is drawn (off the start-up path)
    from rich.table import Table
    from rich.text import Text

    console = env.console()
    table = Table(title=Text(f"kdbound {report.command}"), box=box.SIMPLE_HEAVY, show_header=True,
                  title_justify="left")
    about = {k: v for k, v in report.extra.items() if k != "guidance" and not isinstance(v, Mapping)}
    results = dict(report.results)
    longest = max(map(len, (*about, *report.inputs, *results)), default=4)
    if console.width < longest + NARROWEST_VALUE:  # no room for a whole number beside every name: none is cut
        env.note(f"the terminal is {console.width} columns wide, too narrow for the table: the results follow "
                 "as name-value lines")
        render_report(report, Format.TSV, env)
        return
    table.add_column("", style="dim")
    table.add_column("name", min_width=longest)  # a key name is never cut: the other columns wrap first
    table.add_column("value", justify="right")
    if report.labels:
        table.add_column("", style="dim")
    shown_sizes = {k for k in about if k in results}  # sizes listed in the results are not repeated
    sections = (("about", {k: v for k, v in about.items() if k not in shown_sizes}),
                ("inputs", {k: v for k, v in report.inputs.items() if not isinstance(v, Mapping)}))
    for label, rows in sections:
        for i, (k, v) in enumerate(rows.items()):
            table.add_row(label if i == 0 else "", Text(str(k)), _cell(v), *(("",) if report.labels else ()))
        if rows:
            table.add_section()
    if report.headline in results:  # the headline first
        results = {report.headline: results.pop(report.headline), **results}
    for i, (k, v) in enumerate(results.items()):
        label = (Text(report.labels.get(k, "")),) if report.labels else ()
        table.add_row("results" if i == 0 else "", Text(str(k), style="bold" if k == report.headline else ""),
                      _cell(v), *label)
    console.print(table)
    if report.checks:
        checks = Table(box=None, show_header=False, padding=(0, 1))
        for c in report.checks:
            checks.add_row(MARKS[c.status], Text(c.condition), Text(c.reason, style="dim"))
        console.print("Conditions")
        console.print(checks)
    for title, cols in report.sections:
        render_rows(cols, Format.TABLE, env, title=title)
    for note in report.notes:
        console.print(Text(f"note: {note}"))
    console.print(Text.assemble((f"{report.theorem}:", "dim"), " ", report.formula))


def _cell(value):
    """A value cell: numbers right-aligned (their digits line up), text left-aligned."""
    from rich.text import Text

    return Text(table_text(value), justify="left" if isinstance(value, (str, bool, np.bool_)) else "right")


def render_reports(reports: dict, fmt: Format, env: Environment, key: str = "command") -> None:
    """Several reports at once (``demo``; ``distill``'s students): tables in turn; one JSON object keyed by
    command (or what ``key`` names); JSON Lines one per line; CSV/TSV as rows of ``key``, name, value."""
    if fmt == Format.JSON:
        import json  # only for JSON (see render_report)

        env.stdout.write(json.dumps({k: r.as_json() for k, r in reports.items()}, indent=2, allow_nan=False) + "\n")
        return
    if fmt in (Format.CSV, Format.TSV):
        rows = [(k, name, v) for k, r in reports.items() for name, v in r.results.items()]
        render_rows({key: [r[0] for r in rows], "name": [r[1] for r in rows],
                     "value": [r[2] for r in rows]}, fmt, env)
        for k, r in reports.items():
            for note in r.notes:
                env.note(f"{k}: {note}")
        return
    for r in reports.values():
        render_report(r, fmt, env)



# --------------------------------------------------------------------------- many rows

#: the most rows a terminal table draws (rich takes about 3 s for 5,000 rows; nobody reads more on a screen)
MAX_TABLE_ROWS = 5_000


def check_table_rows(rows: int) -> None:
    """A table of ``rows`` rows is refused beyond :data:`MAX_TABLE_ROWS`, pointing to the machine formats."""
    if rows > MAX_TABLE_ROWS:
        raise InputError(f"table: {rows:,} rows are too many for a terminal table (at most {MAX_TABLE_ROWS:,}); "
                         "print them with {format} tsv or csv, or write them with {output} FILE",
                         "format", refs=("format", "output"))


def render_rows(columns: dict, fmt: Format, env: Environment, title: str | None = None,
                header: bool = True, keep: tuple[str, ...] = ()) -> None:
    """Columns of equal length as a table, CSV/TSV (with header), JSON Lines or a JSON array.

    A table never cuts a number: when the columns do not fit the terminal, the
    ``keep`` columns stay and others are left out as space requires, with a
    note on stderr saying which and how to see them.
    """
    names = list(columns)
    cols = [np.asarray(columns[n], dtype=object).reshape(-1) if not isinstance(columns[n], list) else columns[n]
            for n in names]
    rows = zip(*cols)
    out = env.stdout
    if fmt in (Format.CSV, Format.TSV):
        import csv  # rows only (sweeps, demo, rank sweeps): kept off the single evaluation's start-up

        writer = csv.writer(out, delimiter=Format(fmt).delimiter, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
        if header:
            writer.writerow(names)
        writer.writerows([field_text(v) for v in row] for row in rows)
    elif fmt in (Format.JSONL, Format.JSON):
        _json_rows(names, rows, fmt, out)
    else:
        check_table_rows(len(cols[0]) if cols else 0)
        _rows_table(names, cols, env, title, keep)


def _json_rows(names, rows, fmt: Format, out) -> None:
    import json  # only for JSON (see render_report)

    if fmt == Format.JSONL:
        for row in rows:
            out.write(json.dumps({n: plain(v) for n, v in zip(names, row)}, allow_nan=False) + "\n")
    else:
        json.dump([{n: plain(v) for n, v in zip(names, row)} for row in rows], out, indent=2, allow_nan=False)
        out.write("\n")


def _rows_table(names, cols, env: Environment, title, keep) -> None:
    from rich import box  # rich only when a table is drawn
    from rich.table import Table
    from rich.text import Text

    texts = {n: [table_text(v) for v in col] for n, col in zip(names, cols)}
    console = env.console()
    shown = fit_columns(names, texts, console.width, keep)
    left_out = [n for n in names if n not in shown]
    table = Table(title=None if title is None else Text(title), box=box.SIMPLE_HEAVY, title_justify="left")
    for n, col in zip(names, cols):
        if n in shown:  # text columns left-aligned, numbers right-aligned
            text = all(isinstance(v, (str, bool, np.bool_)) for v in col if v is not None) and \
                any(v is not None for v in col)
            table.add_column(Text(str(n)), justify="left" if text else "right", no_wrap=True, overflow="fold")
    for i in range(len(cols[0]) if cols else 0):
        table.add_row(*(Text(texts[n][i]) for n in shown))
    console.print(table)
    if left_out:
        env.note(f"{len(left_out)} column(s) left out to fit the terminal "
                 f"({name_list(left_out)}); see every column with --format tsv, or choose them with --columns")


def name_list(names, most: int = 8) -> str:
    """Names for a message: all of a few, the first ``most`` of many and how many more."""
    names = list(names)
    shown = ", ".join(map(str, names[:most]))
    return shown if len(names) <= most else f"{shown} and {len(names) - most} more"


def fit_columns(names: list[str], texts: dict, width: int, keep: tuple[str, ...] = ()) -> list[str]:
    """The columns that fit ``width`` characters whole: the ``keep`` ones first, then the columns
    whose values vary, then the constant ones, each group in order."""
    need = {n: max([len(str(n)), *(len(t) for t in texts[n])]) + 3 for n in names}  # padding and separator
    chosen = {n for n in names if n in keep}
    total = 2 + sum(need[n] for n in chosen)
    varying = [n for n in names if len(set(texts[n])) > 1]
    constant = [n for n in names if n not in varying]
    for n in varying + constant:
        if n not in chosen and total + need[n] <= width:
            chosen.add(n)
            total += need[n]
    if not chosen and names:
        chosen.add(names[0])
    return [n for n in names if n in chosen]
