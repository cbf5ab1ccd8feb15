"""What every bound command does once its options are parsed.

One path for all three commands: a ``dict`` of parameter values goes to the
model (evaluate, solve, sweep or batch), the results go to a renderer.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import NamedTuple

import numpy as np

from ..engine.models import Model, sigma_route
from ..errors import InputError, option_name
from ..render import FORMATS, Environment, Report, non_finite_notes, render_report, render_rows


class Common(NamedTuple):
    fmt: str | None = None
    quiet: bool = False
    input: str | None = None
    input_format: str | None = None
    output: str | None = None
    on_error: str = "stop"
    solve: str | None = None
    target: float | None = None
    sweep: str | None = None
    plot: str | None = None


def environment(env: Environment | None, common: Common) -> Environment:
    env = env if isinstance(env, Environment) else Environment()
    return replace(env, quiet=env.quiet or common.quiet)


FILE_FORMATS = ("csv", "tsv", "jsonl", "json", "parquet")


def output_format(common: Common, env: Environment) -> str:
    """--format, checked.  With --output: file formats only (Parquet too), by default from the extension."""
    if common.output is not None:
        allowed = FILE_FORMATS
        if common.fmt is None:
            from ..fileio import format_from_extension

            return format_from_extension(common.output) or "csv"
    else:
        allowed = FORMATS
        if common.fmt is None:
            return env.default_format()
    fmt = common.fmt.lower()
    if fmt == "table" and fmt not in allowed:
        raise InputError("--format table: not for --output files; use csv, tsv, jsonl, json or parquet")
    if fmt == "parquet" and fmt not in allowed:
        raise InputError("--format parquet: needs --output FILE (Parquet is binary)")
    if fmt not in allowed:
        raise InputError(f"--format: must be one of {', '.join(FORMATS + ('parquet',))} (got {common.fmt!r})")
    return fmt


def check_combination(common: Common) -> None:
    if common.solve is None and common.target is not None:
        raise InputError("--target: only with --solve PARAM (solve PARAM so that the bound equals the target)")
    if common.solve is not None and common.target is None and common.input is None:
        raise InputError("--target: required with --solve (or a 'target' column with --input)")
    if common.on_error not in ("stop", "skip", "null"):
        raise InputError(f"--on-error: must be stop, skip or null (got {common.on_error!r})")
    if common.input is None:
        if common.on_error != "stop":
            raise InputError("--on-error: only applies to a batch (--input)")
        if common.input_format is not None:
            raise InputError("--input-format: only applies with --input")
    if common.input is not None and common.sweep is not None:
        raise InputError("--sweep conflicts with --input: sweep a parameter or read rows, not both")
    if common.input is not None and common.plot is not None:
        raise InputError("--plot: not with --input; plot a --sweep instead")
    if common.output is not None and common.input is None and common.sweep is None:
        raise InputError("--output: only with --input or --sweep (a single evaluation prints to stdout)")


_SWEEP = r"^\s*([A-Za-z_][\w-]*)\s*=\s*(log:)?([^:]+):([^:]+):([^:]+)\s*$"


def parse_sweep(text: str, model: Model) -> tuple[str, np.ndarray]:
    """``PARAM=START:STOP:NUM`` (linear) or ``PARAM=log:START:STOP:NUM`` (geometric)."""
    m = re.match(_SWEEP, text)
    if not m:
        raise InputError(f"--sweep: must look like PARAM=START:STOP:NUM or PARAM=log:START:STOP:NUM (got {text!r})")
    name, log, start, stop, num = m.groups()
    name = name.replace("-", "_")
    if name not in model.param_names:
        raise InputError(f"--sweep: PARAM must be one of {', '.join(model.param_names)} (got {name!r})")
    try:
        a, b = float(start), float(stop)
        k = int(num)
    except ValueError:
        raise InputError(f"--sweep: START and STOP must be numbers and NUM an integer (got {text!r})") from None
    if not (np.isfinite(a) and np.isfinite(b)):
        raise InputError(f"--sweep: START and STOP must be finite (got {text!r})")
    if k < 2:
        raise InputError(f"--sweep: NUM must be >= 2 (got {k})")
    if log:
        if a <= 0 or b <= 0:
            raise InputError(f"--sweep: a log grid needs START > 0 and STOP > 0 (got {text!r})")
        return name, np.geomspace(a, b, k)
    return name, np.linspace(a, b, k)


def _evaluate(model: Model, values: dict, common: Common) -> dict:
    """Results (contract keys first), solving for the unknown when asked."""
    if common.solve is not None:
        from ..engine.solve import solve

        unknown = common.solve.replace("-", "_")
        sol = solve(model, values, unknown, common.target)
        return {unknown: sol.value, **sol.results}
    model.check_required(values)
    return model.evaluate(values)


def _extra(model: Model, values: dict) -> dict:
    if "sigma" not in model.param_names or values.get("c") is not None:
        return {}
    try:
        return {"sigma_route": sigma_route(values)}
    except InputError:
        return {}


def run_bound(model: Model, values: dict, common: Common, env: Environment | None = None) -> int:
    env = environment(env, common)
    check_combination(common)
    if common.input is not None:
        from .batch import run_batch  # pyarrow lives there

        return run_batch(model, values, common, env)
    if common.plot is not None:
        from ..plot import check_plot_path

        check_plot_path(common.plot)
    if common.sweep is not None:
        return _run_sweep(model, values, common, env)
    fmt = output_format(common, env)
    results = _evaluate(model, values, common)
    inputs = {k: v for k, v in values.items() if v is not None}
    full = values
    if common.solve is not None:
        unknown = common.solve.replace("-", "_")
        inputs.update({unknown: "solve", "target": common.target})
        full = {**values, unknown: results[unknown]}
    notes = model.notes(full, results)
    # a generic note for each non-finite result that no specific note already names
    notes += [n for n in non_finite_notes(results) if not any(n.split()[0] in m for m in notes)]
    report = Report(command=model.name, theorem=model.theorem, formula=model.formula, inputs=inputs,
                    results=results, checks=model.checks(full, results), notes=notes, extra=_extra(model, values))
    render_report(report, fmt, env)
    if common.plot is not None:
        name, grid = default_grid(model, values)
        _plot(model, values, common, env, name, grid)
    return 0


def default_grid(model: Model, values: dict) -> tuple[str, np.ndarray]:
    """The curve drawn by ``--plot`` without ``--sweep``: bounds against K, or B_sh and B_std against rho."""
    if model.name == "sharpness":
        r = model.evaluate({**values, "rho": None})
        top = max(float(r["rho0"]), float(r["rho_min"]))
        top = 2.0 * top if np.isfinite(top) and top > 0 else 1.0
        return "rho", np.linspace(0.0, top, 201)
    kl = values.get("kl")
    top = 4.0 * float(kl) if kl else 1.0
    return "kl", np.linspace(0.0, top, 201)


def _grid_columns(model: Model, values: dict, common: Common, name: str, grid: np.ndarray) -> dict:
    results = _evaluate(model, {**values, name: grid}, common)
    columns = {name: grid}
    columns.update({k: np.broadcast_to(np.asarray(v), grid.shape) for k, v in results.items() if k != name})
    return columns


def _plot(model: Model, values: dict, common: Common, env: Environment, name: str, grid: np.ndarray,
          columns: dict | None = None) -> None:
    from ..plot import plot_bound

    if columns is None:
        columns = _grid_columns(model, values, common, name, grid)
    marks = model.evaluate({**values, name: None}) if model.name == "sharpness" and name == "rho" else None
    plot_bound(model, name, columns, common.plot, extra=marks)
    env.warn(f"wrote {common.plot}")


def _run_sweep(model: Model, values: dict, common: Common, env: Environment) -> int:
    fmt = output_format(common, env)
    name, grid = parse_sweep(common.sweep, model)
    if values.get(name) is not None:
        raise InputError(f"--sweep {name}: conflicts with {option_name(name)}; leave the swept parameter out")
    columns = _grid_columns(model, values, common, name, grid)
    if common.output is not None:
        from ..fileio import write_table_file

        write_table_file(columns, common.output, fmt)
    else:
        render_rows(columns, fmt, env, title=f"kdbound {model.name}: sweep of {name}")
    if common.plot is not None:
        _plot(model, values, common, env, name, grid, columns)
    return 0
