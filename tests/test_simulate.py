"""kdbound simulate's engine against computations made another way.

* the exact population loss against a brute-force Monte Carlo over fresh (x, y);
* the K of each simulated dataset against the dense (n + d)-dimensional Gaussian KL;
* gen_t, gen_s and gen_s_real against an independent, plain per-dataset implementation
  in the paper's d x n layout (explicit inverses, explicit SVD), within 4 standard errors;
* the losses of each dataset recomputed from its draws; the streaming statistics against
  numpy on the stored values; the planted violation; reproducibility; bad input.
"""

import math

import numpy as np
import pytest
from conftest import dense_kl, within
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize_scalar
from scipy.special import gammainc, gammaincc, ndtr

from kdbound.engine import lingauss as LG
from kdbound.engine import sim_model
from kdbound.engine import simulate as S
from kdbound.engine.exact_kl import GramEigen, kl_terms
from kdbound.errors import InputError, ParameterError


# --------------------------------------------------------------------------- independent formulas

def clipped_mean_erf(s2, clip):
    """E min(r^2, B) / B for r ~ N(0, s2), by the Phi/phi form (not the incomplete gamma form)."""
    s = np.sqrt(s2)
    z = math.sqrt(clip) / s
    phi = np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    return (s2 * (2 * ndtr(z) - 1 - 2 * z * phi) + 2 * clip * ndtr(-z)) / clip


def loss_paper(W, X, Y, clip):
    """Training loss in the paper's layout: W k x d, X d x n, Y k x n."""
    return float(np.mean(np.minimum((Y - W @ X) ** 2, clip)) / clip)


def pop_paper(W, Wstar, noise, clip):
    s2 = np.sum((W - Wstar) ** 2, axis=1) + noise ** 2
    return float(np.mean(clipped_mean_erf(s2, clip)))


class PaperSim:
    """One dataset at a time in the paper's layout: X d x n, Y k x n, explicit inverses and SVD."""

    def __init__(self, W, n, lam=1.0, beta_t=1.0, noise=1.0, clip=4.0, student="kernel", rank=None,
                 sigma_s="teacher", beta_s=None):
        self.W, self.n, self.lam, self.beta_t, self.noise, self.clip = W, n, lam, beta_t, noise, clip
        self.student, self.sigma_s, self.beta_s = student, sigma_s, beta_s
        self.k, self.d = W.shape
        self.rank = rank if rank is not None else min(self.k, self.d, n)

    def one(self, rng):
        W, n, k, d, noise, clip = self.W, self.n, self.k, self.d, self.noise, self.clip
        c = self.beta_t / noise ** 2
        X = rng.normal(size=(d, n))
        Y = W @ X + noise * rng.normal(size=(k, n))
        ST = np.linalg.inv(self.lam * np.eye(d) + c * X @ X.T)
        Wbar = c * Y @ X.T @ ST
        WT = Wbar + rng.normal(size=(k, d)) @ np.linalg.cholesky(ST).T
        Yh = WT @ X + noise * rng.normal(size=(k, n))
        apx = 0.0
        if self.student == "refit":
            cs = self.beta_s / noise ** 2
            SR = np.linalg.inv(self.lam * np.eye(d) + cs * X @ X.T)
            Th = cs * Yh @ X.T @ SR + rng.normal(size=(k, d)) @ np.linalg.cholesky(SR).T
        else:
            U, _, _ = np.linalg.svd(WT @ X)                    # explicit SVD of the predictions (k x n)
            Lr = U[:, :self.rank]
            mean = Lr @ Lr.T @ WT                               # W_T M* = L_r L_r^T W_T
            ev, eu = np.linalg.eigh(ST)
            ST_mhalf = eu @ np.diag(ev ** -0.5) @ eu.T
            apx = float(np.sum(((np.eye(k) - Lr @ Lr.T) @ WT @ ST_mhalf) ** 2))
            SS = ST if isinstance(self.sigma_s, str) else (
                self.sigma_s * np.eye(d) if np.ndim(self.sigma_s) == 0 else self.sigma_s)
            Th = mean + rng.normal(size=(k, d)) @ np.linalg.cholesky(SS).T
        pop_t, pop_s = pop_paper(WT, W, noise, clip), pop_paper(Th, W, noise, clip)
        return (pop_t - loss_paper(WT, X, Y, clip), pop_s - loss_paper(Th, X, Yh, clip),
                pop_s - loss_paper(Th, X, Y, clip), apx)

    def run(self, datasets, seed):
        rng = np.random.default_rng(seed)
        vals = np.array([self.one(rng) for _ in range(datasets)])
        return vals.mean(axis=0), vals.std(axis=0, ddof=1) / math.sqrt(datasets)


W32 = np.array([[0.6, -0.3, 0.2], [0.1, 0.4, -0.5]])          # k = 2, d = 3


# --------------------------------------------------------------------------- the population loss

@pytest.mark.parametrize("clip, noise", [(4.0, 1.0), (0.3, 1.0), (25.0, 0.7), (1.0, 2.5)])
def test_population_loss_matches_brute_force_monte_carlo(clip, noise):
    rng = np.random.default_rng(7)
    w = W32 + rng.normal(scale=0.5, size=W32.shape)
    m = 250_000
    x = rng.normal(size=(m, 3))
    y = x @ W32.T + noise * rng.normal(size=(m, 2))
    per = np.mean(np.minimum((y - x @ w.T) ** 2, clip), axis=1) / clip
    exact = float(S.population_loss(w, W32, noise, clip))
    assert abs(exact - per.mean()) <= 4 * per.std(ddof=1) / math.sqrt(m)


def test_clipped_mean_agrees_with_the_phi_form_and_its_limits():
    s2 = np.geomspace(1e-6, 1e8, 3001)
    for clip in (1e-3, 1.0, 4.0, 1e3):
        got = S.clipped_square_mean(s2, clip)
        # scipy's incomplete gamma functions directly (slow but accurate everywhere)
        ref = (s2 / clip) * gammainc(1.5, 0.5 * clip / s2) + gammaincc(0.5, 0.5 * clip / s2)
        assert np.allclose(got, ref, rtol=1e-13, atol=1e-300)
        # the Phi form, where it does not cancel (z = sqrt(B / s2) >= 0.1)
        well = clip / s2 >= 0.01
        assert np.allclose(got[well], clipped_mean_erf(s2[well], clip), rtol=1e-12, atol=1e-300)
    # never clipped (s2 << B): E r^2 / B;  always clipped (s2 >> B): 1
    assert S.clipped_square_mean(1e-8, 1.0) == pytest.approx(1e-8, rel=1e-12)
    assert S.clipped_square_mean(1e12, 1.0) == pytest.approx(1.0, abs=1e-6)


@settings(max_examples=60, deadline=None)
@given(st.floats(1e-6, 1e6), st.floats(1e-3, 1e3))
def test_clipped_mean_is_a_loss_in_0_1_and_increases_with_the_variance(s2, clip):
    a, b = S.clipped_square_mean(np.array([s2, s2 * 1.01]), clip)
    assert 0.0 <= a <= 1.0 and a <= b + 1e-15


# --------------------------------------------------------------------------- per dataset, from its draws

@pytest.mark.parametrize("kw", [dict(), dict(sigma_s=0.3), dict(sigma_s="matrix"), dict(student="refit", beta_s=3.0),
                                dict(rank=1), dict(n=2, student="refit", beta_s=0.4), dict(n=2, rank=2), dict(n=1)])
def test_each_dataset_losses_and_k_recomputed_from_its_draws(kw):
    kw = {"n": 6, **kw}
    if kw.get("sigma_s") == "matrix":
        a = np.random.default_rng(2).normal(size=(3, 3))
        kw["sigma_s"] = a @ a.T / 3 + 0.2 * np.eye(3)
    model = S.sim_model(W32, lam=0.7, beta_t=1.3, noise=0.8, clip=2.0, **kw)
    blk = S.draw_block(model, 5, np.random.default_rng(3), keep=True)
    dr = blk.draws
    for i in range(5):
        X, Y, Yh = dr["x"][i].T, dr["y"][i].T, dr["y_hat"][i].T
        WT, Th = dr["w_t"][i], dr["theta"][i]
        assert blk.teacher_test[i] == pytest.approx(pop_paper(WT, W32, 0.8, 2.0), rel=1e-12)
        assert blk.teacher_train[i] == pytest.approx(loss_paper(WT, X, Y, 2.0), rel=1e-12)
        assert blk.student_test[i] == pytest.approx(pop_paper(Th, W32, 0.8, 2.0), rel=1e-12)
        assert blk.student_train[i] == pytest.approx(loss_paper(Th, X, Yh, 2.0), rel=1e-12)
        assert blk.student_gap_real[i] == pytest.approx(blk.student_test[i] - loss_paper(Th, X, Y, 2.0),
                                                        rel=1e-10, abs=1e-14)
        assert blk.teacher_gap[i] == blk.teacher_test[i] - blk.teacher_train[i]   # exactly, as written to runs
        assert blk.student_gap[i] == blk.student_test[i] - blk.student_train[i]
        if model.kl_kind == "exact":
            ref, _ = dense_kl(dr["x"][i], W32, None, 0.7, 1.3, 0.8, student=model.student,
                              sigma_s=model.sigma_s if model.student == "kernel" else "teacher", beta_s=model.beta_s)
            assert blk.kl[i] == pytest.approx(ref, rel=1e-9)
        else:   # the tight bound: its closed-form part is at least the exact dataset shift, plus this draw's Apx
            U, _, _ = np.linalg.svd(WT @ X)
            L1 = U[:, :1]
            ST = np.linalg.inv(0.7 * np.eye(3) + 1.3 / 0.64 * X @ X.T)
            ev, eu = np.linalg.eigh(ST)
            apx = np.sum(((np.eye(2) - L1 @ L1.T) @ WT @ eu @ np.diag(ev ** -0.5) @ eu.T) ** 2)
            assert dr["apx"][i] == pytest.approx(apx, rel=1e-9)


@pytest.mark.parametrize("kw", [dict(), dict(sigma_s=0.3), dict(sigma_s="matrix"), dict(student="refit", beta_s=3.0),
                                dict(rank=1)])
def test_posterior_means_are_exact_and_the_noise_is_standard_normal_once_whitened(kw):
    """The sampler, dataset by dataset, in the paper's layout with explicit inverses and SVD:
    the teacher's and the student's means are exact, and (draw - mean) Cov^{-1/2} is N(0, I)."""
    kw = dict(kw)
    if kw.get("sigma_s") == "matrix":
        a = np.random.default_rng(2).normal(size=(3, 3))
        kw["sigma_s"] = a @ a.T / 3 + 0.2 * np.eye(3)
    lam, beta_t, noise = 0.7, 1.3, 0.8
    c = beta_t / noise ** 2
    model = S.sim_model(W32, n=6, lam=lam, beta_t=beta_t, noise=noise, **kw)
    m = 4000
    dr = S.draw_block(model, m, np.random.default_rng(8), keep=True).draws
    xi_t, xi_s = [], []
    for i in range(m):
        X, Y, Yh = dr["x"][i].T, dr["y"][i].T, dr["y_hat"][i].T
        ST = np.linalg.inv(lam * np.eye(3) + c * X @ X.T)
        if i < 50:
            assert np.allclose(dr["w_bar"][i], c * Y @ X.T @ ST, rtol=1e-10, atol=1e-12)
        WT = dr["w_t"][i]
        if model.student == "refit":
            cs = model.beta_s / noise ** 2
            SS = np.linalg.inv(lam * np.eye(3) + cs * X @ X.T)
            mean = cs * Yh @ X.T @ SS
        else:
            U, _, _ = np.linalg.svd(WT @ X)
            Lr = U[:, :model.rank]
            mean = Lr @ Lr.T @ WT
            SS = ST if isinstance(model.sigma_s, str) else (
                model.sigma_s * np.eye(3) if np.ndim(model.sigma_s) == 0 else model.sigma_s)
        if i < 50:
            assert np.allclose(dr["theta_mean"][i], mean, rtol=1e-9, atol=1e-12)
        xi_t.append((WT - dr["w_bar"][i]) @ np.linalg.inv(np.linalg.cholesky(ST)).T)
        xi_s.append((dr["theta"][i] - mean) @ np.linalg.inv(np.linalg.cholesky(SS)).T)
    xi = np.hstack([np.array(xi_t).reshape(m, -1), np.array(xi_s).reshape(m, -1)])   # independent of each other
    se = 1 / math.sqrt(m)
    assert np.all(np.abs(xi.mean(axis=0)) < 4.5 * se)
    assert np.all(np.abs(xi.var(axis=0) - 1) < 4.5 * math.sqrt(2) * se)
    assert np.all(np.abs(np.corrcoef(xi.T) - np.eye(xi.shape[1])) < 4.5 * se)


def test_gaps_keep_their_digits_when_the_loss_saturates_at_1():
    """clip << noise^2: every loss is 1 - O(1e-20); the gaps are taken between the complements 1 - L.
    Reference: 1 - L_D = mean (1 - r^2/B)_+ from the draws and the two-term series of 1 - L_P."""
    clip, noise = 1e-40, 1.0
    model = S.sim_model(W32, n=30, noise=noise, clip=clip)
    blk = S.draw_block(model, 40, np.random.default_rng(1), keep=True)
    dr = blk.draws
    a = math.sqrt(clip)
    for i in range(40):
        X, Y, WT = dr["x"][i].T, dr["y"][i].T, dr["w_t"][i]
        comp_d = np.mean(np.maximum(1 - (Y - WT @ X) ** 2 / clip, 0))
        s = np.sqrt(np.sum((WT - W32) ** 2, axis=1) + noise ** 2)
        comp_p = np.mean(4 * a / (3 * s * math.sqrt(2 * math.pi)) * (1 - a * a / (10 * s * s)))
        assert blk.teacher_gap[i] == pytest.approx(comp_d - comp_p, rel=1e-9, abs=1e-50)
    assert 1e-22 < np.abs(blk.teacher_gap).max() < 1e-19     # not rounded away to 0 or to 1e-16 noise
    res = S.simulate(W32, n=30, noise=noise, clip=clip, datasets=3000)
    assert res.gen_t_se > 0 and abs(res.gen_t) < 1e-19 and res.saturated == 3000


def test_tight_bound_closed_forms_match_the_linear_gaussian_engine():
    """Exact dataset shift + Cov + E Spread, batched, against engine/lingauss.py's per-dataset functions."""
    rng = np.random.default_rng(5)
    w = rng.normal(size=(3, 4))
    for sigma_s in ("teacher", 0.4, np.diag([0.5, 1.0, 2.0, 0.3])):
        model = S.sim_model(w, n=7, lam=0.6, beta_t=1.7, noise=0.9, rank=1, sigma_s=sigma_s)
        x = rng.normal(size=(4, 7, 4))
        g, u = np.linalg.eigh(np.swapaxes(x, 1, 2) @ x)
        got = S.tight_bound_terms(model, x, GramEigen(g=g, u=u))
        h = LG.check_hyper(0.6, 1.7, 0.9)
        for i in range(4):
            spec = LG.gram_spectrum(x[i].T @ x[i], 7)
            rd = LG.reduce(spec, h)
            a = (w @ spec.u) * rd.w_scale
            ref = (LG.dataset_shift_exact(rd, a, 3) + LG.covariance_cost(spec, rd, model.sigma_s, 3)
                   + LG.spread_expected(rd, a, 3))
            assert got[i] == pytest.approx(ref, rel=1e-10)


def test_tight_bound_is_above_the_exact_k_without_a_bottleneck():
    """kl_bound_tight >= kl_exact: the closed-form part (Apx = 0 at full rank) bounds the exact K."""
    rng = np.random.default_rng(9)
    for sigma_s in ("teacher", 0.2, 3.0):
        model = S.sim_model(W32, n=5, lam=0.8, beta_t=0.9, noise=1.1, sigma_s=sigma_s)
        x = rng.normal(size=(50, 5, 3))
        g, u = np.linalg.eigh(np.swapaxes(x, 1, 2) @ x)
        eig = GramEigen(g=g, u=u)
        tight = S.tight_bound_terms(model, x, eig)
        exact = kl_terms(x, W32, lam=0.8, beta_t=0.9, noise=1.1, sigma_s=model.sigma_s, eig=eig).kl
        assert (tight >= exact * (1 - 1e-12)).all()


# --------------------------------------------------------------------------- against the plain loop

CONFIGS = [
    ("kernel", dict()),
    ("kernel, scalar Sigma_S", dict(sigma_s=0.05)),
    ("kernel, matrix Sigma_S", dict(sigma_s=np.array([[0.3, 0.1, 0.0], [0.1, 0.2, -0.05], [0.0, -0.05, 0.4]]))),
    ("kernel, rank 1", dict(rank=1)),
    ("refit", dict(student="refit", beta_s=3.0)),
]


@pytest.mark.parametrize("name, kw", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_gaps_agree_with_a_plain_per_dataset_implementation(name, kw):
    hp = dict(n=8, lam=0.8, beta_t=1.5, noise=0.9, clip=1.5)
    res = S.simulate(W32, datasets=40_000, seed=11, **hp, **kw)
    mean, se = PaperSim(W32, **hp, **kw).run(2500, seed=12)
    assert within(res.gen_t, res.gen_t_se, mean[0], se[0], z=4.0), (res.gen_t, mean[0])
    assert within(res.gen_s, res.gen_s_se, mean[1], se[1], z=4.0), (res.gen_s, mean[1])
    assert within(res.gen_s_real, res.gen_s_real_se, mean[2], se[2], z=4.0), (res.gen_s_real, mean[2])
    assert res.kl_kind == ("bound-tight" if kw.get("rank") == 1 else "exact")


def test_bottleneck_k_is_the_tight_bound_with_the_plain_apx():
    """kl (bound-tight) = E[exact shift + Cov + Spread] + E Apx: Apx by the explicit SVD in the paper layout."""
    hp = dict(n=8, lam=0.8, beta_t=1.5, noise=0.9)
    res = S.simulate(W32, datasets=20_000, seed=3, rank=1, **hp)
    model = S.sim_model(W32, rank=1, **hp)
    rng = np.random.default_rng(4)
    x = rng.normal(size=(3000, 8, 3))
    g, u = np.linalg.eigh(np.swapaxes(x, 1, 2) @ x)
    closed = S.tight_bound_terms(model, x, GramEigen(g=g, u=u))
    mean, se = PaperSim(W32, rank=1, **hp).run(3000, seed=5)
    ref = closed.mean() + mean[3]
    ref_se = math.hypot(closed.std(ddof=1) / math.sqrt(3000), se[3])
    assert within(res.kl, res.kl_se, ref, ref_se, z=4.0)


# --------------------------------------------------------------------------- statistics

def collect(**kw):
    blocks = []
    res = S.simulate(on_block=blocks.append, **kw)
    cat = {f: np.concatenate([getattr(b, f) for b in blocks]) for f in
           ("teacher_gap", "student_gap", "student_gap_real", "kl", "teacher_train", "teacher_test")}
    return res, cat, blocks


@pytest.mark.parametrize("kw", [dict(clip=0.001), dict(noise=100.0), dict(noise=50.0, clip=1e-6)])
def test_losses_stay_in_the_unit_interval_where_they_saturate(kw):
    """min(r^2, B) / B <= 1, so every training and population loss is in [0, 1] (as --runs-out writes them)."""
    blocks = []
    S.simulate(n=50, datasets=3000, seed=5, on_block=blocks.append, **kw)
    for b in blocks:
        for f in ("teacher_train", "teacher_test", "student_train", "student_test"):
            v = getattr(b, f)
            assert ((v >= 0) & (v <= 1)).all(), (f, v.max())


@pytest.mark.parametrize("kw", [dict(), dict(noise=1e40), dict(noise=1e-30), dict(clip=1e-6)])
def test_plug_in_sigma_is_at_most_half_the_range_of_the_gaps(kw):
    """Hoeffding's lemma for the empirical law on [min h, max h]: sigma_hat <= (max h - min h) / 2, also where the
    gaps are constant up to rounding (where the log-sum-exp's rounding once gave a sigma_hat 1e47 times too big)."""
    blocks = []
    res = S.simulate(n=20, datasets=400, seed=6, on_block=blocks.append, **kw)
    h = np.concatenate([b.teacher_gap for b in blocks])
    assert res.sigma_hat <= (h.max() - h.min()) / 2 * (1 + 1e-9)
    assert res.sigma_hat >= h.std() * (1 - 1e-9)               # and at least the sd (the l -> 0 limit)


def test_moments_and_margins_match_numpy_on_the_stored_values():
    res, v, blocks = collect(n=20, datasets=9000, seed=2, kl_scale=0.3)
    assert len(blocks) > 2
    assert res.gen_t == pytest.approx(np.mean(v["teacher_gap"]), rel=1e-13)
    assert res.gen_t_se == pytest.approx(np.std(v["teacher_gap"], ddof=1) / math.sqrt(9000), rel=1e-10)
    assert res.gen_s == pytest.approx(np.mean(v["student_gap"]), rel=1e-13)
    assert res.gen_s_real_se == pytest.approx(np.std(v["student_gap_real"], ddof=1) / math.sqrt(9000), rel=1e-10)
    assert res.kl == pytest.approx(np.mean(v["kl"]), rel=1e-13)
    kl = res.kl * 0.3
    assert res.upper_bound == pytest.approx(res.gen_t + math.sqrt(2 * kl), rel=1e-14)
    assert res.lower_bound == pytest.approx(res.gen_t - math.sqrt(2 * kl), rel=1e-14)
    # the margin's standard error: the delta method on the per-dataset values
    u = v["teacher_gap"] - v["student_gap"] + 0.3 * v["kl"] / math.sqrt(2 * kl)
    assert res.margin_upper_se == pytest.approx(np.std(u, ddof=1) / math.sqrt(9000), rel=1e-8)
    assert res.z_upper == pytest.approx(res.margin_upper / res.margin_upper_se)
    assert res.slack_used == pytest.approx((res.gen_s - res.gen_t) / (res.upper_bound - res.gen_t))


def test_gen_t_is_the_mean_of_the_teacher_gaps_as_written():
    res, v, _ = collect(datasets=5000, seed=8)
    gaps = v["teacher_test"] - v["teacher_train"]
    assert np.array_equal(gaps, v["teacher_gap"])
    assert abs(res.gen_t - float(np.mean(gaps))) <= 1e-15


def test_margin_standard_error_matches_the_spread_over_repeats():
    zs = [S.simulate(W32, n=8, datasets=1500, seed=s, kl_scale=1e-4) for s in range(40)]
    margins = np.array([r.margin_upper for r in zs])
    reported = np.mean([r.margin_upper_se for r in zs])
    assert 0.6 < margins.std(ddof=1) / reported < 1.45


def test_plug_in_proxy_and_dv_optimum_against_a_direct_optimisation():
    res, v, _ = collect(n=20, datasets=8000, seed=4)
    h = v["teacher_gap"] - v["teacher_gap"].mean()

    def cgf(lam):   # centred empirical CGF; expm1 keeps its digits at small lambda
        e = lam * h
        if np.abs(e).max() < 1:
            return math.log1p(np.mean(np.expm1(e)))
        top = e.max()
        return top + math.log(np.mean(np.exp(e - top)))

    sd = h.std()

    def sup_f(sign):   # sup over lambda = sign e^t / sd of 2 Lambda(lambda) / lambda^2
        r = minimize_scalar(lambda t: -2 * cgf(sign * math.exp(t) / sd) / (math.exp(t) / sd) ** 2,
                            bounds=(-5, 8), method="bounded", options={"xatol": 1e-10})
        return -r.fun

    sup = max(sup_f(1), sup_f(-1), np.mean(h * h))
    assert res.sigma_hat == pytest.approx(math.sqrt(sup), rel=1e-9)
    kl = res.kl
    dv = minimize_scalar(lambda t: (kl + cgf(math.exp(t) / sd)) * sd / math.exp(t), bounds=(-8, 10),
                         method="bounded", options={"xatol": 1e-10})
    assert res.dv_optimum == pytest.approx(min(dv.fun, h.max()), rel=1e-9)
    # Donsker-Varadhan with the plug-in CGF is never above the sub-Gaussian slack with the plug-in proxy
    assert res.dv_optimum <= res.upper_bound_hat - res.gen_t + 1e-12
    # a tiny K puts the optimum at lambda* ~ 5e-7 / sd, where Lambda ~ l^2 var / 2 must keep its digits
    tiny = S.simulate(n=20, datasets=8000, seed=4, kl_scale=1e-14)
    k_tiny = tiny.kl * 1e-14
    dv = minimize_scalar(lambda t: (k_tiny + cgf(math.exp(t) / sd)) * sd / math.exp(t), bounds=(-20, 0),
                         method="bounded", options={"xatol": 1e-12})
    assert tiny.dv_optimum == pytest.approx(dv.fun, rel=1e-9)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(1, 40), min_size=1, max_size=6), st.integers(0, 2 ** 31))
def test_streamed_moments_equal_numpy_for_any_block_split(sizes, seed):
    rng = np.random.default_rng(seed)
    data = rng.normal(size=(sum(sizes), 4)) * [1.0, 1e-3, 10.0, 1.0] + [0.5, -3.0, 1e3, 0.0]
    mom = S._Moments(4)
    start = 0
    for m in sizes:
        mom.add(data[start:start + m])
        start += m
    assert np.allclose(mom.mean, data.mean(axis=0), rtol=1e-12, atol=1e-12)
    if len(data) > 1:
        assert np.allclose(mom.cov(), np.cov(data.T, ddof=1).reshape(4, 4), rtol=1e-9, atol=1e-12)
    assert np.array_equal(mom.max, data.max(axis=0))


# --------------------------------------------------------------------------- verdicts, seeds

@pytest.mark.parametrize("scale", [1e300, 1e308, 1.7e308])
def test_a_huge_kl_scale_keeps_finite_bounds_finite(scale):
    """K x scale overflows past 1.8e308, sigma sqrt(2 K scale) does not: the bounds by hand; DV at its l -> inf limit."""
    res = S.simulate(n=20, datasets=500, seed=3, kl_scale=scale)
    slack = math.sqrt(2 * res.kl) * math.sqrt(scale)
    assert res.upper_bound == pytest.approx(res.gen_t + slack, rel=1e-12)
    assert res.lower_bound == pytest.approx(res.gen_t - slack, rel=1e-12)
    assert res.dv_optimum == pytest.approx(res.teacher_gap_max - res.gen_t, rel=1e-12)
    assert math.isfinite(res.z_upper) and res.verdict_upper == "holds" and res.verdict_lower == "holds"


def test_planted_violation_is_detected():
    res = S.simulate(student="refit", beta_s=3.0, kl_scale=1e-6, datasets=10_000)
    assert res.verdict_upper == "violated" and res.z_upper < -4
    assert res.verdict_lower == "holds"
    honest = S.simulate(student="refit", beta_s=3.0, datasets=10_000)
    assert honest.verdict_upper == "holds" and honest.verdict_lower == "holds"


def test_verdict_thresholds():
    assert S.verdict(-4.01) == "violated" and S.verdict(-3.99) == "inconclusive"
    assert S.verdict(4.0) == "inconclusive" and S.verdict(4.01) == "holds"
    assert S.verdict(math.nan) == "inconclusive" and S.verdict(math.inf) == "holds"


def test_same_seed_same_numbers_and_blocks_do_not_matter_for_callbacks():
    a = S.simulate(datasets=3000, seed=5, rank=2)
    b = S.simulate(datasets=3000, seed=5, rank=2, on_block=lambda blk: None, progress=lambda i, n: None)
    c = S.simulate(datasets=3000, seed=6, rank=2)
    fields = [f for f in S.Simulation.__dataclass_fields__ if isinstance(getattr(a, f), float)]
    assert all(getattr(a, f) == getattr(b, f) or (math.isnan(getattr(a, f)) and math.isnan(getattr(b, f)))
               for f in fields)
    assert a.gen_t != c.gen_t


def test_progress_is_reported_block_by_block():
    calls = []
    S.simulate(datasets=400, n=100, d=20, k=5, progress=lambda i, n: calls.append((i, n)))
    assert calls[0] == (0, 400) and calls[-1] == (400, 400) and len(calls) > 3
    assert [c[0] for c in calls] == sorted(c[0] for c in calls)


def test_memory_is_bounded_by_the_block_not_the_number_of_datasets():
    assert S.block_size(50, 5, 3) * sim_model._dataset_floats(50, 5, 3) * 8 <= 9 << 20
    assert S.block_size(200, 20, 5) < 100
    assert S.block_size(10 ** 5, 100, 10) == 1


def test_default_datasets_are_sized_for_a_few_seconds():
    assert S.default_datasets(50, 5, 3) >= 20_000
    assert S.default_datasets(200, 20, 5) < S.default_datasets(50, 5, 3)
    assert 2000 <= S.default_datasets(10 ** 4, 100, 10) <= 200_000


# --------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("kw, param", [
    (dict(clip=0.0), "clip"), (dict(clip=-1.0), "clip"), (dict(datasets=1), "datasets"),
    (dict(rank=0), "rank"), (dict(rank=4), "rank"), (dict(n=2, rank=3), "rank"),
    (dict(student="refit", beta_s=0.0), "beta_s"), (dict(student="refit", beta_s=-2.0), "beta_s"),
    (dict(beta_s=2.0), "beta_s"), (dict(student="refit", rank=1), "rank"),
    (dict(student="refit", sigma_s=0.5), "sigma_s"), (dict(student="teacher"), "student"),
    (dict(lam=0.0), "lam"), (dict(noise=math.nan), "noise"), (dict(kl_scale=-1.0), "kl_scale"),
    (dict(seed=-1), "seed"), (dict(n=0), "n"), (dict(d=0), "d"), (dict(k=1.5), "k"),
    (dict(w_star=np.ones((2, 3)), d=4), "d"), (dict(w_star=np.ones((2, 3, 1))), "w_star"),
    (dict(w_star=np.array([[1.0, np.nan]])), "w_star"), (dict(w_star=[["a"]]), "w_star"),
    (dict(n=10 ** 6, d=10 ** 4), ("n", "d", "k")),
])
def test_bad_input_names_the_parameter(kw, param):
    with pytest.raises((ParameterError, InputError)) as info:
        S.simulate(**{"datasets": 10, **kw})
    assert info.value.param == param


@settings(max_examples=8, deadline=None)
@given(st.floats(1e-3, 1e3), st.sampled_from([dict(), dict(rank=1), dict(student="refit", beta_s=2.0),
                                             dict(sigma_s=0.3)]))
def test_results_do_not_depend_on_the_label_units(scale, kw):
    """Labels, W*, noise and the clip rescaled together (lam and Sigma_S with them): the same gaps and K."""
    kw = dict(kw)
    base = S.simulate(W32, n=9, lam=0.8, noise=0.7, clip=1.5, datasets=600, seed=2, **kw)
    if "sigma_s" in kw:
        kw["sigma_s"] = kw["sigma_s"] * scale ** 2
    moved = S.simulate(W32 * scale, n=9, lam=0.8 / scale ** 2, noise=0.7 * scale, clip=1.5 * scale ** 2,
                       datasets=600, seed=2, **kw)
    for key in ("gen_t", "gen_s", "gen_s_real", "kl", "sigma_hat", "dv_optimum", "z_upper"):
        assert getattr(moved, key) == pytest.approx(getattr(base, key), rel=1e-9, abs=1e-14), key


# ----------------------------------------------------------------------------- limits; Theorem 1 formed once

def test_simulate_limits():
    with pytest.raises(ParameterError, match=r"must be <= 1e\+08"):
        sim_model.check_run(10 ** 8 + 1, 0, 1.0)
    with pytest.raises(InputError, match="GiB"):
        sim_model.sim_model(n=10 ** 6, d=1000)


def test_simulate_moves_an_overflowing_kl_scale_onto_sigma():
    up, low, slack, _ = S._theorem1(0.0, 1e200, 1e200, 1.0, 0.5)      # K s = 1e400: sqrt(2 K s) = 1.41e200
    assert slack == pytest.approx(math.sqrt(2.0) * 1e200, rel=1e-15) and up == slack and low == -slack
    assert S._theorem1(0.25, math.inf, 0.0, 1.0, 0.5) == (0.25, 0.25, 0.0, 0.25)   # a scale of 0 removes K
