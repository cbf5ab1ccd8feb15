"""`kdbound distill`: run the distillation experiment on real data and models, then estimate's report on the runs.

Every option is checked before any model is fitted; :func:`kdbound.experiment.runner.run_distill` runs the
experiment (runs files written as runs complete, resumable); each student's rows then go through
:func:`kdbound.cli.estimate.runs_report`, the function ``kdbound estimate`` reports with, on the text of
that student's runs file, so distill prints the report ``kdbound estimate`` gives on the file.  What distill
says besides is :mod:`kdbound.render.explain_distill`'s.  scikit-learn, joblib and dask load inside the
experiment layer, when the experiment runs.
"""

from __future__ import annotations

import logging
import os
import re

from ..engine.distill import gap_row, loss_range
from ..engine.estimate import MIN_RUNS
from ..errors import InputError
from ..experiment import runner as R
from ..experiment.executor import check_executor
from ..experiment.models import require_sklearn
from ..formats import Format
from ..io.arrow import require_pyarrow
from ..io.runs import journal_path, runs_format, runs_text, sidecar_path
from ..render import Environment
from ..render.explain_distill import (NOT_WRITTEN, distill_report, experiment_line, failure_line, model_lines,
                                      written_line)
from ..render.progress import Progress
from ..render.report import render_report, render_reports, write_reports
from .estimate import TEXT_COLUMNS, check_options, runs_report
from .options import Common, check_output, environment, option_name, output_format, select_columns

#: the options of estimate's report that distill does not take (it reports with estimate's defaults)
NOT_ESTIMATE = ("runs", "input_format", "output")


def file_part(spec: str) -> str:
    """A student's spec as part of a file name: each run of characters other than letters, digits, ``.``,
    ``_``, ``=`` and ``-`` becomes ``-`` (``mlp:64,32`` -> ``mlp-64-32``)."""
    return re.sub(r"[^A-Za-z0-9._=-]+", "-", spec).strip("-") or "student"


def student_paths(runs_out: str | None, students: tuple[str, ...]) -> list[str] | None:
    """The runs file of each student: ``runs_out`` itself for one student; for several, the student's spec
    inserted before the extension (``runs.csv`` -> ``runs.logistic.csv``, ``runs.mlp-8.csv``)."""
    if runs_out is None:
        return None
    runs_format(runs_out)  # the extension of the name given, before any name is derived from it
    if len(students) == 1:
        return [runs_out]
    stem, ext = os.path.splitext(runs_out)
    return [f"{stem}.{file_part(s)}{ext}" for s in students]


def _settings(opts: dict) -> R.DistillSettings:
    students = tuple(opts["student"] or ("logistic",))
    return R.DistillSettings(
        data=opts["data"], target=opts["target_column"], teacher=opts["teacher"], students=students, n=opts["n"],
        runs=opts["runs"], seed=opts["seed"], labels=opts["labels"], temperature=opts["temperature"],
        loss=opts["loss"], log_clip=opts["log_clip"], test_size=opts["test_size"], min_test=opts["min_test"],
        scale=opts["scale"])


def _check_report_options(common: Common, report: bool) -> None:
    if report:
        return
    for name, given in (("format", common.fmt), ("columns", common.columns), ("output", common.output)):
        if given is not None:
            raise InputError("only with the report; {no_estimate} prints none", name, refs=("no_estimate",))


def _estimate_options(defaults: dict, settings: R.DistillSettings) -> dict:
    """estimate's checked options: its defaults, with the loss range the runs file records (so that sigma is
    the certified b - a, as with ``kdbound estimate RUNS --loss-min a --loss-max b``)."""
    opts = {k: v for k, v in defaults.items() if k not in NOT_ESTIMATE}
    opts["loss_min"], opts["loss_max"] = loss_range(settings.loss, settings.log_clip)
    return check_options(opts)


def run_distill(opts: dict, common: Common, env: Environment | None, estimate_defaults: dict) -> int:
    env = environment(env, common)
    require_sklearn()  # first: without the extra, that is the one thing to say
    report = not opts.pop("no_estimate")
    _check_report_options(common, report)
    fmt = output_format(common, env) if report else None
    settings = R.check_settings(_settings(opts))
    backend, scheduler = opts["backend"], opts["scheduler"]
    jobs = check_executor(backend, opts["jobs"], scheduler)
    paths = student_paths(opts["runs_out"], settings.students)
    kwargs = _estimate_options(estimate_defaults, settings) if report else None
    check_output(common, ("data", settings.data, ()),  # a bad output path fails before any run
                 *(("runs_out", p, (sidecar_path(p), journal_path(p))) for p in (paths or ())))
    if report:
        require_pyarrow(None, "the report: ")
    elif paths is not None and runs_format(paths[0]) == Format.PARQUET:
        require_pyarrow("runs_out")
    if common.columns is not None:
        select_columns(common, _report_keys(kwargs, settings))  # checked before any run
    if backend == "dask":  # the models' warnings are counted per run; Dask's own log lines are not for the user
        logging.getLogger("distributed").setLevel(logging.ERROR)
    progress = Progress(env, "distill runs")
    try:
        result = R.run_distill(settings, runs_out=paths, resume=opts["resume"], jobs=jobs, backend=backend,
                               scheduler=scheduler, on_error=common.on_error, progress=progress)
    finally:
        progress.close()
    env.warn(f"kdbound: {experiment_line(result, jobs, backend, scheduler)}")
    for line in [*model_lines(result), failure_line(result, option_name), written_line(paths or ())]:
        if line is not None:
            env.warn(f"kdbound: {line}")
    if report:
        _report(result, kwargs, fmt, common, env)
    return 0


def _report_keys(kwargs: dict, settings: R.DistillSettings) -> list[str]:
    """The result keys of estimate's report, from a report on three made-up runs of the runs file's own columns
    (so that ``--columns`` is checked before any model is fitted, against the keys the report will have)."""
    from ..io import table_read  # pyarrow: found by run_distill before this is called

    a, b = kwargs["loss_min"], kwargs["loss_max"]
    rows = [gap_row(role, i, settings.seed, a, a + (b - a) * (0.2 + 0.1 * i + 0.05 * k), 100, (a, b), 0.5, True,
                    settings.teacher, settings.students[0]) for i in range(3) for k, role in enumerate(("teacher",
                                                                                                        "student"))]
    found = table_read.read_columns_of(runs_text(rows).encode("utf-8"), Format.CSV, TEXT_COLUMNS)
    quiet = Environment(quiet=True, stdout_isatty=False, stderr_isatty=False)
    return list(runs_report(found, "-", kwargs, quiet).results)


def _report(result: R.DistillResult, kwargs: dict, fmt: Format, common: Common, env: Environment) -> None:
    """estimate's report on each student's runs, as ``kdbound estimate`` gives it on the runs file."""
    from ..io import table_read  # pyarrow: found by run_distill before the experiment ran

    reports = {}
    for runs in result.students:
        complete = len(runs.rows) // 2
        if complete < MIN_RUNS:
            raise InputError(f"the report needs at least {MIN_RUNS} complete runs; the student {runs.student} has "
                             f"{complete} (the others failed: see above)", "on_error")
        found = table_read.read_columns_of(runs_text(runs.rows).encode("utf-8"), Format.CSV, TEXT_COLUMNS)
        est = runs_report(found, runs.path or NOT_WRITTEN, kwargs, env, settings=runs.settings)
        reports[runs.student] = distill_report(est, runs, select_columns(common, list(est.results)))
    if common.output is not None:
        write_reports(reports, fmt, common.output, env, key="student")
        env.warn(f"kdbound: wrote {common.output}")
    elif len(reports) == 1:
        render_report(next(iter(reports.values())), fmt, env)
    else:
        render_reports(reports, fmt, env, key="student")
