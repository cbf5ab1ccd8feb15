"""linear-gaussian on the command line: new keys and notes, the plug-in bounds, the noise estimate,
sizes and extreme values, broken array files, the README's examples, and a fuzz test."""

import json
import math
import os
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]


def problem(n=40, d=4, k=3, seed=1, noise=0.5):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    w = rng.normal(size=(k, d))
    y = x @ w.T + noise * rng.normal(size=(n, k))
    return x, w, y


@pytest.fixture
def files(tmp_path):
    x, w, y = problem()
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


def test_noise_is_estimated_said_and_checked(run, run_json, files):
    out = run_json(*lg(files))
    x, w, y = problem()
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
    x, w, y = problem()
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

    x, _, _ = problem()
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


# ----------------------------------------------------------------------------- the README runs as written

def test_example_data_is_what_the_script_writes(tmp_path):
    import runpy
    import shutil

    src = ROOT / "examples" / "linear_gaussian"
    shutil.copy(src / "make_data.py", tmp_path / "make_data.py")
    runpy.run_path(str(tmp_path / "make_data.py"))
    for name in ("X.npy", "Y.npy", "W.npy"):
        np.testing.assert_array_equal(np.load(tmp_path / name), np.load(src / name))


def test_rank_plot_has_integer_ticks_and_every_curve(tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from kdbound.render.plot import plot_rank_sweep

    cols = {"rank": np.array([1, 2, 3]), "kl_bound": np.array([3.0, 2.0, 1.0]),
            "kl_bound_tight": np.array([2.5, 1.5, 0.5]), "apx": np.array([2.0, 1.0, 0.0]),
            "dataset_shift_bound": np.full(3, 0.4), "spread": np.full(3, 0.4), "cov": np.zeros(3),
            "kl_exact": np.array([np.nan, np.nan, 0.3])}
    captured = {}
    real_close = plt.close

    def keep(fig):
        captured["fig"] = fig
        real_close(fig)

    plt.close = keep
    try:
        plot_rank_sweep(cols, str(tmp_path / "r.png"))
    finally:
        plt.close = real_close
    ax = captured["fig"].axes[0]
    ticks = [t for t in ax.get_xticks() if 1 <= t <= 3]
    assert all(float(t).is_integer() for t in ticks)
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    styles = {(ln.get_marker(), str(ln.get_linestyle())) for ln in lines.values()}
    assert len(styles) == len(lines) == 7          # overlapping curves stay distinguishable
    assert any(label.startswith("spread") for label in lines) and any(label.startswith("dataset_shift_bound")
                                                                        for label in lines)


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
    x, w, y = problem(n=12, d=3, k=2)
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


def test_vacuous_flags_follow_the_loss_range_exactly(run_json, files):
    seen = set()
    for sigma in ("0.01", "0.05", "0.1", "0.2", "0.5"):
        r = run_json(*lg(files, "--rank", "3", "--gen-t", "0.05", "--sigma", sigma, "--loss-min", "-0.5",
                         "--loss-max", "1.5"))["results"]
        assert r["vacuous"] == (r["upper_bound"] >= 2.0)
        assert r["lower_vacuous"] == (r["lower_bound"] <= -2.0)
        seen.add(r["vacuous"])
    assert seen == {True, False}


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


def test_a_runs_out_write_failure_names_runs_out(run, tmp_path):
    os.symlink("/dev/full", tmp_path / "full.csv")
    r = run("simulate", "--datasets", "100", "--runs-out", str(tmp_path / "full.csv"), "-f", "json")
    assert r.exit_code == 2 and "--runs-out: cannot write" in r.stderr and r.stderr.count("\n") == 1
