"""The theorems themselves, on exact finite distributions.

P is the law of the teacher gap under the teacher process, Q under the
student process, both on the same finite support.  K = KL(Q || P) is exact,
the sub-Gaussian proxy of the gap under P is the supremum of
2 psi(l) / l^2 over l (psi the centred cumulant generating function), and a
central-condition pair (eta, c) is exact: c = -log E_P exp(-eta X) / (eta E_P X).
Every bound kdbound prints must then hold for gen_S = E_Q X.
"""

import numpy as np
import pytest
from scipy.optimize import minimize_scalar
from scipy.special import logsumexp

from kdbound import lower_bound, lower_bound_subgaussian, upper_bound


def proxy(x, p):
    """sup_l 2 psi(l) / l^2 for X ~ p on support x (a valid sub-Gaussian sigma)."""
    mean = p @ x
    xc = x - mean
    logp = np.log(p)

    def ratio(l):  # noqa: E741
        if abs(l) < 1e-8:
            return p @ xc ** 2
        return 2.0 * logsumexp(logp + l * xc) / (l * l)

    grid = np.concatenate([-np.geomspace(1e-4, 1e4, 400), np.geomspace(1e-4, 1e4, 400)])
    vals = 2.0 * logsumexp(logp + grid[:, None] * xc, axis=1) / grid ** 2
    best = max(p @ xc ** 2, vals.max())
    i = int(vals.argmax())
    lo, hi = sorted((grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]))
    res = minimize_scalar(lambda l: -ratio(l), bounds=(lo, hi), method="bounded")
    best = max(best, -res.fun)
    return np.sqrt(best) * (1 + 1e-9)


def cases(count=300, seed=7):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        m = int(rng.integers(2, 8))
        x = rng.normal(0.2, rng.uniform(0.05, 1.0), m)
        p = rng.dirichlet(np.ones(m))
        # Q: a tilt of P, sometimes strong, so that K ranges from tiny to large
        q = p * np.exp(rng.normal(0, rng.uniform(0.01, 3.0), m))
        q /= q.sum()
        yield x, p, q


@pytest.mark.parametrize("x, p, q", list(cases()))
def test_bounds_hold_on_exact_finite_distributions(x, p, q):
    kl = float(np.sum(q * np.log(q / p)))
    gen_t, gen_s = float(p @ x), float(q @ x)
    sigma = proxy(x, p)
    tol = 1e-12
    up = upper_bound(gen_t, kl, sigma)
    assert gen_s <= up.bound + tol                     # Theorem 1
    assert gen_s >= up.lower_two_sided - tol           # its two-sided form
    if gen_t > 0:
        assert gen_s >= lower_bound_subgaussian(gen_t, kl, sigma).bound - tol   # Remark 2, optimal eta
        for eta in (0.1, 1.0, 10.0, 100.0):
            c = -np.log(p @ np.exp(-eta * x)) / (eta * gen_t)   # exact central-condition pair
            if 0 < c <= 1:
                assert gen_s >= lower_bound(gen_t, kl, eta, c).bound - tol   # Theorem 10


def test_the_cases_are_not_vacuous():
    """Some cases come close to the bounds, so the test can fail."""
    gaps = []
    for x, p, q in cases():
        kl = float(np.sum(q * np.log(q / p)))
        up = upper_bound(float(p @ x), kl, proxy(x, p))
        gaps.append((float(up.bound) - float(q @ x)) / max(float(up.slack), 1e-300))
    assert min(gaps) < 0.2  # the slack is at least 80% used in some case
