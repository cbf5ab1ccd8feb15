"""Where runs execute: in this process, on local processes (joblib's loky), or on a Dask cluster.

Every executor runs one function ``fn(payload, *args)`` on many argument tuples
and yields ``(key, result)`` as tasks complete, in whatever order they do; the
caller puts results in order.  The payload (the pool of examples) leaves this
process once: loky passes it to each worker's initializer, and on Dask a worker
plugin carries it, which the scheduler also sets up on workers that join or
restart later (scattered data would be lost with the workers holding it).
Tasks carry small arguments (spec strings, numbers) and return rows, never models.

A task whose worker died yields a :class:`TaskLost` instead of a result: on Dask
this is ``KilledWorker``, attributed to that task; a dead loky worker breaks the
whole pool, which the caller treats as fatal for the runs still in flight.

* ``serial`` (``jobs = 1``): tasks run in the calling process, one by one, as
  the results are asked for.
* ``joblib``: a ``loky`` process pool of ``jobs`` workers.
* ``dask``: an existing ``dask.distributed`` scheduler at ``scheduler`` (an
  unreachable one is an error within ``connect_timeout`` seconds), or a
  ``LocalCluster`` of ``jobs`` single-threaded worker processes on loopback.
  Before any task, every worker must import the factory modules and have the
  same library versions as this process (identical numbers need them).
"""

from __future__ import annotations

import importlib
import logging
import os
import uuid
from collections import deque
from dataclasses import dataclass

from ..errors import InputError
from .models import one_line
from .workers import call, start_loky_worker

BACKENDS = ("joblib", "dask")


@dataclass(frozen=True)
class TaskLost:
    """The worker running task ``key`` died (``message`` says how).  When the executor cannot tell which of its
    tasks killed it (a broken loky pool), ``in_flight`` holds the keys of every task that was running."""

    key: object
    message: str
    in_flight: tuple = ()


def default_jobs() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


class SerialExecutor:
    """Tasks in this process, each run when the next result is asked for."""

    name = "serial"

    def __init__(self, fn, payload):
        self.fn, self.payload = fn, payload
        self._tasks: deque = deque()

    def submit(self, key, *args) -> None:
        self._tasks.append((key, args))

    def completed(self):
        while self._tasks:
            key, args = self._tasks.popleft()
            yield key, self.fn(self.payload, *args)

    def close(self) -> None:
        self._tasks.clear()


# --------------------------------------------------------------------------- loky


#: loky's resource tracker (a process of its own, started with this environment) warns of "leaked semlock
#: objects" on stderr after a worker was killed or the run was stopped; kdbound prints no library log lines
_TRACKER_WARNINGS = "ignore::UserWarning:joblib.externals.loky.backend.resource_tracker"


def _quiet_resource_tracker() -> None:
    """Silence the resource tracker's warnings in the processes loky starts (through PYTHONWARNINGS, which
    they inherit); other warnings filters in it are kept."""
    current = os.environ.get("PYTHONWARNINGS", "")
    if _TRACKER_WARNINGS not in current.split(","):
        os.environ["PYTHONWARNINGS"] = ",".join(x for x in (current, _TRACKER_WARNINGS) if x)


class LokyExecutor:
    """A loky process pool of ``jobs`` workers (joblib's), the payload passed once to each.

    At most ``jobs + 1`` tasks are in the pool at a time (one queued per worker set, like joblib's
    pre-dispatch), the rest wait here: a stop then finds nothing in loky's internal queue of work ids,
    which its ``shutdown(kill_workers=True)`` does not handle (a ``KeyError`` in its manager thread).
    """

    name = "joblib"

    def __init__(self, fn, payload, jobs: int, paths=()):
        from joblib.externals.loky.process_executor import ProcessPoolExecutor  # joblib, only for distill

        self.fn, self.jobs, self._token = fn, jobs, uuid.uuid4().hex[:12]
        _quiet_resource_tracker()
        self._pool = ProcessPoolExecutor(max_workers=jobs, initializer=start_loky_worker,
                                         initargs=(self._token, payload, list(paths), os.getpid()))
        self._waiting: deque = deque()
        self._futures: dict = {}

    def submit(self, key, *args) -> None:
        self._waiting.append((key, args))

    def _top_up(self) -> None:
        while self._waiting and len(self._futures) <= self.jobs:
            key, args = self._waiting.popleft()
            self._futures[self._pool.submit(call, self.fn, self._token, *args)] = key

    def completed(self):
        from concurrent.futures import FIRST_COMPLETED, wait

        from joblib.externals.loky.process_executor import BrokenProcessPool  # joblib, only for distill

        self._top_up()
        while self._futures:
            done, _ = wait(list(self._futures), return_when=FIRST_COMPLETED)
            for fut in done:
                key = self._futures.pop(fut)
                try:
                    result = fut.result()
                except BrokenProcessPool as exc:  # a worker died: the pool is broken, nothing more runs on it
                    in_flight = (key, *self._futures.values())
                    self._futures.clear()
                    yield key, TaskLost(key, one_line(exc), in_flight)
                    return
                self._top_up()
                yield key, result

    def close(self) -> None:
        # loky fails the pending futures itself and kills the workers, so that a stop does not wait for the runs
        # in flight (cancelling the futures first would crash its manager thread, leaving the workers alive)
        self._waiting.clear()
        self._futures.clear()
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, kill_workers=True)
            # its queues' semaphores are released when the pool is freed: now, not after the process's end (a
            # traceback that keeps this executor alive would leave them to loky's resource tracker, which warns)
            del pool
            import gc

            gc.collect()


# --------------------------------------------------------------------------- Dask

def _try_import(modules) -> dict:
    """On a worker: {module: error line} for the modules it cannot import."""
    out = {}
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception as exc:  # reported with the worker's address
            out[module] = one_line(exc)
    return out


class DaskExecutor:
    """Tasks on a ``dask.distributed`` cluster: the scheduler at ``scheduler``, or a LocalCluster of ``jobs``."""

    name = "dask"

    def __init__(self, fn, payload, jobs: int, scheduler: str | None = None, connect_timeout: float = 10.0,
                 modules=(), versions=None, paths=()):
        from distributed import Client, LocalCluster  # dask, only for --backend dask

        from .dask_plugin import PoolPlugin

        self.fn, self._cluster, self.client, self._futures = fn, None, None, {}
        self._token = uuid.uuid4().hex[:12]
        self._plugin = f"kdbound-pool-{self._token}"
        try:
            if scheduler is not None:
                try:
                    self.client = Client(scheduler, timeout=connect_timeout, set_as_default=False)
                except ValueError as exc:  # not an address (distributed's parser): nothing was tried
                    raise InputError(f"must be a Dask scheduler address such as tcp://HOST:PORT ({one_line(exc)})",
                                     "scheduler") from None
                except (OSError, TimeoutError) as exc:
                    raise InputError(f"cannot reach the Dask scheduler {scheduler!r} within {connect_timeout:g} s "
                                     f"({one_line(exc)})", "scheduler") from None
                self._wait_for_workers(connect_timeout, scheduler)
            else:
                # no dashboard; the scheduler's HTTP server (health, metrics) on a free port, not 8787
                self._cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True, host="127.0.0.1",
                                             dashboard_address=None, scheduler_kwargs={"dashboard_address": ":0"},
                                             silence_logs=logging.ERROR)
                self.client = Client(self._cluster, set_as_default=False)
            self.client.register_plugin(PoolPlugin(self._token, payload, paths, own=self._cluster is not None),
                                        name=self._plugin)
            self._check_workers(modules, versions)
        except BaseException:
            self.close()
            raise

    def _wait_for_workers(self, timeout: float, scheduler: str) -> None:
        try:
            self.client.wait_for_workers(1, timeout=timeout)
        except (OSError, TimeoutError) as exc:
            raise InputError(f"the Dask scheduler {scheduler!r} has no workers ({one_line(exc)})",
                             "scheduler") from None

    def _check_workers(self, modules, versions) -> None:
        """Every worker imports the factory modules ((role, module) pairs) and has this process's versions."""
        if modules:
            found = self.client.run(_try_import, [m for _, m in modules])
            for worker, failed in sorted(found.items()):
                for role, module in modules:
                    if module in failed:
                        raise InputError(f"the Dask worker {worker} cannot import {module!r} ({failed[module]})", role)
        if versions is not None:
            fn, here = versions
            for worker, there in sorted(self.client.run(fn).items()):
                diff = [f"{k} {there.get(k)} there, {v} here" for k, v in here.items() if there.get(k) != v]
                if diff:
                    raise InputError(f"the Dask worker {worker} has other library versions ({'; '.join(diff)}): "
                                     "identical runs need identical versions", "scheduler")

    def submit(self, key, *args) -> None:
        fut = self.client.submit(call, self.fn, self._token, *args, key=f"kdbound-{self._token}-{key}", pure=False)
        self._futures[fut] = key

    def completed(self):
        from concurrent.futures import CancelledError  # what distributed < 2024.8 raises for a cancelled task

        from distributed import as_completed  # dask, only for --backend dask
        from distributed.scheduler import KilledWorker

        try:
            from distributed.client import FutureCancelledError
        except ImportError:  # distributed < 2024.8
            FutureCancelledError = CancelledError

        for fut in as_completed(list(self._futures), loop=self.client.loop):
            key = self._futures.pop(fut)
            try:
                yield key, fut.result()
            except (KilledWorker, FutureCancelledError) as exc:
                yield key, TaskLost(key, one_line(exc))

    def close(self) -> None:
        if self.client is not None:
            if self._futures:
                self.client.cancel(list(self._futures))
            self._futures.clear()
            if self._cluster is None and self.client.status == "running":
                try:  # an existing cluster: leave no payload behind on its workers
                    self.client.unregister_worker_plugin(self._plugin)
                except Exception:  # the plugin was never registered, or the scheduler is gone
                    pass
            self.client.close()
            self.client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None


def check_executor(backend: str = "joblib", jobs: int | None = None, scheduler: str | None = None) -> int:
    """The executor's settings checked, and its libraries found (one line naming the extra to install);
    returns the number of jobs (default: every core)."""
    if backend not in BACKENDS:
        raise InputError(f"must be one of {', '.join(BACKENDS)} (got {backend!r})", "backend")
    if scheduler is not None and backend != "dask":
        raise InputError("only with the dask backend", "scheduler", refs=("backend",))
    jobs = default_jobs() if jobs is None else jobs
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise InputError(f"must be a whole number >= 1 (got {jobs!r})", "jobs")
    if backend == "dask":
        try:
            import distributed  # noqa: F401  (dask, only for --backend dask)
        except ImportError:
            raise InputError("dask needs dask.distributed: pip install 'kdbound[dask]'", "backend") from None
    elif jobs > 1:
        try:
            import joblib  # noqa: F401  (joblib's loky, only for more than one local job)
        except ImportError:
            raise InputError("more than one job needs joblib: pip install joblib", "jobs") from None
    return jobs


def open_executor(fn, payload, backend: str = "joblib", jobs: int | None = None, scheduler: str | None = None,
                  connect_timeout: float = 10.0, modules=(), versions=None, paths=()):
    """The executor for ``backend`` (``joblib``, or ``dask``), with ``jobs`` workers (default: every core).

    ``joblib`` with one job runs in this process.  ``modules`` are (role, module) pairs every Dask worker must
    import; ``versions`` a (function, expected dict) pair every Dask worker's function must return.
    """
    jobs = check_executor(backend, jobs, scheduler)
    if backend == "dask":
        return DaskExecutor(fn, payload, jobs, scheduler, connect_timeout, modules, versions, paths)
    if jobs == 1:
        return SerialExecutor(fn, payload)
    return LokyExecutor(fn, payload, jobs, paths)


def in_order(executor, keys):
    """Submit a task per ``(key, *args)`` of ``keys`` and yield ``(key, result)`` in that order, whichever
    finishes first: results that come early wait here (at most those in flight on the executor)."""
    order = []
    for key, *args in keys:
        executor.submit(key, *args)
        order.append(key)
    waiting: dict = {}
    position = 0
    for key, result in executor.completed():
        waiting[key] = result
        while position < len(order) and order[position] in waiting:
            yield order[position], waiting.pop(order[position])
            position += 1
