"""The distillation experiment: settings checked, runs executed, rows written as they complete, resumable.

:func:`run_distill` is the entry point (the ``kdbound distill`` command is a thin
layer on it)::

    from kdbound.experiment.runner import DistillSettings, run_distill
    result = run_distill(DistillSettings(data="digits", teacher="mlp:64:max_iter=500", students=("logistic",), n=300,
                                          runs=200),
                         runs_out="runs.csv", jobs=2)
    result.rows          # GapRow tuples in (run, role) order, kdbound estimate's runs format

Several students share each run's draw and teacher fit; each student's rows go
to its own runs file (``runs_out`` then lists one path per student), and equal
those of an experiment with that student alone.  The same ``seed`` gives the
same rows whatever the executor, the number of jobs or the order in which runs
complete (for equal library versions, which the runs file records).

When a model is a ``module:function`` factory, run 0 is fitted twice and the
rows compared: a factory that ignores its ``random_state`` is refused (kdbound
sets the built-in models' ``random_state`` itself).
"""

from __future__ import annotations

import math
import os
import signal
import threading
import warnings
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from ..engine.distill import DEFAULT_LOG_CLIP, LABELS, LOSSES, GapRow, Pool, class_counts, loss_range
from ..engine._checks import integer
from ..errors import InputError, ParameterError
from ..io.runs import RunsFile
from .data import load_pool
from .executor import TaskLost, default_jobs, open_executor
from .models import ModelSpec, check_model, parse_spec, require_sklearn
from .protocol import Failure, Note, Outcome, Plan, library_versions, run
from .workers import add_import_path

SCALES = ("none", "standard")
#: the embedded default's teacher: an MLP of 64 hidden units; 500 iterations, where scikit-learn's 200 stop
#: most fits on digits before its optimiser converges (the fits end early: a run takes no longer)
DEFAULT_TEACHER = "mlp:64:max_iter=500"
ON_ERROR = ("stop", "skip")
#: the most runs one experiment takes (10^6 runs of the fastest models are days of fitting)
MAX_RUNS = 1_000_000
#: settings a resume may change: the number of runs, the held-out minimum, how the pool was named (its digest decides)
RESUMABLE = ("runs", "min_test", "data", "target")


@dataclass(frozen=True)
class DistillSettings:
    """What decides an experiment's rows (engine names; the CLI spells them as options).

    ``students`` may name several students: they share each run's draw and teacher.
    ``scale`` is ``"standard"`` (each run's features standardised with its training
    statistics) or ``"none"``; ``test_size`` caps the held-out set; ``min_test`` is
    the fewest held-out examples allowed; ``log_clip`` is the log loss's eps.
    """

    data: str = "digits"
    target: str | None = None
    teacher: str = DEFAULT_TEACHER
    students: tuple[str, ...] = ("logistic",)
    n: int = 300
    runs: int = 200
    seed: int = 0
    labels: str = "hard"
    temperature: float = 1.0
    loss: str = "zero-one"
    log_clip: float = DEFAULT_LOG_CLIP
    test_size: int | None = None
    min_test: int = 100
    scale: str = "none"


class ModelError(InputError):
    """A model failed in a run (``--on-error stop``): the message names the run, the model and its own error."""

    def __init__(self, failure: Failure, kept: int = 0, to_file: bool = False):
        self.failure = failure
        if kept == 0:
            after, refs = "; no run had completed", ()
        elif to_file:
            after, refs = f"; the {kept} completed run{'s are' if kept > 1 else ' is'} kept in the runs file", ()
        else:
            after, refs = (f"; the {kept} completed run{'s are' if kept > 1 else ' is'} not kept (no {{runs_out}})",
                           ("runs_out",))
        super().__init__(failure.describe() + after, failure.role if failure.role in ("teacher", "student") else None,
                         refs=refs)


@dataclass(frozen=True)
class StudentRuns:
    """One student's runs: ``rows`` in (run, role) order, the runs file (or None) and its ``settings``."""

    student: str
    rows: tuple[GapRow, ...]
    path: str | None
    settings: dict

    def mean_accuracy(self, role: str) -> float:
        """The mean held-out accuracy of the ``role`` rows (NaN without rows)."""
        acc = [r.test_accuracy for r in self.rows if r.role == role]
        return float(np.mean(acc)) if acc else math.nan

    def converged(self, role: str) -> tuple[int, int]:
        """(rows whose model converged, rows) of ``role``."""
        flags = [r.converged for r in self.rows if r.role == role]
        return sum(flags), len(flags)


@dataclass(frozen=True)
class DistillResult:
    """The experiment's rows per student, what failed (``on_error="skip"``), and the models' warnings counted.

    ``computed`` runs were fitted by this call, ``kept`` came from existing runs files.
    """

    students: tuple[StudentRuns, ...]
    failures: tuple[Failure, ...]
    notes: tuple[Note, ...]
    computed: int
    kept: int
    pool_size: int
    pool_digest: str

    @property
    def rows(self) -> tuple[GapRow, ...]:
        """The rows of the first (usually only) student."""
        return self.students[0].rows


# --------------------------------------------------------------------------- settings

def _choice(name: str, value, choices) -> str:
    if value not in choices:
        raise ParameterError(name, f"must be one of {', '.join(choices)}", value)
    return value


def check_settings(s: DistillSettings) -> DistillSettings:
    """Every setting that can be checked without the data; returns them normalised."""
    runs = integer("runs", s.runs, 2)
    if runs > MAX_RUNS:
        raise ParameterError("runs", f"must be <= {MAX_RUNS:,} (each run fits two models; the rows of every run are "
                             "kept in memory for the report)", runs)
    n = integer("n", s.n, 1)
    seed = integer("seed", s.seed, 0)
    if seed >= 2 ** 63:
        raise ParameterError("seed", "must be < 2**63", seed)
    _choice("labels", s.labels, LABELS)
    _choice("loss", s.loss, LOSSES)
    scale = _choice("scale", "none" if s.scale is None else s.scale, SCALES)
    temperature = s.temperature
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not (
            math.isfinite(temperature) and temperature > 0):
        raise ParameterError("temperature", "must be a finite number > 0", temperature)
    if s.labels == "hard" and temperature != 1:
        raise InputError("only with soft labels (hard labels are the teacher's argmax)", "temperature",
                         refs=("labels",))
    if s.loss != "log" and s.log_clip != DEFAULT_LOG_CLIP:
        raise InputError("only with the log loss", "log_clip", refs=("loss",))
    loss_range(s.loss, s.log_clip)
    min_test = integer("min_test", s.min_test, 1)
    test_size = None if s.test_size is None else integer("test_size", s.test_size, 1)
    if test_size is not None and test_size < min_test:
        raise ParameterError("test_size", f"must be >= {{min_test}} = {min_test}", test_size)
    students = (s.students,) if isinstance(s.students, str) else tuple(s.students)
    if not students:
        raise InputError("give at least one student", "student")
    return DistillSettings(s.data, s.target, s.teacher, students, n, runs, seed, s.labels, float(temperature), s.loss,
                           float(s.log_clip), test_size, min_test, scale)


@dataclass
class Experiment:
    """Everything a run needs, checked once in this process before any executor starts."""

    settings: DistillSettings
    pool: Pool
    plan: Plan
    teacher: ModelSpec
    students: tuple[ModelSpec, ...]
    versions: dict
    records: list = field(default_factory=list)

    @property
    def factories(self) -> list[tuple[str, str]]:
        """(role, module) of every factory."""
        specs = [("teacher", self.teacher)] + [("student", s) for s in self.students]
        return [(role, s.text.partition(":")[0]) for role, s in specs if s.is_factory]


def prepare(settings: DistillSettings) -> Experiment:
    """Settings checked, pool loaded, models built once here (classifiers; soft labels allowed), records made."""
    s = check_settings(settings)
    require_sklearn()
    teacher = parse_spec(s.teacher, "teacher")
    students = tuple(parse_spec(t, "student") for t in s.students)
    if len({m.text for m in students}) != len(students):
        raise InputError(f"names a student twice ({', '.join(m.text for m in students)})", "student")
    if any(m.is_factory for m in (teacher, *students)):
        add_import_path(os.getcwd())
    with warnings.catch_warnings():  # each run captures and counts its models' warnings; these would repeat them
        warnings.simplefilter("ignore")
        check_model(teacher, "teacher")
        for m in students:
            check_model(m, "student", soft=s.labels == "soft")
    pool = load_pool(s.data, s.target)
    counts = class_counts(np.bincount(pool.y, minlength=pool.n_classes), s.n)
    held = pool.size - s.n
    if held < s.min_test:
        raise ParameterError("n", f"leaves {held} of the {pool.size} examples held out; at least {{min_test}} = "
                             f"{s.min_test} are needed", s.n)
    plan = Plan(teacher.text, tuple(m.text for m in students), tuple(int(c) for c in counts), s.labels,
                s.temperature, s.loss, s.log_clip, s.test_size, None if s.scale == "none" else s.scale, s.seed)
    exp = Experiment(s, pool, plan, teacher, students, library_versions())
    exp.records = [_record(exp, m.text) for m in students]
    return exp


def _record(exp: Experiment, student: str) -> dict:
    """The settings a runs file carries: JSON-ready, no timing or host."""
    s, pool = exp.settings, exp.pool
    a, b = loss_range(s.loss, s.log_clip)
    return {"command": "distill", "data": s.data, "target": s.target,
            "pool": {"size": pool.size, "features": int(pool.x.shape[1]), "classes": pool.n_classes,
                     "digest": pool.digest},
            "teacher": exp.teacher.text, "student": student, "labels": s.labels,
            "temperature": s.temperature if s.labels == "soft" else None, "n": s.n,
            "class_counts": list(exp.plan.counts), "runs": s.runs, "seed": s.seed, "loss": s.loss,
            "log_clip": s.log_clip if s.loss == "log" else None, "loss_min": a, "loss_max": b,
            "test_size": s.test_size, "min_test": s.min_test, "scale": s.scale, "draw": "stratified",
            "versions": exp.versions}


# --------------------------------------------------------------------------- sinks

class _Memory:
    """Rows kept in memory (no runs file)."""

    path = None

    def __init__(self):
        self.runs: dict[int, tuple[GapRow, GapRow]] = {}

    def append(self, index: int, rows) -> None:
        self.runs[index] = rows

    def finish(self) -> None:
        pass

    def discard(self) -> None:
        pass

    def close(self) -> None:
        pass


def _paths(runs_out, students: int) -> list:
    if runs_out is None:
        return [None] * students
    paths = [runs_out] if isinstance(runs_out, (str, os.PathLike)) else list(runs_out)
    if len(paths) != students:
        raise InputError(f"give one runs file per student ({students}), got {len(paths)}", "runs_out",
                         refs=("student",))
    if len({os.path.realpath(p) for p in paths}) != len(paths):
        raise InputError("each student needs its own runs file", "runs_out")
    return [os.fspath(p) for p in paths]


def open_sinks(exp: Experiment, runs_out, resume: bool) -> list:
    """One sink per student: a :class:`RunsFile` (new, or resumed with its complete runs) or memory."""
    sinks: list = []
    try:
        for path, record in zip(_paths(runs_out, len(exp.students)), exp.records):
            sink = _Memory() if path is None else RunsFile(path, record, resume, RESUMABLE)
            sinks.append(sink)
            beyond = [i for i in sink.runs if i >= exp.settings.runs]
            if beyond:
                raise ParameterError("runs", f"must be > {max(beyond)}: {path!r} already holds run {max(beyond)}",
                                     exp.settings.runs)
    except BaseException:
        for sink in sinks:
            sink.close()
        raise
    return sinks


# --------------------------------------------------------------------------- running

class _Progress:
    """What the runs gave so far: failures, warnings counted, runs computed."""

    def __init__(self, exp: Experiment, sinks: list, on_error: str, progress, total: int):
        self.exp, self.sinks, self.on_error, self.progress, self.total = exp, sinks, on_error, progress, total
        self.failures: list[Failure] = []
        self.notes: Counter = Counter()
        self.done = 0
        self.interrupted = False  # set by the SIGINT handler of _noting_interrupts

    def record(self, index: int, outcome: Outcome) -> None:
        if self.interrupted:  # a model swallowed Ctrl-C (MLPClassifier returns half trained): keep none of it
            raise KeyboardInterrupt
        for note in outcome.notes:
            self.notes[(note.role, note.spec, note.category, note.message)] += note.count
        for k in outcome.wanted:
            pair = outcome.pair(k)
            if pair is not None:
                self.sinks[k].append(index, pair)
        self.failures += outcome.failures
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total)
        if outcome.failures and self.on_error == "stop":
            raise self._stop(outcome.failures[0])

    def _stop(self, failure: Failure) -> ModelError:
        """The error that stops the experiment, saying what is kept of the runs completed so far."""
        kept = min(len(sink.runs) for sink in self.sinks) if self.sinks else 0
        return ModelError(failure, kept, all(sink.path is not None for sink in self.sinks))

    def lost(self, index: int, lost: TaskLost, fatal: bool) -> None:
        if self.interrupted:  # Ctrl-C reached the workers too: the interrupt is what happened
            raise KeyboardInterrupt
        runs = sorted({0 if k == "twin" else k for k in lost.in_flight})
        if len(runs) > 1:  # which of them killed it cannot be told
            failure = Failure(runs[0], "worker", "", f"a process died while runs {', '.join(map(str, runs))} were "
                              f"running on the pool ({lost.message})")
        else:
            failure = Failure(index, "worker", "", f"the process running it died ({lost.message})")
        if fatal or self.on_error == "stop":
            raise self._stop(failure)
        self.failures.append(failure)
        self.done += 1


@contextmanager
def _noting_interrupts(state: _Progress):
    """Ctrl-C noted on ``state`` as well as raised: scikit-learn's MLPClassifier catches the KeyboardInterrupt
    and returns a half-trained model, whose row would be kept as a finished run (and kept by a resume).
    Only in the main thread, and an ignored SIGINT stays ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    if not callable(previous):  # SIG_IGN (nohup, a background job) or SIG_DFL, or not set from Python
        yield
        return

    def handler(signum, frame):
        state.interrupted = True
        previous(signum, frame)  # Python's handler, or the console script's: raises KeyboardInterrupt
        raise KeyboardInterrupt  # pragma: no cover - a previous handler that did not raise

    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _twins(exp: Experiment, a: Outcome, b: Outcome) -> None:
    """Run 0 fitted twice: equal rows, or the factory that ignores its seed named."""
    pairs = [("teacher", exp.teacher, a.teacher, b.teacher)]
    pairs += [("student", exp.students[k], x, y) for k, x, y in zip(a.wanted, a.students, b.students)]
    for role, spec, x, y in pairs:
        if x != y:
            what = f" (test_loss {x.test_loss!r} and {y.test_loss!r})" if x is not None and y is not None else ""
            culprit = "the factory" if spec.is_factory else "the model"
            raise InputError(f"{culprit} {spec.text!r} ignores its random_state: run 0 fitted twice with the same "
                             f"seed gave different rows{what}; pass random_state on to the model", role)


def _todo(exp: Experiment, sinks: list) -> dict[int, tuple[int, ...]]:
    """{run index: the students still lacking it}, in index order."""
    out = {}
    for i in range(exp.settings.runs):
        wanted = tuple(k for k, sink in enumerate(sinks) if i not in sink.runs)
        if wanted:
            out[i] = wanted
    return out


def execute(exp: Experiment, sinks: list, todo: dict, state: _Progress, executor_args: dict) -> None:
    """Submit every missing run, then write each as it completes (run 0 after its twin when factories are used)."""
    twin = bool(exp.factories) and 0 in todo
    jobs = executor_args.get("jobs")
    jobs = default_jobs() if jobs is None else jobs
    if isinstance(jobs, int) and not isinstance(jobs, bool) and jobs >= 1:
        jobs = min(jobs, len(todo) + twin)  # no idle workers to start (open_executor refuses a bad value)
    executor_args["jobs"] = jobs
    executor = open_executor(run, exp.pool, modules=exp.factories,
                             versions=(library_versions, exp.versions), **executor_args)
    try:
        for i, wanted in todo.items():
            executor.submit(i, exp.plan, i, wanted)
            if twin and i == 0:
                executor.submit("twin", exp.plan, 0, wanted)
        held: dict = {}
        for key, result in executor.completed():
            if isinstance(result, TaskLost):
                state.lost(0 if key == "twin" else key, result, fatal=executor.name == "joblib")
                continue
            if twin and key in (0, "twin"):
                held[key] = result
                if len(held) < 2:
                    continue
                _twins(exp, held[0], held["twin"])
                key, result = 0, held[0]
            state.record(key, result)
    finally:
        executor.close()


def run_distill(settings: DistillSettings, runs_out=None, resume: bool = False, jobs: int | None = None,
                backend: str = "joblib", scheduler: str | None = None, on_error: str = "stop", progress=None,
                connect_timeout: float = 10.0) -> DistillResult:
    """Run the experiment ``settings``; returns every student's rows, failures and the models' warnings.

    ``runs_out`` is a runs file (CSV, TSV, JSON Lines or Parquet; one per student when there are several),
    written as runs complete; with ``resume`` an existing file's complete runs are kept and only the missing
    ones run.  ``jobs`` workers (default: every core; 1 runs in this process) on ``backend`` ``joblib`` or
    ``dask`` (at ``scheduler``, else a LocalCluster).  ``on_error`` ``stop`` raises :class:`ModelError` at the
    first model that fails (completed runs are kept); ``skip`` records it and goes on.  ``progress(done,
    total)`` is called after each run.
    """
    _choice("on_error", on_error, ON_ERROR)
    if resume and runs_out is None:
        raise InputError("only with a runs file to resume ({runs_out})", "resume", refs=("runs_out",))
    exp = prepare(settings)
    sinks = open_sinks(exp, runs_out, resume)
    kept = len(set.intersection(*(set(s.runs) for s in sinks)))
    todo = _todo(exp, sinks)
    state = _Progress(exp, sinks, on_error, progress, len(todo))
    try:
        if todo:
            with _noting_interrupts(state):
                execute(exp, sinks, todo, state, dict(backend=backend, jobs=jobs, scheduler=scheduler,
                                                       connect_timeout=connect_timeout, paths=_paths_for(exp)))
    except ModelError:
        for sink in sinks:  # a controlled stop: the completed runs as a finished file (none: no file left)
            sink.discard()
        raise
    except BaseException:
        for sink in sinks:  # interrupted: the file stays resumable as it is
            sink.close()
        raise
    for sink in sinks:
        sink.finish()
    students = tuple(StudentRuns(m.text, tuple(r for i in sorted(sink.runs) for r in sink.runs[i]), sink.path, rec)
                     for m, sink, rec in zip(exp.students, sinks, exp.records))
    notes = tuple(Note(*key, count) for key, count in sorted(state.notes.items()))
    return DistillResult(students, tuple(state.failures), notes, state.done, kept, exp.pool.size, exp.pool.digest)


def _paths_for(exp: Experiment) -> tuple[str, ...]:
    """The driver's working directory, for the workers' import path when a factory is used."""
    return (os.getcwd(),) if exp.factories else ()
