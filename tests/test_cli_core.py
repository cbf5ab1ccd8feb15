"""The upper, lower, sharpness and demo commands through the CLI."""

import json
import math
import shutil
import subprocess
import sys

import pytest

from kdbound import __version__

UP = ["upper", "--gen-t", "0.05", "--kl", "0.2", "--sigma", "0.1"]
SHARP = ["sharpness", "--gen-t", "0.05", "--kl", "0.5", "--n", "10000", "--loss-min", "0", "--loss-max", "1",
         "--kappa", "2", "--lipschitz", "5", "--g0", "0.5", "--alpha", "10", "--tau", "2"]


def test_upper_json_contract(run_json):
    out = run_json(*UP)
    assert out["command"] == "upper"
    assert out["inputs"] == {"gen_t": 0.05, "kl": 0.2, "sigma": 0.1}
    r = out["results"]
    assert {"bound", "sigma", "slack", "lambda_opt", "lower_two_sided"} <= set(r)
    assert r["bound"] == 0.05 + 0.1 * math.sqrt(0.4)  # exact round trip
    assert r["lambda_opt"] == math.sqrt(0.4) / 0.1


def test_upper_stability_routes(run_json):
    out = run_json("upper", "--gen-t", "0", "--kl", "0.5", "--loss-min", "0", "--loss-max", "1", "--beta", "0.01",
                   "--n", "100")
    assert out["sigma_route"] == "stability" and out["results"]["sigma"] == pytest.approx(0.15)
    out = run_json("upper", "--gen-t", "0", "--kl", "0.5", "--loss-min", "0", "--loss-max", "1", "--kappa", "2",
                   "--lipschitz", "5", "--n", "10000")
    assert out["sigma_route"] == "parameter-stability" and out["results"]["sigma"] == pytest.approx(0.105)
    assert "Lemma 13" in out["checks"][1]["reason"]


def test_non_finite_is_null_with_a_note(run_json):
    out = run_json("upper", "--gen-t", "0.1", "--kl", "0", "--sigma", "1")
    assert out["results"]["lambda_opt"] is None
    assert any("undefined when K = 0" in n for n in out["notes"])
    out = run_json("upper", "--gen-t", "0.1", "--kl", "1", "--sigma", "0")
    assert out["results"]["lambda_opt"] is None and any("+inf" in n for n in out["notes"])


def test_lower_modes(run_json):
    r = run_json("lower", "--gen-t", "0.05", "--kl", "0.01", "--eta", "2", "--c", "0.5")["results"]
    assert r["bound"] == pytest.approx(0.02) and r["eta"] == 2 and r["c"] == 0.5
    r = run_json("lower", "--gen-t", "0.05", "--kl", "0.01", "--sigma", "0.1")["results"]
    assert r["eta"] == pytest.approx(math.sqrt(0.02) / 0.1)
    out = run_json("lower", "--gen-t", "0.05", "--kl", "1", "--sigma", "0.1")
    assert out["results"]["c"] == 0.0 and any("trivial" in n for n in out["notes"])


def test_sharpness_contract(run_json):
    out = run_json(*SHARP, "--rho", "0.01")
    keys = {"bound", "standard_bound", "sigma0", "sigma_u", "nu", "sharpness_term", "a0", "a1", "a2", "rho0",
            "rho_min", "improvement"}
    assert keys <= set(out["results"])
    assert out["results"]["tightens"] is True
    out = run_json(*SHARP, "--rho", "0.5")
    assert out["results"]["tightens"] is False
    assert any(c["condition"] == "rho < rho0" and not c["ok"] for c in out["checks"])


def test_tsv_when_not_a_terminal(run):
    r = run(*UP)
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert lines[0] == f"bound\t{0.05 + 0.1 * math.sqrt(0.4)!r}"
    assert all(len(line.split("\t")) == 2 for line in lines)
    assert "\x1b" not in r.stdout


def test_csv_format(run):
    r = run(*UP, "--format", "csv")
    assert r.stdout.splitlines()[0].startswith("bound,0.113")


def test_table_on_a_terminal(run):
    r = run(*UP, tty=True)
    assert r.exit_code == 0
    assert "bound" in r.stdout and "0.113246" in r.stdout and "Theorem 1" in r.stdout
    assert "✓" in r.stdout and "\x1b" not in r.stdout  # NO_COLOR in the test environment


def test_demo_runs_all_three(run):
    r = run("demo", tty=True)
    assert r.exit_code == 0
    for word in ("kdbound upper", "kdbound lower", "kdbound sharpness", "Theorem 12"):
        assert word in r.stdout


def test_version_and_help(run):
    assert run("--version").stdout.strip() == f"kdbound {__version__}"
    for cmd, words in (("upper", ["Theorem 1", "sqrt(2 K)"]), ("lower", ["Theorem 10", "c * gen_T - K / eta"]),
                       ("sharpness", ["Theorem 12", "rho0"])):
        r = run(cmd, "--help")
        assert r.exit_code == 0
        for w in words:
            assert w in r.stdout


def with_(args, option, value):
    """``args`` with ``option`` set to ``value``."""
    out = list(args)
    out[out.index(option) + 1] = value
    return out


BAD = [
    (["upper", "--gen-t", "0", "--kl", "-1", "--sigma", "1"], "--kl", "-1.0"),
    (["upper", "--gen-t", "0", "--kl", "1", "--sigma", "-1"], "--sigma", "-1.0"),
    (["lower", "--gen-t", "0.1", "--kl", "1", "--eta", "1", "--c", "1.5"], "--c", "1.5"),
    (["lower", "--gen-t", "0.1", "--kl", "1", "--eta", "1", "--c", "0"], "--c", "0.0"),
    (["lower", "--gen-t", "0.1", "--kl", "1", "--eta", "0", "--c", "0.5"], "--eta", "0.0"),
    (["lower", "--gen-t", "-0.1", "--kl", "1", "--eta", "1", "--c", "0.5", "--sigma", "1"], "--c", "conflicts"),
    (["upper", "--gen-t", "0", "--kl", "1", "--loss-min", "1", "--loss-max", "1", "--beta", "0", "--n", "5"],
     "--loss-max", "1.0"),
    (["upper", "--gen-t", "0", "--kl", "1", "--loss-min", "0", "--loss-max", "1", "--beta", "0", "--n", "0"],
     "--n", "0.0"),
    (["upper", "--gen-t", "0", "--kl", "1", "--loss-min", "0", "--loss-max", "1", "--beta", "-1", "--n", "5"],
     "--beta", "-1.0"),
    (["upper", "--gen-t", "0", "--kl", "1", "--loss-min", "0", "--loss-max", "1", "--kappa", "-1",
      "--lipschitz", "1", "--n", "5"], "--kappa", "-1.0"),
    (SHARP + ["--rho", "-0.5"], "--rho", "-0.5"),
    (with_(SHARP, "--lipschitz", "-5"), "--lipschitz", "-5.0"),
    (with_(SHARP, "--alpha", "-1"), "--alpha", "-1.0"),
    (with_(SHARP, "--tau", "-2"), "--tau", "-2.0"),
    (with_(SHARP, "--g0", "-2"), "--g0", "-2.0"),
    (["upper", "--gen-t", "nan", "--kl", "1", "--sigma", "1"], "--gen-t", "nan"),
    (["upper", "--gen-t", "0", "--kl", "inf", "--sigma", "1"], "--kl", "inf"),
    (["upper", "--gen-t", "0", "--kl", "abc", "--sigma", "1"], "--kl", "abc"),
    (["upper", "--gen-t", "0", "--sigma", "1"], "--kl", "required"),
    (["upper", "--gen-t", "0", "--kl", "1"], "--sigma", "required"),
    (["upper", "--gen-t", "0", "--kl", "1", "--sigma", "1", "--beta", "0.1"], "--sigma", "conflicts"),
    (["lower", "--gen-t", "0.1", "--kl", "1", "--c", "0.5", "--sigma", "1"], "--c", "conflicts"),
    (["lower", "--gen-t", "0.1", "--kl", "1", "--c", "0.5"], "--eta", "required"),
    (["upper", "--gen-t", "0", "--kl", "1", "--loss-min", "0", "--beta", "0.1"], "--loss-max", "required"),
    (UP + ["--format", "xml"], "--format", "xml"),
    (["upper", "--bogus", "1"], "--bogus", "No such option"),
]


@pytest.mark.parametrize("args, option, value", BAD, ids=[f"{b[1]}-{b[2]}" for b in BAD])
def test_bad_input_is_one_line_exit_2(run, args, option, value):
    r = run(*args)
    assert r.exit_code == 2, (r.stdout, r.stderr)
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert option in lines[0] and value in lines[0]
    assert "Traceback" not in r.stderr


@pytest.fixture(scope="module")
def kdbound_exe():
    exe = shutil.which("kdbound")
    if exe is None:
        pytest.skip("the kdbound console script is not installed")
    return exe


def test_installed_console_script(kdbound_exe):
    p = subprocess.run([kdbound_exe, *UP, "--format", "json"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and json.loads(p.stdout)["results"]["slack"] == pytest.approx(0.1 * math.sqrt(0.4))
    p = subprocess.run([kdbound_exe, "upper", "--gen-t", "0", "--kl", "-1", "--sigma", "1"], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 2 and p.stdout == "" and p.stderr.count("\n") == 1
    p = subprocess.run([sys.executable, "-m", "kdbound", *UP], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stdout.startswith("bound\t")


def test_scalar_path_does_not_import_heavy_modules():
    code = ("import sys; from kdbound.cli.main import main\n"
            "try:\n    main(['upper','--gen-t','0.05','--kl','0.2','--sigma','0.1','--format','json'])\n"
            "except SystemExit: pass\n"
            "print('HEAVY:' + ' '.join(m for m in ('scipy','matplotlib','pyarrow','rich','pandas') "
            "if m in sys.modules))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.stdout.splitlines()[-1] == "HEAVY:", p.stdout
