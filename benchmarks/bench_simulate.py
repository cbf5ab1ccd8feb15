"""Issue 11: `kdbound simulate` draws >= 10x the training sets per second of a plain numpy loop.

The baseline draws the same quantities one training set at a time with plain numpy
(explicit inverse and Cholesky factor of the posterior covariance): X, Y, the teacher
W_T, the pseudo labels Y^, the student Theta (kernel student, Sigma_S = Sigma_T, no
bottleneck), the exact population losses, the three training losses (teacher; student
on the pseudo and on the real labels) and K given X (kdbound's own closed form, called
on one dataset).  The candidate is kdbound.engine.simulate.simulate on the same
configuration, K included.  Runs alternate (baseline, candidate) in one process; the
figure is the median of the paired ratios of datasets per second.

Run:  python benchmarks/bench_simulate.py [--repeats 5] [--seconds 1.0]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import numpy as np
from scipy.special import ndtr

from kdbound.engine.exact_kl import kl_given_x
from kdbound.engine.simulate import simulate, synthetic_w_star


def pop_loss(w, w_star, noise, clip):
    """Exact population loss, the Phi/phi form."""
    s2 = np.sum((w - w_star) ** 2, axis=1) + noise ** 2
    z = math.sqrt(clip) / np.sqrt(s2)
    phi = np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    return float(np.mean((s2 * (2 * ndtr(z) - 1 - 2 * z * phi) + 2 * clip * ndtr(-z)) / clip))


def train_loss(resid, clip):
    return float(np.mean(np.minimum(resid * resid, clip)) / clip)


def plain_loop(w_star, n, datasets, seed, lam=1.0, beta_t=1.0, noise=1.0, clip=4.0):
    """One training set at a time: returns the per-dataset (h_T, h_S, h_S real, K)."""
    k, d = w_star.shape
    rng = np.random.default_rng(seed)
    c = beta_t / noise ** 2
    eye = np.eye(d)
    out = []
    for _ in range(datasets):
        x = rng.standard_normal((n, d))
        y = x @ w_star.T + noise * rng.standard_normal((n, k))
        sigma_t = np.linalg.inv(lam * eye + c * x.T @ x)
        chol = np.linalg.cholesky(sigma_t)
        w_t = c * y.T @ x @ sigma_t + rng.standard_normal((k, d)) @ chol.T
        y_hat = x @ w_t.T + noise * rng.standard_normal((n, k))
        theta = w_t + rng.standard_normal((k, d)) @ chol.T
        pop_t, pop_s = pop_loss(w_t, w_star, noise, clip), pop_loss(theta, w_star, noise, clip)
        pred_s = x @ theta.T
        kl = float(kl_given_x(x, w_star, lam=lam, beta_t=beta_t, noise=noise))
        out.append((pop_t - train_loss(y - x @ w_t.T, clip), pop_s - train_loss(y_hat - pred_s, clip),
                    pop_s - train_loss(y - pred_s, clip), kl))
    return np.array(out)


def loop_rate(w, n, count, seed):
    t0 = time.perf_counter()
    plain_loop(w, n, count, seed)
    return count / (time.perf_counter() - t0)


def simulate_rate(w, n, count, seed):
    t0 = time.perf_counter()
    simulate(w, n=n, datasets=count, seed=seed)
    return count / (time.perf_counter() - t0)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.0, help="target seconds per timed run")
    args = parser.parse_args()
    for d, n, k in ((5, 50, 3), (20, 200, 5)):
        w = synthetic_w_star(d, k, 0)
        # sizes from a short pilot, so each timed run takes about --seconds
        n_loop = max(200, int(args.seconds * loop_rate(w, n, 200, 1)))
        n_vec = max(2000, int(args.seconds * simulate_rate(w, n, 2000, 1)))
        loops, vecs, ratios = [], [], []
        for rep in range(args.repeats):
            b = loop_rate(w, n, n_loop, 10 + rep)
            c = simulate_rate(w, n, n_vec, 10 + rep)
            loops.append(b)
            vecs.append(c)
            ratios.append(c / b)
        # the two implementations agree (independent draws: within 4 standard errors)
        ref = plain_loop(w, n, 2000, 99)
        res = simulate(w, n=n, datasets=20000, seed=99)
        se = ref.std(axis=0, ddof=1) / math.sqrt(len(ref))
        agree = all(abs(a - b) <= 4 * math.hypot(s, t) for a, b, s, t in
                    ((res.gen_t, ref[:, 0].mean(), res.gen_t_se, se[0]),
                     (res.gen_s, ref[:, 1].mean(), res.gen_s_se, se[1]),
                     (res.gen_s_real, ref[:, 2].mean(), res.gen_s_real_se, se[2]),
                     (res.kl, ref[:, 3].mean(), res.kl_se, se[3])))
        print(f"(d, n, k) = ({d}, {n}, {k}): simulate {statistics.median(vecs):,.0f} datasets/s "
              f"({1e6 / statistics.median(vecs):.1f} us each); plain loop {statistics.median(loops):,.0f}/s "
              f"({1e6 / statistics.median(loops):.0f} us each); median paired ratio {statistics.median(ratios):.1f}x "
              f"(range {min(ratios):.1f}-{max(ratios):.1f}; goal >= 10); results agree: {agree}")


if __name__ == "__main__":
    main()
