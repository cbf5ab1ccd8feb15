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
