"""Exact K given X (kdbound.engine.exact_kl.kl_given_x) costs about one Gram eigendecomposition.

For a batch of B datasets (n x d, k outputs), compare in the same run:
  candidate: kl_given_x on the (B, n, d) stack (Gram products, one batched eigh, closed forms);
  baseline:  the Gram products and the batched eigh alone.
Goal: median paired ratio <= 2 in expected and conditional modes, both students.
Run:  python benchmarks/bench_exact_kl.py [--datasets 4000] [--repeats 5]
"""

import argparse
import statistics
import time

import numpy as np

from kdbound.engine.exact_kl import kl_given_x

parser = argparse.ArgumentParser()
parser.add_argument("--datasets", type=int, default=4000)
parser.add_argument("--repeats", type=int, default=5)
args = parser.parse_args()


def timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


for n, d, k in ((50, 5, 3), (200, 20, 5)):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.datasets, n, d))
    w = rng.standard_normal((k, d)) / np.sqrt(d)
    y = x @ w.T + rng.standard_normal((args.datasets, n, k))
    hp = dict(lam=1.0, beta_t=1.0, noise=1.0)

    def base(x=x, y=y):
        np.linalg.eigh(np.swapaxes(x, -1, -2) @ x)
        np.swapaxes(y, -1, -2) @ x

    for label, kw in (("expected, kernel", {}), ("conditional, kernel", {"y": y}),
                      ("conditional, refit", {"y": y, "student": "refit", "beta_s": 3.0})):
        ratios = []
        for _ in range(args.repeats):
            b = timed(base)
            c = timed(lambda kw=kw, x=x, w=w, hp=hp: kl_given_x(x, w, **hp, **kw))
            ratios.append(c / b)
        print(f"(n, d, k) = ({n}, {d}, {k}), {args.datasets} datasets, {label}: kl_given_x / (Gram + eigh) = "
              f"{statistics.median(ratios):.2f} (goal <= 2)")
