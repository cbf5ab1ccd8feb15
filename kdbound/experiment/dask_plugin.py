"""The pool on every Dask worker, including workers that join or restart later (imported only for Dask).

Scattered data is lost when the workers holding it die, and cannot be recomputed; a worker plugin is kept
by the scheduler and set up on every worker that joins, so a run that kills its worker costs only that run.
"""

from __future__ import annotations

from distributed.diagnostics.plugin import WorkerPlugin  # dask: this module is imported only for --backend dask

from .workers import ignore_interrupt, install, uninstall


class PoolPlugin(WorkerPlugin):
    """Installs an experiment's payload (and the driver's import paths) on a worker under its token; on the
    workers of a LocalCluster that kdbound started (``own``), Ctrl-C is left to the driver."""

    def __init__(self, token: str, payload, paths=(), own: bool = False):
        self.token, self.payload, self.paths, self.own = token, payload, tuple(paths), own

    def setup(self, worker) -> None:
        if self.own:
            ignore_interrupt()
        install(self.token, self.payload, self.paths)

    def teardown(self, worker) -> None:
        uninstall(self.token)
