"""Entry points for notebooks that read a table: :func:`estimate` on runs given as a file, a DataFrame or columns.

The engine's :func:`kdbound.engine.estimate.estimate` works on two arrays of gaps.  This
module gives Python the reach of ``kdbound estimate RUNS``: the same table (a file path, a
pandas DataFrame, or a mapping of columns), checked by the same reader
(:mod:`kdbound.io.runs_table`), and the same report, notes and checks
(:mod:`kdbound.render.explain_estimate`), spelled with Python's names (``loss_min``, not
``--loss-min``).  ``kdbound.estimate`` loads this module on first use, so the command line's
start-up does not pay for it; pandas is never imported (a DataFrame is read through its own
methods).
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping
from dataclasses import dataclass

from .engine import estimate as E
from .errors import InputError, KdboundError
from .formats import plain
from .io.arrow import require_pyarrow
from .io.runs_table import Runs, columns_of, read_runs, runs_from_columns, tie_error
from .render.explain_estimate import estimate_report
from .render.values import table_text

__all__ = ["estimate", "EstimateResult"]


@dataclass(frozen=True, eq=False)
class EstimateResult:
    """What ``kdbound estimate`` prints, as a Python object (:func:`estimate`).

    Every result is an attribute too: ``result.upper_bound``, ``result.kl_gap_hi``, ...

    Attributes
    ----------
    results : dict
        The printed results, by key (the CLI's ``results``): ``gen_t``, ``gen_t_lo``, ``gen_t_hi``
        (teacher gap, interval at ``1 - delta/2``), ``gen_s_observed``, ``gen_s_lo``, ``gen_s_hi``
        (student gap, interval at ``1 - delta``), ``sigma_range``, ``sigma_sd``, ``sigma_hat`` (the
        proxies), ``kl_gap``, ``kl_gap_hi`` (K_h and its upper limit at ``1 - delta/2``),
        ``upper_bound``, ``upper_bound_hi``, ``lower_bound``, ``lower_bound_lo`` (the bounds with
        ``sigma_used``), ``upper_bound_plugin``, ``upper_bound_plugin_hi``, ``lower_bound_plugin``,
        ``lower_bound_plugin_lo`` (the same with ``sigma_hat``), ``observed_within_bounds`` and
        ``vacuous``.  Values are floats, bools or None (not finite, or not defined).
    basis : dict
        What backs each result: ``certified``, ``assumption``, ``asymptotic``, ``model`` or ``plug-in``.
    checks : tuple of (status, condition, reason)
        The conditions behind the numbers; status ``holds``, ``fails`` or ``assumed``.
    notes : tuple of str
        What the numbers need to be read right.
    info : dict
        The other top-level keys of the CLI's JSON: ``teacher_runs``, ``student_runs``,
        ``sigma_used``, ``conditional``, and where they apply ``knn``, ``jitter_width``,
        ``gap_correlation``, ``pool``, ``teacher_test_accuracy``, ``student_test_accuracy``.
    inputs : dict
        The inputs as the report states them.
    estimate : kdbound.engine.estimate.RunsEstimate
        The engine's result (every number at full precision, the kNN limit's details).
    """

    results: dict
    basis: dict
    checks: tuple
    notes: tuple
    info: dict
    inputs: dict
    estimate: E.RunsEstimate

    def __getattr__(self, name):
        if not name.startswith("_") and name in self.__dict__.get("results", {}):
            return self.__dict__["results"][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __dir__(self):
        return [*super().__dir__(), *self.results]

    def to_dict(self) -> dict:
        """The results, JSON-ready (the CLI's ``results``: NaN and infinities as None)."""
        return {k: plain(v) for k, v in self.results.items()}

    def as_json(self) -> dict:
        """The whole report as ``kdbound estimate --format json`` prints it."""
        return {"command": "estimate", **plain(self.info), "basis": dict(self.basis), "inputs": plain(self.inputs),
                "results": self.to_dict(),
                "checks": [{"status": s, "ok": None if s == "assumed" else s == "holds", "condition": c, "reason": r}
                           for s, c, r in self.checks],
                "notes": list(self.notes)}

    def __repr__(self) -> str:
        width = max(map(len, self.results))
        lines = [f"{k:<{width}}  {table_text(v):>22}  {self.basis.get(k) or ''}" for k, v in self.results.items()]
        return "EstimateResult(\n  " + "\n  ".join(lines) + "\n)"

    def _repr_html_(self) -> str:
        """A table of the results with their basis, then the conditions and notes (Jupyter)."""
        esc = html.escape
        rows = "".join(f"<tr><td><code>{esc(k)}</code></td><td style='text-align:right'>{esc(table_text(v))}</td>"
                       f"<td>{esc(self.basis.get(k) or '')}</td></tr>" for k, v in self.results.items())
        checks = "".join(f"<li><b>{esc(s)}</b> {esc(c)}: {esc(r)}</li>" for s, c, r in self.checks)
        notes = "".join(f"<li>{esc(n)}</li>" for n in self.notes)
        return (f"<table><thead><tr><th>result</th><th>value</th><th>basis</th></tr></thead><tbody>{rows}</tbody>"
                f"</table><p>Conditions</p><ul>{checks}</ul><p>Notes</p><ul>{notes}</ul>")


def _identity(name: str) -> str:
    return name


def _python_error(exc: KdboundError) -> KdboundError:
    """A reader's message about the command's RUNS argument, addressed to the ``runs`` parameter."""
    if isinstance(exc, InputError) and exc.param is None and exc.message.startswith("RUNS: "):
        return InputError(exc.message[len("RUNS: "):], "runs", refs=exc.refs)
    return exc


def _read(runs, loss_range, input_format) -> tuple[Runs, str]:
    """The checked runs table and the name the report gives it."""
    require_pyarrow(None, "runs: ")
    if isinstance(runs, (str, os.PathLike)):
        path = os.fspath(runs)
        return read_runs(path, input_format, loss_range), path
    if isinstance(runs, Mapping) or (hasattr(runs, "columns") and hasattr(runs, "to_numpy")):
        name = "<DataFrame>" if not isinstance(runs, Mapping) else "<columns>"
        return runs_from_columns(columns_of(runs), loss_range), name
    raise InputError(f"must be a file path, a pandas DataFrame or a mapping of columns (got {type(runs).__name__})",
                     "runs")


def estimate(runs, *, loss_min: float | None = None, loss_max: float | None = None, delta: float = 0.05,
             kl_method: str = "gauss", jitter=None, bootstrap: int | None = None, seed: int | None = 0,
             input_format: str | None = None) -> EstimateResult:
    """Theorem 1's bounds from a table of training runs, with K_h for K: ``kdbound estimate`` in Python.

    One row per training run, with ``role`` (``teacher`` or ``student``), ``train_loss`` and
    ``test_loss`` (or ``gap``), and optionally ``n_test``, ``dataset`` and ``seed``; distill's
    runs files also carry the loss range, the model specs, test accuracy and the pool
    (docs/estimate.md, "What to log per run").

    Parameters
    ----------
    runs : str, os.PathLike, pandas.DataFrame or mapping
        A runs file (CSV, TSV, JSON Lines or Parquet; its settings beside or inside it are read
        too), a DataFrame, or a mapping of column names to equal-length sequences.
    loss_min, loss_max : float, optional
        The loss range [a, b] (both or neither): the certified proxy ``sigma_range = b - a``
        and, with ``n_test``, Hoeffding's test-set term.  Without them, the table's
        ``loss_min``/``loss_max`` columns give it when it has them.
    delta : float
        One minus the confidence level, in (0, 1).  The teacher's interval and ``kl_gap_hi``
        take ``delta/2`` each, so ``upper_bound_hi`` and ``lower_bound_lo`` hold together at
        ``1 - delta`` (Bonferroni).
    kl_method : {"gauss", "knn"}
        How K_h is estimated: a Gaussian fit (parametric bootstrap), or the 1-nearest-neighbour
        estimator with its bias extrapolated away (at least 50 runs per role, distinct gaps).
    jitter : float or "auto", optional
        knn only: uniform noise of this width added to every gap before estimating K_h.
    bootstrap : int, optional
        gauss only: bootstrap replicates, at least ``2/delta`` (default 1000).
    seed : int or None
        Seed of the replicates, the jitter and the kNN limit's random halvings.
    input_format : {"csv", "tsv", "jsonl", "parquet"}, optional
        The file's format when its extension does not say.

    Returns
    -------
    EstimateResult

    Raises
    ------
    kdbound.InputError, kdbound.ParameterError
        A bad cell (naming its row and column), table, or parameter.

    Examples
    --------
    >>> import kdbound
    >>> res = kdbound.estimate("examples/runs/runs.csv", loss_min=0, loss_max=1)  # doctest: +SKIP
    >>> res.upper_bound, res.basis["upper_bound_hi"]  # doctest: +SKIP
    """
    try:
        kl_method = str(kl_method).strip().lower()
        if kl_method not in E.KL_METHODS:
            raise E.ParameterError("kl_method", "must be gauss or knn", kl_method)
        delta = E.check_delta(delta)
        E.check_method_replicates(kl_method, bootstrap, delta)
        loss_range = E.check_loss_range(loss_min, loss_max)
        table, name = _read(runs, loss_range, input_format)
        if table.loss_range is not None:
            loss_min, loss_max = table.loss_range
        kwargs = dict(loss_min=loss_min, loss_max=loss_max, delta=delta, kl_method=kl_method, jitter=jitter,
                      replicates=bootstrap, seed=seed)
        try:
            res = E.estimate(table.gaps["teacher"], table.gaps["student"], n_test_teacher=table.n_test["teacher"],
                             n_test_student=table.n_test["student"], pairs=table.pairs, **kwargs)
        except E.TieError as tie:
            raise tie_error(tie, table) from None
    except KdboundError as exc:
        raise _python_error(exc) from None
    report = estimate_report(res, table, name, kwargs, _identity)
    info = {k: v for k, v in report.extra.items() if k != "basis"}
    return EstimateResult(results=dict(report.results), basis=dict(report.extra["basis"]),
                          checks=tuple((c.status, c.condition, c.reason) for c in report.checks),
                          notes=tuple(report.notes), info=info, inputs=dict(report.inputs), estimate=res)
