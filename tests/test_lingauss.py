"""The linear-Gaussian case study against brute force in the paper's own layout."""

import math

import numpy as np
import pytest

from kdbound.engine.lingauss import linear_gaussian
from kdbound.io.arrays import load_array


def problem(n=7, d=4, k=3, seed=3, noise=0.7):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    w = rng.normal(size=(k, d))
    y = x @ w.T + noise * rng.normal(size=(n, k))
    return x, w, y


HP = dict(lam=0.5, beta_t=1.3, noise=0.7)


class Paper:
    """The paper's objects, formed explicitly (d x n layout, inverses, pseudo-inverses)."""

    def __init__(self, x, y, lam, beta_t, noise):
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


def within(a, se_a, b, se_b, z=4.5):
    return abs(a - b) <= z * math.hypot(se_a, se_b)


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
    assert within(res.apx, res.apx_stderr, np.mean(apx), se(apx))
    assert within(res.spread, 0.0, np.mean(spread), se(spread))
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
    assert within(res.bias, 0.0, np.mean(bias), se(bias))
    assert within(res.spread, 0.0, np.mean(spread), se(spread))
    assert within(res.apx, res.apx_stderr, np.mean(apx), se(apx))
    assert res.mode == "expected"


def gaussian_kl(m1, c1, m2, c2):
    """KL(N(m1, c1) || N(m2, c2)) for one n-dimensional row."""
    n = m1.size
    c2inv = np.linalg.inv(c2)
    diff = m2 - m1
    return 0.5 * (np.trace(c2inv @ c1) - n + diff @ c2inv @ diff + np.linalg.slogdet(c2)[1]
                  - np.linalg.slogdet(c1)[1])


def test_exact_dataset_shift_is_the_generic_gaussian_kl():
    x, w, _ = problem(n=6, d=3, k=2, seed=8)
    res = linear_gaussian(x, w, None, rank=1, samples=2, **HP)
    p = Paper(x, None, **HP)
    S = p.c * p.X.T @ p.ST @ p.X                          # n x n smoother
    cov_hat = HP["noise"] ** 2 * (np.eye(p.n) + S @ S.T) + p.X.T @ p.ST @ p.X
    kl = sum(gaussian_kl(w[i] @ p.X @ S, cov_hat, w[i] @ p.X, HP["noise"] ** 2 * np.eye(p.n)) for i in range(2))
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
        kl = gaussian_kl(np.zeros(k * d), np.kron(np.eye(k), ss), np.zeros(k * d), np.kron(np.eye(k), p.ST))
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


# ----------------------------------------------------------------------------- files

@pytest.fixture
def arrays(tmp_path):
    x, w, y = problem(n=12, d=4, k=2)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "w.npy", w)
    return tmp_path, x, w, y


def test_file_formats_round_trip(tmp_path):
    a = np.random.default_rng(0).normal(size=(5, 3))
    np.save(tmp_path / "a.npy", a)
    np.savez(tmp_path / "one.npz", a)
    np.savez(tmp_path / "two.npz", x=a, y=2 * a)
    np.savetxt(tmp_path / "plain.csv", a, delimiter=",", fmt="%.17g")
    np.savetxt(tmp_path / "head.csv", a, delimiter=",", fmt="%.17g", header="f1,f2,f3", comments="")
    np.savetxt(tmp_path / "a.tsv", a, delimiter="\t", fmt="%.17g", header="f1\tf2\tf3", comments="")
    for name in ("plain.csv", "head.csv", "a.tsv"):  # the same text with a UTF-8 byte-order mark (as Excel writes)
        (tmp_path / f"bom-{name}").write_bytes(b"\xef\xbb\xbf" + (tmp_path / name).read_bytes())
    for spec in ("a.npy", "one.npz", "two.npz:x", "plain.csv", "head.csv", "a.tsv",
                 "bom-plain.csv", "bom-head.csv", "bom-a.tsv"):
        np.testing.assert_array_equal(load_array(str(tmp_path / spec), "x"), a)
    np.testing.assert_array_equal(load_array(str(tmp_path / "two.npz:y"), "x"), 2 * a)


def test_cli_conditional_expected_and_missing(run_json, arrays):
    folder, x, w, y = arrays
    out = run_json("linear-gaussian", "--x", folder / "x.npy", "--y", folder / "y.npy", "--w-star",
                   folder / "w.npy", "--samples", "64")
    assert out["mode"] == "conditional" and (out["n"], out["d"], out["k"], out["rank"]) == (12, 4, 2, 1)
    keys = ["bias", "var", "dataset_shift_bound", "dataset_shift_exact", "apx", "apx_stderr", "cov", "spread",
            "kl_bound"]
    assert all(isinstance(out["results"][key], float) for key in keys)
    r = out["results"]
    assert r["kl_bound"] == pytest.approx(r["dataset_shift_bound"] + r["apx"] + r["cov"] + r["spread"], rel=1e-12)
    out = run_json("linear-gaussian", "--x", folder / "x.npy", "--w-star", folder / "w.npy", "--samples", "16")
    assert out["mode"] == "expected"
    out = run_json("linear-gaussian", "--x", folder / "x.npy", "--y", folder / "y.npy", "--samples", "16")
    r = out["results"]
    for key in ("bias", "dataset_shift_bound", "dataset_shift_exact", "kl_bound"):
        assert r[key] is None
    assert r["var"] is not None and r["apx"] is not None and r["spread"] is not None
    assert any("W*" in note for note in out["notes"])


def test_cli_default_synthetic_and_sweep(run, run_json):
    r = run("linear-gaussian")
    assert r.exit_code == 0 and r.stdout.startswith("bias\t")
    out = run_json("linear-gaussian", "--d", "8", "--n", "40", "--k", "3", "--rank-sweep", "1:3", "--gen-t",
                   "0.05", "--sigma", "0.1")
    assert [row["rank"] for row in out["rank_sweep"]] == [1, 2, 3]
    r = out["results"]
    assert out["kl_source"] == "kl_bound_tight" and r["kl"] == r["kl_bound_tight"]   # rank 1 < k: a bottleneck
    assert r["upper_bound"] == pytest.approx(0.05 + 0.1 * math.sqrt(2 * r["kl_bound_tight"]))
    assert r["lower_bound"] == pytest.approx(0.05 - 0.1 * math.sqrt(2 * r["kl_bound_tight"]))
    assert out["guidance"] and out["dominant"] in ("bias", "var", "apx", "cov", "spread")


def test_cli_rank_sweep_plot(run, tmp_path):
    pytest.importorskip("matplotlib")
    r = run("linear-gaussian", "--rank-sweep", "1,2,3", "--plot", tmp_path / "r.png")
    assert r.exit_code == 0 and (tmp_path / "r.png").stat().st_size > 1000


def test_rank_deficient_note(run_json, tmp_path):
    x, w, y = problem(n=3, d=6, k=2)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "w.npy", w)
    out = run_json("linear-gaussian", "--x", tmp_path / "x.npy", "--w-star", tmp_path / "w.npy", "--samples", "8")
    assert any("not unique" in note and "W_T M* = L_r L_r^T W_T" in note and "(k - r)(d - rank X) = 3" in note
               for note in out["notes"])


def test_ill_conditioned_warning(run_json, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 3))
    np.save(tmp_path / "y.npy", rng.normal(size=(50, 2)))
    # a feature collinear up to 1e-9 is still rank 4 (singular values, not their squares, against the tolerance);
    # an exact copy is rank 3
    for scale, words, x_rank in ((1e-5, "ill-conditioned", 4), (1e-9, "ill-conditioned", 4), (0.0, "rank 3 < d = 4", 3)):
        np.save(tmp_path / "x.npy", np.column_stack([x, x[:, 0] + scale * rng.normal(size=50)]))
        out = run_json("linear-gaussian", "--x", tmp_path / "x.npy", "--y", tmp_path / "y.npy", "--samples", "8")
        assert any(words in note for note in out["notes"]), out["notes"]
        assert out["x_rank"] == x_rank
        assert all(v is None or math.isfinite(v) for v in out["results"].values())


def bad_cases(folder):
    f = lambda name: str(folder / name)  # noqa: E731
    return [
        (["--x", f("missing.npy")], "--x: no such file"),
        (["--x", f("x1d.npy")], "--x: expected a 2-D array n x d, rows are samples"),
        (["--x", f("x.npy"), "--y", f("yT.npy")], "--y: expected shape (n, k) = (12, k), rows are samples"),
        (["--x", f("x.npy"), "--w-star", f("wT.npy")], "--w-star: expected shape (k, d) = (k, 4) (got (4, 2))"),
        (["--x", f("xnan.npy"), "--k", "2"], "--x: entries must be finite (got nan at row 3, column 2)"),
        (["--x", f("x.npy"), "--y", f("y.npy"), "--lam", "0"], "--lam: must be > 0 (got 0.0)"),
        (["--x", f("x.npy"), "--y", f("y.npy"), "--noise", "-1"], "--noise: must be > 0 (got -1.0)"),
        (["--x", f("x.npy"), "--y", f("y.npy"), "--beta-t", "0"], "--beta-t: must be > 0 (got 0.0)"),
        (["--x", f("x.npy"), "--y", f("y.npy"), "--rank", "3"], "--rank: must be an integer in 1..min(k, d, n) = 1..2"),
        (["--x", f("x.npy"), "--y", f("y.npy"), "--rank", "0"], "--rank: must be an integer"),
        (["--x", f("x.npy"), "--y", f("y.npy"), "--sigma-s", f("notpd.npy")], "--sigma-s: must be positive definite"),
        (["--x", f("x.npy"), "--y", f("y.npy"), "--sigma-s", "-2"], "--sigma-s: must be > 0"),
        (["--x", f("pickled.npy")], "never unpickles"),
        (["--x", f("x.npy"), "--y", f("text.csv")], "--y: cannot read"),
        (["--x", f("x.npy"), "--y", f("y.npy"), "--rank-sweep", "a:b"], "--rank-sweep: must be"),
        (["--x", f("x.npy"), "--d", "3"], "--d: only for the synthetic problem"),
    ]


def write_pickled_npy(path):
    """An .npy holding a pickled object array, written by hand the way numpy lays it out."""
    import pickle

    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "|O", "fortran_order": False, "shape": (1,)})
        pickle.dump(np.array([{"a": 1}], dtype=object), f, protocol=3)


def test_bad_input_is_one_line_exit_2(run, arrays):
    folder, x, w, y = arrays
    np.save(folder / "x1d.npy", x[:, 0])
    np.save(folder / "yT.npy", y.T)
    np.save(folder / "wT.npy", w.T)
    xn = x.copy()
    xn[2, 1] = np.nan
    np.save(folder / "xnan.npy", xn)
    np.save(folder / "notpd.npy", -np.eye(4))
    write_pickled_npy(folder / "pickled.npy")
    (folder / "text.csv").write_text("a,b\n1,x\n")
    for args, message in bad_cases(folder):
        r = run("linear-gaussian", *args)
        assert r.exit_code == 2, (args, r.stdout, r.stderr)
        assert r.stdout == "" and len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)
        assert message in r.stderr, (args, r.stderr)


def test_progress_bar_only_for_long_runs_on_a_terminal():
    import io

    from kdbound.cli.lingauss import _Progress
    from kdbound.render import Environment

    err = io.StringIO()
    now = [0.0]
    p = _Progress(Environment(err=err, stderr_isatty=True, no_color=True), "Monte Carlo")
    p.clock = lambda: now[0]
    p(0, 100)              # the run starts
    now[0] = 0.001
    p(10, 100)             # on pace for 0.01 s: no bar
    assert p.bar is None
    now[0] = 0.5
    p(20, 100)             # on pace for 2.5 s: a bar
    assert p.bar is not None
    p(100, 100)
    p.close()
    quiet = _Progress(Environment(err=io.StringIO(), stderr_isatty=False), "x")
    quiet.clock = lambda: 100.0
    quiet(0, 100)
    quiet(1, 100)
    assert quiet.bar is None  # never on a pipe


def test_table_output(run, arrays):
    folder, *_ = arrays
    r = run("linear-gaussian", "--x", folder / "x.npy", "--y", folder / "y.npy", "--w-star", folder / "w.npy",
            "--samples", "16", "--rank-sweep", "1:2", tty=True)
    assert r.exit_code == 0
    for word in ("kl_bound", "rank X = 4 of d = 4", "rank_sweep", "Lemma 11", "guidance"):
        assert word in r.stdout, word


def test_other_dtypes_and_file_kinds(run_json, tmp_path):
    x, w, y = problem(n=40, d=5, k=2)
    np.savez(tmp_path / "data.npz", x=x, y=y)
    np.savetxt(tmp_path / "w.csv", w, delimiter=",", header="a,b,c,d,e", comments="")
    np.save(tmp_path / "x32.npy", x.astype(np.float32))
    np.save(tmp_path / "sigma_s.npy", 0.5 * np.eye(5))
    ref = run_json("linear-gaussian", "--x", f"{tmp_path}/data.npz:x", "--y", f"{tmp_path}/data.npz:y",
                   "--w-star", tmp_path / "w.csv", "--sigma-s", tmp_path / "sigma_s.npy", "--samples", "32")
    scalar = run_json("linear-gaussian", "--x", f"{tmp_path}/data.npz:x", "--y", f"{tmp_path}/data.npz:y",
                      "--w-star", tmp_path / "w.csv", "--sigma-s", "0.5", "--samples", "32")
    assert ref["results"]["cov"] == pytest.approx(scalar["results"]["cov"], rel=1e-12)
    f32 = run_json("linear-gaussian", "--x", tmp_path / "x32.npy", "--y", f"{tmp_path}/data.npz:y",
                   "--w-star", tmp_path / "w.csv", "--sigma-s", "0.5", "--samples", "32")
    assert f32["results"]["var"] == pytest.approx(scalar["results"]["var"], rel=1e-5)
