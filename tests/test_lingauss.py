"""engine/lingauss.py, the linear-Gaussian case study (Lemma 11's decomposition of K), against brute force in
the paper's own d x n layout: the sampling process, the continuous M*, the null-space contribution,
kl_exact, kl_bound_tight and the chain, the noise estimate, extreme hyperparameters, the limits."""

import math

import numpy as np
import pytest
from conftest import dense_kl, gauss_kl, problem, spd, within

from kdbound.engine import lingauss as LG
from kdbound.engine import synthetic as SY
from kdbound.engine.lingauss import estimate_noise, gram_products, gram_spectrum, linear_gaussian
from kdbound.errors import InputError, ParameterError

HP = dict(lam=0.5, beta_t=1.3, noise=0.7)


# ----------------------------------------------------------------------------- the paper's objects

class Paper:
    """The paper's objects, formed explicitly (d x n layout, inverses, pseudo-inverses): W_T drawn in that
    layout, Apx of the continuous M* by an explicit SVD of W_T X."""

    def __init__(self, x, y=None, *, lam, beta_t, noise):
        self.X, self.Y = x.T, (None if y is None else y.T)
        self.d, self.n = self.X.shape
        self.lam, self.noise, self.c = lam, noise, beta_t / noise ** 2
        self.ST = np.linalg.inv(lam * np.eye(self.d) + self.c * self.X @ self.X.T)
        ev, eu = np.linalg.eigh(self.ST)
        self.ST_mhalf = eu @ np.diag(ev ** -0.5) @ eu.T
        self.L = np.linalg.cholesky(self.ST)

    def wbar(self, Y):
        return self.c * Y @ self.X.T @ self.ST

    def draw_wt(self, wbar, rng):
        return wbar + rng.normal(size=wbar.shape) @ self.L.T

    def apx_one(self, wt, r):
        """The continuous M*: W_T M* = L_r L_r^T W_T, L_r the top-r left singular vectors of P = W_T X."""
        P = wt @ self.X
        lvec, _, _ = np.linalg.svd(P, full_matrices=True)
        lr = lvec[:, :r]
        return np.sum(((np.eye(wt.shape[0]) - lr @ lr.T) @ wt @ self.ST_mhalf) ** 2)

    def spread_one(self, wt, rng):
        yhat = wt @ self.X + self.noise * rng.normal(size=(wt.shape[0], self.n))
        return np.sum(((wt - self.wbar(yhat)) @ self.ST_mhalf) ** 2)

    def apx(self, wbar, r, rng, draws):
        """Apx of ``draws`` W_T around ``wbar``, with L_r completed where r exceeds the rank of W_T X."""
        k = wbar.shape[0]
        out = []
        for _ in range(draws):
            wt = wbar + rng.normal(size=wbar.shape) @ self.L.T
            P = wt @ self.X
            lvec, sv, _ = np.linalg.svd(P, full_matrices=True)
            rank_p = int(np.sum(sv > sv[0] * 1e-10)) if sv.size else 0
            if r <= rank_p:
                lr = lvec[:, :r]
                out.append(np.sum(((np.eye(k) - lr @ lr.T) @ wt @ self.ST_mhalf) ** 2))
            else:  # L_r holds P's range, completed by Eckart-Young on the residual (the smallest Apx)
                lp = lvec[:, :rank_p]
                resid = (np.eye(k) - lp @ lp.T) @ wt @ self.ST_mhalf
                s2 = np.linalg.svd(resid, compute_uv=False) ** 2
                out.append(np.sum(s2[r - rank_p:]))
        return np.array(out)


def se(values):
    return np.std(values, ddof=1) / math.sqrt(len(values))


# ----------------------------------------------------------------------------- against the paper's sampling process

def test_conditional_terms_against_the_paper_sampling_process():
    x, w, y = problem()
    res = linear_gaussian(x, w, y, rank=1, samples=20000, seed=1, **HP)
    p = Paper(x, y, **HP)
    wb = p.wbar(p.Y)
    assert res.bias == pytest.approx(np.sum(((wb - w) @ p.X) ** 2), rel=1e-10)
    assert res.var == pytest.approx(np.trace(p.X.T @ p.ST @ p.X), rel=1e-10)
    rng = np.random.default_rng(11)
    apx, spread = [], []
    for _ in range(6000):
        wt = p.draw_wt(wb, rng)
        apx.append(p.apx_one(wt, 1))
        spread.append(p.spread_one(wt, rng))
    se = lambda v: np.std(v) / math.sqrt(len(v))  # noqa: E731
    assert within(res.apx, res.apx_stderr, np.mean(apx), se(apx), z=4.5)
    assert within(res.spread, 0.0, np.mean(spread), se(spread), z=4.5)
    assert res.mode == "conditional"


def test_expected_terms_average_over_y():
    x, w, _ = problem(n=8, d=3, k=2, seed=5)
    res = linear_gaussian(x, w, None, rank=1, samples=20000, seed=2, **HP)
    p = Paper(x, None, **HP)
    rng = np.random.default_rng(12)
    bias, apx, spread = [], [], []
    for _ in range(6000):
        Y = w @ p.X + HP["noise"] * rng.normal(size=(2, p.n))
        wb = p.wbar(Y)
        bias.append(np.sum(((wb - w) @ p.X) ** 2))
        wt = p.draw_wt(wb, rng)
        apx.append(p.apx_one(wt, 1))
        spread.append(p.spread_one(wt, rng))
    se = lambda v: np.std(v) / math.sqrt(len(v))  # noqa: E731
    assert within(res.bias, 0.0, np.mean(bias), se(bias), z=4.5)
    assert within(res.spread, 0.0, np.mean(spread), se(spread), z=4.5)
    assert within(res.apx, res.apx_stderr, np.mean(apx), se(apx), z=4.5)
    assert res.mode == "expected"


def test_exact_dataset_shift_is_the_generic_gaussian_kl():
    x, w, _ = problem(n=6, d=3, k=2, seed=8)
    res = linear_gaussian(x, w, None, rank=1, samples=2, **HP)
    p = Paper(x, None, **HP)
    S = p.c * p.X.T @ p.ST @ p.X                          # n x n smoother
    cov_hat = HP["noise"] ** 2 * (np.eye(p.n) + S @ S.T) + p.X.T @ p.ST @ p.X
    kl = sum(gauss_kl(w[i] @ p.X @ S, cov_hat, w[i] @ p.X, HP["noise"] ** 2 * np.eye(p.n)) for i in range(2))
    assert res.dataset_shift_exact == pytest.approx(kl, rel=1e-10)
    # the convexity bound exceeds it by exactly (k/2) sum ln(1 + t_i)
    t = np.linalg.eigvalsh(S @ S + p.X.T @ p.ST @ p.X / HP["noise"] ** 2)
    gap = 0.5 * 2 * np.sum(np.log1p(np.clip(t, 0, None)))
    assert res.dataset_shift_bound - res.dataset_shift_exact == pytest.approx(gap, rel=1e-9)
    assert res.convexity_gap == pytest.approx(gap, rel=1e-9)


def test_full_rank_student_has_no_rank_cost():
    x, w, y = problem(n=9, d=4, k=3)
    assert linear_gaussian(x, w, y, rank=3, samples=50, **HP).apx == pytest.approx(0.0, abs=1e-9)
    # more features than samples: the continuous M* leaves X's null space (k - r)(d - rank X), and nothing
    # when r >= k (the old canonical M* charged k (d - rank X) even then)
    x2, w2, y2 = problem(n=3, d=6, k=2, seed=4)
    res = linear_gaussian(x2, w2, y2, rank=2, samples=50, **HP)
    assert res.x_rank == 3 and res.apx == pytest.approx(0.0, abs=1e-9)
    x3, w3, y3 = problem(n=3, d=7, k=3, seed=4)
    res = linear_gaussian(x3, w3, y3, rank=3, samples=50, **HP)
    assert res.x_rank == 3 and res.apx == pytest.approx(0.0, abs=1e-9)


def test_covariance_cost():
    x, w, y = problem()
    assert linear_gaussian(x, w, y, sigma_s="teacher", samples=2, **HP).cov == 0.0
    p = Paper(x, y, **HP)
    k, d = 3, 4
    for sig in (0.3, np.diag([0.2, 0.5, 1.0, 2.0]) + 0.05):
        ss = sig * np.eye(d) if np.ndim(sig) == 0 else sig
        # vec of a matrix normal MN(M, I_k, S): N(vec M, kron(I_k, S)); equal means
        kl = gauss_kl(np.zeros(k * d), np.kron(np.eye(k), ss), np.zeros(k * d), np.kron(np.eye(k), p.ST))
        assert linear_gaussian(x, w, y, sigma_s=sig, samples=2, **HP).cov == pytest.approx(kl, rel=1e-10)
    # a tiny s I: k/2 [s tr(S_T^-1) - d + ln det S_T - d ln s], by logarithms (1 - p s rounds to 1 there)
    for s_small in (1e-20, 1e-300):
        kl = 0.5 * k * (s_small * np.trace(np.linalg.inv(p.ST)) - d + np.linalg.slogdet(p.ST)[1]
                        - d * np.log(s_small))
        assert linear_gaussian(x, w, y, sigma_s=s_small, samples=2, **HP).cov == pytest.approx(kl, rel=1e-10)


def test_same_seed_same_numbers_and_sweep_consistency():
    x, w, y = problem(n=30, d=6, k=4)
    a = linear_gaussian(x, w, y, rank=2, samples=300, seed=7, rank_sweep=[1, 2, 3], **HP)
    b = linear_gaussian(x, w, y, rank=2, samples=300, seed=7, **HP)
    c = linear_gaussian(x, w, y, rank=2, samples=300, seed=8, **HP)
    assert a.apx == pytest.approx(b.apx, rel=1e-13) and a.apx != c.apx
    assert a.rank_sweep["apx"][1] == pytest.approx(b.apx, rel=1e-13)
    assert linear_gaussian(x, w, y, rank=2, samples=300, seed=7, **HP).apx == b.apx  # same call, same bits
    assert np.all(np.diff(a.rank_sweep["apx"]) <= 0)  # a larger rank never costs more (same draws)


# ----------------------------------------------------------------------------- the continuous M* and the null space

@pytest.mark.parametrize("n, d, k, r", [(8, 4, 3, 1), (3, 6, 3, 1), (3, 6, 3, 2), (9, 4, 4, 2), (9, 5, 5, 4)])
def test_apx_against_brute_force_of_the_continuous_m_star(n, d, k, r):
    x, w, y = problem(n, d, k, seed=n + 10 * d + 100 * k)
    if n == 9:
        x[:, 3] = x[:, 0] - 0.5 * x[:, 1]            # collinear features: rank X = 3 < d
    if d == 5:
        x[:, 4] = x[:, 2] + 2 * x[:, 1]              # rank X = 3 < r = 4 < k: L_r is completed
    res = linear_gaussian(x, w, y, rank=r, samples=6000, seed=1, **HP)
    b = Paper(x, **HP)
    wbar = b.c * y.T @ b.X.T @ b.ST
    ref = b.apx(wbar, r, np.random.default_rng(2), 3000)
    assert abs(res.apx - ref.mean()) <= 4 * math.hypot(res.apx_stderr, se(ref)), (res.apx, ref.mean())


def test_null_space_contributes_k_minus_r_times_d_minus_rank_x():
    # d > n: rank X = n; W_T's null-space coordinates are N(0, 1/lam), weighted by lam
    x, w, y = problem(4, 9, 3, seed=5)
    b = Paper(x, **HP)
    for r in (1, 2, 3):
        res = linear_gaussian(x, w, y, rank=r, samples=4000, seed=3, **HP)
        assert res.x_rank == 4
        # the null-space part alone, by brute force: project the null coordinates of W_T off L_r
        rng = np.random.default_rng(4)
        wbar = b.c * y.T @ b.X.T @ b.ST
        vals = []
        _, _, vt = np.linalg.svd(b.X.T)
        null = vt[4:].T                                   # d x (d - n) basis of X's null space (paper layout)
        for _ in range(2000):
            wt = wbar + rng.normal(size=wbar.shape) @ b.L.T
            lr = np.linalg.svd(wt @ b.X)[0][:, :r]
            vals.append(np.sum(((np.eye(3) - lr @ lr.T) @ wt @ null) ** 2) * HP["lam"])
        assert abs(np.mean(vals) - (3 - r) * (9 - 4)) <= 4 * se(vals) + 1e-9
        assert res.apx >= (3 - r) * 5 - 4 * res.apx_stderr


@pytest.mark.parametrize("r", [1, 2])
def test_apx_is_continuous_as_a_feature_becomes_collinear(r):
    """One feature replaced by x0 - 0.5 x1 + eps z: the old canonical M* jumped by r (d - rank X) at eps = 0."""
    rng = np.random.default_rng(0)
    n, d, k = 40, 4, 3
    x = rng.normal(size=(n, d))
    z = rng.normal(size=n)
    y = x[:, :3] @ rng.normal(size=(3, k)) + 0.7 * rng.normal(size=(n, k))
    w = rng.normal(size=(k, d))
    results = []
    for eps in (1e-6, 1e-8, 1e-10, 0.0):
        xe = x.copy()
        xe[:, 3] = x[:, 0] - 0.5 * x[:, 1] + eps * z
        results.append(linear_gaussian(xe, w, y, rank=r, samples=4000, seed=7, **HP))
    assert results[0].x_rank == 4 and results[-1].x_rank == 3
    for a in results:
        for b in results:
            assert abs(a.apx - b.apx) <= 4 * math.hypot(a.apx_stderr, b.apx_stderr), [q.apx for q in results]
            assert a.kl_bound_tight == pytest.approx(b.kl_bound_tight, rel=0.05)


# ----------------------------------------------------------------------------- kl_exact, kl_bound_tight and the chain

SIGMAS = ["teacher", 0.37, "matrix"]


@pytest.mark.parametrize("n, d, k", [(7, 3, 2), (3, 5, 2), (6, 4, 4), (5, 2, 3)])
@pytest.mark.parametrize("sigma", SIGMAS)
@pytest.mark.parametrize("mode", ["expected", "conditional"])
def test_kl_exact_is_the_dense_gaussian_kl(n, d, k, sigma, mode):
    x, w, y = problem(n, d, k, seed=3 * n + d)
    sigma_s = spd(d, 1) if sigma == "matrix" else sigma
    yy = y if mode == "conditional" else None
    rank = min(k, d, n)
    res = linear_gaussian(x, w, yy, rank=rank, sigma_s=sigma_s, samples=64, **HP)
    ref, ref_shift = dense_kl(x, w, yy, **HP, sigma_s=sigma_s)
    assert res.kl_exact == pytest.approx(ref, rel=1e-9)
    assert res.dataset_shift == pytest.approx(ref_shift, rel=1e-9)
    if mode == "conditional":
        assert res.dataset_shift_conditional == pytest.approx(ref_shift, rel=1e-9)
    else:
        assert math.isnan(res.dataset_shift_conditional) and "dataset_shift_conditional" in res.missing
    # the chain: dataset shift <= kl_exact <= kl_bound_tight <= kl_bound (apx = 0 exactly here)
    assert res.apx == pytest.approx(0.0, abs=1e-12)
    assert res.dataset_shift <= res.kl_exact <= res.kl_bound_tight * (1 + 1e-12) <= res.kl_bound * (1 + 1e-12)


def test_kl_exact_is_null_with_a_bottleneck_and_the_tight_bound_still_holds():
    x, w, y = problem(30, 5, 4, seed=2)
    res = linear_gaussian(x, w, None, rank=2, samples=2000, seed=1, **HP)
    assert math.isnan(res.kl_exact) and "rank bottleneck" in res.missing["kl_exact"]
    assert res.dataset_shift_exact <= res.kl_bound_tight <= res.kl_bound
    # kl_bound_tight replaces the convexity step of the shift: they differ by exactly the convexity gap
    assert res.kl_bound - res.kl_bound_tight == pytest.approx(res.convexity_gap, rel=1e-10)


def test_conditional_tight_bound_differs_from_the_paper_by_the_conditional_convexity_gap():
    x, w, y = problem(20, 4, 3, seed=9)
    res = linear_gaussian(x, w, y, rank=1, samples=64, **HP)
    b = Paper(x, **HP)
    v = np.linalg.eigvalsh(b.X.T @ b.ST @ b.X)
    gap = 0.5 * 3 * np.sum(np.log1p(np.clip(v, 0, None) / HP["noise"] ** 2))
    assert res.kl_bound - res.kl_bound_tight == pytest.approx(gap, rel=1e-9)


@pytest.mark.parametrize("alpha, b", [(1e-120, 1.0), (1e120, 1.0), (1.0, 1e-100), (1.0, 1e90)])
def test_extreme_hyperparameters_reached_by_exact_rescalings_give_the_same_numbers(alpha, b):
    """K's terms are invariant under (w*, y, noise, lam) -> (a w*, a y, a noise, lam / a^2) and
    (x, w*, lam) -> (b x, w*/b, b^2 lam); bias and var scale by a^2."""
    x, w, y = problem(12, 4, 3, seed=1)
    for yy in (None, y):
        for rank, sigma_s in ((1, "teacher"), (3, 0.4)):
            ref = linear_gaussian(x, w, yy, rank=rank, sigma_s=sigma_s, samples=64, seed=2, **HP)
            got = linear_gaussian(b * x, alpha * w / b, None if yy is None else alpha * yy, rank=rank,
                                  sigma_s=sigma_s if isinstance(sigma_s, str) else sigma_s * alpha ** 2 / b ** 2,
                                  samples=64, seed=2, lam=HP["lam"] / alpha ** 2 * b ** 2, beta_t=HP["beta_t"],
                                  noise=HP["noise"] * alpha)
            for key in ("dataset_shift_bound", "dataset_shift_exact", "dataset_shift_conditional", "apx", "cov",
                        "spread", "kl_bound", "kl_bound_tight", "kl_exact", "convexity_gap"):
                a_, b_ = getattr(ref, key), getattr(got, key)
                assert (math.isnan(a_) and math.isnan(b_)) or b_ == pytest.approx(a_, rel=1e-7, abs=1e-9), key
            assert got.bias == pytest.approx(ref.bias * alpha ** 2, rel=1e-7)
            assert got.var == pytest.approx(ref.var * alpha ** 2, rel=1e-7)


def test_values_beyond_float64_are_refused_not_printed():
    x, w, y = problem(12, 4, 3, seed=1)
    for kw in (dict(noise=1e-160), dict(lam=1e-300), dict(noise=1e160)):
        with pytest.raises(InputError) as info:
            linear_gaussian(x, w, y, **{**HP, **kw})
        assert "outside the range kdbound computes" in str(info.value)
    with pytest.raises(InputError) as info:
        linear_gaussian(x, w, y, lam=1.0, beta_t=1e308, noise=1.0)
    assert "beyond float64" in str(info.value)


# ----------------------------------------------------------------------------- the rank of X

def test_rank_decision_uses_singular_values_resolved_from_x():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(200, 5))
    for eps, rank in ((1e-7, 5), (1e-11, 5), (0.0, 4)):
        xe = x.copy()
        xe[:, 4] = x[:, 0] + 2 * x[:, 1] + eps * rng.normal(size=200)
        gram, _ = gram_products(xe)
        spec = gram_spectrum(gram, 200, xe)
        assert spec.x_rank == rank, eps
        if eps:
            sv = np.linalg.svd(xe, compute_uv=False)
            assert math.sqrt(spec.g[spec.g > 0][0]) == pytest.approx(sv[-1], rel=1e-6)


# mutation: the numerical-rank tolerance uses min(n, d) instead of max(n, d) (numpy.linalg.matrix_rank's rule)
def test_numerical_rank_follows_matrix_rank():
    rng = np.random.default_rng(0)
    n, d = 1000, 2
    u, _ = np.linalg.qr(rng.standard_normal((n, d)))
    eps = np.finfo(float).eps
    for small, rank in ((300 * eps, 1), (3000 * eps, 2)):  # tolerance: max(n, d) eps sigma_max = 1000 eps
        x = u * np.array([1.0, small])
        spec = gram_spectrum(x.T @ x, n, x)
        assert spec.x_rank == np.linalg.matrix_rank(x) == rank


def test_rank_at_least_rank_x_is_still_a_bottleneck_in_the_null_space():
    """k = 3, d = 5, n = 2, r = 2 = rank X: W_T (rank 3) is not L_r L_r^T W_T, so K is not exact here."""
    rng = np.random.default_rng(5)
    x, w = rng.normal(size=(2, 5)), rng.normal(size=(3, 5))
    y = x @ w.T + 0.5 * rng.normal(size=(2, 3))
    res = linear_gaussian(x, w, y, lam=1.0, beta_t=1.0, noise=0.5, rank=2, samples=200, seed=1)
    assert res.x_rank == 2 and np.isnan(res.kl_exact) and "kl_exact" in res.missing
    assert res.apx >= (3 - 2) * (5 - 2) - 1e-9  # the null space's exact share, at least
    x3 = rng.normal(size=(3, 5))  # one sample more: rank 3 = min(k, d) is allowed and has no bottleneck
    y3 = x3 @ w.T + 0.5 * rng.normal(size=(3, 3))
    full = linear_gaussian(x3, w, y3, lam=1.0, beta_t=1.0, noise=0.5, rank=3, samples=50, seed=1)
    assert np.isfinite(full.kl_exact) and full.apx == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("make", [
    lambda rng: np.arange(250.0).reshape(50, 5),
    lambda rng: np.column_stack([rng.normal(size=(50, 3)), np.zeros(50)]),
    lambda rng: rng.normal(size=(50, 4)) @ np.diag([1, 1e-5, 1e-9, 1e-13]),
    lambda rng: rng.normal(size=(4, 9)),
])
def test_rank_of_x_follows_numpys_rule(make):
    x = make(np.random.default_rng(3))
    gram, _ = gram_products(x)
    assert gram_spectrum(gram, x.shape[0], x).x_rank == np.linalg.matrix_rank(x)


# ----------------------------------------------------------------------------- the noise from the data

def test_noise_estimates():
    x, w, y = problem(60, 4, 3, seed=8, noise=0.5)
    gram, yx = gram_products(x, y)
    spec = gram_spectrum(gram, 60, x)
    est = estimate_noise(spec, x, y, yx, w)
    assert est.method == "residual" and est.dof == 180
    assert est.value == pytest.approx(math.sqrt(np.mean((y - x @ w.T) ** 2)), rel=1e-12)
    est = estimate_noise(spec, x, y, yx, None)
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    assert est.method == "least-squares" and est.dof == (60 - 4) * 3
    assert est.value == pytest.approx(math.sqrt(np.sum((y - x @ coef) ** 2) / ((60 - 4) * 3)), rel=1e-10)
    # a near-perfect fit: the residuals are recomputed, not taken as a difference of large numbers
    y2 = x @ w.T * 1e6 + 1e-3 * np.random.default_rng(1).normal(size=(60, 3))
    _, yx2 = gram_products(x, y2)
    est = estimate_noise(spec, x, y2, yx2, None)
    coef, *_ = np.linalg.lstsq(x, y2, rcond=None)
    assert est.value == pytest.approx(math.sqrt(np.sum((y2 - x @ coef) ** 2) / 168), rel=1e-4)
    with pytest.raises(InputError) as info:
        xs = x[:4]
        g4, yx4 = gram_products(xs, y[:4])
        estimate_noise(gram_spectrum(g4, 4, xs), xs, y[:4], yx4, None)
    assert info.value.param == "noise" and "n > d" in str(info.value)


def test_noise_none_is_estimated_and_used():
    x, w, y = problem(80, 4, 2, seed=4, noise=0.5)
    res = linear_gaussian(x, w, y, lam=0.5, beta_t=1.3, noise=None, samples=16)
    assert res.noise == pytest.approx(math.sqrt(np.mean((y - x @ w.T) ** 2)), rel=1e-12)
    assert res.noise_estimate.method == "residual"
    same = linear_gaussian(x, w, y, lam=0.5, beta_t=1.3, noise=res.noise, samples=16)
    assert same.kl_bound == res.kl_bound
    default = linear_gaussian(x, w, None, noise=None, samples=16)  # no labels: 1.0, as the CLI's default
    assert default.noise == 1.0 and default.noise_from == "default" and res.noise_from == "estimated"
    with pytest.raises(InputError):
        linear_gaussian(x, w, x @ w.T, noise=None)      # noiseless labels: nothing to estimate


# ----------------------------------------------------------------------------- closed forms against explicit matrices

def test_spread_and_cov_against_explicit_matrices():
    """The reduced-unit forms of Spread and Cov against their closed forms with explicit inverses, in the
    paper's layout (docs/theory.md, "The paper's decomposition (eq. 28-39) and the keys it prints")."""
    x, w, y = problem(9, 4, 3, seed=6)
    b = Paper(x, **HP)
    lam, c, s2, k = HP["lam"], b.c, HP["noise"] ** 2, 3
    ST, X = b.ST, b.X
    ev, eu = np.linalg.eigh(ST)
    st_half = eu @ np.diag(ev ** 0.5) @ eu.T
    var = np.trace(X.T @ ST @ X)
    wbar = c * y.T @ X.T @ ST
    spread_c = lam ** 2 * (np.sum((wbar @ st_half) ** 2) + k * np.trace(ST @ ST)) + c ** 2 * s2 * k * var
    st32 = st_half @ ST
    spread_e = lam ** 2 * (np.sum((c * w @ X @ X.T @ st32) ** 2) + c ** 2 * k * s2 * np.trace(X.T @ ST @ ST @ ST @ X)
                           + k * np.trace(ST @ ST)) + c ** 2 * s2 * k * var
    cond = linear_gaussian(x, w, y, samples=4, **HP)
    expd = linear_gaussian(x, w, None, samples=4, **HP)
    assert cond.spread == pytest.approx(spread_c, rel=1e-10)
    assert expd.spread == pytest.approx(spread_e, rel=1e-10)
    assert cond.var == pytest.approx(var, rel=1e-10)
    assert cond.bias == pytest.approx(np.sum(((wbar - w) @ X) ** 2), rel=1e-10)


# ---------------------------------------------------------------------------- the Python API fails like the CLI; limits

def test_python_api_raises_kdbound_errors():
    x, w, y = problem(10, 3, 2, seed=0)
    ynan = y.copy()
    ynan[1, 1] = np.nan
    wnan = w.copy()
    wnan[0, 2] = np.inf
    cases = [
        (dict(y=ynan), InputError, "y"),
        (dict(w_star=wnan), InputError, "w_star"),
        (dict(w_star=w[:1]), InputError, "w_star"),                   # k = 1 against Y's k = 2
        (dict(w_star=w[:1, :], y=None, k=2), InputError, "w_star"),
        (dict(x=x.astype(complex)), InputError, "x"),
        (dict(x=x > 0), InputError, "x"),
        (dict(y=y > 0), InputError, "y"),
        (dict(w_star=w.astype(np.complex64)), InputError, "w_star"),
        (dict(rank=1.5), ParameterError, "rank"),
        (dict(rank=True), ParameterError, "rank"),
        (dict(samples=2.5), ParameterError, "samples"),
        (dict(samples=0), ParameterError, "samples"),
        (dict(seed=-1), ParameterError, "seed"),
        (dict(rank_sweep=[1, 0]), ParameterError, "rank_sweep"),
        (dict(rank_sweep=[1.5]), ParameterError, "rank_sweep"),
        (dict(sigma_s="student"), ParameterError, "sigma_s"),
        (dict(sigma_s=np.eye(2)), InputError, "sigma_s"),
        (dict(w_star=[[1, 2], [3]]), InputError, "w_star"),
        (dict(lam=float("nan")), ParameterError, "lam"),
        (dict(k=0, y=None, w_star=None), ParameterError, "k"),
    ]
    for kw, err, name in cases:
        args = dict(x=x, w_star=w, y=y, samples=4)
        args.update(kw)
        with pytest.raises(err) as info:
            linear_gaussian(args.pop("x"), args.pop("w_star"), args.pop("y"), **args)
        assert info.value.param == name, (kw, info.value)
    # W* as a list is accepted as an array
    res = linear_gaussian(x, w.tolist(), y, samples=4)
    assert res.k == 2 and math.isfinite(res.kl_bound)


def test_linear_gaussian_refuses_a_rank_sweep_too_long_before_listing_it():
    x, w = SY.synthetic_problem(d=4, n=30, k=3)
    with pytest.raises(InputError, match="at most 10,000 ranks") as e:
        LG.linear_gaussian(x, w, rank_sweep=range(1, 10 ** 12))
    assert e.value.param == "rank_sweep"


def test_linear_gaussian_refuses_an_oversized_problem():
    x = np.lib.stride_tricks.as_strided(np.zeros(1), shape=(10, 40_000), strides=(0, 0))  # no memory behind it
    with pytest.raises(InputError, match="GiB of memory"):
        LG.linear_gaussian(x, k=1)
