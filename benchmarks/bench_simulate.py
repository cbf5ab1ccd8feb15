"""`kdbound simulate`: time per training set against numpy's bulk normal draws (issue 16), and against a plain loop.

Goal (issue 16): at (d, n, k) = (20, 200, 5) simulate's time per training set is at most 1.6x the
time numpy's default generator takes to draw that set's standard normals in bulk.  A training set
needs ``n (d + 2k) + 2 k d`` of them (X, E and E', then the two k x d matrices of the posterior
draws); the script checks this count against simulate's own workspace.  The bulk baseline is
``np.random.default_rng().standard_normal(size)``, one call per block of training sets (the block
size simulate uses), the same total count as the simulation.

Runs alternate (bulk draws, simulate) in one process; each pair gives a ratio, and the figure is
the median of the paired ratios with their range.  Times are CPU time of this process
(``time.process_time``), which a busy machine shared with other processes disturbs less than
wall time; the wall-time ratio is printed too.

For reference the script keeps issue 11's figure: simulate's training sets per second against a
plain numpy loop that draws the same quantities one training set at a time (explicit inverse and
Cholesky factor of the posterior covariance, kernel student with Sigma_S = Sigma_T, K by kdbound's
closed form on one dataset), and checks that the two agree (within 4 standard errors).

Run:  python benchmarks/bench_simulate.py [--repeats 7] [--seconds 1.0] [--sizes 20,200,5 ...]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import numpy as np
from scipy.special import ndtr

from kdbound.engine.exact_kl import kl_given_x
from kdbound.engine.simulate import Workspace, block_size, sim_model, simulate, synthetic_w_star


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


def normals_per_set(n: int, d: int, k: int) -> int:
    """The standard normals one training set draws, as simulate's workspace holds them."""
    count = Workspace(sim_model(n=n, d=d, k=k), 1).normals.shape[1]
    assert count == n * (d + 2 * k) + 2 * k * d, count
    return count


def timed(func, *args, **kwargs) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one call."""
    c0, w0 = time.process_time(), time.perf_counter()
    func(*args, **kwargs)
    return time.process_time() - c0, time.perf_counter() - w0


def bulk_draws(count: int, sets: int, chunk: int, seed: int) -> None:
    """``sets`` training sets' normals, drawn in bulk by numpy's default generator, ``chunk`` sets per call."""
    rng = np.random.default_rng(seed)
    done = 0
    while done < sets:
        m = min(chunk, sets - done)
        rng.standard_normal(m * count)
        done += m


def against_draws(w, n, sets, repeats):
    """Paired, interleaved runs: per-set CPU and wall times of bulk draws and of simulate, and their ratios."""
    k, d = w.shape
    count = normals_per_set(n, d, k)
    chunk = block_size(n, d, k)
    rows = []
    for rep in range(repeats):
        base = timed(bulk_draws, count, sets, chunk, 20 + rep)
        cand = timed(simulate, w, n=n, datasets=sets, seed=20 + rep)
        rows.append((cand[0] / sets, base[0] / sets, cand[0] / base[0], cand[1] / base[1]))
    return np.array(rows), count


def against_loop(w, n, seconds, repeats):
    """Issue 11's figure: simulate's training sets per second over the plain loop's, paired runs."""
    def rate(func, count, seed):
        return count / timed(func, w, n, count, seed)[1]

    def sim(w, n, count, seed):
        simulate(w, n=n, datasets=count, seed=seed)

    n_loop = max(200, int(seconds * rate(plain_loop, 200, 1)))
    n_vec = max(2000, int(seconds * rate(sim, 2000, 1)))
    ratios = [rate(sim, n_vec, 10 + rep) / rate(plain_loop, n_loop, 10 + rep) for rep in range(repeats)]
    return ratios


def agree(w, n) -> bool:
    """simulate and the plain loop agree on gen_t, gen_s, gen_s_real and K within 4 standard errors."""
    ref = plain_loop(w, n, 2000, 99)
    res = simulate(w, n=n, datasets=20000, seed=99)
    se = ref.std(axis=0, ddof=1) / math.sqrt(len(ref))
    return all(abs(a - b) <= 4 * math.hypot(s, t) for a, b, s, t in
               ((res.gen_t, ref[:, 0].mean(), res.gen_t_se, se[0]),
                (res.gen_s, ref[:, 1].mean(), res.gen_s_se, se[1]),
                (res.gen_s_real, ref[:, 2].mean(), res.gen_s_real_se, se[2]),
                (res.kl, ref[:, 3].mean(), res.kl_se, se[3])))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=1.0, help="target seconds per timed run")
    parser.add_argument("--sizes", nargs="*", default=["5,50,3", "20,200,5"], help="d,n,k triples")
    parser.add_argument("--no-loop", action="store_true", help="skip the plain-loop reference and agreement check")
    args = parser.parse_args()
    for size in args.sizes:
        d, n, k = (int(v) for v in size.split(","))
        w = synthetic_w_star(d, k, 0)
        pilot = timed(simulate, w, n=n, datasets=2000, seed=1)[0] / 2000
        sets = max(2000, int(args.seconds / pilot))
        rows, count = against_draws(w, n, sets, args.repeats)
        sim_us, draw_us, ratio, wall = (np.median(rows[:, i]) for i in range(4))
        print(f"(d, n, k) = ({d}, {n}, {k}), {sets} sets x {args.repeats} paired runs: simulate {1e6 * sim_us:.1f} us "
              f"per set; bulk draws of its {count} normals {1e6 * draw_us:.1f} us; median ratio {ratio:.2f}x "
              f"(range {rows[:, 2].min():.2f}-{rows[:, 2].max():.2f}; goal <= 1.6 at (20, 200, 5)); "
              f"wall-time ratio {wall:.2f}x (range {rows[:, 3].min():.2f}-{rows[:, 3].max():.2f})")
        if not args.no_loop:
            ratios = against_loop(w, n, args.seconds, args.repeats)
            print(f"    reference (issue 11): simulate over a plain per-set loop, median paired ratio "
                  f"{statistics.median(ratios):.1f}x (range {min(ratios):.1f}-{max(ratios):.1f}); "
                  f"results agree: {agree(w, n)}")


if __name__ == "__main__":
    main()
