"""`kdbound linear-gaussian` on the command line (cli/lingauss.py): the contract and its keys and notes, the
plug-in bounds, the noise estimate, sizes and extreme values, array files good and broken, the README's
data, and a fuzz test."""

import json
import math
import os
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import one_line_error, problem
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- array files and the synthetic problem

@pytest.fixture
def arrays(tmp_path):
    x, w, y = problem(n=12, d=4, k=2)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "w.npy", w)
    return tmp_path, x, w, y


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


# ----------------------------------------------------------------------------- keys, notes and the plug-in bounds

@pytest.fixture
def files(tmp_path):
    x, w, y = problem(n=40, seed=1, noise=0.5)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "w.npy", w)
    return tmp_path


def lg(folder, *extra):
    return ["linear-gaussian", "--x", folder / "x.npy", "--y", folder / "y.npy", "--w-star", folder / "w.npy",
            "--samples", "32", *extra]


def test_new_keys_chain_and_plug_in(run_json, files):
    out = run_json(*lg(files, "--rank", "3", "--gen-t", "0.05", "--sigma", "0.1", "--loss-min", "0",
                       "--loss-max", "1"))
    r = out["results"]
    assert r["dataset_shift_conditional"] <= r["kl_exact"] <= r["kl_bound_tight"] <= r["kl_bound"]
    assert out["kl_source"] == "kl_exact" and r["kl"] == r["kl_exact"]
    assert r["upper_bound"] == pytest.approx(0.05 + 0.1 * math.sqrt(2 * r["kl_exact"]))
    assert r["lower_bound"] == pytest.approx(0.05 - 0.1 * math.sqrt(2 * r["kl_exact"]))
    assert r["remark2_bound"] <= r["lower_bound"]
    assert r["vacuous"] is True or r["vacuous"] is False
    assert any("conditional mode" in n and "over datasets" in n for n in out["notes"])
    # expected mode: no conditional shift (null, with a note)
    out = run_json("linear-gaussian", "--x", files / "x.npy", "--w-star", files / "w.npy", "--samples", "8",
                   "--rank", "3", "--noise", "0.5")
    assert out["results"]["dataset_shift_conditional"] is None
    assert any(n.startswith("dataset_shift_conditional is unavailable") for n in out["notes"])


def test_plug_in_with_a_bottleneck_and_vacuous_bounds(run_json, files):
    out = run_json(*lg(files, "--rank", "1", "--gen-t", "0.05", "--sigma", "0.5", "--loss-min", "0",
                       "--loss-max", "1"))
    r = out["results"]
    assert r["kl_exact"] is None and out["kl_source"] == "kl_bound_tight"
    assert r["vacuous"] is True and r["lower_vacuous"] is True          # K is in the hundreds of nats
    assert any("vacuous" in n and "b - a" in n for n in out["notes"])
    out = run_json(*lg(files, "--gen-t", "-0.02", "--sigma", "0.1"))
    r = out["results"]
    assert r["remark2_bound"] is None and "vacuous" not in r and r["lower_bound"] < -0.02
    assert r["lower_two_sided"] == r["lower_bound"]  # the key's earlier name, kept
    assert any("Remark 2 needs gen_T > 0" in n for n in out["notes"])


@pytest.mark.parametrize("extra", [("--gen-t", "1e308", "--sigma", "1e308"), ("--gen-t", "0.05", "--sigma", "1e308"),
                                   ("--gen-t", "-1e308", "--sigma", "1e300")])
def test_every_null_result_is_named_in_a_note(run_json, files, extra):
    out = run_json(*lg(files, "--rank", "1", *extra))
    nulls = [k for k, v in out["results"].items() if v is None]
    assert nulls
    for key in nulls:
        assert any(key in n and ("null" in n or "unavailable" in n) for n in out["notes"]), key


def test_remark2_is_never_shown_above_the_best_lower_bound(run_json, files):
    for sigma in ("0.001", "0.01", "0.1", "1"):
        r = run_json(*lg(files, "--rank", "3", "--gen-t", "0.05", "--sigma", sigma))["results"]
        assert r["remark2_bound"] <= r["lower_bound"] + 1e-15


def test_vacuous_flags_follow_the_loss_range_exactly(run_json, files):
    seen = set()
    for sigma in ("0.01", "0.05", "0.1", "0.2", "0.5"):
        r = run_json(*lg(files, "--rank", "3", "--gen-t", "0.05", "--sigma", sigma, "--loss-min", "-0.5",
                         "--loss-max", "1.5"))["results"]
        assert r["vacuous"] == (r["upper_bound"] >= 2.0)
        assert r["lower_vacuous"] == (r["lower_bound"] <= -2.0)
        seen.add(r["vacuous"])
    assert seen == {True, False}


def test_noise_is_estimated_said_and_checked(run, run_json, files):
    out = run_json(*lg(files))
    x, w, y = problem(n=40, seed=1, noise=0.5)
    est = math.sqrt(np.mean((y - x @ w.T) ** 2))
    assert out["inputs"]["noise"] == pytest.approx(est, rel=1e-12)
    assert out["inputs"]["noise_from"] == "estimated (residual)"
    assert any(n.startswith(f"noise {est:.3g}, estimated from the data") for n in out["notes"])
    out = run_json("linear-gaussian", "--x", files / "x.npy", "--y", files / "y.npy", "--samples", "8")
    assert out["inputs"]["noise_from"] == "estimated (least-squares)"
    r = run(*lg(files, "--noise", "3", "--format", "json"))
    assert r.exit_code == 0 and "warning: --noise 3 differs from the data's estimate" in r.stderr
    r = run(*lg(files, "--noise", "0.6", "--format", "json"))
    assert r.exit_code == 0 and "warning" not in r.stderr
    out = run_json("linear-gaussian", "--samples", "8")
    assert out["inputs"]["noise"] == 1.0 and out["inputs"]["noise_from"] == "default"


def test_table_notation_and_short_sources(run, tmp_path):
    x, w, y = problem(n=40, seed=1, noise=0.5)
    long = "a_really_long_feature_file_name_from_some_experiment_2026_seed_0001.npy"
    np.save(tmp_path / long, x)
    np.save(tmp_path / "y.npy", y)
    r = run("linear-gaussian", "--x", tmp_path / long, "--y", tmp_path / "y.npy", "--samples", "8", tty=True)
    assert r.exit_code == 0
    assert "cond(X^T X)" in r.stdout and "X X^T" not in r.stdout
    assert str(tmp_path) not in r.stdout and long not in r.stdout
    for line in r.stdout.splitlines():   # every inputs row keeps its value beside its name
        assert len(line.rstrip()) <= 100
    out = json.loads(run("linear-gaussian", "--x", tmp_path / long, "--samples", "8", "--k", "2", "--format",
                         "json").stdout)
    assert len(out["inputs"]["x"]) <= 32


def test_notation_in_help_and_notes(run):
    r = run("linear-gaussian", "--help")
    assert "MN(X W*^T" in r.stdout and "MN(W* X" not in r.stdout
    out = json.loads(run("linear-gaussian", "--samples", "4", "--format", "json").stdout)
    text = json.dumps(out)
    assert "X X^T" not in text and "MN(W* X" not in text


# ----------------------------------------------------------------------------- expected mode

def lg_expected(folder, *extra):
    return ["linear-gaussian", "--x", folder / "x.npy", "--w-star", folder / "w.npy", "--samples", "16", *extra]


@pytest.fixture
def expected_files(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 4))
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "w.npy", rng.normal(size=(3, 4)))
    return tmp_path


# mutation: the --noise warning at a factor of 4 instead of 2 (either way)
def test_noise_warning_beyond_a_factor_of_two(run, expected_files):
    rng = np.random.default_rng(4)
    x, w = np.load(expected_files / "x.npy"), np.load(expected_files / "w.npy")
    y = x @ w.T + 0.5 * rng.normal(size=(x.shape[0], w.shape[0]))
    np.save(expected_files / "y.npy", y)
    est = math.sqrt(np.mean((y - x @ w.T) ** 2))   # the residual estimate with W* known
    for factor, warned in ((3.0, True), (1 / 3.0, True), (1.9, False), (0.55, False)):
        r = run(*lg_expected(expected_files, "--y", expected_files / "y.npy", "--noise", repr(factor * est), "--format", "json"))
        assert r.exit_code == 0, r.stderr
        assert ("differs from the data's estimate" in r.stderr) is warned, (factor, r.stderr)


# mutation: looseness = exact - bound (expected mode: the bound exceeds the exact shift by the convexity gap)
def test_looseness_is_the_convexity_gap_in_expected_mode(run_json, expected_files):
    r = run_json(*lg_expected(expected_files, "--rank", "3"))["results"]
    assert r["looseness"] == pytest.approx(r["dataset_shift_bound"] - r["dataset_shift_exact"], rel=1e-12)
    assert r["looseness"] == pytest.approx(r["convexity_gap"], rel=1e-9) and r["looseness"] > 0


# mutations: |gen_T| <= b - a not checked; vacuous with > instead of >= (exactly at the edge)
def test_plug_in_range_rules_at_the_edges(run, run_json, expected_files):
    one_line_error(run(*lg_expected(expected_files, "--gen-t", "1.5", "--sigma", "0.1", "--loss-min", "0", "--loss-max", "1")),
                   "--gen-t: must lie in [-(b - a), b - a]", "(got 1.5)")
    r = run_json(*lg_expected(expected_files, "--rank", "3", "--gen-t", "0.05", "--sigma", "0.1"))["results"]
    up, low = r["upper_bound"], r["lower_bound"]
    assert low < 0 < up
    r = run_json(*lg_expected(expected_files, "--rank", "3", "--gen-t", "0.05", "--sigma", "0.1", "--loss-min", "0",
                     "--loss-max", repr(up)))["results"]
    assert r["vacuous"] is True                       # upper_bound == b - a exactly: vacuous
    r = run_json(*lg_expected(expected_files, "--rank", "3", "--gen-t", "0.05", "--sigma", "0.1", "--loss-min", repr(low),
                     "--loss-max", "0"))["results"]
    assert r["lower_vacuous"] is True                 # lower_bound == -(b - a) exactly


# ----------------------------------------------------------------------------- bad input: one line, exit 2

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


# mutation: integers in messages shown as floats
def test_integer_values_are_echoed_as_typed(run):
    r = run("linear-gaussian", "--rank", "0", "--samples", "4")
    one_line_error(r, "--rank: must be an integer in 1..min(k, d, n) = 1..3 (got 0)")


def test_rank_sweep_errors_blame_the_sweep(run):
    for args, msg in ((["--rank-sweep", "0:3"], "--rank-sweep: ranks must be >= 1"),
                      (["--rank", "2", "--rank-sweep", "0:3"], "--rank-sweep:"),
                      (["--rank-sweep", "1:9"], "--rank-sweep: must be an integer in 1..min(k, d, n) = 1..3"),
                      (["--rank-sweep", "1:99999999999"], "--rank-sweep: at most 10,000 ranks"),
                      (["--rank-sweep", "3:1"], "--rank-sweep: START must be <= STOP")):
        r = run("linear-gaussian", *args)
        assert r.exit_code == 2 and r.stdout == "" and msg in r.stderr, (args, r.stderr)


def test_sizes_and_limits_are_checked_up_front(run):
    cases = [(["--k", "0"], "--k: must be >= 1"), (["--d", "0"], "--d: must be >= 1"),
             (["--n", "0"], "--n: must be >= 1"), (["--d", "200000"], "--d: n = 50, d = 200,000"),
             (["--n", "1000000000"], "--n: n = 1,000,000,000"), (["--k", "100000000"], "--k: "),
             (["--samples", "100000000"], "--samples: must be <= 10,000,000"),
             (["--samples", "10000000", "--d", "5000", "--n", "5000", "--k", "50"], "--samples: would take about"),
             (["--samples", "0"], "--samples: must be >= 1"), (["--seed", "-1"], "--seed: must be >= 0")]
    for args, msg in cases:
        r = run("linear-gaussian", *args)
        assert r.exit_code == 2 and r.stdout == "" and msg in r.stderr, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1
        if "n = " in msg or "d = " in msg:
            assert "GiB of memory" in r.stderr


@pytest.mark.parametrize("args", [["--lam", "1e155"], ["--noise", "1e155"], ["--noise", "1e-300"],
                                  ["--noise", "1e-155"], ["--beta-t", "1e308"], ["--lam", "1e-300"],
                                  ["--beta-t", "1e-300"], ["--lam", "1e300", "--beta-t", "1e300"]])
def test_extreme_hyperparameters_compute_or_exit_2(run, args):
    r = run("linear-gaussian", "--samples", "8", "--format", "json", *args)
    assert r.exit_code in (0, 2), r.stderr
    if r.exit_code == 0:
        res = json.loads(r.stdout)["results"]
        for key in ("kl_bound", "kl_bound_tight", "apx", "spread", "dataset_shift_exact"):
            assert res[key] is not None and math.isfinite(res[key]), key
    else:
        assert r.stdout == "" and len(r.stderr.strip().splitlines()) == 1
        assert re.search(r"outside the range kdbound computes|beyond float64", r.stderr), r.stderr


def test_lam_1e155_matches_the_rescaled_problem(run_json):
    # K is invariant under (x, w*, lam) -> (b x, w*/b, b^2 lam): lam 1e155 on the synthetic problem is the same
    # as lam 1 with x scaled by 1e-77.5
    a = run_json("linear-gaussian", "--samples", "64", "--lam", "1e155", "--noise", "1")["results"]
    assert math.isfinite(a["kl_bound"]) and a["spread"] == pytest.approx(15.0, rel=1e-6)   # k d shrink^2 -> 3 * 5


def broken_files(folder):
    import io
    import zipfile

    x, _, _ = problem(n=40, seed=1, noise=0.5)
    np.save(folder / "x.npy", x)
    with open(folder / "huge.npy", "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f8", "fortran_order": False, "shape": (10 ** 12, 10 ** 6)})
        f.write(b"\0" * 80)
    data = (folder / "x.npy").read_bytes()
    (folder / "trunc.npy").write_bytes(data[:200])
    np.savez(folder / "ok.npz", x=x)
    raw = (folder / "ok.npz").read_bytes()
    (folder / "trunc.npz").write_bytes(raw[: len(raw) // 2])
    with zipfile.ZipFile(folder / "notnpy.npz", "w") as z:
        z.writestr("x.npy", b"hello world, not an array")
    with zipfile.ZipFile(folder / "other.npz", "w") as z:
        z.writestr("notes.txt", b"text")
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": (10 ** 9, 10 ** 3)})
    with zipfile.ZipFile(folder / "huge.npz", "w") as z:
        z.writestr("x.npy", buf.getvalue() + b"\0" * 64)
    np.savez_compressed(folder / "comp.npz", x=x)
    (folder / "empty.npy").write_bytes(b"")
    (folder / "bad.csv").write_bytes(b"1,2\n\xff\xfe,3\n")
    return ["huge.npy", "trunc.npy", "trunc.npz", "notnpy.npz", "other.npz", "huge.npz", "empty.npy", "bad.csv"]


def test_broken_array_files_exit_2(run, tmp_path):
    for name in broken_files(tmp_path):
        for opt in ("--x", "--y", "--w-star", "--sigma-s"):
            args = ["--x", tmp_path / "x.npy"] if opt != "--x" else []
            r = run("linear-gaussian", *args, opt, tmp_path / name, "--k", "3", "--samples", "4")
            assert r.exit_code == 2, (name, opt, r.stderr)
            assert r.stdout == "" and len(r.stderr.strip().splitlines()) == 1, (name, opt, r.stderr)
            assert opt in r.stderr
    r = run("linear-gaussian", "--x", tmp_path / "comp.npz", "--k", "2", "--samples", "4", "--format", "json")
    assert r.exit_code == 0, r.stderr


def test_a_tiny_x_is_refused_not_taken_for_rank_0(run, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 5))
    np.save(tmp_path / "w.npy", rng.standard_normal((3, 5)) / 5 ** 0.5)
    np.save(tmp_path / "tiny.npy", x * 1e-170)
    r = run("linear-gaussian", "--x", str(tmp_path / "tiny.npy"), "--w-star", str(tmp_path / "w.npy"), "--rank", "1")
    assert r.exit_code == 2 and r.stdout == "" and r.stderr.count("\n") == 1
    assert "--x: entries are too small for float64" in r.stderr
    np.save(tmp_path / "zero.npy", x * 0)   # X = 0 is a case of its own (rank 0), still computed
    r = run("linear-gaussian", "--x", str(tmp_path / "zero.npy"), "--w-star", str(tmp_path / "w.npy"), "--rank", "1",
            "-f", "json")
    assert r.exit_code == 0


@pytest.mark.parametrize("text, words", [
    ("a,b\n", "the file has a header but no rows of numbers"),
    ("1,2\n3,4\n5,x\n7,8\n", "could not convert string 'x' to float64 at row 3, column 2"),  # 1-based, as for nan
    ("1,2\n3,4\n5,nan\n7,8\n", "entries must be finite (got nan at row 3, column 2)"),
])
def test_text_array_problems_are_one_line_with_rows_from_1(run, tmp_path, text, words):
    path = tmp_path / "x.csv"
    path.write_text(text)
    r = run("linear-gaussian", "--x", str(path), "--k", "1")
    assert r.exit_code == 2 and r.stdout == "" and r.stderr.count("\n") == 1 and words in r.stderr, r.stderr


# ----------------------------------------------------------------------------- the progress bar

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


# ----------------------------------------------------------------------------- the README runs as written

def test_example_data_is_what_the_script_writes(tmp_path):
    import runpy
    import shutil

    src = ROOT / "examples" / "linear_gaussian"
    shutil.copy(src / "make_data.py", tmp_path / "make_data.py")
    runpy.run_path(str(tmp_path / "make_data.py"))
    for name in ("X.npy", "Y.npy", "W.npy"):
        np.testing.assert_array_equal(np.load(tmp_path / name), np.load(src / name))


# ----------------------------------------------------------------------------- fuzz

BAD_NUMBERS = st.sampled_from(["0", "-1", "nan", "inf", "-inf", "1e400", "abc", "", "1e-400", "0x10", "1.5.2"])


INT_OPTIONS = ["--d", "--n", "--k", "--rank", "--samples", "--seed"]


FLOAT_OPTIONS = ["--lam", "--beta-t", "--noise", "--sigma", "--gen-t", "--loss-min", "--loss-max"]


FILE_OPTIONS = ["--x", "--y", "--w-star", "--sigma-s"]


OTHER = {"--rank-sweep": st.sampled_from(["0:3", "a:b", "5:1", "1:99999999999", "1,,2", "-1", "2:9", ""]),
         "--format": st.sampled_from(["xml", "", "parquet", "TABLE!"]),
         "--plot": st.sampled_from(["out.txt", "nofolder/x.png", ".png/"]),
         "--sigma-s": st.sampled_from(["-2", "0", "nan", "student", "missing.npy"])}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_invalid_options_and_files(run, tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("fuzz")
    names = broken_files(folder)
    x, w, y = problem(n=12, d=3, k=2, seed=1, noise=0.5)
    np.save(folder / "x.npy", x)
    np.save(folder / "y.npy", y)
    np.save(folder / "w.npy", w)
    (folder / "y1.npy").write_bytes((folder / "y.npy").read_bytes())
    np.save(folder / "wT.npy", w.T)
    np.save(folder / "yk1.npy", y[:, :1])
    np.save(folder / "cplx.npy", x.astype(complex))
    names += ["wT.npy", "yk1.npy", "cplx.npy", "missing.npy"]
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    args = []
    kind = data.draw(st.sampled_from(["int", "float", "file", "other"]))
    if kind == "int":
        args += [data.draw(st.sampled_from(INT_OPTIONS)),
                 data.draw(st.one_of(BAD_NUMBERS, st.sampled_from(["2.5", "-5", "99999999999999999999"])))]
    elif kind == "float":
        opt = data.draw(st.sampled_from(FLOAT_OPTIONS))
        args += [opt, data.draw(BAD_NUMBERS)]
        if opt in ("--gen-t", "--sigma"):
            args += ["--sigma" if opt == "--gen-t" else "--gen-t", "0.1"]
        if opt in ("--loss-min", "--loss-max"):
            args += ["--gen-t", "0.05", "--sigma", "0.1"]
    elif kind == "file":
        opt = data.draw(st.sampled_from(FILE_OPTIONS))
        args += [opt, str(folder / data.draw(st.sampled_from(names)))]
        if opt != "--x":
            args += ["--x", str(folder / "x.npy")]
    else:
        opt = data.draw(st.sampled_from(sorted(OTHER)))
        value = data.draw(OTHER[opt])
        args += [opt, value if opt != "--plot" else str(folder / value)]
        if opt == "--plot":
            args += ["--rank-sweep", "1:2"]
    if data.draw(st.booleans()) and "--x" not in args:
        args += ["--x", str(folder / "x.npy"), "--y", str(folder / "y1.npy")]
    r = run("linear-gaussian", *args, "--samples", "4")
    assert r.exit_code in (0, 2), (args, r.exit_code, r.stderr)
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, (args, r.stderr)
    if r.exit_code == 2:
        assert r.stdout == "" and len(r.stderr.strip().splitlines()) == 1, (args, r.stdout, r.stderr)
    after = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert after == before, (args, set(after) ^ set(before))
    assert not [p for p in os.listdir(folder) if ".part" in p]


# issue 17, item 7: looseness null with no note naming it (Y one-dimensional without W*, or --k 3 without Y)
def test_a_null_looseness_is_explained(run_json, tmp_path):
    ex = Path(__file__).resolve().parent.parent / "examples" / "linear_gaussian"
    np.save(tmp_path / "y1.npy", np.load(ex / "Y.npy")[:, 0])
    for args in (["--x", str(ex / "X.npy"), "--y", str(tmp_path / "y1.npy")], ["--k", "3"]):
        out = run_json("linear-gaussian", *args)
        if out["results"]["looseness"] is None:
            assert any(n.startswith("looseness") for n in out["notes"]), out["notes"]
    out = run_json("linear-gaussian", "--x", str(ex / "X.npy"), "--y", str(tmp_path / "y1.npy"))
    assert out["results"]["looseness"] is None


# issue 17, item 8: Python used noise 1.0 by default while the CLI estimated it from Y (kl_exact 54.9 against 90.7)
def test_python_and_the_cli_share_the_noise_default(run_json):
    from kdbound.engine.lingauss import linear_gaussian

    ex = Path(__file__).resolve().parent.parent / "examples" / "linear_gaussian"
    x, y, w = (np.load(ex / f"{name}.npy") for name in ("X", "Y", "W"))
    res = linear_gaussian(x, w, y, rank=8)
    out = run_json("linear-gaussian", "--x", str(ex / "X.npy"), "--y", str(ex / "Y.npy"), "--w-star",
                   str(ex / "W.npy"), "--rank", "8")
    assert res.noise_from == "estimated" and out["inputs"]["noise"] == pytest.approx(res.noise, rel=1e-12)
    assert out["results"]["kl_exact"] == pytest.approx(res.kl_exact, rel=1e-12)
    assert linear_gaussian(x, w, rank=8).noise == 1.0 == run_json(
        "linear-gaussian", "--x", str(ex / "X.npy"), "--w-star", str(ex / "W.npy"), "--rank", "8")["inputs"]["noise"]
