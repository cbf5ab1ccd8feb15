"""A table of training runs for ``estimate``: every cell checked, the gaps of each role, and what else it says.

The table comes from a file (CSV, TSV, JSON Lines or Parquet, through
:mod:`kdbound.io.table_read`) or from columns in memory (a mapping of arrays, or a pandas
DataFrame's columns: :func:`columns_of`).  Either way :func:`runs_from_columns` checks it
and returns :class:`Runs`: per role the gaps, test-set sizes, row numbers and dataset codes;
the pairs (a teacher and a student run sharing each dataset id); and what distill's rows
carry besides (the loss range, the model specs, test accuracy, convergence).  Errors name the
row and column (``row 3, column gap: ...``).  pyarrow is imported inside the functions, after
the caller has found it (:func:`kdbound.io.arrow.require_pyarrow`).
"""

from __future__ import annotations

import numpy as np

from ..engine.distill import ROLES
from ..engine.estimate import check_loss_range
from ..errors import InputError, KdboundError, format_value

#: columns read as numbers (cells are checked one by one)
NUMERIC = ("train_loss", "test_loss", "gap", "n_test", "loss_min", "loss_max", "test_accuracy")
#: the columns estimate knows: its own, and the rest of what distill writes (ids and records)
KNOWN = ("role", *NUMERIC, "dataset", "seed", "converged", "teacher", "student")
#: the columns whose cells are read as text, then checked one by one
TEXT_COLUMNS = frozenset((*NUMERIC, "role", "dataset", "converged", "teacher", "student"))
#: text cells of ``converged`` that mean true and false
_TRUE, _FALSE = ("true", "True", "TRUE", "1"), ("false", "False", "FALSE", "0")


class Runs:
    """The checked runs: per role the gaps, test-set sizes, row numbers and dataset codes; and the rest.

    ``pairs`` maps each student run to its teacher run when dataset ids pair them one to one (else
    None); ``loss_range`` is the range read from the ``loss_min``/``loss_max`` columns when the caller
    gave none (else None), ``column_range`` those columns' range in any case (None without them);
    ``specs`` the model spec of each role (from the ``teacher``/``student`` columns); ``accuracy``
    the mean test accuracy of each role and ``not_converged`` the number of runs of each role whose
    fit did not converge (None without those columns); ``settings`` what the file's settings say
    (distill's; None without).
    """

    def __init__(self):
        self.gaps: dict[str, np.ndarray] = {}
        self.n_test: dict[str, np.ndarray | None] = {}
        self.rows: dict[str, np.ndarray] = {}
        self.datasets: dict[str, np.ndarray | None] = {}
        self.unused: list[str] = []
        self.gap_from = "gap"
        self.has_losses = False
        self.pairs: np.ndarray | None = None
        #: (student runs sharing an id with a teacher run, student runs) when the ids pair only some runs
        self.shared_ids: tuple[int, int] | None = None
        self.loss_range: tuple[float, float] | None = None
        self.column_range: tuple[float, float] | None = None
        self.specs: dict[str, str | None] = {"teacher": None, "student": None}
        self.accuracy: dict[str, float] | None = None
        self.not_converged: dict[str, int] | None = None
        self.settings: dict | None = None


def row_error(row: int, column: str, rule: str, value=None, refs: tuple[str, ...] = ()) -> InputError:
    got = "" if value is None else f" (got {format_value(value)})"
    return InputError(f"row {row + 1}, column {column}: {rule}{got}", refs=refs)


def _runs_error(exc: KdboundError) -> KdboundError:
    """A reader's error about ``input`` re-addressed to the RUNS argument."""
    if isinstance(exc, InputError) and exc.param == "input":
        return InputError(f"RUNS: {exc.message}", refs=exc.refs)
    return exc


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
    from . import table_read  # pyarrow: found by the caller before the runs are read

    values, empty, not_number, raw = table_read.to_float(col)
    bad = empty | not_number | ~np.isfinite(values)
    bad_rows = rows[bad[rows]]
    if bad_rows.size:
        r = int(bad_rows[0])
        if empty[r]:
            raise row_error(r, column, "must be a number (the cell is empty)")
        if not_number[r]:
            raise row_error(r, column, "must be a number", raw[r] if raw is not None else table_read.cell(col, r))
        raise row_error(r, column, "must be finite", float(values[r]))
    return values


def read_table(path: str, input_format: str | None) -> dict:
    """The runs table's columns, cells of the numeric and id columns as text."""
    from . import table_read  # pyarrow: found by the caller before the runs are read

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
    from . import table_read  # pyarrow: found by the caller before the runs are read

    codes = table_read.text_codes(role_col, ROLES)
    bad = np.flatnonzero(codes < 0)
    if bad.size:
        r = int(bad[0])
        if codes[r] == -2:
            raise row_error(r, "role", "must be teacher or student (the cell is empty)")
        raise row_error(r, "role", "must be teacher or student", str(table_read.cell(role_col, r)))
    return codes


def _gaps_from_losses(values: dict, names: dict, loss_range) -> str:
    """With train_loss and test_loss: each loss checked against the loss range, the gap computed (or a
    given gap checked against it); returns where the gaps come from."""
    with np.errstate(over="ignore"):  # a difference beyond float64 is refused below, naming its row
        computed = values["test_loss"] - values["train_loss"]
    beyond = np.flatnonzero(~np.isfinite(computed))
    if beyond.size:
        r = int(beyond[0])
        raise row_error(r, names["test_loss"], f"test_loss - train_loss is beyond float64's range (test_loss "
                        f"{format_value(float(values['test_loss'][r]))}, train_loss "
                        f"{format_value(float(values['train_loss'][r]))})")
    if loss_range is not None:
        a, b = loss_range
        for n in ("train_loss", "test_loss"):
            out = np.flatnonzero((values[n] < a) | (values[n] > b))
            if out.size:
                raise row_error(int(out[0]), names[n], "must lie in the loss range [{loss_min}, {loss_max}]",
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
        raise row_error(r, names["gap"], f"differs from test_loss - train_loss = {float(computed[r])!r}; give "
                        "gap or the two losses, or make them agree", float(gap[r]))
    return "gap"


def _check_gaps(values: dict, names: dict, loss_range) -> None:
    """Given gaps within [-(b - a), b - a] (with a loss range) and test-set sizes whole numbers >= 1."""
    if "train_loss" not in values and loss_range is not None:
        span = loss_range[1] - loss_range[0]
        out = np.flatnonzero(np.abs(values["gap"]) > span)
        if out.size:
            raise row_error(int(out[0]), names["gap"], "must lie in [-(b - a), b - a] for a loss in [{loss_min}, "
                            "{loss_max}]", float(values["gap"][out[0]]), refs=("loss_min", "loss_max"))
    if "n_test" in values:
        n = values["n_test"]
        bad = np.flatnonzero((n < 1) | (n != np.floor(n)))
        if bad.size:
            raise row_error(int(bad[0]), names["n_test"], "must be a whole number >= 1 (a test-set size)",
                            float(n[bad[0]]))


def _column_range(values: dict, names: dict) -> tuple[float, float] | None:
    """The loss range of the ``loss_min`` and ``loss_max`` columns: one value each, in every row."""
    present = [c for c in ("loss_min", "loss_max") if c in values]
    if not present:
        return None
    if len(present) == 1:
        other = "loss_max" if present[0] == "loss_min" else "loss_min"
        raise InputError(f"RUNS: column {other} is missing (column {names[present[0]]} gives one end of the loss "
                         "range; give both, or the options {loss_min} and {loss_max})", refs=("loss_min", "loss_max"))
    for c in present:
        col = values[c]
        differ = np.flatnonzero(col != col[0])
        if differ.size:
            r = int(differ[0])
            raise InputError(f"column {names[c]}: rows 1 and {r + 1} differ ({format_value(float(col[0]))} and "
                             f"{format_value(float(col[r]))}); the runs of one file share one loss range: give "
                             "{loss_min} and {loss_max}, or split the file", refs=("loss_min", "loss_max"))
    try:
        return check_loss_range(float(values["loss_min"][0]), float(values["loss_max"][0]))
    except KdboundError:
        raise InputError(f"columns {names['loss_min']} and {names['loss_max']}: loss_max must be > loss_min (got "
                         f"{format_value(float(values['loss_min'][0]))} and "
                         f"{format_value(float(values['loss_max'][0]))})") from None


def _one_spec(found: dict, names: dict, role: str) -> str | None:
    """The one model spec of a role (column ``teacher`` or ``student``); several are refused, naming them."""
    from . import table_read  # pyarrow: found by the caller before the runs are read

    if role not in names:
        return None
    col = found[names[role]]
    codes = table_read.category_codes(col)
    distinct = np.unique(codes[codes >= 0])
    if distinct.size == 0:
        return None
    first = [int(np.flatnonzero(codes == c)[0]) for c in distinct]
    if distinct.size > 1:
        first.sort()
        shown = ", ".join(f"{str(table_read.cell(col, r))!r} (from row {r + 1})" for r in first[:4])
        more = f" and {distinct.size - 4} more" if distinct.size > 4 else ""
        raise InputError(f"column {names[role]}: the runs carry {distinct.size} {role} specs: {shown}{more}; "
                         f"estimate compares one teacher with one student: give a file with one {role} spec")
    return str(table_read.cell(col, first[0]))


def _converged(found: dict, names: dict, codes: np.ndarray) -> dict[str, int] | None:
    """Per role, the number of runs whose ``converged`` cell says false (true/false, 1/0)."""
    from . import table_read  # pyarrow: found by the caller before the runs are read

    if "converged" not in names:
        return None
    col = found[names["converged"]]
    flags = table_read.text_codes(col, _TRUE + _FALSE)
    bad = np.flatnonzero(flags < 0)
    if bad.size:
        r = int(bad[0])
        raise row_error(r, names["converged"], "must be true or false", None if flags[r] == -2
                        else str(table_read.cell(col, r)))
    false = flags >= len(_TRUE)
    return {role: int(np.count_nonzero(false[codes == i])) for i, role in enumerate(ROLES)}


def _pairs(datasets: dict) -> np.ndarray | None:
    """Student run i's teacher run, when the dataset ids pair the two roles one to one (else None)."""
    t, s = datasets["teacher"], datasets["student"]
    if t is None or t.size != s.size or (t < 0).any() or (s < 0).any():
        return None
    if np.unique(t).size != t.size or not np.array_equal(np.sort(t), np.sort(s)):
        return None
    order = np.argsort(t)
    return order[np.searchsorted(t, s, sorter=order)]


def runs_from_columns(found: dict, loss_range) -> Runs:
    """The checked runs of a table given as ``{column name: pyarrow array}``.

    ``loss_range`` is the caller's (a, b), or None: then the ``loss_min``/``loss_max`` columns give it, if
    the table has them (:attr:`Runs.loss_range`).  Losses and gaps are checked against the range in use.
    """
    from . import table_read  # pyarrow: found by the caller before the runs are read

    names = _columns(found)
    codes = _roles(found[names["role"]])
    used = np.arange(codes.size)
    runs = Runs()
    runs.unused = [names[n] for n in names if n not in KNOWN]
    values = {n: _numbers(found[names[n]], names[n], used) for n in NUMERIC if n in names}
    if loss_range is None:
        loss_range = runs.loss_range = runs.column_range = _column_range(values, names)
    else:
        try:  # the caller's range is used; the columns' only for a note when they differ
            runs.column_range = _column_range(values, names)
        except KdboundError:
            runs.column_range = None
    if "train_loss" in values:
        runs.has_losses = True
        runs.gap_from = _gaps_from_losses(values, names, loss_range)
    _check_gaps(values, names, loss_range)
    runs.specs = {role: _one_spec(found, names, role) for role in ROLES}
    runs.not_converged = _converged(found, names, codes)
    datasets = table_read.category_codes(found[names["dataset"]]) if "dataset" in names else None
    if datasets is not None and (datasets < 0).any():  # an empty id would silently unpair the runs
        raise row_error(int(np.flatnonzero(datasets < 0)[0]), names["dataset"], "needs an id in every row when the "
                        "column is given (it pairs each student run with its teacher run; drop the column for "
                        "unpaired runs)")
    for code, role in enumerate(ROLES):
        rows = np.flatnonzero(codes == code)
        runs.rows[role] = rows
        runs.gaps[role] = values["gap"][rows]
        runs.n_test[role] = values["n_test"][rows] if "n_test" in values else None
        runs.datasets[role] = datasets[rows] if datasets is not None else None
    if "test_accuracy" in values:
        runs.accuracy = {role: float(np.mean(values["test_accuracy"][runs.rows[role]]))
                         if runs.rows[role].size else None for role in ROLES}
    runs.pairs = _pairs(runs.datasets)
    runs.shared_ids = _shared_ids(runs.datasets) if runs.pairs is None else None
    return runs


def _shared_ids(datasets: dict) -> tuple[int, int] | None:
    """(student runs whose id a teacher run has, student runs) when some ids are shared but the roles do not
    pair one to one (the runs are then estimated as unpaired); None otherwise."""
    t, s = datasets["teacher"], datasets["student"]
    if t is None:
        return None
    shared = int(np.isin(s, t).sum())
    return (shared, int(s.size)) if shared else None


def read_runs(path: str, input_format: str | None, loss_range) -> Runs:
    """The checked runs of the table at ``path`` (``-``: stdin), with the settings beside or inside it."""
    from .runs import read_settings

    runs = runs_from_columns(read_table(path, input_format), loss_range)
    runs.settings = read_settings(path, input_format)
    return runs


def tie_error(tie, runs: Runs) -> InputError:
    """The engine's :class:`~kdbound.engine.estimate.TieError` addressed to the two rows of the table."""
    (ra, ia), (rb, ib) = tie.first, tie.second
    row_a, row_b = int(runs.rows[ra][ia]) + 1, int(runs.rows[rb][ib]) + 1
    column = "column gap" if runs.gap_from == "gap" else "test_loss - train_loss"
    return InputError(f"rows {row_a} and {row_b}, {column}: tied values ({tie.value!r}; {tie.count} in all): the kNN "
                      "estimator needs distinct gaps; break ties with {jitter} auto (uniform noise one grid step "
                      "wide) or use {kl_method} gauss", refs=("jitter", "kl_method"))


def columns_of(data) -> dict:
    """``{name: pyarrow array}`` of a mapping of columns (lists or arrays of equal length) or of a pandas
    DataFrame (taken through its own methods: pandas itself is not imported)."""
    import pyarrow as pa  # pyarrow (a dependency): the readers' column type

    if hasattr(data, "columns") and hasattr(data, "to_numpy") and not isinstance(data, dict):
        data = {str(name): data[name].to_numpy() for name in data.columns}
    out, length = {}, None
    for name, values in data.items():
        arr = np.asarray(values) if not isinstance(values, (list, tuple)) else values
        if isinstance(arr, np.ndarray) and arr.ndim != 1:
            raise InputError(f"column {name!r}: expected one value per run (got shape {arr.shape})", "runs")
        cells = arr.tolist() if isinstance(arr, np.ndarray) and arr.dtype.kind in "OUS" else arr
        try:
            column = pa.array(cells)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
            # mixed cells: as text, so that the checks name the first bad row as they do for a file
            column = pa.array([None if v is None else str(v) for v in cells], pa.string())
        if length is not None and len(column) != length:
            raise InputError(f"column {name!r} has {len(column)} values, the others {length}", "runs")
        out[str(name)], length = column, len(column)
    if not out or length == 0:
        raise InputError("the table has no runs (one row per training run is needed)", "runs")
    return out
