"""What a worker process keeps between tasks: the payload of each experiment (the pool), by token.

The payload travels once per worker (a loky initializer, or a Dask worker plugin, which the scheduler also
hands to workers that join or restart later); each task then names its experiment's token.
"""

from __future__ import annotations

import os
import sys

#: payloads by experiment token, in this process
PAYLOADS: dict[str, object] = {}


def core_versions() -> dict:
    """The versions that decide a simulation's numbers (kdbound, numpy, scipy): every Dask worker must match."""
    from importlib.metadata import version

    from .._version import __version__

    return {"kdbound": __version__, "numpy": version("numpy"), "scipy": version("scipy")}


def add_import_path(path: str) -> None:
    """Put ``path`` first on the import path (once), so that ``module:function`` factories there import."""
    if path not in sys.path:
        sys.path.insert(0, path)


def install(token: str, payload, paths=()) -> None:
    """Keep ``payload`` for the tasks of experiment ``token``; add the driver's import paths."""
    PAYLOADS[token] = payload
    for p in reversed(list(paths)):
        add_import_path(p)


def uninstall(token: str) -> None:
    PAYLOADS.pop(token, None)


def call(fn, token: str, *args):
    """A task: ``fn(payload, *args)`` with this process's payload of experiment ``token``."""
    return fn(PAYLOADS[token], *args)


def die_with_parent(parent: int) -> None:
    """Linux: the kernel kills this worker when the driver dies (even by ``kill -9``), so that no orphan
    keeps fitting (or holds the driver's stdout open).  Elsewhere a no-op."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - no prctl in this libc
        return
    if os.getppid() != parent:  # the driver died before the line above
        os._exit(1)


def ignore_interrupt() -> None:
    """Ctrl-C reaches every process of the terminal's group: a worker that kdbound started leaves it to the
    driver, which stops the workers itself (instead of each printing a traceback)."""
    import signal

    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread: the interrupt is the driver's to handle anyway
        pass


def start_loky_worker(token: str, payload, paths, parent: int) -> None:
    """A loky worker's initializer: tied to the driver's life, Ctrl-C left to the driver, the payload installed."""
    die_with_parent(parent)
    ignore_interrupt()
    install(token, payload, paths)
