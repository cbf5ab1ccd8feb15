"""simulate's K from Cholesky factors (engine/sim_kl.py) against the spectral form (engine/exact_kl.py).

* on random cases, each student kind, the trace / log-determinant path equals the eigenvalue sums
  to 1e-12 relative, without falling back;
* the identity that removes the inverse of I + T, per eigenvalue, against the defining formulas;
* at the edges (extreme hyperparameters within the computable range, n < d, a refit student whose
  beta_s is close to beta_t or far from it) the K of each simulated dataset equals the spectral
  form on the same X, and the datasets the fast path marks suspect are recomputed by it exactly;
* the posterior factors (Cholesky, and the eigendecomposition where numpy cannot factor P);
* K averaged by simulate against the spectral K averaged over independent training sets.
"""

import math

import numpy as np
import pytest

from kdbound.engine import sim_kl as K
from kdbound.engine import simulate as S
from kdbound.engine.exact_kl import gram_eigen, kl_terms
from kdbound.engine.sim_draw import tight_bound_terms


def spd(rng, d, floor=0.2):
    a = rng.normal(size=(d, d))
    return a @ a.T / d + floor * np.eye(d)


def spectral(x, w, lam, beta, kind, value=None):
    """The reference: exact_kl's spectral form (or sim_draw's spectral tight bound) on the same X."""
    eig = gram_eigen(x)
    if kind == "refit":
        return kl_terms(x, w, lam=lam, beta_t=beta, noise=1.0, student="refit", beta_s=value, eig=eig).kl
    if kind.startswith("tight"):
        model = S.sim_model(w, n=x.shape[1], lam=lam, beta_t=beta, rank=1, sigma_s=value)
        return tight_bound_terms(model, x, eig)
    return kl_terms(x, w, lam=lam, beta_t=beta, noise=1.0, sigma_s=value, eig=eig).kl


def fast(x, w, lam, beta, kind, value=None) -> K.FastK:
    gram = np.swapaxes(x, 1, 2) @ x
    fac = K.posterior_factor(gram, lam, beta)
    if kind == "refit":
        return K.refit_kl(gram, fac, K.posterior_factor(gram, lam, value), w, lam=lam, beta=beta, beta_s=value)
    if kind.startswith("tight"):
        logdet = None if not isinstance(value, np.ndarray) else float(np.linalg.slogdet(value)[1])
        return K.tight_terms(gram, fac, w, lam=lam, beta=beta, sigma_s=value, logdet_sigma_s=logdet)
    return K.kernel_kl(gram, fac, w, lam=lam, beta=beta, sigma_s=value)


KINDS = ["teacher", "scalar", "matrix", "refit", "refit, beta_s = beta_t", "tight, teacher", "tight, scalar",
         "tight, matrix"]


def case(rng, kind, d):
    value = "teacher"
    lam, beta = np.exp(rng.uniform(np.log(0.05), np.log(20.0), size=2))
    if kind.endswith("scalar"):
        value = float(np.exp(rng.uniform(np.log(0.05), np.log(20.0))))
    elif kind.endswith("matrix"):
        value = spd(rng, d)
    elif kind == "refit":
        value = float(beta * np.exp(rng.uniform(np.log(0.1), np.log(10.0))))
    elif kind.startswith("refit"):
        value = float(beta)
    return float(lam), float(beta), value


# --------------------------------------------------------------------------- random cases

@pytest.mark.parametrize("kind", KINDS)
def test_fast_k_equals_the_spectral_form_on_random_cases(kind):
    rng = np.random.default_rng(KINDS.index(kind))
    checked = 0
    for d, n, k in [(1, 4, 1), (3, 8, 2), (5, 30, 3), (7, 12, 4), (20, 200, 5), (4, 2, 3)]:
        for _ in range(3):
            lam, beta, value = case(rng, kind, d)
            x = rng.normal(size=(6, n, d))
            w = rng.normal(size=(k, d)) / math.sqrt(d)
            got = fast(x, w, lam, beta, kind, value)
            ref = spectral(x, w, lam, beta, kind, value)
            ok = ~got.suspect
            # with n < d the reference itself loses digits: eigh gives the zero eigenvalues only to about
            # eps g_max (against 40-digit arithmetic the spectral form was off by up to 6e-12 on such
            # cases, the Cholesky form by up to 4e-13)
            np.testing.assert_allclose(got.value[ok], ref[ok], rtol=1e-12 if n >= d else 1e-10, atol=0)
            checked += int(ok.sum())
    assert checked >= 0.9 * 6 * 3 * 6                          # the fast path answered nearly every case itself


def test_pc_plus_the_variance_part_is_a_polynomial_in_s_and_shrink():
    """pc + v (1 + t) r^2 = beta s (1 + shrink^2) + shrink^2, per eigenvalue, by the defining formulas."""
    rng = np.random.default_rng(3)
    g = np.exp(rng.uniform(-20, 20, 2000))
    lam = np.exp(rng.uniform(-20, 20, 2000))
    beta = np.exp(rng.uniform(-10, 10, 2000))
    p = lam + beta * g
    v, s, shrink = g / p, beta * g / p, lam / p
    t = s * s + v
    pc = (1 + beta * s) / (1 + t)
    r = ((1 - beta) + beta * v * (beta * shrink - 1)) / (1 + t)
    lhs = pc + v * (1 + t) * r * r
    rhs = beta * s * (1 + shrink ** 2) + shrink ** 2
    np.testing.assert_allclose(rhs, lhs, rtol=1e-9)


# --------------------------------------------------------------------------- the edges, through draw_block

W32 = np.array([[0.6, -0.3, 0.2], [0.1, 0.4, -0.5]])
SIGMA_M = spd(np.random.default_rng(2), 3)
EDGES = [
    dict(lam=1e-100), dict(lam=1e100), dict(beta_t=1e-100), dict(beta_t=1e100), dict(lam=1e-100, beta_t=1e100),
    dict(lam=1e100, beta_t=1e-100), dict(lam=1e-8), dict(sigma_s=1e-100), dict(sigma_s=1e100),
    dict(sigma_s=SIGMA_M * 1e-90), dict(sigma_s=SIGMA_M, lam=1e-9), dict(rank=1, lam=1e90),
    dict(rank=1, sigma_s=1e-80), dict(rank=1, sigma_s=SIGMA_M), dict(student="refit", beta_s=1e100),
    dict(student="refit", beta_s=1e-100), dict(student="refit", beta_t=2.0, beta_s=2.0 * (1 + 1e-9)),
    dict(student="refit", beta_t=1e50, beta_s=1e-50), dict(student="refit", lam=1e-60, beta_s=3.0),
]


@pytest.mark.parametrize("n", [2, 8, 40])
@pytest.mark.parametrize("kw", EDGES, ids=[str(sorted(k for k in e)) + str(i) for i, e in enumerate(EDGES)])
def test_each_datasets_k_equals_the_spectral_form_at_the_edges(kw, n):
    """K of each simulated dataset (fast path, or the spectral form where the fast one is suspect) against
    the spectral form on the same X."""
    if kw.get("rank") and n < 2:
        pytest.skip("rank 1 needs n >= 1")
    model = S.sim_model(W32, n=n, **kw)
    blk = S.draw_block(model, 12, np.random.default_rng(5), keep=True)
    x = blk.draws["x"]
    eig = gram_eigen(x)
    if model.student == "refit":
        ref = kl_terms(x, W32, lam=model.lam, beta_t=model.beta_t, noise=1.0, student="refit", beta_s=model.beta_s,
                       eig=eig).kl
    elif not model.bottleneck:
        ref = kl_terms(x, W32, lam=model.lam, beta_t=model.beta_t, noise=1.0, sigma_s=model.sigma_s, eig=eig).kl
    else:
        ref = tight_bound_terms(model, x, eig) + blk.draws["apx"]
    both_inf = np.isinf(ref) & (ref == blk.kl)
    np.testing.assert_allclose(blk.kl[~both_inf], ref[~both_inf], rtol=1e-9, atol=0)


def test_suspect_datasets_are_recomputed_by_the_spectral_form_exactly():
    """n < d and lam / beta_t far below eps X^T X: P is numerically singular, every dataset is suspect, and
    the block's K is the spectral form's, to the last bit."""
    model = S.sim_model(W32, n=2, lam=1e-30, beta_t=1.0)
    blk = S.draw_block(model, 10, np.random.default_rng(4), keep=True)
    x = blk.draws["x"]
    gram = np.swapaxes(x, 1, 2) @ x
    assert K.posterior_factor(gram, 1e-30, 1.0).ill.all()
    ref = kl_terms(x, W32, lam=1e-30, beta_t=1.0, noise=1.0, eig=gram_eigen(x)).kl
    assert np.array_equal(blk.kl, ref)


# --------------------------------------------------------------------------- the posterior factors

def test_posterior_factor_is_a_cholesky_factor_with_its_inverse():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(5, 9, 4))
    gram = np.swapaxes(x, 1, 2) @ x
    fac = K.posterior_factor(gram, 0.3, 1.7)
    prec = 0.3 * np.eye(4) + 1.7 * gram
    np.testing.assert_allclose(fac.chol @ np.swapaxes(fac.chol, 1, 2), prec, rtol=1e-13, atol=1e-13)
    assert np.array_equal(fac.chol, np.tril(fac.chol))
    np.testing.assert_allclose(fac.inv @ fac.chol, np.broadcast_to(np.eye(4), (5, 4, 4)), atol=1e-13)
    np.testing.assert_allclose(fac.sigma, np.linalg.inv(prec), rtol=1e-12)
    np.testing.assert_allclose(fac.logdet, np.linalg.slogdet(prec)[1], rtol=1e-13)
    np.testing.assert_allclose(fac.sigma_norm2, np.sum(np.linalg.inv(prec) ** 2, axis=(1, 2)), rtol=1e-12)
    assert not fac.ill.any()


def test_posterior_factor_falls_back_to_the_eigendecomposition_where_p_is_singular():
    """lam I + G with G = [[1, 1], [1, 1]] and lam = 1e-300: 1 + lam rounds to 1, numpy cannot factor P;
    the eigen factor U diag(sqrt p) still gives F F^T = P and F^{-1}, and marks the datasets."""
    gram = np.array([[[1.0, 1.0], [1.0, 1.0]], [[2.0, 0.0], [0.0, 3.0]]])
    fac = K.posterior_factor(gram, 1e-300, 1.0)
    assert fac.ill.all()
    np.testing.assert_allclose(fac.chol @ np.swapaxes(fac.chol, 1, 2), gram, atol=1e-15)
    np.testing.assert_allclose(fac.chol[1] @ fac.inv[1], np.eye(2), atol=1e-15)


# --------------------------------------------------------------------------- Monte Carlo, each student kind

STUDENTS = [
    ("kernel", dict()),
    ("kernel, scalar Sigma_S", dict(sigma_s=0.05)),
    ("kernel, matrix Sigma_S", dict(sigma_s=SIGMA_M)),
    ("refit", dict(student="refit", beta_s=3.0)),
]


@pytest.mark.parametrize("name, kw", STUDENTS, ids=[s[0] for s in STUDENTS])
def test_mean_k_agrees_with_the_spectral_k_of_independent_training_sets(name, kw):
    """simulate's kl (fast path) against the spectral K averaged over 4000 X drawn by a plain loop."""
    hp = dict(n=8, lam=0.8, beta_t=1.5, noise=0.9)
    res = S.simulate(W32, datasets=20_000, seed=13, **hp, **kw)
    rng = np.random.default_rng(14)
    x = rng.normal(size=(4000, 8, 3))
    model = S.sim_model(W32, **hp, **kw)
    ref = kl_terms(x, W32, lam=0.8, beta_t=1.5, noise=0.9, student=model.student,
                   sigma_s=model.sigma_s if model.student == "kernel" else "teacher", beta_s=model.beta_s).kl
    se = ref.std(ddof=1) / math.sqrt(len(ref))
    assert abs(res.kl - ref.mean()) <= 4 * math.hypot(res.kl_se, se), (res.kl, ref.mean())
