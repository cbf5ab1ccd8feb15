"""Rendering shared by every command: rich tables for people, JSON/CSV/TSV for machines.

Machine formats print floats with ``repr`` (the shortest string that
round-trips exactly) and non-finite values as ``null`` (JSON) or an empty
field (CSV/TSV), with the explanation in ``notes``.  Tables round to six
significant digits.  rich is imported only when a table or progress bar is
actually drawn, so the machine-format path stays light.
"""

from __future__ import annotations

import json
import math
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Mapping, NamedTuple, Sequence, TextIO

import numpy as np

MACHINE_FORMATS = ("json", "jsonl", "csv", "tsv")
FORMATS = ("table",) + MACHINE_FORMATS


@dataclass
class Environment:
    """Where output goes and how it should look; tests swap it (cf. httpie)."""

    out: TextIO | None = None          # None: whatever sys.stdout is when output is written
    err: TextIO | None = None
    stdout_isatty: bool | None = None  # None: ask the stream
    stderr_isatty: bool | None = None
    no_color: bool = field(default_factory=lambda: "NO_COLOR" in os.environ)
    quiet: bool = False
    chunk_bytes: int = 4 << 20         # batch block size (tests make it tiny to cross blocks)

    @property
    def stdout(self) -> TextIO:
        return self.out if self.out is not None else sys.stdout

    @property
    def stderr(self) -> TextIO:
        return self.err if self.err is not None else sys.stderr

    def __post_init__(self):
        if self.stdout_isatty is None:
            self.stdout_isatty = _isatty(self.stdout)
        if self.stderr_isatty is None:
            self.stderr_isatty = _isatty(self.stderr)

    def default_format(self) -> str:
        """A table on a terminal, TSV otherwise (as ``gh`` does)."""
        return "table" if self.stdout_isatty else "tsv"

    def warn(self, message: str) -> None:
        if not self.quiet:
            print(message, file=self.stderr)

    def console(self, stderr: bool = False):
        from rich.console import Console  # only when drawing

        tty = self.stderr_isatty if stderr else self.stdout_isatty
        return Console(file=self.stderr if stderr else self.stdout, force_terminal=bool(tty) and not self.no_color,
                       no_color=self.no_color or not tty, highlight=False, soft_wrap=False,
                       width=None if tty else 100)


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


# --------------------------------------------------------------------------- values

def plain(x: Any) -> Any:
    """A JSON-ready Python value: finite floats, bools, str; None for NaN/inf."""
    if x is None or isinstance(x, (str, bool)):
        return x
    if isinstance(x, (np.bool_,)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    try:
        f = float(x)
    except (TypeError, ValueError):
        return str(x)
    return f if math.isfinite(f) else None


def field_text(x: Any) -> str:
    """A CSV/TSV field: exact float repr, true/false, empty for null."""
    v = plain(x)
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return repr(v) if isinstance(v, float) else str(v)


def table_text(x: Any) -> str:
    if x is None:
        return "—"
    if isinstance(x, (bool, np.bool_)):
        return "yes" if x else "no"
    if isinstance(x, str):
        return x
    try:
        f = float(x)
    except (TypeError, ValueError):
        return str(x)
    if math.isnan(f):
        return "n/a"
    if math.isinf(f):
        return "+inf" if f > 0 else "-inf"
    return f"{f:.6g}"


def non_finite_notes(results: dict) -> list[str]:
    """A note for every non-finite number that a specific note does not already explain."""
    return [f"{k} is not finite ({table_text(v)}): printed as null." for k, v in results.items()
            if not isinstance(v, (str, bool, np.bool_)) and v is not None and plain(v) is None]


# --------------------------------------------------------------------------- one evaluation

class Report(NamedTuple):
    """What a command hands to the renderer for one evaluation."""

    command: str
    theorem: str
    formula: str
    inputs: dict
    results: dict
    checks: Sequence = ()     # objects with ok, condition, reason
    notes: Sequence = ()
    extra: Mapping = {}       # more top-level JSON keys (mode, sizes, ...)
    sections: Sequence = ()   # [(title, {column: values})] extra tables

    def as_json(self) -> dict:
        out = {"command": self.command, "theorem": self.theorem, "formula": self.formula}
        out.update({k: plain(v) for k, v in self.extra.items()})
        out["inputs"] = {k: plain(v) for k, v in self.inputs.items()}
        out["results"] = {k: plain(v) for k, v in self.results.items()}
        out["checks"] = [{"ok": bool(c.ok), "condition": c.condition, "reason": c.reason} for c in self.checks]
        out["notes"] = list(self.notes)
        for title, cols in self.sections:
            out[title] = [dict(zip(cols, (plain(v) for v in row))) for row in zip(*cols.values())]
        return out


def render_report(report: Report, fmt: str, env: Environment) -> None:
    out = env.stdout
    if fmt in ("json", "jsonl"):
        json.dump(report.as_json(), out, indent=2 if fmt == "json" else None, allow_nan=False)
        out.write("\n")
    elif fmt in ("csv", "tsv"):
        sep = "," if fmt == "csv" else "\t"
        for k, v in report.results.items():
            out.write(f"{k}{sep}{field_text(v)}\n")
        for title, cols in report.sections:
            env.warn(f"({title}: use --format json to see it)")
        for note in report.notes:
            env.warn(f"note: {note}")
    else:
        _report_table(report, env)


def _report_table(report: Report, env: Environment) -> None:
    from rich.table import Table
    from rich import box

    console = env.console()
    table = Table(title=f"kdbound {report.command}", box=box.SIMPLE_HEAVY, show_header=True,
                  title_justify="left")
    table.add_column("", style="dim")
    table.add_column("name")
    table.add_column("value", justify="right")
    first = True
    shown = {k: v for k, v in report.extra.items() if k != "guidance"}  # guidance is printed as a note
    for k, v in {**shown, **report.inputs}.items():
        table.add_row("inputs" if first else "", k, table_text(v))
        first = False
    table.add_section()
    first = True
    for k, v in report.results.items():
        if k in shown:
            continue  # already listed above (sizes)
        table.add_row("results" if first else "", f"[bold]{k}[/]" if k == "bound" else k, table_text(v))
        first = False
    console.print(table)
    if report.checks:
        checks = Table(box=None, show_header=False, padding=(0, 1))
        for c in report.checks:
            mark = "[green]✓[/]" if c.ok else "[yellow]✗[/]"
            checks.add_row(mark, c.condition, f"[dim]{c.reason}[/]")
        console.print("Conditions")
        console.print(checks)
    for title, cols in report.sections:
        render_rows(cols, "table", env, title=title)
    for note in report.notes:
        console.print(f"note: {note}")
    console.print(f"[dim]{report.theorem}:[/] {report.formula}")


# --------------------------------------------------------------------------- many rows

def render_rows(columns: dict, fmt: str, env: Environment, title: str | None = None,
                header: bool = True) -> None:
    """Columns of equal length as a table, CSV/TSV (with header), JSON Lines or a JSON array."""
    names = list(columns)
    cols = [np.asarray(columns[n]) if not isinstance(columns[n], list) else columns[n] for n in names]
    rows = zip(*cols)
    out = env.stdout
    if fmt in ("csv", "tsv"):
        sep = "," if fmt == "csv" else "\t"
        if header:
            out.write(sep.join(names) + "\n")
        out.writelines(sep.join(field_text(v) for v in row) + "\n" for row in rows)
    elif fmt == "jsonl":
        for row in rows:
            out.write(json.dumps({n: plain(v) for n, v in zip(names, row)}, allow_nan=False) + "\n")
    elif fmt == "json":
        json.dump([{n: plain(v) for n, v in zip(names, row)} for row in rows], out, indent=2, allow_nan=False)
        out.write("\n")
    else:
        from rich.table import Table
        from rich import box

        table = Table(title=title, box=box.SIMPLE_HEAVY, title_justify="left")
        for n in names:
            table.add_column(n, justify="right")
        for row in rows:
            table.add_row(*(table_text(v) for v in row))
        env.console().print(table)

