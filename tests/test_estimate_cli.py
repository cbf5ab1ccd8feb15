"""`kdbound estimate` on the command line: formats, notes, labels, and every kind of bad input."""

import json
import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kdbound.engine import estimate as E

KEYS = list(E.RESULT_KEYS)


def runs_table(seed=0, teacher=120, student=120, datasets=True):
    """Rows of (role, train_loss, test_loss, dataset, seed) with losses in [0, 1]."""
    rng = np.random.default_rng(seed)
    rows = []
    for role, count, gap, sd in (("teacher", teacher, 0.05, 0.02), ("student", student, 0.06, 0.025)):
        for i in range(count):
            train = rng.uniform(0.1, 0.3)
            rows.append((role, train, train + gap + sd * rng.standard_normal(), i if datasets else None, 100 + i))
    return rows


def write_csv(path, rows, header=("role", "train_loss", "test_loss", "dataset", "seed")):
    with open(path, "w") as fh:
        fh.write(",".join(header) + "\n")
        for r in rows:
            fh.write(",".join("" if v is None else (repr(v) if isinstance(v, float) else str(v)) for v in r) + "\n")
    return path


@pytest.fixture
def runs_csv(tmp_path):
    return write_csv(tmp_path / "runs.csv", runs_table())


def gaps_of(rows, role):
    return np.array([r[2] - r[1] for r in rows if r[0] == role])


# --------------------------------------------------------------------------- results

def test_json_results_keys_and_values(run_json, runs_csv):
    rows = runs_table()
    out = run_json("estimate", runs_csv, "--loss-min", 0, "--loss-max", 1)
    assert list(out["results"]) == KEYS
    assert list(out["basis"]) == KEYS
    teacher, student = gaps_of(rows, "teacher"), gaps_of(rows, "student")
    r = out["results"]
    assert r["gen_t"] == pytest.approx(teacher.mean(), rel=1e-14)
    assert r["gen_s_observed"] == pytest.approx(student.mean(), rel=1e-14)
    assert r["sigma_range"] == 1.0
    assert r["kl_gap"] == pytest.approx(E.kl_gauss(student, teacher), rel=1e-13)
    assert r["upper_bound"] == pytest.approx(r["gen_t"] + math.sqrt(2 * r["kl_gap"]), rel=1e-14)
    assert out["basis"]["sigma_range"] == "certified" and out["basis"]["kl_gap"] == "model"
    assert out["teacher_runs"] == 120 and out["student_runs"] == 120 and out["conditional"] is False
    assert out["inputs"]["kl_method"] == "gauss" and out["inputs"]["delta"] == 0.05
    statuses = {c["condition"]: c["status"] for c in out["checks"]}
    assert statuses["Gaussian gap laws"] == "assumed"


def test_same_numbers_from_every_input_format(run, tmp_path):
    rows = runs_table(1)
    names = ("role", "train_loss", "test_loss", "dataset", "seed")
    csv = write_csv(tmp_path / "r.csv", rows)
    tsv = tmp_path / "r.tsv"
    tsv.write_text(csv.read_text().replace(",", "\t"))
    jsonl = tmp_path / "r.jsonl"
    jsonl.write_text("".join(json.dumps(dict(zip(names, r))) + "\n" for r in rows))
    parquet = tmp_path / "r.parquet"
    pq.write_table(pa.table({n: [r[i] for r in rows] for i, n in enumerate(names)}), parquet)
    outs = []
    for path in (csv, tsv, jsonl, parquet):
        res = run("estimate", path, "--kl-method", "knn", "-f", "json")
        assert res.exit_code == 0, res.stderr
        outs.append(json.loads(res.stdout)["results"])
    res = run("estimate", "-", "--kl-method", "knn", "-f", "json", input=csv.read_text())
    outs.append(json.loads(res.stdout)["results"])
    res = run("estimate", "-", "--input-format", "jsonl", "--kl-method", "knn", "-f", "json",
              input=jsonl.read_text())
    outs.append(json.loads(res.stdout)["results"])
    assert all(o == outs[0] for o in outs)


def test_gap_column_and_dashed_names(run_json, tmp_path):
    rows = runs_table(2)
    path = tmp_path / "g.csv"
    path.write_text("role,gap,n-test\n" + "".join(f"{r[0]},{r[2] - r[1]!r},500\n" for r in rows))
    out = run_json("estimate", path, "--loss-min", 0, "--loss-max", 1)
    assert out["results"]["gen_t"] == pytest.approx(gaps_of(rows, "teacher").mean(), rel=1e-14)
    # the teacher's interval is at 1 - delta/2 = 0.975: t part at 0.9875 two-sided, Hoeffding term at 0.9875
    hoeff = math.sqrt(math.log(4 / 0.025) / 1000)
    sd = gaps_of(rows, "teacher").std(ddof=1)
    from scipy import stats
    half = stats.t.ppf(1 - 0.00625, 119) * sd / math.sqrt(120) + hoeff
    assert out["results"]["gen_t_hi"] == pytest.approx(out["results"]["gen_t"] + half, rel=1e-12)
    assert out["inputs"]["gap"] == "gap"


def test_consistent_gap_and_losses_are_accepted(run_json, tmp_path):
    rows = runs_table(3)
    path = tmp_path / "both.csv"
    path.write_text("role,train_loss,test_loss,gap\n" + "".join(f"{r[0]},{r[1]!r},{r[2]!r},{r[2] - r[1]!r}\n"
                                                                 for r in rows))
    out = run_json("estimate", path)
    assert out["results"]["gen_t"] == pytest.approx(gaps_of(rows, "teacher").mean(), rel=1e-14)


def test_table_shows_the_basis_beside_each_value(run, runs_csv):
    res = run("estimate", runs_csv, "--loss-min", 0, "--loss-max", 1, tty=True)
    assert res.exit_code == 0, res.stderr
    lines = res.stdout.splitlines()
    line = next(li for li in lines if li.split()[:1] == ["sigma_range"] or " sigma_range  " in li and "sigma_used" not in li)
    assert line.rstrip().endswith("certified")
    assert next(li for li in lines if " kl_gap_hi " in li).rstrip().endswith("model")
    assert "model" in next(li for li in lines if " upper_bound_hi " in li)
    assert "? assumed" in res.stdout and "✓ holds" in res.stdout
    assert "lies in [0," in res.stdout  # the loss range in the condition, not eaten as markup


def test_csv_and_tsv_are_name_value_lines(run, runs_csv):
    res = run("estimate", runs_csv, "-f", "csv")
    assert res.exit_code == 0
    header, *lines = res.stdout.splitlines()
    assert header == "name,value" and [li.split(",")[0] for li in lines] == KEYS
    assert lines[KEYS.index("sigma_range")] == "sigma_range,"  # null without a loss range
    assert "sigma_range is null: no loss range" in res.stderr


def test_output_files(run, runs_csv, tmp_path):
    out = tmp_path / "est.json"
    res = run("estimate", runs_csv, "-o", out, "-f", "json")
    assert res.exit_code == 0 and res.stdout == ""
    assert list(json.loads(out.read_text())["results"]) == KEYS
    pqt = tmp_path / "est.parquet"
    res = run("estimate", runs_csv, "-o", pqt)
    assert res.exit_code == 0, res.stderr
    table = pq.read_table(pqt)
    assert table.column_names == KEYS and table.num_rows == 1
    assert table.column("sigma_range").null_count == 1
    assert "sigma_range is null: no loss range" in res.stderr  # the null's note, as with every other format
    res = run("estimate", runs_csv, "-o", tmp_path / "est.csv")
    assert "sigma_range is null: no loss range" in res.stderr
    lines = (tmp_path / "est.csv").read_text().splitlines()
    assert lines[0] == "name,value" and lines[1].startswith("gen_t,")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".kdbound")] == []


def test_knn_with_jitter_on_gridded_gaps(run_json, tmp_path):
    rng = np.random.default_rng(4)
    path = tmp_path / "grid.csv"
    lines = ["role,train_loss,test_loss,n_test"]
    for role, p in (("teacher", 0.3), ("student", 0.32)):
        for _ in range(200):
            lines.append(f"{role},{rng.binomial(500, 0.25) / 500},{rng.binomial(1000, p) / 1000},1000")
    path.write_text("\n".join(lines) + "\n")
    out = run_json("estimate", path, "--kl-method", "knn", "--jitter", "auto", "--loss-min", 0, "--loss-max", 1)
    assert out["jitter_width"] == pytest.approx(0.001, rel=1e-6)
    assert any("uniform noise of width" in n for n in out["notes"])
    assert out["basis"]["kl_gap"] == "asymptotic" and out["basis"]["kl_gap_hi"] == "assumption"
    assert out["knn"]["splits"] == 16 and out["knn"]["fractions"] == [1, 0.5, 0.25, 0.125]
    statuses = {c["condition"]: c["status"] for c in out["checks"]}
    assert statuses["finite test sets accounted for"] == "holds"


def test_notes_for_shared_datasets_and_unused_columns(run, tmp_path):
    rows = [(r[0], r[1], r[2], r[3] % 10, r[4], "x") for r in runs_table(5)]
    path = write_csv(tmp_path / "s.csv", rows, ("role", "train_loss", "test_loss", "dataset", "seed", "comment"))
    res = run("estimate", path, "-f", "json")
    out = json.loads(res.stdout)
    assert out["conditional"] is True
    notes = " ".join(out["notes"])
    assert "120 teacher runs share 10 dataset id(s)" in notes and "conditional" in notes
    assert "'comment'" in notes
    statuses = {c["condition"]: c["status"] for c in out["checks"]}
    assert statuses["independent training sets within each role"] == "fails"


def test_paired_design_is_not_conditional(run_json, runs_csv):
    # every teacher run shares its id with one student run: the normal paired design
    out = run_json("estimate", runs_csv)
    assert out["conditional"] is False
    assert not any("share" in n for n in out["notes"])


def test_observed_outside_the_bounds_is_explained(run_json, tmp_path):
    rows = [(r[0], r[1], r[2] + (0.05 if r[0] == "student" else 0.0), r[3], r[4]) for r in runs_table(6)]
    out = run_json("estimate", write_csv(tmp_path / "o.csv", rows), "--kl-method", "gauss")
    r = out["results"]
    if r["observed_within_bounds"] is False:
        assert any("gen_s_observed lies above upper_bound" in n for n in out["notes"])
    assert r["lower_bound"] <= r["upper_bound"]


def test_skewed_gaps_with_few_runs_get_a_note(run_json, tmp_path):
    path = tmp_path / "skew.csv"
    path.write_text("role,gap\n" + "teacher,0.0\n" * 9 + "teacher,1.0\n" + "student,0.1\nstudent,0.2\n")
    out = run_json("estimate", path)
    assert any("Cochran" in n and "teacher" in n for n in out["notes"])


def test_constant_gaps_give_null_bounds_with_the_reason(run_json, tmp_path):
    path = tmp_path / "flat.csv"
    path.write_text("role,gap\nteacher,0.1\nteacher,0.2\nteacher,0.3\nstudent,0.25\nstudent,0.25\n")
    out = run_json("estimate", path, "--loss-min", 0, "--loss-max", 1)
    r = out["results"]
    assert r["kl_gap"] is None and r["upper_bound"] is None and r["observed_within_bounds"] is None
    assert any("the student gaps are all equal" in n for n in out["notes"])


def test_vacuous_bounds_are_said_in_the_table_and_a_note(run, tmp_path):
    path = tmp_path / "wide.csv"
    rng = np.random.default_rng(8)
    path.write_text("role,gap\n" + "".join(f"teacher,{g!r}\n" for g in rng.normal(0.0, 0.1, 80).tolist())
                    + "".join(f"student,{g!r}\n" for g in rng.normal(0.3, 0.02, 80).tolist()))
    res = run("estimate", path, "--loss-min", 0, "--loss-max", 1, tty=True)
    assert res.exit_code == 0
    line = next(li for li in res.stdout.splitlines() if li.split()[:1] == ["upper_bound"]
                or " upper_bound " in li)
    assert line.rstrip().endswith("plug-in, vacuous")
    assert "upper_bound and upper_bound_hi >= b - a = 1: vacuous" in res.stdout
    out = json.loads(run("estimate", path, "--loss-min", 0, "--loss-max", 1, "-f", "json").stdout)
    assert out["basis"]["upper_bound"] == "plug-in"  # the basis itself is unchanged
    assert any("vacuous" in n for n in out["notes"])


def test_same_seed_same_output(run, runs_csv):
    a = run("estimate", runs_csv, "--kl-method", "knn", "--seed", 3, "-f", "json").stdout
    b = run("estimate", runs_csv, "--kl-method", "knn", "--seed", 3, "-f", "json").stdout
    c = run("estimate", runs_csv, "--kl-method", "knn", "--seed", 4, "-f", "json").stdout
    assert a == b and a != c


# --------------------------------------------------------------------------- bad input

def table(text):
    return "role,train_loss,test_loss\n" + text


GOOD = "".join(f"teacher,0.1,{0.15 + i / 1000}\nstudent,0.1,{0.16 + i / 997}\n" for i in range(60))


@pytest.mark.parametrize("content, args, expect", [
    ("train_loss,test_loss\n0.1,0.2\n", (), "column role is missing"),
    ("role,test_loss\nteacher,0.2\n", (), "column train_loss is missing"),
    ("role,dataset\nteacher,1\n", (), "columns train_loss and test_loss (or gap) are missing"),
    (table("teacher,0.1,0.2\nteacher,0.1,0.3\n"), (), "column role: needs at least 2 student runs (got 0)"),
    (table("teacher,0.1,0.2\nteacher,0.1,0.3\nstudent,0.1,0.2\n"), (), "needs at least 2 student runs (got 1)"),
    (table("teacher,0.1,0.2\nteacher,0.1,abc\nstudent,0.1,0.2\n"), (), "row 2, column test_loss: must be a number "
     "(got 'abc')"),
    (table("teacher,0.1,0.2\nteacher,nan,0.3\nstudent,0.1,0.2\n"), (), "row 2, column train_loss: must be finite "
     "(got nan)"),
    (table("teacher,0.1,0.2\nteacher,NA,0.3\nstudent,0.1,0.2\n"), (), "row 2, column train_loss: must be a number "
     "(got 'NA')"),
    (table("teacher,0.1,0.2\nteacher,,0.3\nstudent,0.1,0.2\n"), (), "row 2, column train_loss: must be a number "
     "(the cell is empty)"),
    (table("teacher,0.1,0.2\nteacher,1_0,0.3\nstudent,0.1,0.2\n"), (), "row 2, column train_loss: must be a number "
     "(got '1_0')"),
    (table("teacher,0.1,0.2\nteacher,0.1,inf\nstudent,0.1,0.2\n"), (), "row 2, column test_loss: must be finite"),
    (table("teacher,0.1,0.2\nTeacher,0.1,0.3\nstudent,0.1,0.2\n"), (), "row 2, column role: must be teacher or "
     "student (got 'Teacher')"),
    (table("teacher,0.1,0.2\n,0.1,0.3\n"), (), "row 2, column role: must be teacher or student (the cell is empty)"),
    (table(GOOD[:200]), ("--kl-method", "knn"), "column role: needs at least 50 teacher runs for --kl-method knn"),
    ("role,gap,n_test\nteacher,0.1,10\nteacher,0.2,0\nstudent,0.1,5\nstudent,0.1,5\n", (),
     "row 2, column n_test: must be a whole number >= 1"),
    ("role,gap,n_test\nteacher,0.1,10\nteacher,0.2,2.5\nstudent,0.1,5\nstudent,0.1,5\n", (),
     "row 2, column n_test: must be a whole number >= 1"),
    (table("teacher,0.1,0.2\nteacher,0.1,1.3\nstudent,0.1,0.2\nstudent,0.1,0.2\n"),
     ("--loss-min", 0, "--loss-max", 1), "row 2, column test_loss: must lie in the loss range [--loss-min, "
     "--loss-max] (got 1.3)"),
    ("role,gap\nteacher,0.1\nteacher,-2\nstudent,0.1\nstudent,0.1\n", ("--loss-min", 0, "--loss-max", 1),
     "row 2, column gap: must lie in [-(b - a), b - a]"),
    ("role,train_loss,test_loss,gap\nteacher,0.1,0.2,0.1\nteacher,0.1,0.3,0.25\n", (),
     "row 2, column gap: differs from test_loss - train_loss"),
    ("role,train_loss,test_loss\nteacher,-1e308,1e308\nteacher,0,1\nstudent,0,1\nstudent,0,2\n", (),
     "row 1, column test_loss: test_loss - train_loss is beyond float64's range (test_loss 1e+308, train_loss "
     "-1e+308)"),
    ("role,gap,gap\nteacher,0.1,0.1\n", (), "RUNS: the column 'gap' appears twice in the header"),
    ("role,gap,Gap\nteacher,0.1,0.1\n", (), None),  # different names: Gap is just unused
    (table("teacher,0.1,0.2\nteacher,0.1,0.2\nstudent,0.1,0.2\nstudent,0.1,0.2\n" * 30), ("--kl-method", "knn"),
     "test_loss - train_loss: tied values (0.1; 119 in all)"),
    ("", (), "RUNS: the file is empty"),
    ("role,gap\n", (), "RUNS: the table has no runs"),
    (table(GOOD), ("--delta", 0), "--delta: must lie in (0, 1) (got 0.0)"),
    (table(GOOD), ("--delta", 1.5), "--delta: must lie in (0, 1)"),
    (table(GOOD), ("--bootstrap", 10), "--bootstrap: must be >= 2/--delta = 40"),
    (table(GOOD), ("--bootstrap", 10_000_001), "--bootstrap: must be <= 10,000,000"),
    (table(GOOD), ("--bootstrap", "99999999999999999999"), "--bootstrap: must be <= 10,000,000"),
    (table(GOOD), ("--kl-method", "kde"), "--kl-method: must be gauss or knn (got 'kde')"),
    (table(GOOD), ("--jitter", "auto"), "--jitter: only with --kl-method knn"),
    (table(GOOD), ("--kl-method", "knn", "--jitter", "-1"), "--jitter: must be a width > 0 or 'auto' (got '-1')"),
    (table(GOOD), ("--kl-method", "knn", "--jitter", "x"), "--jitter: must be a width > 0 or 'auto' (got 'x')"),
    (table(GOOD), ("--kl-method", "knn", "--jitter", "10"), "--jitter: must be smaller than the range of the gaps"),
    (table(GOOD), ("--loss-min", 0), "--loss-max: required with --loss-min"),
    (table(GOOD), ("--loss-min", 1, "--loss-max", 0), "--loss-max: must be > --loss-min (got 0.0)"),
    (table(GOOD), ("--seed", -1), "--seed: must be >= 0 (got -1)"),
    (table(GOOD), ("--format", "xml", "-q"), "--format: must be one of"),
    (table(GOOD), ("--input-format", "xml"), "--input-format: must be one of"),
])
def test_bad_input_is_one_line_exit_2(run, tmp_path, content, args, expect):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    res = run("estimate", path, *args) if "--format" in args else run("estimate", path, *args, "-f", "json")
    if expect is None:
        assert res.exit_code == 2 or res.exit_code == 0
        return
    assert res.exit_code == 2, (res.exit_code, res.stdout, res.stderr)
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert expect in lines[0], lines[0]
    assert "Traceback" not in res.stderr


@pytest.mark.parametrize("args, expect", [
    (("missing.csv",), "RUNS: no such file 'missing.csv'"),
    (("runs.xyz",), "RUNS: cannot tell the format from the extension"),
    (("bad.parquet",), "RUNS: 'bad.parquet' is not a readable Parquet file"),
    (("runs.csv", "-o", "nodir/out.json"), "--output: folder"),
    (("runs.csv", "-o", "out.json", "-f", "table"), "--format table: not for --output files"),
])
def test_bad_files_are_one_line_exit_2(run, tmp_path, monkeypatch, args, expect):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs.xyz").write_text("role,gap\n")
    (tmp_path / "bad.parquet").write_text("not parquet")
    write_csv(tmp_path / "runs.csv", runs_table())
    res = run("estimate", *args)
    assert res.exit_code == 2, res.stderr
    assert res.stdout == ""
    assert len(res.stderr.strip().splitlines()) == 1 and expect in res.stderr, res.stderr
    assert not (tmp_path / "out.json").exists()


@pytest.mark.parametrize("name, content", [
    ("big.jsonl", '{"role": "teacher", "gap": 1' + "0" * 5000 + "}\n"),
    ("nested.jsonl", '{"role": "teacher", "gap": 0.1}\n{"role": ["teacher"], "gap": 0.2}\n'),
    ("bom.csv", "\ufeffrole,gap\nteacher,0.1\nteacher,0.2\nstudent,0.1\nstudent,-0.2\n"),
    ("latin1.csv", b"role,gap\nteacher,0.1\xff\n"),
])
def test_unusual_files(run, tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    res = run("estimate", path, "-f", "json")
    if name == "bom.csv":  # a byte-order mark is not part of the first column's name
        assert res.exit_code == 0 and json.loads(res.stdout)["results"]["gen_t"] == pytest.approx(0.15)
        return
    assert res.exit_code == 2 and res.stdout == "" and len(res.stderr.splitlines()) == 1, res.stderr
    expect = {"big.jsonl": "row 1, column gap: must be finite (got inf)", "nested.jsonl": "row 2, column role",
              "latin1.csv": "RUNS: not UTF-8 text"}[name]
    assert expect in res.stderr


def test_knn_too_few_runs_names_the_column(run, tmp_path):
    path = tmp_path / "few.csv"
    path.write_text(table(GOOD.replace("student", "teacher", 30)))
    res = run("estimate", path, "--kl-method", "knn")
    assert res.exit_code == 2 and "column role: needs at least 50 student runs" in res.stderr


def test_help_lists_the_options(run):
    res = run("estimate", "--help")
    assert res.exit_code == 0
    for opt in ("--loss-min", "--loss-max", "--delta", "--kl-method", "--jitter", "--bootstrap", "--seed",
                "--format", "--output", "--input-format", "RUNS"):
        assert opt in res.stdout


# --------------------------------------------------------------------------- a real terminal

@pytest.fixture
def _in_pty(in_pty):
    def run(args, columns):
        text, status = in_pty(args, columns)
        assert status == 0, text
        return text

    return run


@pytest.mark.parametrize("columns", [80, 120])
def test_terminal_table_and_help(run, runs_csv, columns, _in_pty):
    text = _in_pty(["estimate", runs_csv, "--loss-min", 0, "--loss-max", 1, "--kl-method", "knn"], columns)
    assert "…" not in text
    values = json.loads(run("estimate", runs_csv, "--loss-min", 0, "--loss-max", 1, "--kl-method", "knn",
                            "-f", "json").stdout)
    for key, value in values["results"].items():
        line = next(li for li in text.splitlines() if li.split()[:1] == [key] or li.split()[:2] == ["results", key])
        shown = "yes" if value is True else "no" if value is False else f"{value:.6g}"
        assert shown in line and values["basis"][key] in line, (key, line)
    assert "? assumed" in text and "✓ holds" in text
    help_text = _in_pty(["estimate", "--help"], columns)
    assert "\\[" not in help_text and "…" not in help_text
    assert "Loss range [a, b]" in help_text
    for panel in ("Loss range", "Statistics", "Files", "Output"):
        assert f"─ {panel} " in help_text


def test_parquet_cells_of_unusual_types(run, run_json, tmp_path):
    """uint64 beyond 2^53 is its nearest float (as a text cell would be); a list-valued dataset id is compared as
    text; a boolean gap is not a number and says so as the user wrote it."""
    big = tmp_path / "big.parquet"
    pq.write_table(pa.table({"role": ["teacher", "teacher", "student", "student"],
                             "gap": pa.array([1, 2, 3, 2 ** 64 - 1], type=pa.uint64())}), big)
    out = run_json("estimate", big)
    assert out["results"]["gen_t"] == 1.5 and out["results"]["gen_s_observed"] == (3 + float(2 ** 64 - 1)) / 2
    nested = tmp_path / "nested.parquet"
    pq.write_table(pa.table({"role": ["teacher", "teacher", "student", "student"], "gap": [0.1, 0.2, 0.15, 0.3],
                             "dataset": [[1], [2], [1], [2]]}), nested)
    assert run_json("estimate", nested)["results"]["gen_t"] == pytest.approx(0.15)
    flags = tmp_path / "flags.parquet"
    pq.write_table(pa.table({"role": ["teacher", "teacher", "student", "student"], "gap": [True, False, True, True]}),
                   flags)
    r = run("estimate", flags)
    assert r.exit_code == 2 and r.stderr.strip() == "kdbound: error: row 1, column gap: must be a number (got 'True')"


def test_parquet_dictionary_view_and_half_float_columns(run_json, tmp_path):
    role, gap = ["teacher", "student"] * 3, [0.1, 0.2, 0.15, 0.1, 0.3, 0.25]
    cases = {"cat": dict(dataset=pa.array(list("aabbcc")).dictionary_encode()),
             "half": dict(dataset=pa.array(np.array([0, 0, 1, 1, 2, 2], dtype=np.float16))),
             "textgap": dict(gap=pa.array([repr(g) for g in gap]).dictionary_encode())}
    if hasattr(pa, "string_view"):  # pyarrow >= 16
        cases["view"] = dict(dataset=pa.array(list("aabbcc"), type=pa.string_view()))
    for name, columns in cases.items():
        path = tmp_path / f"{name}.parquet"
        try:
            pq.write_table(pa.table({"role": pa.array(role).dictionary_encode(), "gap": gap, **columns}), path)
        except pa.ArrowNotImplementedError:  # pyarrow < 15 writes no half floats to Parquet
            assert name == "half" and int(pa.__version__.split(".")[0]) < 15, name
            continue
        assert run_json("estimate", path)["results"]["gen_t"] == pytest.approx((0.1 + 0.15 + 0.3) / 3), name


# ---------------------------------------------------- Theorem 1 formed once: estimate prints what upper and lower print

from pathlib import Path  # noqa: E402

from conftest import printed_bound  # noqa: E402

RUNS = Path(__file__).parent.parent / "examples" / "runs" / "runs.csv"


@pytest.mark.parametrize("args", [(), ("--loss-min", "0", "--loss-max", "1"), ("--kl-method", "knn", "--jitter", "auto")])
def test_estimate_prints_what_upper_and_lower_print(run_json, args):
    out = run_json("estimate", RUNS, *args)
    r = out["results"]
    sigma = r[out["sigma_used"]]
    assert printed_bound(run_json, "upper", r["gen_t"], r["kl_gap"], sigma) == r["upper_bound"]
    assert printed_bound(run_json, "lower", r["gen_t"], r["kl_gap"], sigma) == r["lower_bound"]
    assert printed_bound(run_json, "upper", r["gen_t_hi"], r["kl_gap_hi"], sigma) == r["upper_bound_hi"]
    assert printed_bound(run_json, "lower", r["gen_t_lo"], r["kl_gap_hi"], sigma) == r["lower_bound_lo"]


# ----------------------------------------------------------------------------- constant gaps (a fresh clone's attack)

@pytest.mark.parametrize("n_teacher, n_student", [(7, 3), (3, 7), (50, 50), (10, 49)])
def test_constant_gaps_of_one_value_have_k_zero(run, tmp_path, n_teacher, n_student):
    """numpy's mean of seven 0.1s is 0.09999999999999999 and of three 0.10000000000000002: two point masses
    at one value were fitted apart (K_h = inf, every bound null) and their intervals excluded the value."""
    path = tmp_path / "c.csv"
    path.write_text("role,gap\n" + "teacher,0.1\n" * n_teacher + "student,0.1\n" * n_student)
    r = run("estimate", path, "--format", "json")
    assert r.exit_code == 0, r.stderr
    res = json.loads(r.stdout)["results"]
    assert res["kl_gap"] == 0.0 and res["upper_bound"] == 0.1 and res["lower_bound"] == 0.1
    assert res["gen_t_lo"] == res["gen_t"] == res["gen_t_hi"] == 0.1
    assert res["gen_s_lo"] == res["gen_s_observed"] == res["gen_s_hi"] == 0.1
    assert "skewed" not in r.stdout + r.stderr


def test_constant_gaps_at_two_values_say_so(run, tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("role,gap\n" + "teacher,0.1\nstudent,0.2\n" * 4)
    r = run("estimate", path, "--format", "json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["results"]["kl_gap"] is None
    said = r.stdout + r.stderr
    assert "each all equal, at different values" in said and "skewed" not in said


def test_an_empty_dataset_cell_is_refused(run, tmp_path):
    """One blank id silently unpaired 50 paired runs and changed the kNN numbers (exit 0, no note)."""
    rows = RUNS.read_text().splitlines()
    assert rows[2].startswith("student,") and rows[2].endswith(",0,1000")
    rows[2] = rows[2].removesuffix(",0,1000") + ",,1000"
    path = tmp_path / "r.csv"
    path.write_text("\n".join(rows) + "\n")
    r = run("estimate", path)
    assert r.exit_code == 2 and r.stdout == "" and len(r.stderr.splitlines()) == 1, r.stderr
    assert r.stderr.startswith("kdbound: error: row 2, column dataset: needs an id in every row")


def test_ids_that_pair_only_some_runs_are_noted(run, tmp_path):
    rows = RUNS.read_text().splitlines()
    kept = [r for r in rows if not (r.startswith("student,") and r.split(",")[4] == "5")]
    path = tmp_path / "r.csv"
    path.write_text("\n".join(kept) + "\n")
    r = run("estimate", path, "--format", "json")
    assert r.exit_code == 0, r.stderr
    assert "share a dataset id with a teacher run, but the ids do not pair" in r.stdout + r.stderr


def test_a_small_delta_raises_the_default_replicates(run_json):
    """--delta 0.001 was refused naming --bootstrap, which the user never gave ("got 1000")."""
    out = run_json("estimate", RUNS, "--delta", "0.001")
    assert out["inputs"]["bootstrap"] == 2000
