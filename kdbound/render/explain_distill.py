"""What ``kdbound distill`` says about its experiment: estimate's report on each student's runs (the
same keys, checks, notes and basis words, so that ``kdbound estimate`` on the runs file says the
same), the models' mean held-out accuracy beside it, and one line per role on stderr for the models'
warnings and fits that did not converge, instead of every warning they raised.
Presentation only: the rows come from :mod:`kdbound.experiment.runner`, the report from estimate's."""

from __future__ import annotations

import math

from .report import Report

#: what the report's ``runs`` input says when the runs went to no file
NOT_WRITTEN = "(not written: no --runs-out)"
#: the warning category that marks a fit as not converged (scikit-learn's)
CONVERGENCE = "ConvergenceWarning"


def _g(x: float) -> str:
    return "nan" if math.isnan(x) else f"{x:.3g}"


def distill_report(estimate: Report, runs, columns: list[str] | None = None) -> Report:
    """``estimate``'s report on one student's runs (``runs``: a
    :class:`~kdbound.experiment.runner.StudentRuns`), as distill prints it: the command named, the
    mean held-out accuracy of each role and the experiment's settings added (the results, checks and
    notes stay estimate's); ``columns`` keeps only those result keys, in that order."""
    extra = dict(estimate.extra)
    extra["teacher"], extra["student"] = runs.settings.get("teacher"), runs.student
    extra["teacher_accuracy"] = runs.mean_accuracy("teacher")
    extra["student_accuracy"] = runs.mean_accuracy("student")
    extra["experiment"] = dict(runs.settings)
    results = estimate.results if columns is None else {k: estimate.results[k] for k in columns}
    return estimate._replace(command="distill", extra=extra, results=results)


def _short(message: str, most: int = 100) -> str:
    """A warning's message cut at a word before ``most`` characters."""
    if len(message) <= most:
        return message
    return message[:most].rsplit(" ", 1)[0] + " ..."


def _convergence(runs, role: str) -> str:
    ok, total = runs.converged(role)
    if ok == total:
        return f"every fit of the {total} runs converged" if total else "no complete run"
    return f"{total - ok} of {total} fits did not converge"


def _warnings(notes, role: str, spec: str) -> str:
    """The model's warnings in the runs computed now: the convergence message once, the others counted."""
    mine = [n for n in notes if n.role == role and n.spec == spec]
    if not mine:
        return ""
    conv = [n for n in mine if n.category == CONVERGENCE]
    other = [n for n in mine if n.category != CONVERGENCE]
    parts = []
    if conv:
        top = max(conv, key=lambda n: n.count)
        parts.append(f"{CONVERGENCE}: {_short(top.message)}")
    if other:
        top = max(other, key=lambda n: n.count)
        count = sum(n.count for n in other)
        parts.append(f"{count} other warning{'s' if count != 1 else ''}, most often {top.category}: "
                     f"{_short(top.message)}")
    return " (" + "; ".join(parts) + ")"


def model_lines(result) -> list[str]:
    """One line per role (the teacher, then each student): the mean held-out accuracy, the fits that did not
    converge and the warnings the models raised, counted (scikit-learn's and Dask's are never printed)."""
    if not result.students:
        return []
    first = result.students[0]
    teacher = first.settings.get("teacher", "")
    lines = [f"teacher {teacher}: mean held-out accuracy {_g(first.mean_accuracy('teacher'))}; "
             f"{_convergence(first, 'teacher')}{_warnings(result.notes, 'teacher', teacher)}"]
    for runs in result.students:
        lines.append(f"student {runs.student}: mean held-out accuracy {_g(runs.mean_accuracy('student'))}; "
                     f"{_convergence(runs, 'student')}{_warnings(result.notes, 'student', runs.student)}")
    return lines


def failure_line(result, spell) -> str | None:
    """The runs that failed and were skipped (``--on-error skip``), the first one's error quoted."""
    if not result.failures:
        return None
    runs = sorted({f.index for f in result.failures})
    more = len(result.failures) - 1
    return (f"{len(runs)} run{'s' if len(runs) != 1 else ''} failed and {'were' if len(runs) != 1 else 'was'} "
            f"skipped ({spell('on_error')} skip): {result.failures[0].describe()}"
            + (f" (and {more} more failure{'s' if more != 1 else ''})" if more else ""))


def experiment_line(result, jobs: int, backend: str, scheduler: str | None) -> str:
    """What ran: the runs computed now and those kept from the runs files, and where."""
    s = result.students[0].settings if result.students else {}
    head = f"distill: {s.get('data')} (pool of {result.pool_size}), n = {s.get('n')}, {s.get('runs')} runs: "
    if not result.computed:
        return head + f"none to compute, all {result.kept} kept from the runs file"
    kept = f", {result.kept} kept from the runs file" if result.kept else ""
    if scheduler is not None:
        where = f"on the Dask cluster at {scheduler}"
    elif backend == "joblib" and jobs == 1:
        where = "in this process"
    else:
        workers = min(jobs, max(result.computed, 1))
        where = f"on {workers} {'local Dask' if backend == 'dask' else 'joblib'} worker{'s' if workers != 1 else ''}"
    return head + f"{result.computed} computed {where}{kept}"


def written_line(paths) -> str | None:
    """Where the runs went."""
    paths = [p for p in paths if p is not None]
    return f"wrote {', '.join(paths)}" if paths else None
