"""One run of the distillation experiment: draw, fit the teacher, label, fit the student, measure.

For run ``i`` (every number decided by :mod:`kdbound.engine.distill`):

1. draw ``D_n`` and the held-out set ``H`` (stratified, from the run's own seed);
2. fit the teacher on ``D_n`` (real labels);
3. label ``D_n``'s inputs with the teacher: hard labels ``argmax predict_proba``, or
   soft labels ``softmax(ln p / T)`` fitted through sample weights;
4. fit each student on those labels, with the student's ``random_state``.

Every probability comes from ``predict_proba`` mapped to the pool's classes
through ``classes_`` (``predict`` is never called).  Every fit and prediction runs
with BLAS and OpenMP held to one thread (``threadpoolctl``), whatever the
executor, because a thread count can change the last bits of a fit.  Warnings a
model raises are captured and returned as :class:`Note` counts, never printed;
a ``ConvergenceWarning`` marks the row ``converged = false``.  A model that fails
is a :class:`Failure` naming the run, the role and its own one-line error.

:func:`run` is the task every executor runs: it takes spec strings and numbers
(a :class:`Plan`) and returns rows (an :class:`Outcome`), never models.  Runs in
one process go one at a time (a lock): thread limits and warning capture are
process-wide, so a Dask worker with several threads still runs one at a time.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
import threading
import warnings
from collections import Counter
from dataclasses import dataclass

import numpy as np

from ..engine.distill import (GapRow, Pool, accuracy, align, draw, gap_row, hard_labels, loss_range, mean_loss,
                              run_seeds, standardize, temper, weighted_loss)
from .models import build, fit_soft, one_line, parse_spec


@dataclass(frozen=True)
class Plan:
    """What every run of one experiment shares: model specs as text, and numbers.

    ``counts`` are the per-class training counts (:func:`~kdbound.engine.distill.class_counts`);
    ``scale`` is ``"standard"`` or None; ``test_size`` caps the held-out set (None: the whole rest).
    """

    teacher: str
    students: tuple[str, ...]
    counts: tuple[int, ...]
    labels: str = "hard"
    temperature: float = 1.0
    loss: str = "zero-one"
    log_clip: float = 1e-4
    test_size: int | None = None
    scale: str | None = None
    seed: int = 0


@dataclass(frozen=True)
class Failure:
    """A model of run ``index`` that could not be built, fitted or asked for probabilities (``role`` teacher or
    student), or the process running it that died (``role`` worker, ``spec`` empty)."""

    index: int
    role: str
    spec: str
    message: str

    def describe(self) -> str:
        if not self.spec:  # not a model's error: its worker died
            return f"run {self.index}: {self.message}"
        return f"run {self.index}: the {self.role} {self.spec} failed: {self.message}"


@dataclass(frozen=True)
class Note:
    """``count`` warnings of one ``category`` and first line ``message`` raised by the ``role`` model ``spec``."""

    role: str
    spec: str
    category: str
    message: str
    count: int = 1


@dataclass(frozen=True)
class Outcome:
    """Run ``index``'s rows: the teacher row (its ``student`` cell empty until paired), and one student row per
    student index in ``wanted`` (None for a student that failed); the failures and the warnings' counts."""

    index: int
    teacher: GapRow | None
    students: tuple[GapRow | None, ...]
    wanted: tuple[int, ...]
    failures: tuple[Failure, ...] = ()
    notes: tuple[Note, ...] = ()

    def pair(self, k: int) -> tuple[GapRow, GapRow] | None:
        """(teacher row, student row) of student ``k``, or None when either failed."""
        if self.teacher is None or k not in self.wanted:
            return None
        student = self.students[self.wanted.index(k)]
        if student is None:
            return None
        return dataclasses.replace(self.teacher, student=student.student), student


_RUN_LOCK = threading.Lock()
_CONTROLLER: list = [None, -1]


def limited_threads():
    """A context that holds BLAS and OpenMP to one thread (libraries found again when new modules were imported)."""
    from threadpoolctl import ThreadpoolController  # only for distill

    if _CONTROLLER[0] is None or _CONTROLLER[1] != len(sys.modules):
        _CONTROLLER[0], _CONTROLLER[1] = ThreadpoolController(), len(sys.modules)
    return _CONTROLLER[0].limit(limits=1)


@functools.lru_cache(maxsize=64)
def _spec(text: str, role: str):
    return parse_spec(text, role)


def _is_convergence(category) -> bool:
    return any(c.__name__ == "ConvergenceWarning" for c in category.__mro__)


def _fit(role: str, spec_text: str, seed: int, fit, x_train, x_test, classes: int, index: int, notes: list):
    """(train probabilities, held-out probabilities, converged) of one model, or a Failure."""
    error = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            est = build(_spec(spec_text, role), seed)
            with limited_threads():
                fit(est)
                p_train = align(est.predict_proba(x_train), est.classes_, classes)
                p_test = align(est.predict_proba(x_test), est.classes_, classes)
        except Exception as exc:  # the model's own error, reported with the run and role
            error = one_line(exc)
    counts = Counter((w.category.__name__, " ".join(str(w.message).split())[:200]) for w in caught)
    notes += [Note(role, spec_text, cat, msg, n) for (cat, msg), n in counts.items()]
    if error is not None:
        return Failure(index, role, spec_text, error)
    return p_train, p_test, not any(_is_convergence(w.category) for w in caught)


def run(pool: Pool, plan: Plan, index: int, wanted: tuple[int, ...] | None = None) -> Outcome:
    """Run ``index`` of the experiment ``plan`` on ``pool``, for the students ``wanted`` (default: all)."""
    wanted = tuple(range(len(plan.students))) if wanted is None else tuple(wanted)
    with _RUN_LOCK:
        return _run(pool, plan, index, wanted)


def _run(pool: Pool, plan: Plan, index: int, wanted: tuple[int, ...]) -> Outcome:
    seeds = run_seeds(plan.seed, index)
    d = draw(pool.y, np.asarray(plan.counts), seeds.rng(), plan.test_size)
    x_train, x_test = pool.x[d.train], pool.x[d.test]
    if plan.scale == "standard":
        x_train, x_test = standardize(x_train, x_test)
    y_train, y_test = pool.y[d.train], pool.y[d.test]
    bounds = loss_range(plan.loss, plan.log_clip)
    classes, notes = pool.n_classes, []

    def losses(p_train, labels, p_test, soft=None):
        train = weighted_loss(p_train, soft, plan.loss, plan.log_clip) if soft is not None else \
            mean_loss(p_train, labels, plan.loss, plan.log_clip)
        return train, mean_loss(p_test, y_test, plan.loss, plan.log_clip)

    got = _fit("teacher", plan.teacher, seeds.teacher, lambda est: est.fit(x_train, y_train), x_train, x_test,
               classes, index, notes)
    if isinstance(got, Failure):
        return Outcome(index, None, (), wanted, (got,), tuple(notes))
    p_train, p_test, converged = got
    teacher = gap_row("teacher", index, plan.seed, *losses(p_train, y_train, p_test), d.test.size, bounds,
                      accuracy(p_test, y_test), converged, plan.teacher, "")
    if plan.labels == "soft":
        q, labels = temper(p_train, plan.temperature), None
        fit = functools.partial(fit_soft, x=x_train, q=q)
    else:
        q, labels = None, hard_labels(p_train)
        fit = lambda est: est.fit(x_train, labels)  # noqa: E731
    students, failures = [], []
    for k in wanted:
        got = _fit("student", plan.students[k], seeds.student, fit, x_train, x_test, classes, index, notes)
        if isinstance(got, Failure):
            failures.append(got)
            students.append(None)
            continue
        s_train, s_test, converged = got
        students.append(gap_row("student", index, plan.seed, *losses(s_train, labels, s_test, q), d.test.size,
                                bounds, accuracy(s_test, y_test), converged, plan.teacher, plan.students[k]))
    return Outcome(index, teacher, tuple(students), wanted, tuple(failures), tuple(notes))


def library_versions() -> dict:
    """The versions that decide a run's numbers: kdbound, numpy, scipy, scikit-learn and the BLAS kernels loaded.

    Rows are identical across processes and machines for equal versions; the runs file records these, a resume
    and every Dask worker must match them.
    """
    from importlib.metadata import version

    import sklearn.linear_model  # noqa: F401  (scikit-learn; loads scipy's BLAS too, so every process lists the same)
    from threadpoolctl import threadpool_info

    from .._version import __version__

    blas = sorted({" ".join(str(i.get(k)) for k in ("internal_api", "version", "architecture", "threading_layer"))
                   for i in threadpool_info() if i.get("user_api") == "blas"})
    return {"kdbound": __version__, "numpy": version("numpy"), "scipy": version("scipy"),
            "scikit-learn": version("scikit-learn"), "blas": "; ".join(blas)}
