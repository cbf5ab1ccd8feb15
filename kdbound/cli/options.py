"""Options every command shares, declared once, and the record they are parsed into.

The ten shared options (``--format``, ``--quiet``, ``--input``, ...) are
declared here as typed parameters; :func:`shared_parameters` adds any subset
of them to a command's signature and :meth:`Common.pop` takes their values
back out of the parsed keyword arguments.  Engine parameter names are
spelled as options by :func:`option_name`.
"""

import functools
import inspect
import math
import os
import re
from typing import Annotated, NamedTuple, Optional

import numpy as np
import typer

from ..errors import InputError, format_value
from ..formats import FILE_FORMATS, STDOUT_FORMATS, Format, from_extension, names, parse_number
from ..io.atomic import refuse_inputs, resolve_output
from ..render import Environment
from .click_api import ParamType

class Real(ParamType):
    """A real number in plain ASCII notation (``1e-3``, ``-0.5``, ``inf``): not ``1_0`` or ``١٢``."""

    name = "float"

    def __init__(self, whole: bool = False):
        self.whole = whole
        if whole:
            self.name = "integer"

    def convert(self, value, param, ctx):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        else:
            number = parse_number(str(value))
            if number is None:
                self.fail(f"{value!r} is not a number (write digits 0-9 with an optional '.' and exponent, "
                          "such as 0.05 or 1e-3)", param, ctx)
        if self.whole and math.isfinite(number) and number != math.floor(number):
            self.fail(f"{value!r} is not a whole number", param, ctx)
        return number

#: engine names whose option is not simply --name-with-dashes
_ALIASES = {"unknown": "--solve"}


def option_name(param: str) -> str:
    """The command-line spelling of an engine parameter: ``gen_t`` -> ``--gen-t``."""
    return _ALIASES.get(param) or "--" + param.replace("_", "-")


def option(*names: str, help: str, panel: str, **kw):
    """A typer option with its help text and help panel."""
    return typer.Option(*names, help=help, rich_help_panel=panel, **kw)


OUTPUT, BATCH, SOLVE = "Output", "Batch: one evaluation per row", "Solve, sweep, plot"
ON_ERROR = ("stop", "skip", "null")


#: --format's help and choices, the same in every command (Parquet only with --output FILE)
FORMAT_METAVAR = "[table|json|jsonl|csv|tsv]"  # and parquet with --output (the help says so)
FORMAT_HELP = ("table | json | jsonl | csv | tsv, and parquet with --output FILE (default: table on a terminal, "
               "TSV on a pipe; with --output, from FILE's extension).")
OUTPUT_HELP = ("Write the results to FILE instead of stdout, atomically (csv, tsv, jsonl, json or .parquet, from "
               "--format or the extension).")


@functools.cache
def shared_options() -> dict:
    """name -> (annotation, default): the options commands share, declared once (and built when
    a command's options are, not at import)."""
    return {
        "fmt": (Annotated[Optional[str], option("--format", "-f", help=FORMAT_HELP, metavar=FORMAT_METAVAR,
                                                panel=OUTPUT)], None),
        "quiet": (Annotated[bool, option("--quiet", "-q", help="No notes, warnings or progress on stderr.",
                                         panel=OUTPUT)], False),
        "columns": (Annotated[Optional[str], option("--columns", help="Only these output columns (result keys), "
                                                    "comma-separated, in this order.", panel=OUTPUT)], None),
        "input": (Annotated[Optional[str], option("--input", "-i", help="Evaluate every row of FILE (CSV, TSV, JSON "
                                                  "Lines, Parquet; '-' for stdin). Columns are option names.",
                                                  panel=BATCH)], None),
        "input_format": (Annotated[Optional[str], option("--input-format", help="csv | tsv | jsonl | parquet (default: "
                                                         "from the extension; csv for stdin).",
                                                         metavar="[csv|tsv|jsonl|parquet]", panel=BATCH)], None),
        "output": (Annotated[Optional[str], option("--output", "-o", help=OUTPUT_HELP, panel=OUTPUT)], None),
        "on_error": (Annotated[str, option("--on-error", help="stop (exit 2) | skip the row | null its results; "
                                           "skip/null exit 3 when any row failed.", metavar="[stop|skip|null]",
                                           panel=BATCH)], "stop"),
        "solve": (Annotated[Optional[str], option("--solve", help="Solve for this parameter (one of the command's "
                                                  "options, such as kl) so that the bound meets --target.",
                                                  panel=SOLVE)], None),
        "target": (Annotated[Optional[float], option("--target", help="Target value of the bound for --solve.",
                                                     panel=SOLVE, click_type=Real())], None),
        "sweep": (Annotated[Optional[list[str]], option("--sweep", help="PARAM=START:STOP:NUM (linear) or "
                                                        "PARAM=log:START:STOP:NUM. Give it twice for a grid of two "
                                                        "parameters (a plot draws one curve per value of the "
                                                        "second).", panel=SOLVE)], None),
        "plot": (Annotated[Optional[str], option("--plot", help="Draw the curves to FILE.png, .svg or .pdf (needs the "
                                                 "plot extra: pip install 'kdbound\\[plot]').", panel=SOLVE)], None),
    }


def shared_parameters(*names: str) -> list[inspect.Parameter]:
    """Keyword-only signature parameters for the shared options ``names`` (all of them by default)."""
    shared = shared_options()
    return [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=shared[name][0],
                              default=shared[name][1]) for name in (names or shared)]


class Common(NamedTuple):
    """The shared options of one invocation (parsed, not yet checked)."""

    fmt: str | None = None
    quiet: bool = False
    columns: str | None = None
    input: str | None = None
    input_format: str | None = None
    output: str | None = None
    on_error: str = "stop"
    solve: str | None = None
    target: float | None = None
    sweep: str | None = None
    plot: str | None = None
    sweep_by: str | None = None  # a second --sweep: the grid's other axis (one curve per value in a plot)

    @classmethod
    def pop(cls, kwargs: dict) -> "Common":
        """The shared options out of a command's keyword arguments (removed from ``kwargs``)."""
        found = {name: kwargs.pop(name) for name in cls._fields if name in kwargs}
        if found.get("output") == "-":
            found["output"] = None  # '-' is stdout, by convention
        sweeps = found.get("sweep")
        if isinstance(sweeps, (list, tuple)):  # --sweep, given once or twice
            if len(sweeps) > 2:
                raise InputError(f"at most twice: a grid of two parameters (got {len(sweeps)} sweeps)", "sweep")
            found["sweep"] = sweeps[0] if sweeps else None
            found["sweep_by"] = sweeps[1] if len(sweeps) > 1 else None
        return cls(**found)

    @property
    def unknown(self) -> str | None:
        """The engine name of the ``--solve`` parameter."""
        return None if self.solve is None else self.solve.replace("-", "_")


def environment(env: Environment | None, common: Common) -> Environment:
    """The environment tests passed in (or the real one), with ``--quiet`` applied."""
    env = env if isinstance(env, Environment) else Environment()
    return env.replace(quiet=env.quiet or common.quiet)


def output_format(common: Common, env: Environment) -> Format:
    """--format, checked.  With --output: file formats only (Parquet too), by default from the extension."""
    if common.output is not None:
        allowed = FILE_FORMATS
        if common.fmt is None:
            ext = os.path.splitext(common.output)[1]
            fmt = Format.JSON if ext.lower() == ".json" else from_extension(common.output, FILE_FORMATS)
            if fmt is None and ext:
                raise InputError(f"cannot tell the format from the extension {ext!r}; give {{format}} "
                                 f"{'|'.join(f.value for f in FILE_FORMATS)}", "output", refs=("format",))
            return fmt or Format.CSV  # no extension (a device, a pipe): CSV
    else:
        allowed = STDOUT_FORMATS
        if common.fmt is None:
            return env.default_format()
    try:
        fmt = Format(common.fmt.lower())
    except ValueError:
        fmt = None
    if fmt == Format.TABLE and fmt not in allowed:
        raise InputError("{format} table: not for {output} files; use csv, tsv, jsonl, json or parquet",
                         refs=("format", "output"))
    if fmt == Format.PARQUET and fmt not in allowed:
        raise InputError("{format} parquet: needs {output} FILE (Parquet is binary)", refs=("format", "output"))
    if fmt not in allowed:
        raise InputError(f"must be one of {names(Format)} (got {common.fmt!r})", "format")
    return fmt


def check_combination(common: Common) -> None:
    """Options that only make sense together, or not together."""
    if common.solve is None and common.target is not None:
        raise InputError("only with {unknown} PARAM (solve PARAM so that the bound equals the target)", "target",
                         refs=("unknown",))
    if common.solve is not None and common.target is None and common.input is None:
        raise InputError("required with {unknown} (or a 'target' column with {input})", "target",
                         refs=("unknown", "input"))
    if common.on_error not in ON_ERROR:
        raise InputError(f"must be stop, skip or null (got {common.on_error!r})", "on_error")
    if common.input is None:
        if common.on_error != "stop":
            raise InputError("only applies to a batch ({input})", "on_error", refs=("input",))
        if common.input_format is not None:
            raise InputError("only applies with {input}", "input_format", refs=("input",))
    if common.input is not None and common.sweep is not None:
        raise InputError("conflicts with {input}: sweep a parameter or read rows, not both", "sweep",
                         refs=("input",))
    if common.input is not None and common.plot is not None:
        raise InputError("not with {input}; plot a {sweep} instead", "plot", refs=("input", "sweep"))


def select_columns(common: Common, available) -> list[str] | None:
    """The ``--columns`` selection, checked against the columns there are (None: all of them)."""
    if common.columns is None:
        return None
    chosen = [c.strip() for c in common.columns.split(",") if c.strip()]
    missing = [c for c in chosen if c not in available]
    if missing or not chosen:
        raise InputError(f"no column {missing[0]!r} here (there are: {', '.join(available)})" if missing
                         else "must name at least one column", "columns")
    twice = [c for i, c in enumerate(chosen) if c in chosen[:i]]
    if twice:  # a JSON object cannot hold a key twice, nor a table a column
        raise InputError(f"names {twice[0]!r} twice (got {common.columns!r})", "columns")
    return chosen


def select_report(report, common: Common, available=None):
    """``report`` with only the ``--columns`` results (and section columns), in that order; ``available``
    the names the selection is checked against (default: the report's results and section columns)."""
    if common.columns is None:
        return report
    names = list(report.results) + [c for _, cols in report.sections for c in cols if c not in report.results]
    chosen = select_columns(common, names if available is None else available)
    results = {k: report.results[k] for k in chosen if k in report.results}
    sections = [(title, {k: cols[k] for k in chosen if k in cols}) for title, cols in report.sections]
    return report._replace(results=results, sections=[(t, c) for t, c in sections if c])


def emit_report(report, fmt: Format, common: Common, env: Environment) -> None:
    """One report to stdout, or to ``--output FILE`` (atomically) with a line saying so."""
    from ..render.report import render_report, write_report

    if common.output is None:
        render_report(report, fmt, env)
    else:
        write_report(report, fmt, common.output, env)
        env.warn(f"kdbound: wrote {common.output}")


def check_output(common: Common, *inputs) -> None:
    """An ``--output`` path that can be written and is not one of the run's ``inputs`` (``(option, path,
    companions)``; ``--input`` is always one), checked before any work (plots: render.plot)."""
    if common.output is not None:
        resolve_output(common.output, "output")
        refuse_inputs(common.output, "output", (("input", common.input, ()), *inputs))


_SWEEP = r"^\s*([A-Za-z_][\w-]*)\s*=\s*(log:)?([^:]+):([^:]+):([^:]+)\s*$"


def whole_points(grid: np.ndarray, name: str) -> np.ndarray:
    """The points of a sweep over a whole-number parameter: each integer once, rounded, and only those within
    START..STOP (rounding 3.5 gives 4, outside 1.5:3.5)."""
    lo, hi = float(np.min(grid)), float(np.max(grid))
    points = np.unique(np.round(grid))
    points = points[(points >= math.ceil(lo)) & (points <= math.floor(hi))]
    if points.size == 0:
        raise InputError(f"{name} takes whole numbers, and none lies in {format_value(lo)}..{format_value(hi)}",
                         "sweep")
    return points


def is_log_sweep(text: str | None) -> bool:
    """Whether a --sweep is geometric (its plot then gets a log x axis)."""
    m = re.match(_SWEEP, text or "")
    return bool(m and m.group(2))


#: the most points a --sweep may have (each point is a row of results held in memory)
MAX_SWEEP = 10_000_000


def sweep_grid(first: tuple[str, np.ndarray], second: tuple[str, np.ndarray] | None) -> dict:
    """The points of one sweep, or the grid (Cartesian product) of two: ``{name: values}``, the second
    sweep's values outer (each of them with every value of the first, in order)."""
    name, grid = first
    if second is None:
        return {name: grid}
    by, by_grid = second
    if by == name:
        raise InputError(f"names {name} twice; sweep two different parameters", "sweep")
    if len(grid) * len(by_grid) > MAX_SWEEP:
        raise InputError(f"a grid of {len(grid):,} x {len(by_grid):,} points is more than {MAX_SWEEP:,}", "sweep")
    return {name: np.tile(grid, len(by_grid)), by: np.repeat(by_grid, len(grid))}


#: the most curves a plot of a two-sweep grid draws (one per value of the second sweep)
MAX_CURVES = 12


def plot_curves(count: int) -> None:
    """A grid's plot draws one curve per value of the second --sweep: at most :data:`MAX_CURVES`."""
    if count > MAX_CURVES:
        raise InputError(f"draws one curve per value of the second {{sweep}}: at most {MAX_CURVES} (got {count}); "
                         "give the second sweep fewer points", "plot", refs=("sweep",))


def plot_fixed(values: dict, common: Common, swept) -> dict:
    """The parameters a figure holds fixed, for its subtitle: the values given (not the swept ones), and the
    target of a solve."""
    fixed = {k: v for k, v in values.items() if v is not None and k not in swept and np.ndim(v) == 0}
    if common.solve is not None and "target" not in swept and common.target is not None:
        fixed["target"] = common.target
    return fixed


def parse_sweep(text: str, param_names: tuple[str, ...]) -> tuple[str, np.ndarray]:
    """``PARAM=START:STOP:NUM`` (linear) or ``PARAM=log:START:STOP:NUM`` (geometric)."""
    m = re.match(_SWEEP, text)
    if not m:
        raise InputError(f"must look like PARAM=START:STOP:NUM or PARAM=log:START:STOP:NUM (got {text!r})", "sweep")
    name, log, start, stop, num = m.groups()
    name = name.replace("-", "_")
    if name not in param_names:
        raise InputError(f"PARAM must be one of {', '.join(param_names)} (got {name!r})", "sweep")
    a, b = parse_number(start), parse_number(stop)  # the spellings every number option accepts
    if a is None or b is None or not re.fullmatch(r"\s*[0-9]+\s*", num):
        raise InputError(f"START and STOP must be numbers and NUM an integer (got {text!r})", "sweep")
    k = int(num)
    if not (np.isfinite(a) and np.isfinite(b)):
        raise InputError(f"START and STOP must be finite (got {text!r})", "sweep")
    if not 2 <= k <= MAX_SWEEP:
        raise InputError(f"NUM must be in 2..{MAX_SWEEP:,} (got {k})", "sweep")
    if log:
        if a <= 0 or b <= 0:
            raise InputError(f"a log grid needs START > 0 and STOP > 0 (got {text!r})", "sweep")
        return name, np.geomspace(a, b, k)
    if not np.isfinite(b - a):  # a span wider than float64 (-1e308:1e308): built at half scale, exactly
        return name, 2.0 * np.linspace(0.5 * a, 0.5 * b, k)
    return name, np.linspace(a, b, k)
