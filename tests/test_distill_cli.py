"""`kdbound distill` on the command line (in-process): the report is estimate's on the runs file, students'
files, output options, and every bad input of the issue as one line naming the option (exit 2)."""

import json
import os

import pytest

pytest.importorskip("sklearn")

FAST = ["--data", "iris", "--teacher", "logistic", "--student", "tree:depth=2", "--n", "30", "--min-test", "50",
        "--jobs", "1"]


def distill(run, *args, runs=8):
    """distill on FAST's settings, ``args`` in place of FAST's values of the options they give (an option
    given twice is exit 2); --student adds a student."""
    given = {a for a in args if isinstance(a, str) and a.startswith("--")}
    base = [x for opt, val in zip(FAST[::2], FAST[1::2]) if opt not in given or opt == "--student" for x in (opt, val)]
    return run("distill", *base, *([] if "--runs" in given else ["--runs", runs]), *args)


def one_line_error(r, option, *words):
    assert r.exit_code == 2, (r.exit_code, r.stdout, r.stderr)
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert lines[0].startswith(f"kdbound: error: {option}"), lines[0]
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


# ----------------------------------------------------------------------------- the loop: distill = estimate

def _without_distill_keys(report):
    report = dict(report)
    for key in ("command", "teacher", "student", "teacher_accuracy", "student_accuracy", "experiment"):
        report.pop(key)
    return report


@pytest.mark.parametrize("ext, loss, top", [("csv", "zero-one", 1.0), ("parquet", "brier", 2.0),
                                            ("jsonl", "log", 9.210340371976182)])
def test_the_report_is_estimates_on_the_runs_file(run, tmp_path, ext, loss, top):
    path = tmp_path / f"runs.{ext}"
    r = distill(run, "--loss", loss, "--runs-out", path, "--format", "json")
    assert r.exit_code == 0, r.stderr
    printed = json.loads(r.stdout)
    assert printed["command"] == "distill" and printed["student"] == "tree:depth=2"
    assert printed["experiment"]["loss_min"] == 0.0 and printed["experiment"]["loss_max"] == top
    e = run("estimate", path, "--loss-min", 0, "--loss-max", repr(top), "--format", "json")
    assert e.exit_code == 0, e.stderr
    assert _without_distill_keys(printed) == {k: v for k, v in json.loads(e.stdout).items() if k != "command"}
    assert printed["results"]["sigma_range"] == top and printed["basis"]["sigma_range"] == "certified"


def test_the_report_is_the_same_with_or_without_a_runs_file(run, tmp_path):
    with_file = json.loads(distill(run, "--runs-out", tmp_path / "runs.csv", "-f", "json").stdout)
    without = json.loads(distill(run, "-f", "json").stdout)
    assert with_file["results"] == without["results"] and with_file["checks"] == without["checks"]
    assert without["inputs"]["runs"].startswith("(not written")


def test_accuracy_and_model_lines(run):
    r = distill(run, "--format", "tsv")
    assert r.exit_code == 0, r.stderr
    names = [line.split("\t")[0] for line in r.stdout.splitlines()]
    assert names[:3] == ["gen_t", "gen_t_lo", "gen_t_hi"] and "upper_bound" in names
    said = r.stderr.splitlines()
    assert said[0].startswith("kdbound: distill: iris (pool of 150), n = 30, 8 runs: 8 computed in this process")
    assert said[1].startswith("kdbound: teacher logistic: mean held-out accuracy 0.")
    assert said[2].startswith("kdbound: student tree:depth=2: mean held-out accuracy 0.")
    table = distill(run, "--format", "json")
    acc = json.loads(table.stdout)
    assert 0.8 < acc["teacher_accuracy"] <= 1 and 0.5 < acc["student_accuracy"] <= 1


def test_warnings_are_summarised_in_one_line_per_role(run):
    r = run("distill", "--data", "digits", "--teacher", "mlp:8:max_iter=3", "--student", "mlp:4:max_iter=2",
            "--n", "200", "--runs", "4", "--jobs", "1", "-f", "tsv")
    assert r.exit_code == 0, r.stderr
    said = [line for line in r.stderr.splitlines() if not line.startswith("kdbound: note: ")]
    assert len(said) == 3, r.stderr
    assert "4 of 4 fits did not converge (ConvergenceWarning: Stochastic Optimizer" in said[1]
    assert "4 of 4 fits did not converge" in said[2]
    assert "Warning:" not in r.stderr.replace("ConvergenceWarning:", "")


def test_quiet_says_nothing_and_columns_choose_results(run):
    r = distill(run, "--quiet", "--columns", "upper_bound,gen_t", "-f", "tsv")
    assert r.exit_code == 0 and r.stderr == ""
    assert [line.split("\t")[0] for line in r.stdout.splitlines()] == ["upper_bound", "gen_t"]


def test_several_students_get_a_file_and_a_report_each(run, tmp_path):
    out = tmp_path / "runs.csv"
    r = distill(run, "--student", "logistic:C=0.5", "--runs-out", out, "-f", "json")
    assert r.exit_code == 0, r.stderr
    reports = json.loads(r.stdout)
    assert list(reports) == ["tree:depth=2", "logistic:C=0.5"]
    assert sorted(p for p in os.listdir(tmp_path) if not p.startswith(".")) == [
        "runs.logistic-C=0.5.csv", "runs.logistic-C=0.5.csv.settings.json",
        "runs.tree-depth=2.csv", "runs.tree-depth=2.csv.settings.json"]
    assert "kdbound: wrote " + str(tmp_path / "runs.tree-depth=2.csv") in r.stderr
    # each report is estimate's on that student's file, and the same as a run with that student alone
    alone = json.loads(run("distill", *FAST[:4], "--student", "logistic:C=0.5", *FAST[6:], "--runs", 8,
                           "-f", "json").stdout)
    assert reports["logistic:C=0.5"]["results"] == alone["results"]
    rows = distill(run, "--student", "logistic:C=0.5", "-f", "tsv")
    assert rows.stdout.splitlines()[0] == "student\tname\tvalue"


@pytest.mark.parametrize("suffix, check", [
    ("json", lambda p: json.loads(p.read_text())["command"] == "distill"),
    ("csv", lambda p: p.read_text().startswith("name,value\ngen_t,")),
    ("parquet", lambda p: p.read_bytes()[:4] == b"PAR1"),
])
def test_output_file(run, tmp_path, suffix, check):
    out = tmp_path / f"report.{suffix}"
    r = distill(run, "-o", out)
    assert r.exit_code == 0 and r.stdout == "", r.stderr
    assert check(out) and f"wrote {out}" in r.stderr


def test_several_students_to_a_parquet_report(run, tmp_path):
    import pyarrow.parquet as pq

    out = tmp_path / "report.parquet"
    r = distill(run, "--student", "logistic", "-o", out)
    assert r.exit_code == 0, r.stderr
    table = pq.read_table(out)
    assert table.column("student").to_pylist() == ["tree:depth=2", "logistic"]
    assert "upper_bound" in table.column_names


def test_no_estimate_writes_the_runs_only(run, tmp_path):
    out = tmp_path / "runs.tsv"
    r = distill(run, "--no-estimate", "--runs-out", out)
    assert r.exit_code == 0 and r.stdout == "", r.stderr
    assert out.read_text().count("\n") == 1 + 2 * 8
    one_line_error(distill(run, "--no-estimate", "--runs-out", tmp_path / "b.csv", "-f", "json"), "--format",
                   "--no-estimate")
    one_line_error(distill(run, "--no-estimate", "--columns", "gen_t"), "--columns")


def test_jobs_do_not_change_the_file(run, tmp_path):
    one, two = tmp_path / "one.csv", tmp_path / "two.csv"
    assert distill(run, "--runs-out", one, "--no-estimate").exit_code == 0
    r = run("distill", *FAST[:-1], "2", "--runs", 8, "--runs-out", two, "--no-estimate")
    assert r.exit_code == 0, r.stderr
    assert one.read_bytes() == two.read_bytes()


def test_resume_keeps_the_complete_runs_and_reports_on_all(run, tmp_path):
    out = tmp_path / "runs.csv"
    first = distill(run, "--runs-out", out, "-f", "json", runs=6)
    assert first.exit_code == 0
    r = distill(run, "--runs-out", out, "--resume", "-f", "json", runs=9)
    assert r.exit_code == 0, r.stderr
    assert "3 computed in this process, 6 kept from the runs file" in r.stderr
    whole = json.loads(run("distill", *FAST, "--runs", 9, "-f", "json").stdout)
    assert json.loads(r.stdout)["results"] == whole["results"]
    again = distill(run, "--runs-out", out, "--resume", "-f", "json", runs=9)
    assert again.exit_code == 0 and "9 runs: none to compute, all 9 kept from the runs file" in again.stderr
    assert json.loads(again.stdout)["results"] == whole["results"]


# ----------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("args, option, words", [
    (["--n", "130"], "--n", ["leaves 20 of the 150 examples held out", "--min-test = 50"]),
    (["--runs", "1"], "--runs", ["must be >= 2"]),
    (["--runs", "1000001"], "--runs", ["must be <= 1,000,000", "1000001"]),
    (["--runs", "99999999999999999999"], "--runs", ["must be <= 1,000,000"]),
    (["--data", "nope"], "--data", ["neither a bundled data set (digits, breast-cancer, wine, iris)"]),
    (["--teacher", "svm"], "--teacher", ["unknown model 'svm'", "logistic[:C=1]", "module:function"]),
    (["--student", "mlp:64:nope=1"], "--student", ["unknown parameter 'nope'"]),
    (["--labels", "soft", "--student", "knn:3"], "--student", ["does not accept sample_weight"]),
    (["--labels", "soft", "--student", "mlp:4:early_stopping=true"], "--student", ["early_stopping"]),
    (["--temperature", "2"], "--temperature", ["only with soft labels"]),
    (["--log-clip", "0.01"], "--log-clip", ["only with the log loss"]),
    (["--loss", "log", "--log-clip", "2"], "--log-clip", ["must lie in (0, 1)"]),
    (["--loss", "hinge"], "Invalid value for '--loss'", ["'hinge' is not one of 'zero-one', 'brier', 'log'"]),
    (["--labels", "soft", "--temperature", "0"], "--temperature", ["must be a finite number > 0"]),
    (["--test-size", "10"], "--test-size", ["must be >= --min-test = 50"]),
    (["--jobs", "0"], "--jobs", ["must be a whole number >= 1"]),
    (["--scheduler", "tcp://127.0.0.1:1"], "--scheduler", ["only with the dask backend"]),
    (["--resume"], "--resume", ["only with a runs file to resume (--runs-out)"]),
    (["--runs-out", "runs.xlsx"], "--runs-out", ["cannot tell the format", ".parquet"]),
    (["--target", "y"], "--target", ["only with a data file"]),
    (["--columns", "nope"], "--columns", ["no column 'nope'"]),
    (["-o", "report.xyz"], "--output", ["cannot tell the format from the extension '.xyz'"]),
    (["--student", "tree:depth=2"], "--student", ["names a student twice"]),
])
def test_bad_input_is_one_line_naming_the_option(run, tmp_path, monkeypatch, args, option, words):
    monkeypatch.chdir(tmp_path)
    one_line_error(distill(run, *args), option, *words)
    assert [p for p in os.listdir(tmp_path)] == []


def test_bad_data_files_and_columns(run, tmp_path):
    table = tmp_path / "pool.csv"
    table.write_text("a,b,label\n" + "".join(f"{i},{i % 3},{'xy'[i % 2]}\n" for i in range(200)))
    base = ["distill", "--data", table, "--teacher", "logistic", "--student", "logistic", "--n", "40",
            "--runs", 3, "--jobs", 1]
    one_line_error(run(*base, "--target", "lbl"), "--target", "has no column 'lbl'", "'a', 'b', 'label'")
    one_line_error(run(*base), "--target", "required with a data file")
    text = tmp_path / "text.csv"
    text.write_text("a,colour,label\n" + "".join(f"{i},red,{i % 2}\n" for i in range(200)))
    one_line_error(run(*base[:2], text, *base[3:], "--target", "label"), "--data", "column 'colour' is not numeric")
    assert run(*base, "--target", "label", "-f", "tsv").exit_code == 0


def test_a_factory_that_is_no_classifier_is_refused(run, tmp_path, monkeypatch):
    (tmp_path / "kdb_cli_factories.py").write_text(
        "from sklearn.preprocessing import StandardScaler\n"
        "def scaler(random_state):\n    return StandardScaler()\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    one_line_error(distill(run, "--student", "kdb_cli_factories:scaler"), "--student", "is not a classifier")
    one_line_error(distill(run, "--teacher", "kdb_cli_factories:nothing"), "--teacher", "cannot be called")


def test_an_existing_runs_file_needs_resume_and_the_same_settings(run, tmp_path):
    out = tmp_path / "runs.csv"
    assert distill(run, "--runs-out", out, "-f", "tsv").exit_code == 0
    before = out.read_bytes()
    one_line_error(distill(run, "--runs-out", out), "--runs-out", "exists", "give --resume to continue")
    one_line_error(distill(run, "--runs-out", out, "--resume", "--seed", "3"), "--runs-out",
                   "holds runs of other settings (seed: 0 -> 3)")
    assert out.read_bytes() == before


def test_a_model_that_fails_stops_or_is_skipped(run, tmp_path, monkeypatch):
    (tmp_path / "kdb_cli_flaky.py").write_text(
        "from sklearn.linear_model import LogisticRegression\n"
        "class Flaky(LogisticRegression):\n"
        "    def fit(self, X, y, sample_weight=None):\n"
        "        if len(X) and X[0, 0] > 5.0:\n"
        "            raise ValueError('flaky refuses this draw')\n"
        "        return super().fit(X, y, sample_weight=sample_weight)\n"
        "def flaky(random_state):\n    return Flaky(random_state=random_state)\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    args = ["--student", "kdb_cli_flaky:flaky", "--runs", 12]
    r = run("distill", *FAST[:4], *FAST[6:], *args, "--runs-out", tmp_path / "stop.csv")
    line = one_line_error(r, "--student", "the student kdb_cli_flaky:flaky failed: ValueError: flaky refuses")
    assert line.split(": ")[3].startswith("run ")
    assert line.endswith("kept in the runs file") or line.endswith("no run had completed"), line
    r = run("distill", *FAST[:4], *FAST[6:], *args, "--on-error", "skip", "-f", "tsv")
    assert r.exit_code == 0, r.stderr
    assert "failed and were skipped (--on-error skip): run " in r.stderr


# ----------------------------------------------------------------------------- start-up

@pytest.mark.parametrize("argv, absent", [
    (["upper", "--gen-t", "0.05", "--kl", "0.2", "--sigma", "0.1"],
     ("sklearn", "joblib", "dask", "distributed", "threadpoolctl", "kdbound.experiment", "kdbound.cli.distill")),
    (["distill", "--help"], ("sklearn", "joblib", "dask", "distributed", "threadpoolctl", "scipy", "pyarrow")),
])
def test_distill_libraries_stay_off_the_start_up_path(argv, absent):
    import subprocess
    import sys

    code = ("import sys; from kdbound.cli.main import main\n"
            f"try:\n    main({argv!r})\nexcept SystemExit: pass\n"
            f"print('LOADED:' + ' '.join(m for m in {absent!r} if m in sys.modules))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.stdout.splitlines()[-1] == "LOADED:", p.stdout[-300:]


@pytest.mark.dask
def test_a_scheduler_that_is_not_an_address_is_not_called_unreachable(run):
    r = distill(run, "--backend", "dask", "--scheduler", "notaurl")
    line = one_line_error(r, "--scheduler", "must be a Dask scheduler address", "notaurl")
    assert "within" not in line
