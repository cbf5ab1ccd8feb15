"""Shared timing helpers: paired runs of whole processes, median ratio."""

from __future__ import annotations

import statistics
import subprocess
import time


def run_time(cmd, stdout=subprocess.DEVNULL, **kw) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=stdout, stderr=subprocess.PIPE, **kw)
    return time.perf_counter() - t0


def paired(candidate, baseline, repeats: int, **kw):
    """Alternate baseline and candidate runs; return (median candidate, median baseline, median ratio)."""
    cand, base, ratios = [], [], []
    for _ in range(repeats):
        b = run_time(baseline, **kw)
        c = run_time(candidate, **kw)
        cand.append(c)
        base.append(b)
        ratios.append(c / b)
    return statistics.median(cand), statistics.median(base), statistics.median(ratios)


def _cpu_of_children() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def rounds(commands: dict, repeats: int, **kw) -> dict:
    """Run every command once per round, in order; return {name: [(wall s, cpu s) per round]}.

    CPU time is the child's user + system time (from the rusage of waited-for children).
    """
    times = {name: [] for name in commands}
    for _ in range(repeats):
        for name, cmd in commands.items():
            cpu = _cpu_of_children()
            wall = run_time(cmd, **kw)
            times[name].append((wall, _cpu_of_children() - cpu))
    return times
