"""`kdbound estimate` on distill's runs files (issue 18): the loss range from the columns, the settings beside or
inside the file (the pool: conditional), the paired gaps' correlation, one teacher and one student spec, and the
columns distill writes besides the losses."""

import json
import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kdbound.engine.distill import ROW_COLUMNS

POOL = {"size": 1797, "features": 64, "classes": 10, "digest": "sha256:" + "ab12" * 16}


def distill_rows(runs=80, seed=0, rho=0.3, loss=(0.0, 2.0), teacher="mlp:64", student="logistic",
                 not_converged=(), accuracy=(0.9, 0.8)):
    """Rows as distill writes them: a teacher and a student row per run (dataset = run), correlated gaps."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((2, runs))
    gaps = {"teacher": 0.05 + 0.02 * z[0], "student": 0.07 + 0.03 * (rho * z[0] + math.sqrt(1 - rho * rho) * z[1])}
    rows = []
    for i in range(runs):
        for role in ("teacher", "student"):
            train = float(rng.uniform(0.1, 0.3))
            test = train + float(gaps[role][i])
            rows.append(dict(role=role, train_loss=train, test_loss=test, gap=test - train, dataset=i, seed=seed,
                             n_test=1497, loss_min=loss[0], loss_max=loss[1],
                             test_accuracy=accuracy[role == "student"], converged=(i, role) not in not_converged,
                             teacher=teacher, student=student))
    return rows


def write_runs(path, rows, settings=None):
    """A runs file in distill's layout: CSV/TSV/JSON Lines with a sidecar of settings, or Parquet with them in
    its metadata (key kdbound.distill)."""
    path = str(path)
    if path.endswith(".parquet"):
        table = pa.table({c: [r[c] for r in rows] for c in ROW_COLUMNS})
        if settings is not None:
            table = table.replace_schema_metadata({b"kdbound.distill": json.dumps(settings).encode()})
        pq.write_table(table, path)
        return path
    if path.endswith(".jsonl"):
        text = "".join(json.dumps({c: r[c] for c in ROW_COLUMNS}) + "\n" for r in rows)
    else:
        sep = "\t" if path.endswith(".tsv") else ","
        cell = lambda v: ("true" if v else "false") if isinstance(v, bool) else (repr(v) if isinstance(v, float) else str(v))  # noqa: E731
        text = sep.join(ROW_COLUMNS) + "\n" + "".join(sep.join(cell(r[c]) for c in ROW_COLUMNS) + "\n" for r in rows)
    with open(path, "w") as fh:
        fh.write(text)
    if settings is not None:
        with open(path + ".settings.json", "w") as fh:
            json.dump(settings, fh)
    return path


def settings(**kw):
    return {"command": "distill", "data": "digits", "pool": POOL, "teacher": "mlp:64", "student": "logistic",
            "loss": "brier", "loss_min": 0.0, "loss_max": 2.0, **kw}


# --------------------------------------------------------------------------- the loss range

@pytest.mark.parametrize("ext", ["csv", "tsv", "jsonl", "parquet"])
def test_the_loss_range_comes_from_the_columns(run_json, tmp_path, ext):
    path = write_runs(tmp_path / f"runs.{ext}", distill_rows(), settings())
    out = run_json("estimate", path)
    given = run_json("estimate", path, "--loss-min", 0, "--loss-max", 2)
    assert out["results"] == given["results"]  # as if the options had said it
    assert out["results"]["sigma_range"] == 2.0 and out["sigma_used"] == "sigma_range"
    assert out["inputs"]["loss_min"] == 0.0 and out["inputs"]["loss_max"] == 2.0
    assert out["results"]["vacuous"] is not None and out["basis"]["sigma_range"] == "certified"
    reason = next(c["reason"] for c in out["checks"] if c["condition"].startswith("every observed loss"))
    assert "columns loss_min and loss_max" in reason
    statuses = {c["condition"]: c["status"] for c in out["checks"]}
    assert statuses["finite test sets accounted for"] == "holds"  # n_test and the range: Hoeffding's term


def test_the_options_win_over_the_columns_with_a_note(run_json, tmp_path):
    path = write_runs(tmp_path / "runs.csv", distill_rows(loss=(0.0, 1.0)))
    out = run_json("estimate", path, "--loss-min", 0, "--loss-max", 2)
    assert out["results"]["sigma_range"] == 2.0
    assert any("loss range [0, 1] (columns loss_min and loss_max) differs from the options' [0, 2]" in n
               for n in out["notes"])


@pytest.mark.parametrize("change, expect", [
    ({7: {"loss_max": 1.0}}, "column loss_max: rows 1 and 8 differ (2.0 and 1.0)"),
    ({0: {"loss_min": -1.0}}, "column loss_min: rows 1 and 2 differ (-1.0 and 0.0)"),
    ({3: {"loss_max": "x"}}, "row 4, column loss_max: must be a number (got 'x')"),
])
def test_rows_that_disagree_on_the_range_are_refused(run, tmp_path, change, expect):
    rows = distill_rows()
    for i, cells in change.items():
        rows[i].update(cells)
    res = run("estimate", write_runs(tmp_path / "runs.csv", rows), "-f", "json")
    assert res.exit_code == 2 and res.stdout == ""
    assert len(res.stderr.strip().splitlines()) == 1 and expect in res.stderr, res.stderr


def test_one_end_of_the_range_alone_is_refused(run, tmp_path):
    path = tmp_path / "half.csv"
    path.write_text("role,gap,loss_max\nteacher,0.1,1\nteacher,0.2,1\nstudent,0.1,1\nstudent,0.3,1\n")
    res = run("estimate", path)
    assert res.exit_code == 2 and "RUNS: column loss_min is missing" in res.stderr
    assert run("estimate", path, "--loss-min", 0, "--loss-max", 1).exit_code == 0  # the options suffice


def test_losses_beyond_the_columns_range_name_their_row(run, tmp_path):
    rows = distill_rows(loss=(0.0, 1.0))
    rows[5]["test_loss"] = 1.5
    rows[5]["gap"] = 1.5 - rows[5]["train_loss"]
    res = run("estimate", write_runs(tmp_path / "runs.csv", rows))
    assert res.exit_code == 2 and "row 6, column test_loss: must lie in the loss range" in res.stderr


# --------------------------------------------------------------------------- the pool

@pytest.mark.parametrize("ext", ["csv", "parquet"])
def test_runs_from_one_pool_are_conditional_on_it(run_json, tmp_path, ext):
    path = write_runs(tmp_path / f"runs.{ext}", distill_rows(), settings())
    out = run_json("estimate", path)
    assert out["conditional"] is True and out["pool"] == {"size": 1797, "digest": POOL["digest"]}
    check = next(c for c in out["checks"] if "pool of 1797 examples" in c["condition"])
    assert check["status"] == "assumed" and "Hoeffding's test-set term, added" in check["reason"]
    note = next(n for n in out["notes"] if n.startswith("the runs come from one pool of 1797 examples"))
    assert "conditional on the pool" in note and "only through Hoeffding's test-set term" in note


def test_without_the_test_set_term_the_pool_note_says_so(run_json, tmp_path):
    rows = [{k: v for k, v in r.items() if k != "n_test"} for r in distill_rows()]
    path = tmp_path / "runs.csv"
    cols = [c for c in ROW_COLUMNS if c != "n_test"]
    path.write_text(",".join(cols) + "\n" + "".join(",".join(str(r[c]).lower() if isinstance(r[c], bool)
                                                             else str(r[c]) for c in cols) + "\n" for r in rows))
    (tmp_path / "runs.csv.settings.json").write_text(json.dumps(settings()))
    out = run_json("estimate", path)
    assert out["conditional"] is True
    assert any("not added here" in n for n in out["notes"])


def test_a_runs_file_through_a_symbolic_link_keeps_its_pool(run_json, tmp_path):
    """distill writes the sidecar beside the link's target; estimate on the link lost the pool."""
    (tmp_path / "real").mkdir()
    path = write_runs(tmp_path / "real" / "runs.csv", distill_rows(), settings())
    (tmp_path / "link.csv").symlink_to(path)
    out = run_json("estimate", tmp_path / "link.csv")
    assert out["conditional"] is True and out["pool"]["size"] == 1797


def test_a_table_without_settings_is_not_conditional(run_json, tmp_path):
    out = run_json("estimate", write_runs(tmp_path / "runs.csv", distill_rows()))
    assert out["conditional"] is False and "pool" not in out


@pytest.mark.parametrize("content, expect", [
    ("{not json", "RUNS: cannot read the settings"), ("[1, 2]", "does not hold the settings of an experiment"),
])
def test_a_broken_sidecar_is_one_line(run, tmp_path, content, expect):
    path = write_runs(tmp_path / "runs.csv", distill_rows())
    (tmp_path / "runs.csv.settings.json").write_text(content)
    res = run("estimate", path)
    assert res.exit_code == 2 and expect in res.stderr and len(res.stderr.strip().splitlines()) == 1


# --------------------------------------------------------------------------- pairs

def test_the_paired_gaps_correlation_is_printed(run_json, tmp_path):
    rows = distill_rows(rho=0.3)
    out = run_json("estimate", write_runs(tmp_path / "runs.csv", rows))
    t = np.array([r["gap"] for r in rows if r["role"] == "teacher"])
    s = np.array([r["gap"] for r in rows if r["role"] == "student"])
    assert out["gap_correlation"] == pytest.approx(np.corrcoef(t, s)[0, 1], rel=1e-10)
    assert not any("correlated" in n for n in out["notes"])  # 0.3: no note


@pytest.mark.parametrize("method", ["gauss", "knn"])
def test_a_high_correlation_gets_a_note(run_json, tmp_path, method):
    out = run_json("estimate", write_runs(tmp_path / "runs.csv", distill_rows(rho=0.95)), "--kl-method", method)
    assert out["gap_correlation"] > 0.9
    note = next(n for n in out["notes"] if "gap_correlation" in n)
    assert "the plain 1-NN estimator" in note and "biased low" in note
    assert ("kdbound uses the paired estimator" in note) == (method == "knn")
    if method == "knn":
        assert out["knn"]["paired"] is True


def test_the_paired_estimator_is_used_when_ids_pair_the_runs(run_json, tmp_path):
    """kl_gap with knn is the 1-NN estimate that leaves each student's own teacher out (pairs by dataset id,
    whatever the order of the rows)."""
    rows = distill_rows(rho=0.9, runs=100)
    rng = np.random.default_rng(3)
    shuffled = [rows[i] for i in rng.permutation(len(rows))]
    out = run_json("estimate", write_runs(tmp_path / "runs.csv", shuffled), "--kl-method", "knn")
    t = {r["dataset"]: r["gap"] for r in rows if r["role"] == "teacher"}
    s = {r["dataset"]: r["gap"] for r in rows if r["role"] == "student"}
    ids = sorted(t)
    x, y = np.array([s[i] for i in ids]), np.array([t[i] for i in ids])
    brute = np.mean([math.log(np.min(np.abs(np.delete(y, i) - x[i])) / np.min(np.abs(np.delete(x, i) - x[i])))
                     for i in range(x.size)])
    assert out["results"]["kl_gap"] == pytest.approx(max(brute, 0.0), rel=1e-12, abs=1e-15)


def test_runs_that_do_not_pair_one_to_one_are_unpaired(run_json, tmp_path):
    rows = distill_rows()
    rows[1]["dataset"] = 999  # a student run without its teacher
    out = run_json("estimate", write_runs(tmp_path / "runs.csv", rows))
    assert "gap_correlation" not in out


# --------------------------------------------------------------------------- one teacher, one student

@pytest.mark.parametrize("role", ["teacher", "student"])
def test_more_than_one_spec_is_refused_naming_them(run, tmp_path, role):
    rows = distill_rows()
    for r in rows[40:]:
        r[role] = "tree:depth=4"
    res = run("estimate", write_runs(tmp_path / "runs.csv", rows), "-f", "json")
    assert res.exit_code == 2 and res.stdout == "" and len(res.stderr.strip().splitlines()) == 1
    first = "mlp:64" if role == "teacher" else "logistic"
    assert (f"column {role}: the runs carry 2 {role} specs: '{first}' (from row 1), 'tree:depth=4' (from row 41)"
            in res.stderr), res.stderr


# --------------------------------------------------------------------------- distill's other columns

def test_distills_columns_are_shown_not_flagged(run_json, tmp_path):
    rows = distill_rows(not_converged={(3, "student"), (9, "student")}, accuracy=(0.93, 0.81))
    out = run_json("estimate", write_runs(tmp_path / "runs.csv", rows, settings()))
    assert not any("not used by estimate" in n for n in out["notes"])
    assert out["teacher_test_accuracy"] == pytest.approx(0.93) and out["student_test_accuracy"] == pytest.approx(0.81)
    assert out["inputs"]["teacher"] == "mlp:64" and out["inputs"]["student"] == "logistic"
    assert "2 of 80 student runs did not converge (column converged)" in " ".join(out["notes"])
    assert not any("teacher runs did not converge" in n for n in out["notes"])


def test_a_converged_cell_that_is_not_a_flag_names_its_row(run, tmp_path):
    rows = distill_rows()
    rows[4]["converged"] = "maybe"
    res = run("estimate", write_runs(tmp_path / "runs.csv", rows))
    assert res.exit_code == 2 and "row 5, column converged: must be true or false (got 'maybe')" in res.stderr


def test_the_table_shows_the_accuracy_and_the_pool_check(run, tmp_path):
    path = write_runs(tmp_path / "runs.csv", distill_rows(), settings())
    res = run("estimate", path, tty=True)
    assert res.exit_code == 0, res.stderr
    words = " ".join(res.stdout.split())  # a condition wraps in its column, beside its reason
    assert "teacher_test_accuracy" in words and "the pool of 1797" in words
    assert "sha256:ab12ab12ab12" in words


def test_a_runs_file_written_by_distill(run_json, tmp_path):
    """The loop with the real experiment: distill's rows and settings, read back."""
    pytest.importorskip("sklearn")
    from kdbound.experiment.runner import DistillSettings, run_distill

    path = tmp_path / "runs.csv"
    result = run_distill(DistillSettings(data="iris", teacher="logistic", students=("logistic:C=0.1",), n=40, runs=6,
                                         loss="brier"), runs_out=str(path), jobs=1)
    out = run_json("estimate", path)
    assert out["teacher_runs"] == out["student_runs"] == 6
    assert out["conditional"] is True and out["pool"]["digest"] == result.pool_digest
    assert out["results"]["sigma_range"] == 2.0  # Brier: [0, 2], from the columns
    assert out["student_test_accuracy"] == pytest.approx(result.students[0].mean_accuracy("student"), rel=1e-12)
    assert "gap_correlation" in out


def test_run_estimate_takes_the_options_it_is_given(run_json, tmp_path):
    """distill prints estimate's report through run_estimate(path, opts, common, env): options it leaves out take
    their defaults, and the report is the command's."""
    import io

    from kdbound.cli.estimate import run_estimate
    from kdbound.cli.options import Common
    from kdbound.render import Environment

    path = write_runs(tmp_path / "runs.csv", distill_rows(), settings())
    out, err = io.StringIO(), io.StringIO()
    assert run_estimate(str(path), {"kl_method": "knn"}, Common(fmt="json"), Environment(out=out, err=err)) == 0
    assert json.loads(out.getvalue()) == run_json("estimate", path, "--kl-method", "knn")
