"""A progress bar for long computations: on stderr, only on a terminal, only when worth it."""

from __future__ import annotations

import time

from .environment import Environment


class Progress:
    """A rich progress bar on stderr, only on a terminal and only when the work takes over a second."""

    def __init__(self, env: Environment, label: str):
        self.env, self.label, self.clock = env, label, time.perf_counter
        self.start = None
        self.bar = None
        self.task = None

    def __call__(self, done: int, total: int) -> None:
        if self.env.quiet or not self.env.stderr_isatty:
            return
        if self.start is None or done == 0:
            self.start = self.clock()
            return
        if self.bar is None:
            elapsed = self.clock() - self.start
            if done >= total or elapsed / done * total < 1.0:
                return
            from rich.progress import Progress  # rich only when a bar is drawn (off the start-up path)

            self.bar = Progress(console=self.env.console(stderr=True), transient=True)
            self.bar.start()
            self.task = self.bar.add_task(self.label, total=total)
        self.bar.update(self.task, completed=done)

    def close(self):
        if self.bar is not None:
            self.bar.stop()
