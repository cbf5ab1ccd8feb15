"""Issue 18: the distillation experiment's overhead, and its speed-up on two local processes.

(a) overhead: kdbound's ``run_distill`` (runs file included) against a plain joblib loop that fits the same
    models on the same draws and calls ``predict_proba`` on the same training and held-out sets, with the same
    number of jobs (both starting their worker processes, as a fresh command would).  Goal: at most 1.1x for
    models that take at least 20 ms to fit (here an MLP teacher, ~0.3-0.6 s, and a logistic student, ~40 ms).
(b) scaling: ``run_distill`` with ``jobs=2`` against ``jobs=1``, in runs per second (worker start-up
    included).  Goal: at least 1.7x on a 2-core machine.

Both hold BLAS and OpenMP to one thread per process (``OMP_NUM_THREADS=1`` and friends, set before numpy is
imported), so that the figures measure the experiment's parallelism, not numpy's.  Candidate and baseline
alternate in one process (the order swapped every repeat); the figures are the median of the paired ratios
and their spread.  On a machine shared with other work the ratios are noisy: the spread says how much.

Run:  python benchmarks/bench_distill.py [--which overhead scaling] [--repeats 5] [--runs 24]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ.setdefault("PYTHONWARNINGS", "ignore")  # the plain loop's workers print convergence warnings

import argparse  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
from joblib import Parallel, delayed  # noqa: E402
from joblib.externals.loky import get_reusable_executor  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402

from kdbound.engine.distill import class_counts, draw, run_seeds  # noqa: E402
from kdbound.experiment.runner import DistillSettings, run_distill  # noqa: E402

TEACHER, STUDENT, N = "mlp:64", "logistic", 300


def plain_run(x, y, train, test, rs_teacher, rs_student):
    """One run as anyone would write it: fit, predict_proba on both sets, label, fit, predict_proba."""
    teacher = MLPClassifier((64,), random_state=rs_teacher).fit(x[train], y[train])
    p_train = teacher.predict_proba(x[train])
    teacher.predict_proba(x[test])
    student = LogisticRegression(random_state=rs_student).fit(x[train], teacher.classes_[p_train.argmax(axis=1)])
    student.predict_proba(x[train])
    return student.predict_proba(x[test]).shape


def plain_loop(x, y, draws, seeds, jobs):
    """The baseline, from cold workers as a fresh script would start (joblib otherwise reuses its pool between
    calls, while each ``kdbound distill`` is a process of its own)."""
    get_reusable_executor().shutdown(wait=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Parallel(n_jobs=jobs)(delayed(plain_run)(x, y, d.train, d.test, s.teacher, s.student)
                              for d, s in zip(draws, seeds))
    get_reusable_executor().shutdown(wait=True)  # its workers' CPU time is counted once they have ended


#: completion times of the runs of the last candidate call
STAMPS: list = []


def candidate(runs, jobs, folder, seed=0):
    path = os.path.join(folder, f"runs-{time.perf_counter_ns()}.csv")
    settings = DistillSettings(data="digits", teacher=TEACHER, students=(STUDENT,), n=N, runs=runs, seed=seed)
    STAMPS.clear()
    run_distill(settings, runs_out=path, jobs=jobs, progress=lambda done, total: STAMPS.append(time.perf_counter()))


def steady_rate() -> float:
    """Runs per second between the first and the last completed run (worker start-up left out)."""
    return (len(STAMPS) - 1) / (STAMPS[-1] - STAMPS[0])


def cpu_seconds() -> float:
    """CPU time (user + system) of this process and of its children that have ended."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


CPU: dict = {}


def timed(fn, *args) -> float:
    """Wall seconds of ``fn(*args)``; its CPU seconds (workers included) are kept in CPU[fn]."""
    c0, t0 = cpu_seconds(), time.perf_counter()
    fn(*args)
    wall = time.perf_counter() - t0
    CPU.setdefault(fn.__name__, []).append(cpu_seconds() - c0)
    return wall


def summary(name, ratios, cand, base, goal):
    q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
    print(f"{name}: median ratio {statistics.median(ratios):.3f} (quartiles {q[0]:.3f}-{q[2]:.3f}, range "
          f"{min(ratios):.3f}-{max(ratios):.3f}, {len(ratios)} pairs); candidate median "
          f"{statistics.median(cand):.2f} s, baseline median {statistics.median(base):.2f} s; goal {goal}")
    print("  ratios: " + " ".join(f"{r:.3f}" for r in ratios))


def overhead(runs: int, repeats: int, jobs: int) -> None:
    """(a) run_distill against the plain joblib loop, both with ``jobs`` jobs."""
    bunch = load_digits()
    x, y = bunch.data.astype(float), bunch.target
    counts = class_counts(np.bincount(y), N)
    seeds = [run_seeds(0, i) for i in range(runs)]
    draws = [draw(y, counts, s.rng()) for s in seeds]
    cand, base, ratios = [], [], []
    with tempfile.TemporaryDirectory() as folder:
        candidate(2, 1, folder)  # imports and caches warm for both sides
        plain_loop(x, y, draws[:2], seeds[:2], 1)
        for r in range(repeats):
            if r % 2:
                c = timed(candidate, runs, jobs, folder)
                b = timed(plain_loop, x, y, draws, seeds, jobs)
            else:
                b = timed(plain_loop, x, y, draws, seeds, jobs)
                c = timed(candidate, runs, jobs, folder)
            cand.append(c)
            base.append(b)
            ratios.append(c / b)
            print(f"  repeat {r + 1}: kdbound {c:.2f} s, plain joblib loop {b:.2f} s, ratio {c / b:.3f}", flush=True)
    summary(f"(a) overhead, jobs={jobs}, {runs} runs of {TEACHER} -> {STUDENT} on digits, n={N}", ratios, cand, base,
            "<= 1.1")
    cpu = [c / b for c, b in zip(CPU.pop("candidate")[-repeats:], CPU.pop("plain_loop")[-repeats:])]
    print(f"  CPU seconds (workers included), kdbound over the plain loop: median {statistics.median(cpu):.3f}, "
          f"range {min(cpu):.3f}-{max(cpu):.3f}: " + " ".join(f"{r:.3f}" for r in cpu))


def _spin(_) -> int:
    s = 0
    for i in range(20_000_000):
        s += i
    return s


def machine_speedup() -> float:
    """What two processes get on this machine now: one pure-Python loop in one process, against the same loop in
    each of two processes (2.0 on two idle cores; about 1.0 when other work leaves one core's worth)."""
    import multiprocessing as mp

    times = {}
    for procs in (1, 2):
        t0 = time.perf_counter()
        with mp.get_context("spawn").Pool(procs) as pool:
            pool.map(_spin, range(procs))
        times[procs] = time.perf_counter() - t0
    return 2 * times[1] / times[2]


def scaling(runs: int, repeats: int) -> None:
    """(b) run_distill with two jobs against one, runs per second; beside it, the same for the plain joblib
    loop, which says what this machine gives two processes at the time (other work shares its cores)."""
    bunch = load_digits()
    x, y = bunch.data.astype(float), bunch.target
    seeds = [run_seeds(0, i) for i in range(runs)]
    draws = [draw(y, class_counts(np.bincount(y), N), s.rng()) for s in seeds]
    cand, base, ratios, steady, plain, machine = [], [], [], [], [], []
    with tempfile.TemporaryDirectory() as folder:
        candidate(2, 1, folder)
        for r in range(repeats):
            rates = {}
            for jobs in ((2, 1) if r % 2 else (1, 2)):
                (cand if jobs == 2 else base).append(timed(candidate, runs, jobs, folder))
                rates[jobs] = steady_rate()
            one, two = base[-1], cand[-1]
            ratios.append(one / two)  # runs per second of jobs=2 over jobs=1
            steady.append(rates[2] / rates[1])
            p1, p2 = timed(plain_loop, x, y, draws, seeds, 1), timed(plain_loop, x, y, draws, seeds, 2)
            plain.append(p1 / p2)
            machine.append(machine_speedup())
            print(f"  repeat {r + 1}: jobs=1 {one:.2f} s, jobs=2 {two:.2f} s, speed-up {one / two:.3f} "
                  f"(between first and last run: {steady[-1]:.3f}); plain joblib loop {p1:.2f} s and {p2:.2f} s, "
                  f"speed-up {plain[-1]:.3f}; two processes of pure Python {machine[-1]:.3f}", flush=True)
    summary(f"(b) jobs=2 over jobs=1 (runs per second), {runs} runs of {TEACHER} -> {STUDENT}, "
            f"{len(os.sched_getaffinity(0))} cores", ratios, cand, base, ">= 1.7")
    print(f"  leaving out the workers' start-up (first to last run): median {statistics.median(steady):.3f}, "
          f"range {min(steady):.3f}-{max(steady):.3f}")
    print(f"  the plain joblib loop's own speed-up at the same times: median {statistics.median(plain):.3f}, "
          f"range {min(plain):.3f}-{max(plain):.3f}")
    print(f"  what two processes of pure Python got at the same times (2.0 on idle cores): median "
          f"{statistics.median(machine):.3f}, range {min(machine):.3f}-{max(machine):.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--which", nargs="+", default=["overhead", "scaling"], choices=["overhead", "scaling"])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--runs", type=int, default=24)
    ap.add_argument("--jobs", type=int, nargs="+", default=[1, 2], help="jobs for the overhead comparison")
    args = ap.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {len(os.sched_getaffinity(0))} cores")
    if "overhead" in args.which:
        for jobs in args.jobs:
            overhead(args.runs, args.repeats, jobs)
    if "scaling" in args.which:
        scaling(args.runs, args.repeats)
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
