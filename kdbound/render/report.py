"""Rendering shared by every command: rich tables for people, JSON/CSV/TSV for machines.

Machine formats print floats with ``repr`` (the shortest string that
round-trips exactly) and non-finite values as ``null`` (JSON) or an empty
field (CSV/TSV), with the explanation in ``notes``.  Tables round to six
significant digits.  rich is imported only when a table or progress bar is
actually drawn, so the machine-format path stays light.
"""

from __future__ import annotations

import csv
import json
from typing import Mapping, NamedTuple, Sequence

import numpy as np

from ..formats import Format
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
            for k, v in report.results.items():
                out.write(f"{k}{sep}{field_text(v)}\n")
        for note in report.notes:
            env.warn(f"note: {note}")
    else:
        _report_table(report, env)


def _report_table(report: Report, env: Environment) -> None:
    from rich import box  # rich only when a table is drawn (off the start-up path)
    from rich.table import Table

    console = env.console()
    table = Table(title=f"kdbound {report.command}", box=box.SIMPLE_HEAVY, show_header=True,
                  title_justify="left")
    table.add_column("", style="dim")
    table.add_column("name")
    table.add_column("value", justify="right")
    if report.labels:
        table.add_column("", style="dim")
    first = True
    shown = {k: v for k, v in report.extra.items() if k != "guidance"}  # guidance is printed as a note
    for k, v in {**shown, **report.inputs}.items():
        if isinstance(v, Mapping):
            continue  # nested objects (a verdict, a basis) are for machines; tables show them as notes or labels
        table.add_row("inputs" if first else "", k, table_text(v))
        first = False
    table.add_section()
    first = True
    results = dict(report.results)
    if report.headline in results:  # the headline first
        results = {report.headline: results.pop(report.headline), **results}
    for k, v in results.items():
        if k in shown:
            continue  # already listed above (sizes)
        label = (report.labels.get(k, ""),) if report.labels else ()
        table.add_row("results" if first else "", f"[bold]{k}[/]" if k == report.headline else k, table_text(v),
                      *label)
        first = False
    console.print(table)
    if report.checks:
        checks = Table(box=None, show_header=False, padding=(0, 1))
        for c in report.checks:
            checks.add_row(MARKS[c.status], c.condition, f"[dim]{c.reason}[/]")
        console.print("Conditions")
        console.print(checks)
    for title, cols in report.sections:
        render_rows(cols, Format.TABLE, env, title=title)
    for note in report.notes:
        console.print(f"note: {note}")
    console.print(f"[dim]{report.theorem}:[/] {report.formula}")


# --------------------------------------------------------------------------- many rows

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
        writer = csv.writer(out, delimiter=Format(fmt).delimiter, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
        if header:
            writer.writerow(names)
        writer.writerows([field_text(v) for v in row] for row in rows)
    elif fmt == Format.JSONL:
        for row in rows:
            out.write(json.dumps({n: plain(v) for n, v in zip(names, row)}, allow_nan=False) + "\n")
    elif fmt == Format.JSON:
        json.dump([{n: plain(v) for n, v in zip(names, row)} for row in rows], out, indent=2, allow_nan=False)
        out.write("\n")
    else:
        _rows_table(names, cols, env, title, keep)


def _rows_table(names, cols, env: Environment, title, keep) -> None:
    from rich import box  # rich only when a table is drawn
    from rich.table import Table

    texts = {n: [table_text(v) for v in col] for n, col in zip(names, cols)}
    console = env.console()
    shown = fit_columns(names, texts, console.width, keep)
    left_out = [n for n in names if n not in shown]
    table = Table(title=title, box=box.SIMPLE_HEAVY, title_justify="left")
    for n in shown:
        table.add_column(n, justify="right", no_wrap=True, overflow="fold")
    for i in range(len(cols[0]) if cols else 0):
        table.add_row(*(texts[n][i] for n in shown))
    console.print(table)
    if left_out:
        env.warn(f"kdbound: note: {len(left_out)} column(s) left out to fit the terminal "
                 f"({', '.join(left_out)}); see every column with --format tsv, or choose them with --columns")


def fit_columns(names: list[str], texts: dict, width: int, keep: tuple[str, ...] = ()) -> list[str]:
    """The columns that fit ``width`` characters whole: the ``keep`` ones first, then others in order."""
    need = {n: max([len(n), *(len(t) for t in texts[n])]) + 3 for n in names}  # padding and separator
    chosen = {n for n in names if n in keep}
    total = 2 + sum(need[n] for n in chosen)
    for n in names:
        if n not in chosen and total + need[n] <= width:
            chosen.add(n)
            total += need[n]
    if not chosen and names:
        chosen.add(names[0])
    return [n for n in names if n in chosen]
