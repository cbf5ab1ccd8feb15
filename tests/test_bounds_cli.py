"""The bound commands upper, lower, sharpness and demo on the command line (cli/run.py, render/explain.py):
the JSON contract, what a result says (checks, notes, labels), the options and their rules, bad
input, and hostile invocations generated (whatever the input: exit 0, 2 or 3, never 1, no traceback,
one stderr line for a failure with nothing on stdout, no file left behind or changed but the output
asked for)."""

import json
import math
import os
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import SHARP, UP, invoke, one_line_error
from hypothesis import HealthCheck, given, settings, strategies as st

from kdbound import __version__
from kdbound.engine.specs import BOUND_SPECS
from kdbound.render.values import non_finite_notes


# ----------------------------------------------------------------------------- the JSON contract and the formats

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
    keys = {"bound", "sharpness_bound", "standard_bound", "sigma0", "sigma_u", "nu", "sharpness_term", "a0", "a1",
            "a2", "rho0", "rho_min", "improvement", "some_radius_tightens", "tightens"}
    assert keys <= set(out["results"]) and "admissible" not in out["results"]
    assert out["results"]["tightens"] is True and out["bound_source"] == "sharpness"
    out = run_json(*SHARP, "--rho", "0.5")
    assert out["results"]["tightens"] is False and out["bound_source"] == "standard"
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
    assert r.stdout.splitlines()[0] == "name,value"  # a header, as demo's CSV has
    assert r.stdout.splitlines()[1].startswith("bound,0.113")
    assert run(*UP, "--format", "tsv").stdout.splitlines()[0].startswith("bound\t0.113")  # TSV: no header


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


# mutation: booleans written True/False in CSV
def test_booleans_in_csv_are_lowercase(run):
    rows = dict(line.split(",", 1) for line in run(*SHARP, "--rho", "0.01", "--format", "csv").stdout.splitlines())
    assert rows["tightens"] == "true" and rows["some_radius_tightens"] == "true"


# mutation: escape() removed: rich takes E[h(...)] for markup and the help loses the text
def test_brackets_survive_in_help(run):
    r = run("sharpness", "--help")
    assert "E[h(D_n, f_T)]" in r.stdout and "E[S_P(f_T)]" in r.stdout


def test_quiet_silences_notes(run):
    r = run("upper", "--gen-t", "0.1", "--kl", "0", "--sigma", "1")
    assert "note:" in r.stderr
    r = run("upper", "--gen-t", "0.1", "--kl", "0", "--sigma", "1", "--quiet")
    assert r.stderr == ""


# ----------------------------------------------------------------------------- what a result says

# mutations: Check.ok False for assumptions; the gen_T > 0 check always holding; the beta sqrt(n) check negated
def test_check_statuses_in_json(run_json):
    checks = run_json(*UP)["checks"]
    assert [(c["status"], c["ok"]) for c in checks] == [("holds", True), ("assumed", None)]
    checks = run_json("lower", "--gen-t", "-0.05", "--kl", "0.01", "--sigma", "0.1")["checks"]
    remark2 = next(c for c in checks if c["condition"] == "gen_T > 0 (Remark 2)")
    assert remark2["status"] == "fails" and remark2["ok"] is False
    route = ["upper", "--gen-t", "0", "--kl", "0.5", "--loss-min", "0", "--loss-max", "1", "--n", "100"]
    for beta, ok in (("0.01", True), ("0.2", False)):   # beta sqrt(n) = 0.1, then 2
        checks = run_json(*route, "--beta", beta)["checks"]
        check = next(c for c in checks if c["condition"] == "beta sqrt(n) < 1")
        assert check["ok"] is ok
        # issue 17, item 4: the asymptotic rate cannot be verified at one n: assumed, never ticked
        rate = next(c for c in checks if c["condition"] == "beta = o(1/sqrt(n))")
        assert rate["status"] == "assumed"


# mutation: the vacuous notes of the upper and the lower bound swapped
def test_vacuous_notes_name_the_right_bound(run_json):
    rng = ["--loss-min", "0", "--loss-max", "1"]
    notes = run_json("lower", "--gen-t", "-1", "--kl", "0", "--sigma", "0.1", *rng)["notes"]
    assert any(n.startswith("The lower bound -1 is vacuous: gen_S >= -(b - a) = -1") for n in notes), notes
    notes = run_json("upper", "--gen-t", "1", "--kl", "0", "--sigma", "0.1", *rng)["notes"]
    assert any(n.startswith("The upper bound 1 is vacuous: gen_S <= b - a = 1") for n in notes), notes


# mutations: the generic note for a non-finite result skipped, or given to finite values
def test_every_non_finite_result_has_a_note(run_json):
    out = run_json("upper", "--gen-t", "0", "--kl", "1e308", "--sigma", "1e300")
    r = out["results"]
    assert r["bound"] is None and r["slack"] is None and r["lower_two_sided"] is None
    assert r["lambda_opt"] == pytest.approx(math.sqrt(2.0) * 1e154 / 1e300)  # finite: no note
    assert "bound is not finite (+inf): printed as null." in out["notes"]
    assert "lower_two_sided is not finite (-inf): printed as null." in out["notes"]
    assert not any(n.startswith("lambda_opt") for n in out["notes"])
    assert non_finite_notes({"a": 1.0, "b": float("nan"), "c": True, "d": "word"}) == \
        ["b is not finite (nan): printed as null."]


# mutation: bound is B_sh where B_std is tighter (and the reverse); the table's headline is always bound
@pytest.mark.parametrize("rho, source, twin", [("0.01", "sharpness", "sharpness_bound"),
                                               ("0.5", "standard", "standard_bound"),
                                               ("1e-5", "standard", "standard_bound")])
def test_bound_is_the_best_valid_bound_in_every_format(run, run_json, rho, source, twin):
    out = run_json(*SHARP, "--rho", rho)
    r = out["results"]
    assert out["bound_source"] == source and r["bound"] == r[twin]
    assert r["tightens"] is (source == "sharpness")
    if r["sharpness_bound"] is not None:
        assert r["bound"] == min(r["sharpness_bound"], r["standard_bound"])
        assert (r["improvement"] > 0) is r["tightens"]
    tsv = dict(line.split("\t", 1) for line in run(*SHARP, "--rho", rho).stdout.splitlines())
    assert float(tsv["bound"]) == r[twin]
    sweep = run(*SHARP, "--sweep", f"rho={rho}:{float(rho) * 2}:2", "--format", "jsonl").stdout.splitlines()
    assert json.loads(sweep[0])["bound"] == r[twin]
    table = run(*SHARP, "--rho", rho, tty=True)
    row = next(line for line in table.stdout.splitlines() if "results" in line)
    assert row.split()[1] == "bound", row


def test_sharpness_below_kappa_over_n_is_no_bound(run_json):
    out = run_json("sharpness", "--gen-t", "0.05", "--kl", "0.5", "--n", "10000", "--loss-min", "0", "--loss-max",
                   "1", "--kappa", "2", "--lipschitz", "5", "--g0", "0.5", "--alpha", "10", "--tau", "2", "--rho", "1e-5")
    r = out["results"]
    assert r["sharpness_bound"] is None and r["improvement"] is None and r["tightens"] is False
    assert r["bound"] == r["standard_bound"] and out["bound_source"] == "standard"
    assert any("below kappa/n" in n for n in out["notes"])


# issue 17, item 1: "fails rho < rho0" although 1e-5 < 0.18; what fails is rho >= kappa/n
def test_each_sharpness_check_says_what_it_tests(run_json):
    out = run_json(*SHARP, "--rho", "1e-5")
    status = {c["condition"]: c["status"] for c in out["checks"]}
    assert status["rho < rho0"] == "holds" and status["rho >= kappa / n"] == "fails"
    assert "admissible" not in out["results"] and out["results"]["some_radius_tightens"] is True
    assert any(n.startswith("some_radius_tightens is true") for n in out["notes"])


def test_lower_at_k_0_and_sigma_0_says_what_it_prints(run_json):
    out = run_json("lower", "--gen-t", "0.05", "--kl", "0", "--sigma", "0")
    assert out["results"]["eta"] == 0.0 and not any("+inf" in n for n in out["notes"])


def test_eta_with_a_non_positive_gen_t_is_not_checked_against_remark_2(run_json):
    out = run_json("lower", "--gen-t", "0", "--sigma", "0.1", "--kl", "1", "--eta", "300")
    assert out["results"]["bound"] == pytest.approx(-0.1 * 2 ** 0.5) and out["results"]["eta"] is None


# ----------------------------------------------------------------------------- lower: the best lower bound

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


def test_solve_and_sweep_use_the_reported_bound(run_json, run):
    out = run_json("lower", "--gen-t", "0.05", "--sigma", "0.1", "--solve", "kl", "--target", "-0.15")
    assert out["results"]["kl"] == pytest.approx(2.0) and out["results"]["bound"] == pytest.approx(-0.15)
    r = run("lower", "--gen-t", "0.05", "--sigma", "0.1", "--sweep", "kl=0:2:3", "--format", "jsonl")
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [row["bound"] for row in rows] == pytest.approx([0.05, 0.05 - 0.1 * math.sqrt(2), -0.15])


def test_no_check_claims_a_zero_eta_is_positive(run_json):
    out = run_json("lower", "--gen-t", "0.05", "--kl", "0", "--sigma", "0.1")
    assert out["results"]["eta"] == 0.0
    assert not any("0 < eta" in c["condition"] and c["status"] == "holds" for c in out["checks"])


# ----------------------------------------------------------- sharpness: measured values and the constants of Theorem 12

ISSUE_SHARP = SHARP + ["--sigma-u", "0.2", "--rho", "0.001"]


def test_measured_values_checks_agree_with_the_numbers(run_json):
    out = run_json(*ISSUE_SHARP)
    r = out["results"]
    assert r["improvement"] < 0 and r["tightens"] is False
    assert r["rho0"] is None and any("rho0 and some_radius_tightens are null" in n for n in out["notes"])
    for c in out["checks"]:
        assert "inside the tightness regime" not in c["reason"]
        if c["condition"].startswith("B_sh < B_std"):
            assert c["status"] == "fails"


def test_rho_zero_is_an_error(run):
    r = run(*SHARP, "--rho", "0")
    assert r.exit_code == 2 and "--rho: must be > 0 (got 0.0)" in r.stderr


def test_refined_constants_by_hand(run_json):
    out = run_json(*SHARP, "--rho", "0.01", "--constants", "refined", "--dim", "100")
    r, n, kappa, alpha, g0, rho, d = out["results"], 1e4, 2.0, 10.0, 0.5, 0.01, 100.0
    assert out["inputs"]["constants"] == "refined"
    su = (kappa * (g0 + alpha * rho * d / (d + 1) + alpha * kappa / (2 * n)) + 0.5) / math.sqrt(n)
    nu = alpha * (kappa * rho + rho * rho) / (2 * math.sqrt(n))
    assert r["sigma_u"] == pytest.approx(su, rel=1e-13) and r["nu"] == pytest.approx(nu, rel=1e-13)
    assert r["a0"] == pytest.approx(kappa * (5 - g0) - alpha * kappa ** 2 / (2 * n))
    assert r["a1"] == pytest.approx(alpha * kappa * (d / (d + 1) + 0.5)) and r["a2"] == 5.0
    assert run_json(*SHARP)["inputs"]["constants"] == "refined"  # the default (issue 17, item 3)
    assert run_json(*SHARP, "--rho", "0.01")["results"]["sigma_u"] == pytest.approx(
        (kappa * (g0 + alpha * rho + alpha * kappa / (2 * n)) + 0.5) / math.sqrt(n), rel=1e-13)


# issue 17, item 3: refined is the default; paper reproduces the published numbers and assumes Lemma 14
def test_paper_constants_are_unchanged_and_assume_lemma_14(run_json):
    out = run_json(*SHARP, "--rho", "0.01", "--constants", "paper")
    r = out["results"]
    assert r["sigma_u"] == pytest.approx((2 * (0.5 + 10 * 0.01) + 0.5) / 100, rel=1e-14)
    assert r["nu"] == pytest.approx((10 * 2 * 0.01 / 2 + 0.5 * 0.01 + 10 * 1e-4 / 2) / 100, rel=1e-14)
    assert r["bound"] == pytest.approx(0.068155, rel=1e-12) and r["rho0"] == pytest.approx(0.18157743380340507)
    assert {"condition": "Lemma 14 as published", "status": "assumed"}.items() <= next(
        c for c in out["checks"] if c["condition"] == "Lemma 14 as published").items()
    default = run_json(*SHARP, "--rho", "0.01")
    assert not any("Lemma 14" in c["condition"] for c in default["checks"])
    assert not any("optimistic" in n for n in default["notes"] + out["notes"])


def test_the_table_names_the_constants(run):
    r = run(*SHARP, "--constants", "refined", tty=True)
    assert r.exit_code == 0 and "constants" in r.stdout and "refined" in r.stdout


# ----------------------------------------------------------------------------- bad input: one line, exit 2

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


# mutations: sigma_route's rules (beta with kappa, n with sigma), _loss_pair, --target without --solve, a swept
# parameter also given, the whole-number rule of the engine (batch cells reach only that one)
@pytest.mark.parametrize("args, words", [
    (["upper", "--gen-t", "0.05", "--kl", "0.2", "--loss-min", "0", "--loss-max", "1", "--beta", "0.01",
      "--kappa", "2", "--n", "100"], ["--beta: conflicts with --kappa/--lipschitz"]),
    (UP + ["--n", "100"], ["--n: not used with --sigma"]),
    (UP + ["--loss-min", "0"], ["--loss-max: required with --loss-min"]),
    (UP + ["--target", "0.1"], ["--target: only with --solve"]),
    (UP + ["--sweep", "kl=0:1:5"], ["--sweep kl: conflicts with --kl"]),
])
def test_options_that_do_not_go_together(run, args, words):
    one_line_error(run(*args), *words)


def test_gen_t_outside_the_loss_range_is_refused(run):
    one_line_error(run("upper", "--gen-t", "2", "--kl", "0.2", "--sigma", "0.1", "--loss-min", "0", "--loss-max",
                       "1"), "--gen-t", "[-(b - a), b - a]")


def test_columns_named_twice_are_refused():
    r = invoke("upper", "--gen-t", "0.05", "--kl", "0.2", "--sigma", "0.1", "--columns", "bound,bound", "-f", "jsonl")
    one_line_error(r, "--columns: names 'bound' twice")


def test_loss_range_order_and_batch_rule_spelling():
    one_line_error(invoke("upper", "--gen-t", "0.1", "--kl", "0.02", "--sigma", "0.1", "--loss-min", "1", "--loss-max",
                          "0"), "--loss-max: must be > --loss-min (got 0.0)")
    one_line_error(invoke("lower", "--eta", "2", "--c", "0.5", "--gen-t", "0.1", "--kl", "0.02", "--loss-min", "1",
                          "--loss-max", "1"), "--loss-max: must be > --loss-min (got 1.0)")
    r = invoke("upper", "-i", "-", "--loss-min", "0", "--loss-max", "1", "--sigma", "0.1", input="gen_t,kl\n3,0.02\n")
    one_line_error(r, "row 1, column gen_t: must lie in [-(b - a), b - a] for a loss in [a, b] (--loss-min, "
                      "--loss-max) (got 3.0)")
    r = invoke("upper", "-i", "-", "--beta", "0.1", "--n", "10", input="gen_t,kl,loss_min,loss_max\n0.1,0.02,1,0\n")
    one_line_error(r, "row 1, column loss_max: must be > column loss_min (got 0.0)")


def test_a_derived_sigma_beyond_float64_names_the_route():
    one_line_error(invoke("upper", "--gen-t", "0.1", "--kl", "1", "--loss-min", "0", "--loss-max", "1", "--kappa",
                          "1e300", "--lipschitz", "1e300", "--n", "1"),
                   "--kappa: with --loss-min --loss-max --lipschitz --n gives a sigma beyond float64's range")


def test_no_numpy_warning_reaches_the_user(exe):
    p = subprocess.run([exe, "upper", "--gen-t", "0.05", "--kl", "0.2", "--loss-min", "-1e308", "--loss-max", "1e308",
                        "--sigma", "1"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "Warning" not in p.stderr


# ----------------------------------------------------------------------------- hostile invocations, generated

NUMBERS = ["0", "0.05", "1", "2", "1e-3", "10000", "-1", "-0.5", "1e308", "1e-320", "nan", "inf", "-inf",
           "", "abc", "1_0", "0x10", "١٢", " 1", "1e400", "5e-324", "100.5"]


FORMATS = [None, "table", "json", "jsonl", "csv", "tsv", "parquet", "xml"]


CELLS = ["0.05", "0.2", "1", "0", "-1", "", "NA", "nan", "abc", "1e400", "3"]


def number():
    return st.sampled_from(NUMBERS)


def write_rows(path, fmt, cols, rows):
    if fmt in ("csv", "tsv"):
        sep = "," if fmt == "csv" else "\t"
        with open(path, "w") as f:
            f.write(sep.join(cols) + "\n" + "".join(sep.join(r) + "\n" for r in rows))
    elif fmt == "jsonl":
        with open(path, "w") as f:
            for r in rows:
                f.write(json.dumps(dict(zip(cols, r))) + "\n")
            if not rows:
                f.write("{}\n")
    else:
        pq.write_table(pa.table({c: [r[i] for r in rows] for i, c in enumerate(cols)}), path)


@st.composite
def batch_file(draw, spec, tmp):
    fmt = draw(st.sampled_from(["csv", "tsv", "jsonl", "parquet"]))
    cols = draw(st.lists(st.sampled_from(list(spec.numeric_names) + ["target", "tag"]), min_size=1,
                         max_size=4, unique=True))
    rows = draw(st.lists(st.lists(st.sampled_from(CELLS), min_size=len(cols), max_size=len(cols)), max_size=5))
    path = os.path.join(tmp, f"rows.{fmt}")
    write_rows(path, fmt, cols, rows)
    return path


@st.composite
def invocation(draw, tmp):
    name = draw(st.sampled_from(sorted(BOUND_SPECS)))
    spec = BOUND_SPECS[name]
    args = [name]
    for p in spec.params:
        if draw(st.booleans()):
            value = draw(st.sampled_from(["paper", "refined", "other"])) if p.choices else draw(number())
            args += [f"--{p.name.replace('_', '-')}", value]
    files = []
    if draw(st.integers(0, 3)) == 0:  # a batch
        path = draw(batch_file(spec, tmp))
        files.append(path)
        args += ["--input", path]
        if draw(st.booleans()):
            args += ["--on-error", draw(st.sampled_from(["stop", "skip", "null", "maybe"]))]
        if draw(st.booleans()):
            args += ["--input-format", draw(st.sampled_from(["csv", "tsv", "jsonl", "parquet", "xls"]))]
    if draw(st.booleans()):
        args += ["--solve", draw(st.sampled_from(list(spec.numeric_names) + ["zeta"]))]
        if draw(st.booleans()):
            args += ["--target", draw(number())]
    if draw(st.integers(0, 3)) == 0:
        p = draw(st.sampled_from(list(spec.numeric_names) + ["zeta"]))
        args += ["--sweep", draw(st.sampled_from([f"{p}=0:1:3", f"{p}=log:1e-3:1:3", f"{p}=1:2", "x", f"{p}=0:1:1"]))]
    if draw(st.integers(0, 3)) == 0:
        args += ["--output", draw(st.sampled_from([os.path.join(tmp, "out.csv"), os.path.join(tmp, "out.parquet"),
                                                   tmp, "", os.path.join(tmp, "nope", "x.csv"), "-"]))]
    if draw(st.integers(0, 4)) == 0:
        args += ["--columns", draw(st.sampled_from(["bound", "bound,sigma", "nope", ","]))]
    fmt = draw(st.sampled_from(FORMATS))
    if fmt:
        args += ["--format", fmt]
    return args, files


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(data=st.data())
def test_no_invocation_crashes_damages_or_litters(tmp_path, data):
    for leftover in os.listdir(tmp_path):
        os.remove(os.path.join(tmp_path, leftover)) if os.path.isfile(os.path.join(tmp_path, leftover)) else None
    args, files = data.draw(invocation(str(tmp_path)))
    before = {f: Path(f).read_bytes() for f in files}
    r = invoke(*args, chunk_bytes=64)
    assert r.exit_code in (0, 2, 3), (args, r.exit_code, r.stderr)
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, (args, r.stderr)
    if r.exit_code == 2:
        assert len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)
        if "--input" not in args:
            assert r.stdout == "", (args, r.stdout)
    for f, content in before.items():  # inputs untouched
        assert Path(f).read_bytes() == content
    left = set(os.listdir(tmp_path)) - {os.path.basename(f) for f in files}
    assert not any(name.startswith(".kdbound-") for name in left), (args, left)
    if r.exit_code == 2:
        assert not (left - {"nope"}), (args, left)  # a failed run writes no output file


# issue 17, item 7: the solver's stand-in 1e300 reached the JSON at exit 0 (gen_t null, bound 1e+300)
def test_lower_solve_gen_t_with_eta_prints_the_crossing(run):
    r = run("lower", "--kl", "0.01", "--sigma", "0.1", "--eta", "2", "--solve", "gen-t", "--target", "0", "-f", "json")
    assert r.exit_code == 0 and "1e+300" not in r.stdout
    out = json.loads(r.stdout)
    assert out["results"]["gen_t"] == pytest.approx(0.1 * math.sqrt(0.02)) and out["results"]["bound"] == 0.0
    assert not any("inf" in n for n in out["notes"])


# issue 17 (grammar, engine part): the certified route from a loss range alone, sigma = b - a
@pytest.mark.parametrize("command, sign", [("upper", 1), ("lower", -1)])
def test_a_loss_range_alone_gives_sigma_b_minus_a(run_json, run, command, sign):
    out = run_json(command, "--gen-t", "0.05", "--kl", "0.02", "--loss-min", "0", "--loss-max", "2")
    r = out["results"]
    assert out["sigma_route"] == "range" and r["sigma"] == 2.0
    assert r["bound"] == pytest.approx(0.05 + sign * 2.0 * math.sqrt(0.04), rel=1e-15)
    check = next(c for c in out["checks"] if c["condition"].startswith("sub-Gaussian"))
    assert check["status"] == "holds" and "Hoeffding" in check["reason"]
    # solve, sweep and batch take the same route
    sol = run_json(command, "--gen-t", "0.05", "--loss-min", "0", "--loss-max", "2", "--solve", "kl", "--target",
                   str(0.05 + sign * 0.4))["results"]
    assert sol["kl"] == pytest.approx(0.02, rel=1e-12)
    rows = run(command, "--gen-t", "0.05", "--loss-min", "0", "--loss-max", "2", "--sweep", "kl=0.02:0.04:2",
               "--format", "jsonl").stdout.splitlines()
    assert json.loads(rows[0])["bound"] == r["bound"]


def test_a_sigma_above_the_range_width_gets_a_note(run_json):
    out = run_json("upper", "--gen-t", "0.05", "--kl", "0.02", "--loss-min", "0", "--loss-max", "1", "--sigma", "2")
    assert out["sigma_route"] == "given"
    assert any(n.startswith("sigma = 2 is above b - a = 1, which is smaller and certified") for n in out["notes"])
    out = run_json("upper", "--gen-t", "0.05", "--kl", "0.02", "--loss-min", "0", "--loss-max", "1", "--sigma", "0.5")
    assert not any("certified" in n for n in out["notes"])


def test_a_loss_range_with_n_alone_names_the_routes(run):
    r = run("upper", "--gen-t", "0.05", "--kl", "0.02", "--loss-min", "0", "--loss-max", "1", "--n", "100")
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr.startswith("kdbound: error: --n: not used with the loss range alone") and "--beta" in r.stderr


def test_measured_values_leave_some_radius_tightens_null(run_json):
    """With --sigma-u and --nu measured (rho0 null) it said false while this very radius tightened."""
    out = run_json(*SHARP, "--sigma-u", "0.01", "--nu", "0.001")
    assert out["results"]["rho0"] is None and out["results"]["some_radius_tightens"] is None
    assert out["results"]["tightens"] is True
    assert any(n.startswith("rho0 and some_radius_tightens are null") for n in out["notes"])


def test_a_loss_range_too_wide_for_float64_names_it(run):
    """sigma = b - a overflowed and the message named --sigma, which the user had not given."""
    r = run("upper", "--gen-t", "0.05", "--kl", "0.02", "--loss-min", "-1e308", "--loss-max", "1e308")
    one_line_error(r, "--loss-max", "finite width")


@pytest.mark.parametrize("route, leave", [(["--kappa", "20", "--lipschitz", "10", "--n", "100"],
                                           "leave out --kappa, --lipschitz and --n"),
                                          (["--beta", "0.1", "--n", "100"], "leave out --beta and --n")])
def test_a_stability_sigma_above_the_range_width_gets_a_note(run_json, route, leave):
    """lower printed a vacuous bound from sigma = 20.05 with no word that b - a = 1 is certified and smaller."""
    out = run_json("lower", "--gen-t", "0.5", "--kl", "0.02", "--loss-min", "0", "--loss-max", "1", *route)
    assert any("is above b - a = 1, which is smaller and certified" in n and leave in n for n in out["notes"])
