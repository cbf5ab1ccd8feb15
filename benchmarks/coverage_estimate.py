"""Issue 12: how often do the intervals of `kdbound estimate` cover the truth?  Repeated simulation.

First the gen_t interval (two-sided, level 0.95) for several laws of the gap and numbers of runs,
4000 vectorised repeats each.  Then kl_gap_hi for both methods: each repeat draws m student gaps
from Q and m teacher gaps from P (laws with a known KL(Q || P)), runs the engine of
`kdbound estimate` (delta = 0.05, so kl_gap_hi is one-sided at level 0.975) and records whether
kl_gap_hi >= KL(Q || P).  Prints Markdown tables (coverage and its standard error) for the README.

Run:  python benchmarks/coverage_estimate.py [--repeats 500] [--replicates 1000]
"""

import argparse
import math
import time

import numpy as np
from scipy import integrate, stats

from kdbound.engine import estimate as E

parser = argparse.ArgumentParser()
parser.add_argument("--repeats", type=int, default=500)
parser.add_argument("--replicates", type=int, default=1000)
parser.add_argument("--sizes", default="200,2000")
parser.add_argument("--gaps-only", action="store_true")
args = parser.parse_args()

rng = np.random.default_rng(20260512)
GAP_LAWS = {
    "normal": (lambda s: rng.normal(0.05, 0.02, s), 0.05),
    "gamma (skewness 1)": (lambda s: rng.gamma(4.0, 0.01, s), 0.04),
    "exponential (skewness 2)": (lambda s: rng.exponential(0.04, s), 0.04),
    "lognormal (skewness 6.2)": (lambda s: rng.lognormal(0.0, 1.0, s), math.exp(0.5)),
}
RUNS = (5, 15, 30, 100, 300)
print("| gap law | " + " | ".join(f"R = {r}" for r in RUNS) + " |  (gen_t interval, 4000 repeats, nominal 0.95)")
print("|---|" + "---|" * len(RUNS))
for name, (draw, mu) in GAP_LAWS.items():
    cells = []
    for runs in RUNS:
        g = E.gap_interval(draw((4000, runs)), 0.05)
        cells.append(f"{np.mean((g.lo <= mu) & (mu <= g.hi)):.3f}")
    print(f"| {name} | " + " | ".join(cells) + " |")
print()
if args.gaps_only:
    raise SystemExit


def kl_quad(q, p, lo, hi):
    f = lambda x: math.exp(q.logpdf(x)) * (q.logpdf(x) - p.logpdf(x))  # noqa: E731
    return integrate.quad(f, lo, hi, limit=500, points=None)[0]


def gauss_kl(ms, ss, mt, st_):
    return math.log(st_ / ss) + (ss ** 2 + (ms - mt) ** 2) / (2 * st_ ** 2) - 0.5


gamma_q = stats.gamma(4.0, loc=-4.0 / 2.0, scale=0.5)   # skewness 1, mean 0, variance 1
SCENARIOS = {
    "Gaussian laws": (stats.norm(0.06, 0.025), stats.norm(0.05, 0.02), gauss_kl(0.06, 0.025, 0.05, 0.02)),
    "identical Gaussian laws": (stats.norm(0.05, 0.02), stats.norm(0.05, 0.02), 0.0),
    "Gaussian, student wider (sd 1.5 vs 1)": (stats.norm(0, 1.5), stats.norm(0, 1), gauss_kl(0, 1.5, 0, 1)),
    "skewed student (gamma) vs Gaussian, same mean and sd": (gamma_q, stats.norm(0, 1),
                                                            kl_quad(gamma_q, stats.norm(0, 1), -2.0, 40.0)),
}

print(f"| laws (student Q vs teacher P) | m = k | gauss coverage | knn coverage |  ({args.repeats} repeats, "
      f"{args.replicates} replicates, nominal 0.975)")
print("|---|---|---|---|")
for name, (q, p, truth) in SCENARIOS.items():
    for m in (int(s) for s in args.sizes.split(",")):
        t0 = time.perf_counter()
        cover = {"gauss": 0, "knn": 0}
        for _ in range(args.repeats):
            x = q.rvs(m, random_state=rng)
            y = p.rvs(m, random_state=rng)
            seed = int(rng.integers(2 ** 31))
            for method in cover:
                r = E.estimate(y, x, kl_method=method, replicates=args.replicates, seed=seed)
                cover[method] += r.kl_gap_hi >= truth
        cells = []
        for method in ("gauss", "knn"):
            c = cover[method] / args.repeats
            cells.append(f"{c:.3f} ± {math.sqrt(max(c * (1 - c), 1e-12) / args.repeats):.3f}")
        print(f"| {name} (K_h = {truth:.3f}) | {m} | {cells[0]} | {cells[1]} |  ({time.perf_counter() - t0:.0f} s)",
              flush=True)
