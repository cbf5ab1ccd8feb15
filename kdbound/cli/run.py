"""What every bound command does once its options are parsed.

One path for all bound commands: a ``dict`` of parameter values goes to the
bound's spec (evaluate, solve, sweep or batch), the results go to a renderer.
"""

from __future__ import annotations

import numpy as np

from ..engine.specs import BoundSpec
from ..engine._checks import collect_violations
from ..errors import InputError, ParameterError
from ..io.arrow import require_pyarrow
from ..render import Environment, Report, render_rows
from ..render import explain
from ..render.report import check_table_rows
from ..formats import Format
from .options import (Common, check_combination, check_output, emit_report, environment, is_log_sweep,
                      output_format, parse_sweep, plot_curves, plot_fixed, select_columns, sweep_grid, whole_points)


def evaluate(spec: BoundSpec, values: dict, common: Common):
    """Results (contract keys first), the evaluation and a note on the solution, solving when asked."""
    if common.solve is not None:
        # imported here: the solver serves --solve only, and its import would cost every scalar start-up
        from ..engine.solve import solve

        sol = solve(spec, values, common.unknown, common.target)
        return sol.as_results(), sol.results, sol.note
    ev = spec.evaluate(values)
    return dict(ev), ev, None


def run_bound(spec: BoundSpec, values: dict, common: Common, env: Environment | None = None) -> int:
    env = environment(env, common)
    check_combination(common)
    check_output(common)
    if common.plot is not None:
        from ..render import plot  # the home of matplotlib: loaded only when a plot is asked for

        plot.check_plot_path(common.plot)
    if common.input is not None or common.output is not None:  # a table is read or written
        require_pyarrow("input" if common.input is not None else "output")
    if common.input is not None:
        from .batch import run_batch  # the batch path imports pyarrow (~0.1 s): not at start-up

        return run_batch(spec, values, common, env)
    if common.sweep is not None:
        return _run_sweep(spec, values, common, env)
    fmt = output_format(common, env)
    report = bound_report(spec, values, common)
    if common.plot is not None:  # before the results: a plot that cannot be written leaves stdout empty
        name, grid = default_grid(spec, values, common)
        at = common.target if name == "target" else values.get(name)
        _plot(spec, values, common, env, name, grid, at=None if at is None else float(at))
    emit_report(report, fmt, common, env)
    return 0


def bound_report(spec: BoundSpec, values: dict, common: Common) -> Report:
    """One evaluation (or solution) as a Report: inputs, results, conditions, notes, theorem."""
    results, ev, solve_note = evaluate(spec, values, common)
    solved = None if common.solve is None else (common.unknown, common.target)
    return explain.bound_report(spec, values, results, ev, solve_note, solved,
                                select_columns(common, list(results)))


_MAX = 1e300  # a grid end matplotlib can draw (its axis margins and tick ranges overflow near float64's top)


def default_grid(spec: BoundSpec, values: dict, common: Common | None = None) -> tuple[str, np.ndarray]:
    """The curve drawn by ``--plot`` without ``--sweep``: with ``--solve``, the solved quantity against
    the target; otherwise the bounds against K, or B_sh and B_std against rho."""
    if common is not None and common.solve is not None:
        t = float(common.target)
        half = abs(t) if t != 0 else 1.0
        return "target", np.linspace(t - half, t + half, 201)
    if spec.name == "sharpness":
        r = spec.evaluate({**values, "rho": None})
        top = max(float(r["rho0"]), float(r["rho_min"]))
        top = min(2.0 * top, _MAX) if np.isfinite(top) and top > 0 else 1.0
        return "rho", np.linspace(top / 200, top, 200)  # rho > 0: U is uniform on a ball of radius rho
    kl = values.get("kl")
    top = min(4.0 * float(kl), max(float(kl), _MAX)) if kl else 1.0  # 4 K may exceed what can be drawn
    return "kl", np.linspace(0.0, top, 201)


def _grid_columns(spec: BoundSpec, values: dict, common: Common, axes: dict) -> dict:
    """The results at the points ``axes`` ({parameter: values}, equal lengths; or the target, for a
    solve).  With ``--solve``, points where no value meets the target are NaN (gaps in a plot, nulls
    with a note in a table)."""
    shape = (len(next(iter(axes.values()))),)
    if "target" in axes:
        common, values = common._replace(target=axes["target"]), dict(values)
    else:
        values = {**values, **axes}
    if common.solve is None:
        results, _, _ = evaluate(spec, values, common)
    else:
        with collect_violations() as found:
            results, _, _ = evaluate(spec, values, common)
        bad = np.zeros(shape, dtype=bool)
        for v in found:
            if v.param != "target":  # the first grid point that breaks the rule, not the first point
                first = int(np.flatnonzero(np.broadcast_to(v.mask, shape))[0])
                raise ParameterError(v.param, v.rule, float(np.broadcast_to(np.asarray(v.values), shape)[first]))
            bad |= np.broadcast_to(v.mask, shape)
        results = {k: (v if v is None or np.asarray(v).dtype == bool
                       else np.where(bad, np.nan, np.broadcast_to(np.asarray(v, dtype=float), shape)))
                   for k, v in results.items()}
    columns = dict(axes)
    columns.update({k: (np.full(shape, None, dtype=object) if v is None else
                        np.broadcast_to(np.asarray(v), shape)) for k, v in results.items() if k not in axes})
    return columns


def _plot(spec: BoundSpec, values: dict, common: Common, env: Environment, name: str, grid: np.ndarray,
          columns: dict | None = None, log_x: bool = False, at: float | None = None, by: str | None = None) -> None:
    from ..render import plot  # the home of matplotlib: loaded only when a plot is asked for

    if columns is None:
        columns = _grid_columns(spec, values, common, {name: grid})
    if common.solve is not None:
        plot.plot_solved(spec, name, common.unknown, columns, common.plot, log_x=log_x, by=by,
                         fixed=plot_fixed(values, common, (name, by)))
    else:
        marks = spec.evaluate({**values, name: None}) if spec.name == "sharpness" and name == "rho" else None
        first = {**values, name: grid[0], **({} if by is None else {by: np.asarray(columns[by]).reshape(-1)[0]})}
        _, formula, _ = explain.headline(spec, first, spec.evaluate(first))
        plot.plot_bound(spec, name, columns, common.plot, extra=marks, log_x=log_x, formula=formula, at=at, by=by,
                        fixed=plot_fixed(values, common, (name, by)))
    env.warn(f"kdbound: wrote {common.plot}")


def _axis(spec: BoundSpec, values: dict, text: str) -> tuple[str, np.ndarray]:
    """One --sweep: its parameter and values (a whole-number parameter takes each integer once)."""
    name, grid = parse_sweep(text, spec.numeric_names)
    if spec.param(name).integer:
        grid = whole_points(grid, name)  # a whole-number parameter: each integer within the range once
        if grid[-1] < 2.0 ** 63:  # printed as integers where int64 holds them (n = 1e20 stays a float)
            grid = grid.astype(np.int64)
    if values.get(name) is not None:
        raise InputError(f"{{sweep}} {name}: conflicts with {{{name}}}; leave the swept parameter out",
                         refs=("sweep", name))
    return name, grid


def _run_sweep(spec: BoundSpec, values: dict, common: Common, env: Environment) -> int:
    fmt = output_format(common, env)
    name, grid = _axis(spec, values, common.sweep)
    second = None if common.sweep_by is None else _axis(spec, values, common.sweep_by)
    axes = sweep_grid((name, grid), second)
    points = len(axes[name])
    if fmt == Format.TABLE and common.output is None:
        check_table_rows(points)  # before the work
    if common.plot is not None and second is not None:
        plot_curves(len(second[1]))
    columns = _grid_columns(spec, values, common, axes)
    chosen = select_columns(common, list(columns))
    nulls = explain.NullCells(spec, common.unknown if common.solve is not None else None)
    nulls.add({**values, **axes}, columns, np.zeros(points, dtype=bool), 0)
    shown = columns if chosen is None else {k: columns[k] for k in chosen}
    if common.plot is not None:  # before the results: a plot that cannot be written leaves stdout empty
        _plot(spec, values, common, env, name, grid, columns, log_x=is_log_sweep(common.sweep),
              by=None if second is None else second[0])
    if common.output is not None:
        from ..io.table_write import write_table_file  # pyarrow (~0.1 s), only when a file is written

        write_table_file(shown, common.output, fmt)
    else:
        keep = (name, *(() if second is None else (second[0],)), "bound",
                *((common.unknown,) if common.solve else ()))
        title = explain.sweep_title(spec.name, name if second is None else f"{name} and {second[0]}")
        render_rows(shown, fmt, env, title=title, keep=keep)
    for line in nulls.notes(points):  # after the output: a run that fails says only why
        env.note(f"{line}")
    return 0
