"""`kdbound estimate`: read a table of training runs, check every row, call the engine, render the bounds.

The runs are read through :mod:`kdbound.io.table_read` (pyarrow), imported inside the functions
that read them once :func:`kdbound.io.arrow.require_pyarrow` has found pyarrow; what estimate
says about its result is :mod:`kdbound.render.explain_estimate`'s.
"""

from __future__ import annotations

import math

import numpy as np

from ..engine import estimate as E
from ..errors import InputError, KdboundError, ParameterError, format_value
from ..io.arrow import require_pyarrow
from ..io.atomic import resolve_output
from ..render import Environment, render_report
from ..render.report import write_report
from ..render.explain_estimate import ROLES, estimate_report
from ..render.progress import Progress
from .options import Common, environment, option_name, output_format

#: columns read as numbers (cells are checked one by one); the others are text or ids
NUMERIC = ("train_loss", "test_loss", "gap", "n_test")
KNOWN = ("role", *NUMERIC, "dataset", "seed")
#: the columns whose cells are read as text, then checked one by one
TEXT_COLUMNS = frozenset((*NUMERIC, "role", "dataset"))


def _row_error(row: int, column: str, rule: str, value=None, refs: tuple[str, ...] = ()) -> InputError:
    got = "" if value is None else f" (got {format_value(value)})"
    return InputError(f"row {row + 1}, column {column}: {rule}{got}", refs=refs)


def _runs_error(exc: KdboundError) -> KdboundError:
    """A reader's error about ``input`` re-addressed to the RUNS argument."""
    if isinstance(exc, InputError) and exc.param == "input":
        return InputError(f"RUNS: {exc.message}", refs=exc.refs)
    return exc


def parse_jitter(text: str | None):
    """``--jitter``: a width > 0 or ``auto``."""
    if text is None:
        return None
    if text.strip().lower() == "auto":
        return "auto"
    try:
        width = float(text)
    except ValueError:
        raise ParameterError("jitter", "must be a width > 0 or 'auto'", text) from None
    if not (math.isfinite(width) and width > 0):
        raise ParameterError("jitter", "must be a width > 0 or 'auto'", text)
    return width


def check_options(opts: dict) -> dict:
    """Every option checked before the file is read; returns the engine's keyword arguments."""
    method = (opts["kl_method"] or "").strip().lower()
    if method not in E.KL_METHODS:
        raise ParameterError("kl_method", "must be gauss or knn", opts["kl_method"])
    delta = E.check_delta(opts["delta"])
    replicates = E.check_replicates(opts["bootstrap"], delta)
    E.check_loss_range(opts["loss_min"], opts["loss_max"])
    jitter = parse_jitter(opts["jitter"])
    if jitter is not None and method != "knn":
        raise InputError("only with {kl_method} knn (the Gaussian fit has no ties to break)", "jitter",
                         refs=("kl_method",))
    seed = opts["seed"]
    if seed is not None and seed < 0:
        raise ParameterError("seed", "must be >= 0", seed)
    return dict(loss_min=opts["loss_min"], loss_max=opts["loss_max"], delta=delta, kl_method=method, jitter=jitter,
                replicates=replicates, seed=seed)


# --------------------------------------------------------------------------- the runs table

class Runs:
    """The checked runs: per role, the gaps, test-set sizes, row numbers and dataset codes."""

    def __init__(self):
        self.gaps: dict[str, np.ndarray] = {}
        self.n_test: dict[str, np.ndarray | None] = {}
        self.rows: dict[str, np.ndarray] = {}
        self.datasets: dict[str, np.ndarray | None] = {}
        self.unused: list[str] = []
        self.gap_from = "gap"
        self.has_losses = False


def _columns(found: dict) -> dict:
    """Input column names by their canonical name (``test-loss`` or ``test_loss``)."""
    names = {}
    for original in found:
        name = original.strip().replace("-", "_")
        if name in names:
            raise InputError(f"RUNS: two columns name {name!r} ({names[name]!r} and {original!r})")
        names[name] = original
    if "role" not in names:
        raise InputError("RUNS: column role is missing (each run needs a role: teacher or student)")
    has_losses = [c for c in ("train_loss", "test_loss") if c in names]
    if len(has_losses) == 1:
        other = "test_loss" if has_losses[0] == "train_loss" else "train_loss"
        raise InputError(f"RUNS: column {other} is missing (give train_loss and test_loss, or gap)")
    if not has_losses and "gap" not in names:
        raise InputError("RUNS: columns train_loss and test_loss (or gap) are missing")
    return names


def _numbers(col, column: str, rows: np.ndarray) -> np.ndarray:
    """A numeric column, every cell of ``rows`` checked: a finite number, or one line naming the first bad row."""
    from ..io import table_read  # pyarrow: found by run_estimate before the runs are read

    values, empty, not_number, raw = table_read.to_float(col)
    bad = empty | not_number | ~np.isfinite(values)
    bad_rows = rows[bad[rows]]
    if bad_rows.size:
        r = int(bad_rows[0])
        if empty[r]:
            raise _row_error(r, column, "must be a number (the cell is empty)")
        if not_number[r]:
            raise _row_error(r, column, "must be a number", raw[r] if raw is not None else table_read.cell(col, r))
        raise _row_error(r, column, "must be finite", float(values[r]))
    return values


def _read_table(path: str, input_format: str | None) -> dict:
    """The runs table's columns, cells of the numeric and id columns as text."""
    from ..io import table_read  # pyarrow: found by run_estimate before the runs are read

    try:
        fmt = table_read.input_format(path, input_format)
        found = table_read.read_columns(path, fmt, TEXT_COLUMNS)  # cells as text
    except KdboundError as exc:
        raise _runs_error(exc) from None
    if not found or all(len(col) == 0 for col in found.values()):
        raise InputError("RUNS: the table has no runs (one row per training run is needed)")
    return found


def _roles(role_col) -> np.ndarray:
    """Per row, the index of its role in ROLES; a row with another role stops the run."""
    from ..io import table_read  # pyarrow: found by run_estimate before the runs are read

    codes = table_read.text_codes(role_col, ROLES)
    bad = np.flatnonzero(codes < 0)
    if bad.size:
        r = int(bad[0])
        if codes[r] == -2:
            raise _row_error(r, "role", "must be teacher or student (the cell is empty)")
        raise _row_error(r, "role", "must be teacher or student", str(table_read.cell(role_col, r)))
    return codes


def _gaps_from_losses(values: dict, names: dict, loss_range) -> str:
    """With train_loss and test_loss: each loss checked against the loss range, the gap computed (or a
    given gap checked against it); returns where the gaps come from."""
    with np.errstate(over="ignore"):  # a difference beyond float64 is refused below, naming its row
        computed = values["test_loss"] - values["train_loss"]
    beyond = np.flatnonzero(~np.isfinite(computed))
    if beyond.size:
        r = int(beyond[0])
        raise _row_error(r, names["test_loss"], f"test_loss - train_loss is beyond float64's range (test_loss "
                         f"{format_value(float(values['test_loss'][r]))}, train_loss "
                         f"{format_value(float(values['train_loss'][r]))})")
    if loss_range is not None:
        a, b = loss_range
        for n in ("train_loss", "test_loss"):
            out = np.flatnonzero((values[n] < a) | (values[n] > b))
            if out.size:
                raise _row_error(int(out[0]), names[n], "must lie in the loss range [{loss_min}, {loss_max}]",
                                 float(values[n][out[0]]), refs=("loss_min", "loss_max"))
    if "gap" not in values:
        values["gap"] = computed
        return "test_loss - train_loss"
    gap = values["gap"]
    scale = np.maximum.reduce([np.abs(values["train_loss"]), np.abs(values["test_loss"]), np.abs(gap),
                               np.full(gap.shape, np.finfo(float).tiny)])
    off = np.flatnonzero(np.abs(gap - computed) > 1e-9 * scale)
    if off.size:
        r = int(off[0])
        raise _row_error(r, names["gap"], f"differs from test_loss - train_loss = {float(computed[r])!r}; give "
                         "gap or the two losses, or make them agree", float(gap[r]))
    return "gap"


def _check_gaps(values: dict, names: dict, loss_range) -> None:
    """Given gaps within [-(b - a), b - a] (with a loss range) and test-set sizes whole numbers >= 1."""
    if "train_loss" not in values and loss_range is not None:
        span = loss_range[1] - loss_range[0]
        out = np.flatnonzero(np.abs(values["gap"]) > span)
        if out.size:
            raise _row_error(int(out[0]), names["gap"], "must lie in [-(b - a), b - a] for a loss in [{loss_min}, "
                             "{loss_max}]", float(values["gap"][out[0]]), refs=("loss_min", "loss_max"))
    if "n_test" in values:
        n = values["n_test"]
        bad = np.flatnonzero((n < 1) | (n != np.floor(n)))
        if bad.size:
            raise _row_error(int(bad[0]), names["n_test"], "must be a whole number >= 1 (a test-set size)",
                             float(n[bad[0]]))


def read_runs(path: str, input_format: str | None, loss_range) -> Runs:
    return runs_of(_read_table(path, input_format), loss_range)


def runs_of(found: dict, loss_range) -> Runs:
    """The checked runs of a table's columns (as :func:`kdbound.io.table_read.read_columns` reads them)."""
    from ..io import table_read  # pyarrow: found by run_estimate before the runs are read

    names = _columns(found)
    codes = _roles(found[names["role"]])
    used = np.arange(codes.size)
    runs = Runs()
    runs.unused = [names[n] for n in names if n not in KNOWN]
    values = {n: _numbers(found[names[n]], names[n], used) for n in NUMERIC if n in names}
    if "train_loss" in values:
        runs.has_losses = True
        runs.gap_from = _gaps_from_losses(values, names, loss_range)
    _check_gaps(values, names, loss_range)
    datasets = table_read.category_codes(found[names["dataset"]]) if "dataset" in names else None
    for code, role in enumerate(ROLES):
        rows = np.flatnonzero(codes == code)
        runs.rows[role] = rows
        runs.gaps[role] = values["gap"][rows]
        runs.n_test[role] = values["n_test"][rows] if "n_test" in values else None
        runs.datasets[role] = datasets[rows] if datasets is not None else None
    return runs


def check_counts(runs: Runs, method: str) -> None:
    need = E.KNN_MIN_RUNS if method == "knn" else E.MIN_RUNS
    for role in ROLES:
        got = runs.gaps[role].size
        if got < need:
            why = " for {kl_method} knn" if method == "knn" else ""
            raise InputError(f"column role: needs at least {need} {role} runs{why} (got {got})",
                             refs=("kl_method",))


# --------------------------------------------------------------------------- the command

def run_estimate(path: str, opts: dict, common: Common, env: Environment | None) -> int:
    env = environment(env, common)
    fmt = output_format(common, env)
    kwargs = check_options(opts)
    if common.output is not None:
        resolve_output(common.output)  # a bad output path fails before any work
    require_pyarrow(None, "RUNS: ")
    report = runs_report(_read_table(path, common.input_format), path, kwargs, env)
    if common.output is None:
        render_report(report, fmt, env)
    else:
        write_report(report, fmt, common.output, env)
        env.warn(f"wrote {common.output}")
    return 0


def runs_report(found: dict, path: str, kwargs: dict, env: Environment, settings: dict | None = None):
    """estimate's report on a runs table: ``found`` its columns (as :func:`_read_table` reads them), ``path``
    its name, ``kwargs`` the checked options (:func:`check_options`), ``settings`` those of the experiment
    that wrote it (a distill runs file's; None when the table has none).  ``kdbound distill`` reports through
    this function, so its report is the one ``kdbound estimate`` gives on its runs file."""
    loss_range = E.check_loss_range(kwargs["loss_min"], kwargs["loss_max"])
    runs = runs_of(found, loss_range)
    check_counts(runs, kwargs["kl_method"])
    progress = Progress(env, "kNN subsamples")
    try:
        res = E.estimate(runs.gaps["teacher"], runs.gaps["student"], n_test_teacher=runs.n_test["teacher"],
                         n_test_student=runs.n_test["student"], progress=progress, **kwargs)
    except E.TieError as tie:
        raise _tie_error(tie, runs) from None
    finally:
        progress.close()
    return estimate_report(res, runs, path, kwargs, option_name)


def _tie_error(tie: E.TieError, runs: Runs) -> InputError:
    (ra, ia), (rb, ib) = tie.first, tie.second
    row_a, row_b = int(runs.rows[ra][ia]) + 1, int(runs.rows[rb][ib]) + 1
    column = "column gap" if runs.gap_from == "gap" else "test_loss - train_loss"
    return InputError(f"rows {row_a} and {row_b}, {column}: tied values ({tie.value!r}; {tie.count} in all): the kNN "
                      "estimator needs distinct gaps; break ties with {jitter} auto (uniform noise one grid step "
                      "wide) or use {kl_method} gauss", refs=("jitter", "kl_method"))
