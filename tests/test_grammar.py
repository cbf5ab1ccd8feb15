"""One grammar for every command: each command walked through the shared rules alike (format choices,
-o for a single evaluation, --columns, an option given twice, choices in the help, CSV with a header)."""

import json
import os
from pathlib import Path

import pytest
from conftest import SHARP, UP, invoke

from kdbound.cli.options import FORMAT_METAVAR

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _runs(tmp_path):
    path = tmp_path / "runs.csv"
    rows = [f"{role},0.1,{0.2 + ((7 * i) % 13) / 100 + (0.01 if role == 'student' else 0)}"
            for i in range(30) for role in ("teacher", "student")]
    path.write_text("role,train_loss,test_loss\n" + "\n".join(rows) + "\n")
    return path


#: each command: its arguments for one quick evaluation, and a result key to choose with --columns
COMMANDS = {
    "upper": (UP[1:], "bound"),
    "lower": (["--gen-t", "0.05", "--kl", "0.01", "--sigma", "0.1"], "bound"),
    "sharpness": (SHARP[1:], "bound"),
    "linear-gaussian": (["--d", "6", "--n", "40", "--k", "2", "--samples", "8"], "kl_bound"),
    "simulate": (["--datasets", "200", "--d", "4", "--n", "20", "--k", "2"], "gen_t"),
    "estimate": ([_runs], "gen_t"),
    "demo": ([], "bound"),
    "distill": (["--data", "iris", "--teacher", "logistic", "--student", "tree:depth=2", "--n", "30", "--min-test",
                 "50", "--jobs", "1", "--runs", "4"], "gen_t"),
}

#: options whose values are a few words: the help shows them, not TEXT (distill's --student is a model spec)
CHOICES = {"--format", "--on-error", "--input-format", "--kl-method", "--constants", "--labels", "--loss", "--backend",
           "--scale"}


def _args(name, tmp_path):
    args, key = COMMANDS[name]
    return [a(tmp_path) if callable(a) else a for a in args], key


def _results(report: dict) -> list[dict]:
    """The results of a JSON report, or of each report of demo (keyed by command)."""
    return [report["results"]] if "results" in report else [r["results"] for r in report.values()]


@pytest.fixture(params=list(COMMANDS))
def command(request, tmp_path, monkeypatch):
    if request.param == "distill":
        pytest.importorskip("sklearn")
    monkeypatch.chdir(tmp_path)
    return request.param, *_args(request.param, tmp_path)


def test_help_shows_the_choices(command):
    from typer.main import get_command

    from kdbound.cli.app import app

    name, _, _ = command
    r = invoke(name, "--help", env={"COLUMNS": "200"})
    assert r.exit_code == 0 and FORMAT_METAVAR in r.stdout
    click_command = get_command(app).commands[name]
    for param in click_command.params:
        if set(param.opts) & CHOICES:
            assert param.metavar or type(param.type).__name__ == "Choice", (name, param.opts)
        if param.param_type_name == "argument":
            assert param.help, (name, param.name)  # estimate's RUNS


def test_format_has_the_same_choices_everywhere(command):
    name, args, _ = command
    r = invoke(name, *args, "-f", "xml")
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr.strip() == ("kdbound: error: --format: must be one of table, json, jsonl, csv, tsv, parquet "
                                "(got 'xml')")


def test_an_option_given_twice_is_exit_2_naming_it(command):
    name, args, _ = command
    r = invoke(name, *args, "-f", "json", "--format", "csv")
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr.strip() == "kdbound: error: --format: given twice; give it once"
    r = invoke(name, *args, "-q", "--quiet")
    assert r.exit_code == 2 and "--quiet: given twice" in r.stderr


def test_csv_has_a_header_row(command):
    name, args, _ = command
    r = invoke(name, *args, "-f", "csv")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines()[0] in ("name,value", "command,name,value")
    tsv = invoke(name, *args, "-f", "tsv")
    assert not tsv.stdout.startswith("name\t")  # TSV stays name<TAB>value lines, as gh's


def test_output_file_for_a_single_evaluation(command, tmp_path):
    name, args, _ = command
    r = invoke(name, *args, "-o", tmp_path / "out.json")
    assert r.exit_code == 0, r.stderr
    assert r.stdout == "" and f"wrote {tmp_path / 'out.json'}" in r.stderr
    report = json.loads((tmp_path / "out.json").read_text())
    assert all(results for results in _results(report))
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".kdbound-")]


def test_columns_choose_the_results(command):
    name, args, key = command
    r = invoke(name, *args, "--columns", key, "-f", "json")
    assert r.exit_code == 0, r.stderr
    assert all(list(results) == [key] for results in _results(json.loads(r.stdout)))
    r = invoke(name, *args, "--columns", "no_such_key")
    assert r.exit_code == 2 and "--columns: no column 'no_such_key'" in r.stderr


@pytest.mark.parametrize("name, option", [
    ("demo", "--sweep"), ("demo", "--plot"), ("demo", "-i"), ("demo", "--solve"), ("estimate", "--sweep"),
    ("estimate", "--plot"), ("estimate", "--input"), ("estimate", "--solve"), ("distill", "--sweep"),
    ("distill", "--plot"), ("distill", "--input"), ("distill", "--solve"), ("linear-gaussian", "--input"),
    ("linear-gaussian", "--solve"), ("simulate", "--solve"), ("simulate", "--input"),
])
def test_a_rule_that_cannot_apply_is_refused_in_one_line_saying_why(name, option, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args, _ = _args(name, tmp_path)
    r = invoke(name, *args, option, "x")
    assert r.exit_code == 2 and r.stdout == "" and len(r.stderr.strip().splitlines()) == 1, r.stderr
    spelled = "--input" if option == "-i" else option
    assert r.stderr.startswith(f"kdbound: error: {spelled}: ") and "No such option" not in r.stderr
    assert f" {spelled} " not in invoke(name, "--help", env={"COLUMNS": "200"}).stdout  # hidden from the help


def test_bare_kdbound_and_its_help_show_three_examples_and_the_docs():
    for args in ((), ("--help",)):
        r = invoke(*args, env={"COLUMNS": "120"})
        assert r.exit_code == 0
        text = r.stdout
        examples = text.split("Examples:")[1].split("Every command")[0]
        assert len([ln for ln in examples.splitlines() if ln.strip().startswith("kdbound ")]) == 3
        assert "docs/" in text and "130 interrupted" in " ".join(text.split())


# ----------------------------------------------------------------------------- -o never over an input

def _refused_onto(run, tmp_path, args, target, other):
    before = target.read_bytes() if target.exists() else None
    r = run(*args)
    assert r.exit_code == 2 and r.stdout == "" and len(r.stderr.splitlines()) == 1, (r.exit_code, r.stderr)
    assert r.stderr.startswith(f"kdbound: error: --output: is the file of {other}"), r.stderr
    assert (target.read_bytes() if target.exists() else None) == before


def test_output_onto_an_input_is_refused(run, tmp_path):
    """-o onto estimate's RUNS, a batch's --input or distill's runs file replaced it with the report (exit 0)."""
    runs = tmp_path / "runs.csv"
    runs.write_bytes((ROOT / "examples" / "runs" / "runs.csv").read_bytes())
    _refused_onto(run, tmp_path, ["estimate", runs, "-o", runs], runs, "RUNS")
    (tmp_path / "runs.csv.settings.json").write_text("{}")
    _refused_onto(run, tmp_path, ["estimate", runs, "-o", tmp_path / "runs.csv.settings.json"],
                  tmp_path / "runs.csv.settings.json", "RUNS (its 'runs.csv.settings.json')")
    rows = tmp_path / "rows.csv"
    rows.write_bytes((ROOT / "examples" / "rows.csv").read_bytes())
    _refused_onto(run, tmp_path, ["upper", "--input", rows, "-o", rows, "-f", "csv"], rows, "--input")
    _refused_onto(run, tmp_path, ["simulate", "--runs-out", tmp_path / "a.csv", "-o", tmp_path / "a.csv"],
                  tmp_path / "a.csv", "--runs-out")


def test_distill_output_onto_its_runs_file_or_data_is_refused(run, tmp_path):
    pytest.importorskip("sklearn")
    base = ["distill", "--data", "iris", "--n", 30, "--min-test", 50, "--runs", 3, "--jobs", 1, "--teacher",
            "logistic", "--student", "tree:depth=2"]
    out = tmp_path / "same.csv"
    _refused_onto(run, tmp_path, [*base, "--runs-out", out, "-o", out], out, "--runs-out")
    _refused_onto(run, tmp_path, [*base, "--runs-out", out, "-o", tmp_path / "same.csv.settings.json"],
                  tmp_path / "same.csv.settings.json", "--runs-out (its 'same.csv.settings.json')")
    data = tmp_path / "data.csv"
    data.write_text("a,b,label\n" + "".join(f"{i % 7},{i % 5},{i % 2}\n" for i in range(200)))
    _refused_onto(run, tmp_path, ["distill", "--data", data, "--target", "label", "--n", 30, "--runs", 3,
                                  "-o", data], data, "--data")


def test_demo_to_parquet_keeps_every_result(run, tmp_path):
    """demo -o FILE.parquet kept upper's keys only and wrote lower's booleans as floats."""
    import pyarrow.parquet as pq

    out = tmp_path / "d.parquet"
    r = run("demo", "-o", out)
    assert r.exit_code == 0, r.stderr
    rows = {row["command"]: row for row in pq.read_table(out).to_pylist()}
    shown = json.loads(run("demo", "--format", "json").stdout)
    for name, report in shown.items() if isinstance(shown, dict) else ((x["command"], x) for x in shown):
        for key, value in report["results"].items():
            assert rows[name][key] == value, (name, key, rows[name][key], value)
