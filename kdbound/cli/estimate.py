"""`kdbound estimate`: read a table of training runs, check every row, call the engine, render the bounds.

The runs are read and checked by :mod:`kdbound.io.runs_table` (pyarrow, imported inside its
functions once :func:`kdbound.io.arrow.require_pyarrow` has found it); what estimate says about
its result is :mod:`kdbound.render.explain_estimate`'s.
"""

from __future__ import annotations

import math


from ..engine import estimate as E
from ..errors import InputError, ParameterError
from ..io.arrow import require_pyarrow
from ..io.runs import sidecar_path
from ..io.runs_table import TEXT_COLUMNS, Runs, read_runs, runs_from_columns, tie_error
from ..render import Environment
from ..render.explain_estimate import ROLES, estimate_report
from ..render.progress import Progress
from .options import Common, check_output, emit_report, environment, option_name, output_format, select_report

# the runs table is read and checked by kdbound.io.runs_table (shared with the Python API, kdbound.api)
__all__ = ["Runs", "TEXT_COLUMNS", "read_runs", "check_options", "check_counts", "run_estimate", "runs_report",
           "parse_jitter"]


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


#: estimate's options and their defaults (a caller such as distill may give only some of them)
DEFAULTS = {"loss_min": None, "loss_max": None, "delta": 0.05, "kl_method": "gauss", "jitter": None,
            "bootstrap": None, "seed": 0}


def check_options(opts: dict) -> dict:
    """Every option checked before the file is read; returns the engine's keyword arguments.  ``opts`` holds
    the options by engine name; a missing one takes its default (:data:`DEFAULTS`)."""
    opts = {**DEFAULTS, **opts}
    method = (opts["kl_method"] or "").strip().lower()
    if method not in E.KL_METHODS:
        raise ParameterError("kl_method", "must be gauss or knn", opts["kl_method"])
    delta = E.check_delta(opts["delta"])
    replicates = E.check_method_replicates(method, opts["bootstrap"], delta)
    E.check_loss_range(opts["loss_min"], opts["loss_max"])
    jitter = parse_jitter(opts["jitter"])
    if jitter is not None and method != "knn":
        raise InputError("only with {kl_method} knn (the Gaussian fit has no ties to break)", "jitter",
                         refs=("kl_method",))
    seed = opts["seed"]
    if seed is not None and seed < 0:
        raise ParameterError("seed", "must be >= 0", seed)
    return dict(loss_min=opts["loss_min"], loss_max=opts["loss_max"], delta=delta, kl_method=method, jitter=jitter,
                replicates=replicates if method == "gauss" else None, seed=seed)


# --------------------------------------------------------------------------- the runs table

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
    """``kdbound estimate RUNS``: ``opts`` holds estimate's options by engine name (``loss_min``, ``loss_max``,
    ``delta``, ``kl_method``, ``jitter``, ``bootstrap`` (None: 1000 for gauss; knn takes none), ``seed``);
    missing ones take their defaults (:data:`DEFAULTS`)."""
    env = environment(env, common)
    fmt = output_format(common, env)
    kwargs = check_options(opts)
    check_output(common, ("RUNS", path, (sidecar_path(path),)))  # a bad output path fails before any work
    loss_range = E.check_loss_range(kwargs["loss_min"], kwargs["loss_max"])
    require_pyarrow(None, "RUNS: ")
    report = _report(read_runs(path, common.input_format, loss_range), path, kwargs, env)
    emit_report(select_report(report, common), fmt, common, env)
    return 0


def runs_report(found: dict, path: str, kwargs: dict, env: Environment, settings: dict | None = None):
    """estimate's report on a runs table: ``found`` its columns (as :func:`kdbound.io.table_read.read_columns`
    reads them, :data:`TEXT_COLUMNS` as text), ``path`` its name, ``kwargs`` the checked options
    (:func:`check_options`), ``settings`` those of the experiment that wrote it (a distill runs file's; None
    when the table has none).  ``kdbound distill`` reports through this function, so its report is the one
    ``kdbound estimate`` gives on its runs file."""
    runs = runs_from_columns(found, E.check_loss_range(kwargs["loss_min"], kwargs["loss_max"]))
    runs.settings = settings
    return _report(runs, path, kwargs, env)


def _report(runs: Runs, path: str, kwargs: dict, env: Environment):
    """The engine's estimate on checked runs, and its report."""
    check_counts(runs, kwargs["kl_method"])
    kwargs = dict(kwargs)
    if runs.loss_range is not None:  # the range the file's rows carry
        kwargs["loss_min"], kwargs["loss_max"] = runs.loss_range
    progress = Progress(env, "kNN limit: halvings")
    try:
        res = E.estimate(runs.gaps["teacher"], runs.gaps["student"], n_test_teacher=runs.n_test["teacher"],
                         n_test_student=runs.n_test["student"], pairs=runs.pairs, progress=progress, **kwargs)
    except E.TieError as tie:
        raise tie_error(tie, runs) from None
    finally:
        progress.close()
    return estimate_report(res, runs, path, kwargs, option_name)
