"""kdbound.engine.estimate against values computed another way: by hand, by numerical
integration, by brute force, and by Monte Carlo with a 4-standard-error tolerance."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from kdbound.engine import estimate as E
from kdbound.errors import InputError, ParameterError


def gauss_kl(ms, ss, mt, st_):
    """The textbook form, term by term."""
    return math.log(st_ / ss) + (ss ** 2 + (ms - mt) ** 2) / (2 * st_ ** 2) - 0.5


def kl_by_quadrature(logq, logp, lo, hi):
    """KL(q || p) = int q log(q / p), numerically, from the log densities."""
    val, _ = integrate.quad(lambda x: math.exp(logq(x)) * (logq(x) - logp(x)), lo, hi,
                            limit=400, epsabs=1e-13, epsrel=1e-11)
    return val


# --------------------------------------------------------------------------- Gaussian fit

class TestGaussianFit:
    def test_hand_computed_samples(self):
        # student {0, 2}: mean 1, sd sqrt(2); teacher {0, 1, 2}: mean 1, sd 1
        assert E.kl_gauss([0.0, 2.0], [0.0, 1.0, 2.0]) == pytest.approx(math.log(1 / math.sqrt(2)) + 1 - 0.5,
                                                                        rel=1e-14)

    @pytest.mark.parametrize("ms, ss, mt, st_", [(0.3, 0.8, 0.0, 1.0), (0.0, 1.5, 0.2, 1.0), (1.0, 1.0, 1.0, 1.0),
                                                 (-2.0, 0.1, 1.0, 3.0), (0.0, 1.0 + 1e-6, 0.0, 1.0)])
    def test_closed_form_equals_numerical_integration(self, ms, ss, mt, st_):
        want = kl_by_quadrature(stats.norm(ms, ss).logpdf, stats.norm(mt, st_).logpdf, ms - 20 * ss, ms + 20 * ss)
        assert float(E.kl_gauss_moments(ms, ss, mt, st_)) == pytest.approx(want, rel=1e-7, abs=1e-13)

    def test_equals_the_closed_form_on_given_samples(self):
        rng = np.random.default_rng(5)
        for _ in range(20):
            x = rng.normal(rng.normal(), rng.uniform(0.2, 3), rng.integers(2, 300))
            y = rng.normal(rng.normal(), rng.uniform(0.2, 3), rng.integers(2, 300))
            want = gauss_kl(x.mean(), np.std(x, ddof=1), y.mean(), np.std(y, ddof=1))
            assert E.kl_gauss(x, y) == pytest.approx(want, rel=1e-12, abs=1e-15)

    def test_small_differences_do_not_cancel(self):
        # sd ratio 1 + 1e-9: KL = (x - ln(1 + x)) / 2 with x = r^2 - 1 ~ 2e-9, i.e. ~ x^2 / 4 = 1e-18
        r = 1 + 1e-9
        x = r * r - 1
        assert float(E.kl_gauss_moments(0.0, r, 0.0, 1.0)) == pytest.approx(x * x / 4 - x ** 3 / 6, rel=1e-6)

    def test_finite_when_the_true_value_is_finite(self):
        # r^2 underflows, the KL is ln(1e200) - 1/2
        assert float(E.kl_gauss_moments(0.0, 1e-200, 0.0, 1.0)) == pytest.approx(200 * math.log(10) - 0.5, rel=1e-14)
        assert E.kl_gauss([1e307, -1e307, 5e306], [1e307, -1e307, 0.0]) == pytest.approx(
            gauss_kl(np.mean([1, -1, 0.5]), np.std([1, -1, 0.5], ddof=1), 0.0, 1.0), rel=1e-12)

    def test_point_masses(self):
        assert float(E.kl_gauss_moments(1.0, 0.0, 1.0, 0.0)) == 0.0
        assert math.isinf(float(E.kl_gauss_moments(1.0, 0.0, 2.0, 0.0)))
        assert math.isinf(float(E.kl_gauss_moments(1.0, 0.0, 1.0, 1.0)))

    def test_converges_to_the_true_kl(self):
        """Over 400 repeats at m = k = 2000 the mean estimate is within 4 SE of the truth."""
        rng = np.random.default_rng(11)
        ms, ss, mt, st_ = 0.3, 0.8, 0.0, 1.0
        x = rng.normal(ms, ss, (400, 2000))
        y = rng.normal(mt, st_, (400, 2000))
        est = E.kl_gauss_moments(x.mean(1), x.std(1, ddof=1), y.mean(1), y.std(1, ddof=1))
        se = est.std(ddof=1) / math.sqrt(est.size)
        assert abs(est.mean() - gauss_kl(ms, ss, mt, st_)) < 4 * se

    def test_parametric_bootstrap_matches_a_brute_force_bootstrap(self):
        """Drawing only the sufficient statistics gives the law of drawing whole samples."""
        rng = np.random.default_rng(3)
        for size_x, size_y in ((3, 4), (40, 60)):  # few runs: the chi-square degrees of freedom matter
            x = rng.normal(0.2, 1.3, size_x)
            y = rng.normal(0.0, 1.0, size_y)
            fast = E.kl_gauss_replicates(x, y, 20000, np.random.default_rng(1))
            brute_rng = np.random.default_rng(2)
            xs = brute_rng.normal(x.mean(), x.std(ddof=1), (20000, x.size))
            ys = brute_rng.normal(y.mean(), y.std(ddof=1), (20000, y.size))
            slow = E.kl_gauss_moments(xs.mean(1), xs.std(1, ddof=1), ys.mean(1), ys.std(1, ddof=1))
            assert stats.ks_2samp(fast, slow).pvalue > 1e-4
            assert np.median(fast) == pytest.approx(np.median(slow), rel=0.05)


# --------------------------------------------------------------------------- 1-NN

def knn_brute_force(x, y):
    """Wang-Kulkarni-Verdu in 1-D with explicit loops over points."""
    m, k = len(x), len(y)
    total = 0.0
    for i in range(m):
        rho = min(abs(x[i] - x[j]) for j in range(m) if j != i)
        nu = min(abs(x[i] - yj) for yj in y)
        total += math.log(nu / rho)
    return total / m + math.log(k / (m - 1))


class TestKnn:
    def test_equals_brute_force(self):
        rng = np.random.default_rng(0)
        for m, k in ((50, 50), (60, 90), (120, 55)):
            x = rng.normal(0.3, 0.7, m)
            y = rng.standard_t(3, k)
            assert E.kl_knn(x, y) == pytest.approx(knn_brute_force(x, y), rel=1e-12, abs=1e-12)

    def test_batch_equals_single(self):
        rng = np.random.default_rng(1)
        x = rng.normal(size=(7, 80))
        y = rng.uniform(-2, 2, size=(7, 65))
        batch = E.knn_batch(x, y)
        assert batch == pytest.approx([E.kl_knn(a, b) for a, b in zip(x, y)], rel=1e-12)

    @pytest.mark.parametrize("case", ["two gaussians", "uniform against gaussian"])
    def test_within_4_se_of_the_truth_at_m_2000(self, case):
        rng = np.random.default_rng(7)
        repeats, m = 150, 2000
        if case == "two gaussians":
            x = rng.normal(0.3, 0.8, (repeats, m))
            y = rng.normal(0.0, 1.0, (repeats, m))
            truth = gauss_kl(0.3, 0.8, 0.0, 1.0)
        else:  # Q = U(-1, 1) (student), P = N(0, 1) (teacher): KL(Q || P) is finite
            x = rng.uniform(-1, 1, (repeats, m))
            y = rng.normal(0.0, 1.0, (repeats, m))
            truth = kl_by_quadrature(lambda t: math.log(0.5), stats.norm().logpdf, -1, 1)
            assert truth == pytest.approx(-math.log(2) + 0.5 * math.log(2 * math.pi) + 1 / 6, rel=1e-9)
        est = E.knn_batch(x, y)
        se = est.std(ddof=1) / math.sqrt(repeats)
        assert abs(est.mean() - truth) < 4 * se, (est.mean(), truth, se)

    def test_invariant_under_an_affine_map(self):
        rng = np.random.default_rng(2)
        x, y = rng.normal(size=200), rng.normal(0.5, 2, 300)
        assert E.kl_knn(3e-200 * x + 1e-199, 3e-200 * y + 1e-199) == pytest.approx(E.kl_knn(x, y), rel=1e-9)
        assert E.kl_knn(1e300 * x, 1e300 * y) == pytest.approx(E.kl_knn(x, y), rel=1e-12)

    def test_ties_are_refused_with_the_runs_named(self):
        x = np.linspace(0, 1, 60)
        y = np.linspace(2, 3, 60)
        y[7] = x[3]
        with pytest.raises(E.TieError) as err:
            E.kl_knn(x, y)
        assert {err.value.first, err.value.second} == {("teacher", 7), ("student", 3)}
        assert err.value.count == 1
        x2 = np.linspace(0, 1, 60)
        x2[10] = x2[11]
        assert E.find_ties(x2, np.linspace(2, 3, 60)).count == 1

    def test_jitter_breaks_ties_on_a_grid(self):
        rng = np.random.default_rng(4)
        x = rng.integers(0, 30, 200) / 100
        y = rng.integers(0, 30, 200) / 100
        assert E.find_ties(x, y) is not None
        width = E.jitter_width(x, y)
        assert width == pytest.approx(0.01, rel=1e-9)
        jx, jy = E.jitter_gaps(x, width, rng), E.jitter_gaps(y, width, rng)
        assert E.find_ties(jx, jy) is None
        assert np.all(np.abs(jx - x) <= width / 2)

    def test_jittered_grid_estimates_the_grid_kl(self):
        """Uniform noise one step wide turns two laws on one grid into densities with the same KL."""
        rng = np.random.default_rng(9)
        p = np.array([0.1, 0.2, 0.3, 0.4])
        q = np.array([0.25, 0.25, 0.25, 0.25])
        truth = float(np.sum(q * np.log(q / p)))
        est = []
        for _ in range(60):
            x = rng.choice(4, 2000, p=q).astype(float)
            y = rng.choice(4, 2000, p=p).astype(float)
            est.append(E.kl_knn(E.jitter_gaps(x, 1.0, rng), E.jitter_gaps(y, 1.0, rng)))
        est = np.array(est)
        assert abs(est.mean() - truth) < 4 * est.std(ddof=1) / math.sqrt(est.size)


# --------------------------------------------------------------------------- gaps

class TestGapInterval:
    def test_is_student_t_interval(self):
        rng = np.random.default_rng(0)
        h = rng.exponential(0.05, 17)
        got = E.gap_interval(h, 0.1)
        lo, hi = stats.t.interval(0.9, h.size - 1, loc=h.mean(), scale=stats.sem(h))
        assert (float(got.lo), float(got.hi)) == pytest.approx((lo, hi), rel=1e-12)
        assert got.hoeffding == 0

    def test_hoeffding_term_by_hand(self):
        h = np.array([0.01, 0.03, 0.02, 0.05])
        n = np.array([100, 200, 400, 100])
        got = E.gap_interval(h, 0.05, (0.0, 2.0), n)
        hoeff = 2.0 * math.sqrt(math.log(4 / 0.05) * np.mean(1 / n) / 2)
        t = stats.t.ppf(1 - 0.025 / 2, 3) * stats.sem(h)
        assert float(got.hi) == pytest.approx(h.mean() + t + hoeff, rel=1e-12)
        assert float(got.lo) == pytest.approx(h.mean() - t - hoeff, rel=1e-12)

    @pytest.mark.parametrize("law, runs", [("normal", 5), ("gamma, skewness 1", 30), ("clipped squared error", 20)])
    def test_coverage(self, law, runs):
        """>= 1 - delta - 3 SE over 2000 repeats (vectorised), where Cochran's rule R > 25 g1^2 holds."""
        rng = np.random.default_rng(1)
        delta, repeats = 0.05, 2000
        if law == "normal":
            h, mu = rng.normal(0.05, 0.02, (repeats, runs)), 0.05
        elif law == "gamma, skewness 1":
            h, mu = rng.gamma(4.0, 0.01, (repeats, runs)) - 0.02, 0.02
        else:  # a loss min(r^2, 1) with r ~ N(0, s^2): L_P exact, L_D a mean of 30 training losses
            s = rng.uniform(0.3, 0.6, (repeats, runs))
            z = 1 / s
            pop = s ** 2 * (2 * stats.norm.cdf(z) - 1 - 2 * z * stats.norm.pdf(z)) + 2 * (1 - stats.norm.cdf(z))
            train = np.minimum((0.9 * s[..., None] * rng.standard_normal((repeats, runs, 30))) ** 2, 1).mean(-1)
            h = pop - train
            # the true mean gap, by a large independent Monte Carlo of the same process
            s2 = rng.uniform(0.3, 0.6, 400000)
            z2 = 1 / s2
            pop2 = s2 ** 2 * (2 * stats.norm.cdf(z2) - 1 - 2 * z2 * stats.norm.pdf(z2)) + 2 * (1 - stats.norm.cdf(z2))
            mu = float(np.mean(pop2) - np.mean(np.minimum((0.9 * s2 * rng.standard_normal(400000)) ** 2, 1)))
        got = E.gap_interval(h, delta)
        cover = np.mean((got.lo <= mu) & (mu <= got.hi))
        assert cover >= 1 - delta - 3 * math.sqrt(delta * (1 - delta) / repeats), cover

    def test_skewness(self):
        h = np.array([0.0, 0.0, 0.0, 1.0])
        assert float(E.gap_interval(h).skew) == pytest.approx(stats.skew(h), rel=1e-12)
        assert float(E.gap_interval([2.0, 2.0]).skew) == 0.0

    def test_coverage_with_one_test_set_shared_by_every_run(self):
        """A shared finite test set makes test errors common to all runs: the t interval alone
        under-covers, the Hoeffding term restores the level."""
        rng = np.random.default_rng(2)
        delta, repeats, runs, n_test = 0.05, 1000, 40, 100
        p = rng.uniform(0.2, 0.4, (repeats, runs))          # population 0-1 loss of each run's model
        train = p - 0.05 + 0.01 * rng.standard_normal((repeats, runs))
        z = rng.uniform(size=(repeats, 1, n_test))          # one test set per repeat, used by every run
        test = np.mean(z < p[..., None], axis=2)            # model i errs on z when z < p_i
        h = test - train
        t_only = E.gap_interval(h, delta)
        with_h = E.gap_interval(h, delta, (0.0, 1.0), np.full(runs, n_test))
        cover_t = np.mean((t_only.lo <= 0.05) & (0.05 <= t_only.hi))
        cover_h = np.mean((with_h.lo <= 0.05) & (0.05 <= with_h.hi))
        assert cover_t < 0.8
        assert cover_h >= 1 - delta - 3 * math.sqrt(delta * (1 - delta) / repeats)


# --------------------------------------------------------------------------- plug-in proxy

class TestPluginProxy:
    def test_symmetric_two_point_law_has_proxy_one(self):
        # log cosh(l) < l^2 / 2: the supremum is the l -> 0 limit, the variance
        assert E.plugin_proxy([1.0, -1.0] * 5) == pytest.approx(1.0, rel=1e-12)

    @pytest.mark.parametrize("ones, n", [(1, 10), (3, 20), (1, 4)])
    def test_bernoulli_sample_gives_the_optimal_bernoulli_proxy(self, ones, n):
        """A sample with exact proportions has the Bernoulli(p) CGF, whose optimal proxy is
        (1 - 2p) / (2 ln((1 - p) / p)) (Kearns and Saul)."""
        p = ones / n
        want = math.sqrt((1 - 2 * p) / (2 * math.log((1 - p) / p)))
        assert E.plugin_proxy([1.0] * ones + [0.0] * (n - ones)) == pytest.approx(want, rel=1e-8)

    @settings(max_examples=30, deadline=None)
    @given(st.lists(st.floats(-1e3, 1e3, allow_nan=False, allow_subnormal=False), min_size=2, max_size=40))
    def test_at_least_the_best_of_a_dense_grid(self, values):
        h = np.array(values)
        c = h - h.mean()
        if np.ptp(h) == 0 or np.mean(c * c) < max(1e-12 * np.max(np.abs(h)) ** 2, 1e-280):
            return
        got = E.plugin_proxy(h)
        sd = math.sqrt(np.mean(c * c))
        lam = np.concatenate([-np.geomspace(1e-3, 1e2, 3000), np.geomspace(1e-3, 1e2, 3000)]) / sd
        z = lam[:, None] * c[None, :]
        top = z.max(axis=1)
        lme = top + np.log(np.exp(z - top[:, None]).sum(axis=1)) - math.log(h.size)
        dense = math.sqrt(max(np.max(2 * lme / lam ** 2), np.mean(c * c)))
        assert got >= dense * (1 - 1e-6)
        assert got <= dense * (1 + 1e-2)

    def test_scale_equivariant(self):
        rng = np.random.default_rng(3)
        h = rng.gamma(2.0, 1.0, 500)
        assert E.plugin_proxy(1e300 * h) == pytest.approx(1e300 * E.plugin_proxy(h), rel=1e-10)


# --------------------------------------------------------------------------- all together

def sample_runs(seed=0, m=300, k=300):
    rng = np.random.default_rng(seed)
    return rng.normal(0.05, 0.02, k), rng.normal(0.06, 0.025, m)


class TestEstimate:
    @pytest.mark.parametrize("scale", [1e300, 1e-310])
    def test_sigma_sd_of_huge_and_subnormal_gaps(self, scale):
        """The sample sd of scale * (1, -1) is scale * sqrt(2) (by hand), neither inf nor 0."""
        r = E.estimate(np.array([1.0, -1.0]) * scale, np.array([1.0, 1.5]) * scale)
        assert r.sigma_sd == pytest.approx(math.sqrt(2) * scale, rel=1e-12, abs=0)

    def test_bounds_from_their_terms(self):
        teacher, student = sample_runs()
        r = E.estimate(teacher, student, loss_min=0.0, loss_max=1.0)
        assert r.gen_t == pytest.approx(teacher.mean(), rel=1e-14)
        assert r.gen_s_observed == pytest.approx(student.mean(), rel=1e-14)
        assert r.sigma_range == 1.0 and r.sigma_used == "sigma_range"
        assert r.sigma_sd == pytest.approx(np.std(teacher, ddof=1), rel=1e-13)
        assert r.kl_gap == pytest.approx(E.kl_gauss(student, teacher), rel=1e-14)
        assert r.upper_bound == pytest.approx(r.gen_t + math.sqrt(2 * r.kl_gap), rel=1e-14)
        assert r.lower_bound == pytest.approx(r.gen_t - math.sqrt(2 * r.kl_gap), rel=1e-14)
        assert r.upper_bound_hi == pytest.approx(r.gen_t_hi + math.sqrt(2 * r.kl_gap_hi), rel=1e-14)
        assert r.lower_bound_lo == pytest.approx(r.gen_t_lo - math.sqrt(2 * r.kl_gap_hi), rel=1e-14)
        assert r.observed_within_bounds is True
        assert set(r.results()) == set(E.RESULT_KEYS)

    def test_kl_gap_hi_is_the_bonferroni_quantile_of_the_replicates(self):
        teacher, student = sample_runs(1)
        r = E.estimate(teacher, student, delta=0.1, replicates=500, seed=3)
        reps = E.kl_gauss_replicates(student, teacher, 500, np.random.default_rng(3))
        assert r.kl_gap_hi == pytest.approx(max(np.quantile(reps, 1 - 0.05), r.kl_gap), rel=1e-14)
        # the gen_T interval is two-sided at 1 - delta/2 (delta/2 in all), kl_gap_hi one-sided at 1 - delta/2:
        # upper_bound_hi and lower_bound_lo hold together at 1 - delta (Bonferroni); the student's stays at 1 - delta
        assert r.gen_t_hi == pytest.approx(float(E.gap_interval(teacher, 0.05).hi), rel=1e-14)
        assert r.gen_s_hi == pytest.approx(float(E.gap_interval(student, 0.1).hi), rel=1e-14)

    def test_knn_upper_limit_is_the_extrapolated_limit(self):
        from kdbound.engine.knn import knn_upper_limit

        teacher, student = sample_runs(2)
        r = E.estimate(teacher, student, kl_method="knn", seed=5)
        limit = knn_upper_limit(student, teacher, 0.025, np.random.default_rng(5))
        raw = E.kl_knn(student, teacher)
        assert r.kl_gap_raw == pytest.approx(raw, rel=1e-14)
        assert r.kl_gap_hi == pytest.approx(max(limit.hi, raw, 0.0), rel=1e-14)
        assert r.knn.estimate == limit.estimate and r.replicates == 0

    def test_plug_in_proxy_without_a_loss_range(self):
        teacher, student = sample_runs(3)
        r = E.estimate(teacher, student)
        assert r.sigma_range is None and r.sigma_used == "sigma_hat"
        assert r.upper_bound == pytest.approx(r.gen_t + r.sigma_hat * math.sqrt(2 * r.kl_gap), rel=1e-14)

    def test_basis_takes_the_weakest_term(self):
        teacher, student = sample_runs(4)
        g = E.estimate(teacher, student, loss_min=0, loss_max=1).basis
        assert g["sigma_range"] == "certified" and g["kl_gap"] == "model" and g["gen_t_hi"] == "asymptotic"
        assert g["upper_bound_hi"] == "model" and g["upper_bound"] == "plug-in"
        k = E.estimate(teacher, student, loss_min=0, loss_max=1, kl_method="knn").basis
        assert k["kl_gap"] == "asymptotic" and k["kl_gap_hi"] == "assumption" and k["upper_bound_hi"] == "asymptotic"
        n = E.estimate(teacher, student, kl_method="knn").basis
        assert n["upper_bound_hi"] == "plug-in" and n["sigma_range"] is None
        assert E.weakest("certified", "model", "asymptotic") == "model"

    def test_same_seed_same_numbers(self):
        teacher, student = sample_runs(5)
        a = E.estimate(teacher, student, kl_method="knn", seed=9)
        b = E.estimate(teacher, student, kl_method="knn", seed=9)
        assert a.results() == b.results()

    def test_negative_knn_estimate_is_clipped(self):
        rng = np.random.default_rng(0)
        for seed in range(40):
            rng = np.random.default_rng(seed)
            r = E.estimate(rng.normal(size=60), rng.normal(size=60), kl_method="knn", delta=0.1)
            if r.kl_gap_raw < 0:
                assert r.kl_gap == 0.0 and r.kl_gap_hi >= 0.0
                assert r.upper_bound == r.gen_t
                return
        pytest.fail("no negative estimate in 40 tries")

    def test_degenerate_student_gives_infinite_gaussian_kl(self):
        r = E.estimate([0.1, 0.2, 0.3], [0.2, 0.2, 0.2], loss_min=0, loss_max=1)  # the mean is not exactly 0.2
        assert math.isinf(r.kl_gap) and math.isinf(r.upper_bound) and r.observed_within_bounds is None

    def test_infinite_kl_leaves_the_bounds_infinite_even_with_a_zero_proxy(self):
        r = E.estimate([0.1, 0.1, 0.1], [0.1, 0.2, 0.3])  # constant teacher gaps: sigma_hat = 0, K_h = inf
        assert r.sigma_hat == 0.0 and math.isinf(r.kl_gap)
        assert r.upper_bound == math.inf and r.lower_bound == -math.inf

    @pytest.mark.parametrize("kwargs, param", [
        (dict(delta=0.0), "delta"), (dict(delta=1.0), "delta"), (dict(replicates=30), "bootstrap"),
        (dict(replicates=2.5), "bootstrap"), (dict(kl_method="kde"), "kl_method"), (dict(jitter=0.1), "jitter"),
        (dict(loss_min=0.0), "loss_max"), (dict(loss_min=1.0, loss_max=0.0), "loss_max"),
        (dict(n_test_teacher=[0] * 5), "n_test_teacher"), (dict(n_test_student=[10.5] * 5), "n_test_student"),
        (dict(seed=-1), "seed"), (dict(loss_min=0.0, loss_max=0.05), "student"),
    ])
    def test_bad_arguments_name_the_parameter(self, kwargs, param):
        with pytest.raises((ParameterError, InputError)) as err:
            E.estimate([0.01, 0.02, 0.03, 0.04, 0.05], [0.01, 0.02, 0.03, 0.04, 0.09], **kwargs)
        assert err.value.param == param

    @pytest.mark.parametrize("teacher, student, param", [
        ([0.1], [0.1, 0.2], "teacher"), ([0.1, 0.2], [], "student"), ([0.1, np.nan], [0.1, 0.2], "teacher"),
        ([0.1, 0.2], [0.1, np.inf], "student"), ([[0.1, 0.2]], [0.1, 0.2], "teacher"), ("ab", [0.1, 0.2], "teacher"),
    ])
    def test_bad_gaps_name_the_array(self, teacher, student, param):
        with pytest.raises((ParameterError, InputError)) as err:
            E.estimate(teacher, student)
        assert err.value.param == param

    def test_knn_needs_50_runs_of_each_role(self):
        with pytest.raises(InputError, match="at least 50"):
            E.estimate(np.arange(49.0), np.arange(60.0) + 0.5, kl_method="knn")


def test_gaps_equal_up_to_rounding_are_ties():
    """0.4 - 0.1 and 0.5 - 0.2 differ by one ulp: a kNN distance of 1e-17 would add ~ln(1e15)/m to K_h."""
    rng = np.random.default_rng(1)
    teacher, student = rng.normal(0.1, 0.05, 100), rng.normal(0.1, 0.05, 100)
    student[0], student[1] = 0.4 - 0.1, 0.5 - 0.2
    assert student[0] != student[1] and E.find_ties(student, teacher) is not None
    student[1] = 0.5 + 1e-6 - 0.2       # really distinct
    assert E.find_ties(student, teacher) is None
