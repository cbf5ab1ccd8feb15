"""Exact K given X (engine/exact_kl.py) against the dense Gaussian KL on R^{n+d}, in the paper's layout.

The oracle builds, for each output row, the joint mean and covariance of (y, w) under the
teacher process and of (y^, theta) under the student process explicitly (explicit inverses, no
eigenbasis, no chain rule) and evaluates KL(N(m_S, C_S) || N(m_T, C_T)) with slogdet.
"""

import math

import numpy as np
import pytest
from conftest import dense_kl, problem, spd
from hypothesis import given, settings
from hypothesis import strategies as st

from kdbound.engine import exact_kl as E
from kdbound.engine.exact_kl import check_sigma_s
from kdbound.errors import InputError, ParameterError


HYPERS = [dict(lam=0.5, beta_t=1.3, noise=0.7), dict(lam=2.0, beta_t=1.0, noise=1.0),
          dict(lam=0.1, beta_t=0.4, noise=1.9)]
SHAPES = [(6, 3, 2), (3, 5, 2), (4, 4, 1), (5, 2, 3), (1, 3, 2)]


@pytest.mark.parametrize("hp", HYPERS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("mode", ["expected", "conditional"])
def test_kernel_student_matches_dense_gaussian_kl(hp, shape, mode):
    n, d, k = shape
    x, w, y = problem(n, d, k, seed=n * 100 + d * 10 + k, noise=0.8)
    yy = y if mode == "conditional" else None
    for sigma_s in ("teacher", 0.37, spd(d, 5)):
        ref, ref_shift = dense_kl(x, w, yy, **hp, sigma_s=sigma_s)
        got = E.kl_terms(x, w, y=yy, sigma_s=sigma_s, **hp)
        assert float(got.kl) == pytest.approx(ref, rel=1e-9, abs=1e-11)
        assert float(got.dataset_shift) == pytest.approx(ref_shift, rel=1e-9, abs=1e-11)
        assert float(got.dataset_shift) <= float(got.kl) + 1e-12


@pytest.mark.parametrize("beta_s", [0.05, 0.5, 1.3, 3.0, 40.0])
@pytest.mark.parametrize("shape", SHAPES[:4])
@pytest.mark.parametrize("mode", ["expected", "conditional"])
def test_refit_student_matches_dense_gaussian_kl(beta_s, shape, mode):
    n, d, k = shape
    hp = HYPERS[0]
    x, w, y = problem(n, d, k, seed=7 + n + d, noise=0.8)
    yy = y if mode == "conditional" else None
    ref, ref_shift = dense_kl(x, w, yy, **hp, student="refit", beta_s=beta_s)
    got = E.kl_terms(x, w, y=yy, student="refit", beta_s=beta_s, **hp)
    assert float(got.kl) == pytest.approx(ref, rel=1e-9, abs=1e-11)
    assert float(got.dataset_shift) == pytest.approx(ref_shift, rel=1e-9, abs=1e-11)


def test_refit_at_the_teachers_temperature_costs_only_the_dataset_shift():
    x, w, _ = problem(8, 3, 2, seed=1, noise=0.8)
    got = E.kl_terms(x, w, lam=0.5, beta_t=1.3, noise=0.7, student="refit", beta_s=1.3)
    assert float(got.kernel) == pytest.approx(0.0, abs=1e-14)


def test_batch_axis_equals_one_dataset_at_a_time():
    rng = np.random.default_rng(0)
    xs = rng.normal(size=(2, 3, 7, 4))          # a (2, 3) batch of 7 x 4 datasets
    w = rng.normal(size=(2, 4))
    ys = xs @ w.T + rng.normal(size=(2, 3, 7, 2))
    hp = dict(lam=0.5, beta_t=1.3, noise=0.7)
    for kw in (dict(), dict(sigma_s=0.2), dict(sigma_s=spd(4, 1)), dict(student="refit", beta_s=2.0)):
        for y in (None, ys):
            batch = E.kl_given_x(xs, w, y=y, **hp, **kw)
            assert batch.shape == (2, 3)
            for i in range(2):
                for j in range(3):
                    one = E.kl_given_x(xs[i, j], w, y=None if y is None else y[i, j], **hp, **kw)
                    assert one.shape == ()
                    assert float(batch[i, j]) == pytest.approx(float(one), rel=1e-12)


def test_expected_dataset_shift_agrees_with_lingauss_closed_form():
    from kdbound.engine.lingauss import linear_gaussian

    x, w, _ = problem(9, 4, 3, seed=2, noise=0.8)
    hp = dict(lam=0.5, beta_t=1.3, noise=0.7)
    got = E.kl_terms(x, w, **hp)
    res = linear_gaussian(x, w, None, samples=2, **hp)
    assert float(got.dataset_shift) == pytest.approx(res.dataset_shift_exact, rel=1e-12)


def test_conditional_mean_over_y_is_at_least_the_expected_value():
    """K given X <= E_Y[K given D_n] (convexity), checked by Monte Carlo over Y at 4 standard errors."""
    x, w, _ = problem(6, 3, 2, seed=4, noise=0.8)
    hp = dict(lam=0.5, beta_t=1.3, noise=0.7)
    rng = np.random.default_rng(3)
    ys = x @ w.T + hp["noise"] * rng.normal(size=(4000, 6, 2))
    cond = E.kl_given_x(np.broadcast_to(x, (4000, 6, 3)), w, y=ys, **hp)
    expected = float(E.kl_given_x(x, w, **hp))
    assert cond.mean() + 4 * cond.std() / math.sqrt(cond.size) >= expected


def test_posterior_mean_and_draws():
    x, w, y = problem(20, 4, 2, seed=9, noise=0.8)
    hp = dict(lam=0.5, beta=1.3, noise=0.7)
    eig = E.gram_eigen(x)
    c = hp["beta"] / hp["noise"] ** 2
    ST = np.linalg.inv(hp["lam"] * np.eye(4) + c * x.T @ x)
    np.testing.assert_allclose(E.posterior_mean(eig, x, y, **hp), c * y.T @ x @ ST, rtol=1e-10)
    draws = E.posterior_draw(E.gram_eigen(np.broadcast_to(x, (20000, 20, 4))), np.zeros((2, 4)), **hp,
                             rng=np.random.default_rng(0))
    emp = np.einsum("bki,bkj->ij", draws, draws) / (2 * 20000)
    np.testing.assert_allclose(emp, ST, atol=6 * np.sqrt(np.outer(np.diag(ST), np.diag(ST)) / 40000).max())


def test_xm_log1p_is_accurate_for_small_and_large_arguments():
    for v in (1e-300, 1e-12, 1e-5, 9.99e-4, 1.01e-3, 0.5, 3.0, 1e10, 1e300):
        assert float(E.xm_log1p(v)) == pytest.approx(float(_ref_xm_log1p(v)), rel=1e-13)
    assert float(E.xm_log1p(-0.5)) == pytest.approx(-0.5 - math.log(0.5), rel=1e-14)


def _ref_xm_log1p(v):
    from fractions import Fraction

    # the exact series with rational arithmetic when small, else the plain formula
    if v < 0.01:
        f = Fraction(v)
        return float(sum((-1) ** (j % 2) * f ** j / j for j in range(2, 12)))
    return v - math.log1p(v)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 5), d=st.integers(1, 5), k=st.integers(1, 3), seed=st.integers(0, 10 ** 6),
       lam=st.floats(1e-2, 1e2), beta=st.floats(1e-2, 1e2), noise=st.floats(0.1, 10.0),
       cond=st.booleans())
def test_property_dense_oracle_and_chain(n, d, k, seed, lam, beta, noise, cond):
    x, w, y = problem(n, d, k, seed, noise=0.8)
    yy = y if cond else None
    hp = dict(lam=lam, beta_t=beta, noise=noise)
    ref, ref_shift = dense_kl(x, w, yy, **hp)
    got = E.kl_terms(x, w, y=yy, **hp)
    assert float(got.kl) == pytest.approx(ref, rel=1e-6, abs=1e-9)
    assert 0.0 <= float(got.dataset_shift) <= float(got.kl) * (1 + 1e-12) + 1e-12


def test_bad_inputs_are_kdbound_errors():
    x, w, y = problem(5, 3, 2, seed=0, noise=0.8)
    hp = dict(lam=0.5, beta_t=1.3, noise=0.7)
    cases = [
        (dict(x=x, w_star=w.T), InputError, "w_star"),
        (dict(x=x, w_star=w, y=y[:, :1]), InputError, "y"),
        (dict(x=x, w_star=w, student="other"), ParameterError, "student"),
        (dict(x=x, w_star=w, student="refit"), InputError, "beta_s"),
        (dict(x=x, w_star=w, beta_s=2.0), InputError, "beta_s"),
        (dict(x=x, w_star=w, student="refit", beta_s=1.0, sigma_s=0.3), InputError, "sigma_s"),
        (dict(x=x, w_star=w, sigma_s=-np.eye(3)), InputError, "sigma_s"),
        (dict(x=x, w_star=w, sigma_s=np.eye(2)), InputError, "sigma_s"),
        (dict(x=x.astype(complex), w_star=w), InputError, "x"),
        (dict(x=x > 0, w_star=w), InputError, "x"),
        (dict(x=np.where(x > 1, np.nan, x), w_star=w), InputError, "x"),
        (dict(x=x[0], w_star=w), InputError, "x"),
    ]
    for kw, err, name in cases:
        with pytest.raises(err) as info:
            E.kl_given_x(**kw, **hp)
        assert info.value.param == name, (kw.keys(), info.value)
    with pytest.raises(ParameterError):
        E.kl_given_x(x, w, lam=0.0, beta_t=1.0, noise=1.0)


@pytest.mark.parametrize("alpha, b", [(1e-150, 1.0), (1e150, 1.0), (1.0, 1e-100), (1.0, 1e100), (1e-100, 1e50)])
@pytest.mark.parametrize("student", ["kernel", "refit"])
def test_extreme_scales_give_the_same_finite_k(alpha, b, student):
    """K is invariant under (w*, y, noise, lam, Sigma_S) -> (a w*, a y, a noise, lam / a^2, a^2 Sigma_S) and
    (x, w*, lam, Sigma_S) -> (b x, w*/b, b^2 lam, Sigma_S / b^2): extreme hyperparameters reached this way
    must give the same finite numbers (no overflow in intermediate products)."""
    x, w, y = problem(6, 3, 2, seed=11, noise=0.8)
    hp = dict(lam=0.5, beta_t=1.3, noise=0.7)
    sigmas = ("teacher",) if student == "refit" else ("teacher", 0.37, spd(3, 2))
    extra = dict(student="refit", beta_s=2.5) if student == "refit" else {}
    for sigma_s in sigmas:
        for yy in (None, y):
            ref = E.kl_terms(x, w, y=yy, sigma_s=sigma_s, **hp, **extra)
            scaled_s = sigma_s if isinstance(sigma_s, str) else sigma_s * alpha ** 2 / b ** 2
            got = E.kl_terms(b * x, alpha * w / b, y=None if yy is None else alpha * yy, sigma_s=scaled_s,
                             lam=hp["lam"] / alpha ** 2 * b ** 2, beta_t=hp["beta_t"], noise=hp["noise"] * alpha,
                             **extra)
            for part in ("dataset_shift", "kernel", "kl"):
                assert np.isfinite(getattr(got, part))
                assert float(getattr(got, part)) == pytest.approx(float(getattr(ref, part)), rel=1e-9), part


def test_refit_student_far_colder_than_the_teacher_stays_finite():
    """beta_s >> beta_t: the student's covariance shrinks like 1/beta_s, so K grows like (d k / 2) ln(beta_s)."""
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(20, 3)), rng.normal(size=(2, 3))

    def kl(beta_s):
        return float(E.kl_given_x(x, w, lam=1.0, beta_t=1.0, noise=1.0, student="refit", beta_s=beta_s))

    values = [kl(b) for b in (1e10, 1e16, 1e30, 1e100)]
    assert all(np.isfinite(values)) and values == sorted(values)
    assert kl(1e30) - kl(1e20) == pytest.approx(3 * 2 / 2 * math.log(1e10), rel=1e-6)


# ----------------------------------------------------------------------------- checks

# mutation: the symmetry check of Sigma_S removed (an asymmetric matrix was silently symmetrised)
def test_asymmetric_sigma_s_is_refused():
    with pytest.raises(InputError, match="sigma_s: must be symmetric"):
        check_sigma_s(np.array([[1.0, 0.5], [0.0, 1.0]]), 2)
