"""Beyond the paper: the best lower bound, refined constants for Theorem 12, checks that agree with the numbers."""

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from kdbound import lower_bound_best, lower_bound_subgaussian, sharpness_bound, solve, BOUND_SPECS
from kdbound.engine.bounds import sharpness_constants

SHARP = ["sharpness", "--gen-t", "0.05", "--kl", "0.5", "--n", "10000", "--loss-min", "0", "--loss-max", "1",
         "--kappa", "2", "--lipschitz", "5", "--g0", "0.5", "--alpha", "10", "--tau", "2"]
SH = dict(gen_t=0.05, kl=0.5, n=1e4, loss_min=0.0, loss_max=1.0, kappa=2.0, lipschitz=5.0, g0=0.5, alpha=10.0,
          tau=2.0)


# ----------------------------------------------------------------------------- the best lower bound

def test_issue_example_prints_the_two_sided_bound(run_json):
    out = run_json("lower", "--gen-t", "0.05", "--kl", "2", "--sigma", "0.1")
    r = out["results"]
    assert r["bound"] == pytest.approx(0.05 - 0.1 * 2.0)          # -0.150, not Remark 2's -0.200
    assert r["remark2_bound"] == pytest.approx(-2 * 0.01 / (2 * 0.05))
    assert out["bound_source"] == "two-sided"
    assert r["c"] == 0.0 and r["eta"] == pytest.approx(2 * 0.05 / 0.01)  # Remark 2's pair stays


def test_theorem_10_directly(run_json):
    out = run_json("lower", "--gen-t", "0.05", "--kl", "0.01", "--eta", "2", "--c", "0.5")
    assert out["bound_source"] == "theorem-10" and out["results"]["bound"] == pytest.approx(0.5 * 0.05 - 0.01 / 2)


def test_negative_teacher_gap_with_sigma_is_not_an_error(run_json):
    out = run_json("lower", "--gen-t", "-0.05", "--kl", "0.2", "--sigma", "0.1")
    r = out["results"]
    assert r["bound"] == pytest.approx(-0.05 - 0.1 * math.sqrt(0.4))
    assert r["eta"] is None and r["c"] is None and r["remark2_bound"] is None
    assert any("Remark 2 needs gen_T > 0" in n for n in out["notes"])
    assert {"holds", "fails", "assumed"} >= {c["status"] for c in out["checks"]}


@settings(max_examples=300, deadline=None)
@given(gen_t=st.floats(-1, 1).filter(lambda g: g == 0 or abs(g) > 1e-300), kl=st.floats(0, 50),
       sigma=st.floats(0, 10), eta_frac=st.floats(0.01, 0.99))
def test_remark2_never_beats_the_two_sided_bound(gen_t, kl, sigma, eta_frac):
    best = lower_bound_best(gen_t, kl, sigma)
    assert float(best.bound) == pytest.approx(gen_t - sigma * math.sqrt(2 * kl), abs=1e-12)
    if gen_t > 0:
        assert float(best.remark2_bound) <= float(best.bound) + 1e-12
        if sigma > 1e-100:  # any eta in Remark 2's interval gives less (AM-GM)
            eta = eta_frac * 2 * gen_t / sigma ** 2
            if 0 < eta < math.inf:
                assert float(lower_bound_subgaussian(gen_t, kl, sigma, eta).bound) <= float(best.bound) + 1e-12
    else:
        assert math.isnan(float(best.remark2_bound))


def test_solve_and_sweep_use_the_reported_bound(run_json, run):
    out = run_json("lower", "--gen-t", "0.05", "--sigma", "0.1", "--solve", "kl", "--target", "-0.15")
    assert out["results"]["kl"] == pytest.approx(2.0) and out["results"]["bound"] == pytest.approx(-0.15)
    r = run("lower", "--gen-t", "0.05", "--sigma", "0.1", "--sweep", "kl=0:2:3", "--format", "jsonl")
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [row["bound"] for row in rows] == pytest.approx([0.05, 0.05 - 0.1 * math.sqrt(2), -0.15])


# ----------------------------------------------------------------------------- sharpness

ISSUE_SHARP = SHARP + ["--sigma-u", "0.2", "--rho", "0.001"]


def test_measured_values_checks_agree_with_the_numbers(run_json):
    out = run_json(*ISSUE_SHARP)
    r = out["results"]
    assert r["improvement"] < 0 and r["tightens"] is False
    assert r["rho0"] is None and any("rho0 is null" in n for n in out["notes"])
    for c in out["checks"]:
        assert "inside the tightness regime" not in c["reason"]
        if c["condition"].startswith("B_sh < B_std"):
            assert c["status"] == "fails"


def test_rho_zero_is_an_error(run):
    r = run(*SHARP, "--rho", "0")
    assert r.exit_code == 2 and "--rho: must be > 0 (got 0.0)" in r.stderr


def test_no_check_claims_a_zero_eta_is_positive(run_json):
    out = run_json("lower", "--gen-t", "0.05", "--kl", "0", "--sigma", "0.1")
    assert out["results"]["eta"] == 0.0
    assert not any("0 < eta" in c["condition"] and c["status"] == "holds" for c in out["checks"])


def test_refined_constants_by_hand(run_json):
    out = run_json(*SHARP, "--rho", "0.01", "--constants", "refined", "--dim", "100")
    r, n, kappa, alpha, g0, rho, d = out["results"], 1e4, 2.0, 10.0, 0.5, 0.01, 100.0
    assert out["inputs"]["constants"] == "refined"
    su = (kappa * (g0 + alpha * rho * d / (d + 1) + alpha * kappa / (2 * n)) + 0.5) / math.sqrt(n)
    nu = alpha * (kappa * rho + rho * rho) / (2 * math.sqrt(n))
    assert r["sigma_u"] == pytest.approx(su, rel=1e-13) and r["nu"] == pytest.approx(nu, rel=1e-13)
    assert r["a0"] == pytest.approx(kappa * (5 - g0) - alpha * kappa ** 2 / (2 * n))
    assert r["a1"] == pytest.approx(alpha * kappa * (d / (d + 1) + 0.5)) and r["a2"] == 5.0
    assert run_json(*SHARP)["inputs"]["constants"] == "paper"


def test_paper_constants_are_unchanged_and_note_the_optimism(run_json):
    out = run_json(*SHARP, "--rho", "0.01")
    r = out["results"]
    assert r["sigma_u"] == pytest.approx((2 * (0.5 + 10 * 0.01) + 0.5) / 100, rel=1e-14)
    assert r["nu"] == pytest.approx((10 * 2 * 0.01 / 2 + 0.5 * 0.01 + 10 * 1e-4 / 2) / 100, rel=1e-14)
    assert any("slightly optimistic" in n for n in out["notes"])


def test_the_table_names_the_constants(run):
    r = run(*SHARP, "--constants", "refined", tty=True)
    assert r.exit_code == 0 and "constants" in r.stdout and "refined" in r.stdout


const = st.floats(0, 20)


@settings(max_examples=300, deadline=None)
@given(kl=st.floats(1e-6, 50), n=st.floats(1, 1e5), kappa=st.floats(1e-3, 20), lip=const, g0=const, alpha=const,
       tau=const, dim=st.one_of(st.none(), st.floats(1, 1e6)), constants=st.sampled_from(["paper", "refined"]))
def test_improvement_positive_exactly_below_rho0(kl, n, kappa, lip, g0, alpha, tau, dim, constants):
    base = dict(gen_t=0.0, kl=kl, n=n, loss_min=0.0, loss_max=1.0, kappa=kappa, lipschitz=lip, g0=g0, alpha=alpha,
                tau=tau, dim=dim, constants=constants)
    rho0 = float(sharpness_bound(**base, rho=1.0).rho0)
    scale = max(float(sharpness_bound(**base, rho=1.0).standard_bound), 1e-300)
    if rho0 == 0.0:
        for rho in (1e-6, 0.1, 1.0):
            assert float(sharpness_bound(**base, rho=rho).improvement) <= 1e-12 * scale
        return
    if not math.isfinite(rho0):
        return
    for f in (0.01, 0.5, 0.99):
        assert float(sharpness_bound(**base, rho=f * rho0).improvement) > -1e-12 * scale
    for f in (1.01, 2.0, 10.0):
        assert float(sharpness_bound(**base, rho=f * rho0).improvement) < 1e-12 * scale


def test_rho0_matches_its_quadratic_for_both_constant_sets():
    for constants in ("paper", "refined"):
        r = sharpness_bound(**SH, rho=0.01, dim=50, constants=constants)
        a0, a1, a2 = sharpness_constants(1e4, 2.0, 5.0, 0.5, 10.0, 50.0, constants)
        s = math.sqrt(2 * 0.5 / 1e4)
        tau_eff = 2.0 * 50 / 52
        rho0 = float(r.rho0)
        assert (tau_eff / 2 + s * a2) * rho0 ** 2 + s * a1 * rho0 - s * a0 == pytest.approx(0, abs=1e-12)
        assert float(r.a0) == pytest.approx(float(a0))


def test_solve_rho_round_trips_with_refined_constants():
    spec = BOUND_SPECS["sharpness"]
    values = {**SH, "constants": "refined"}
    sol = solve(spec, values, "rho", 0.07)
    assert sol.method == "closed form" and float(sol.results["bound"]) == pytest.approx(0.07, rel=1e-12)


# ----------------------------------------------------------------------------- nu_refined, numerically

def ball_cos_mean(t, d):
    """E cos(v . U) for U uniform on the d-ball of radius 1, with t = |v| (d = 3: 3 (sin t - t cos t) / t^3)."""
    t = np.asarray(t, dtype=float)
    small = t < 1e-4
    safe = np.where(small, 1.0, t)
    val = 3.0 * (np.sin(safe) - safe * np.cos(safe)) / safe ** 3
    return np.where(small, 1.0 - t * t / 10.0, val)


def test_bounded_difference_of_empirical_sharpness_behind_nu_refined():
    """|S_D(f) - S_D'(f')| <= alpha rho (kappa + rho) / n when one example changes and ||f - f'|| <= kappa / n.

    Losses l(w; z) = sum_j c_j cos(v_j . w + z_j) on R^3, alpha-smooth with alpha = sum_j |c_j| |v_j|^2;
    E_U l(w + U; z) is exact through the ball's characteristic function, so S_D has no Monte Carlo error.
    """
    rng = np.random.default_rng(0)
    d, worst = 3, 0.0
    for _ in range(400):
        m = rng.integers(1, 4)
        v = rng.normal(size=(m, d)) * rng.uniform(0.2, 5.0)
        c = rng.normal(size=m)
        alpha = float(np.sum(np.abs(c) * np.sum(v * v, axis=1)))
        n = int(rng.integers(2, 30))
        rho = float(rng.uniform(0.01, 2.0))
        kappa = float(rng.uniform(0.0, 3.0))
        z = rng.uniform(0, 2 * np.pi, size=(n, m))
        z2 = z.copy()
        z2[rng.integers(n)] = rng.uniform(0, 2 * np.pi, size=m)
        f = rng.normal(size=d)
        step = rng.normal(size=d)
        f2 = f + step / np.linalg.norm(step) * kappa / n * rng.uniform(0.5, 1.0)
        shrink = ball_cos_mean(rho * np.linalg.norm(v, axis=1), d)

        def s_d(w, zz, v=v, c=c, shrink=shrink):
            phase = w @ v.T + zz                     # (n, m)
            return float(np.mean(np.sum(c * np.cos(phase) * (shrink - 1.0), axis=1)))

        diff = abs(s_d(f, z) - s_d(f2, z2))
        bound = alpha * rho * (kappa + rho) / n
        assert diff <= bound * (1 + 1e-9) + 1e-15
        worst = max(worst, diff / bound)
    # the cases come close enough to the bound for the test to mean something: dropping either term of
    # the bound (kappa rho or rho^2) makes it fail
    assert worst > 0.1
