"""The experiment runner: settings, data files, factories (run 0 fitted twice), failures, several students."""

import dataclasses
import textwrap

import numpy as np
import pytest

from kdbound.engine.distill import ROW_COLUMNS, run_seeds
from kdbound.errors import InputError, ParameterError
from kdbound.experiment.runner import DistillSettings, ModelError, run_distill

FAST = DistillSettings(data="iris", teacher="logistic", students=("tree:depth=2",), n=30, runs=3, min_test=50)


def test_rows_are_estimates_format_in_run_role_order():
    res = run_distill(FAST, jobs=1)
    assert [(r.dataset, r.role) for r in res.rows] == [(i, role) for i in range(3) for role in ("teacher", "student")]
    for r in res.rows:
        assert r.gap == r.test_loss - r.train_loss and r.n_test == 120 and (r.loss_min, r.loss_max) == (0.0, 1.0)
        assert r.teacher == "logistic" and r.student == "tree:depth=2" and r.seed == 0
    assert res.computed == 3 and res.kept == 0 and res.pool_size == 150 and res.pool_digest.startswith("sha256:")
    assert 0.5 < res.students[0].mean_accuracy("teacher") <= 1 and res.students[0].converged("student") == (3, 3)


@pytest.mark.parametrize("change, error, match", [
    (dict(runs=1), ParameterError, "runs: must be >= 2"),
    (dict(n=130), ParameterError, r"n: leaves 20 of the 150 examples held out; at least min_test = 50"),
    (dict(n=2), ParameterError, r"n: must be >= the number of classes \(3\)"),
    (dict(data="mnist"), InputError, "data: 'mnist' is neither a bundled data set"),
    (dict(target="y"), InputError, "target: only with a data file"),
    (dict(temperature=2.0), InputError, "temperature: only with soft labels"),
    (dict(labels="soft", temperature=0.0), ParameterError, "temperature: must be a finite number > 0"),
    (dict(log_clip=0.01), InputError, "log_clip: only with the log loss"),
    (dict(loss="hinge"), ParameterError, "loss: must be one of zero-one, brier, log"),
    (dict(labels="argmax"), ParameterError, "labels: must be one of hard, soft"),
    (dict(test_size=20), ParameterError, r"test_size: must be >= min_test = 50"),
    (dict(scale="minmax"), ParameterError, "scale: must be one of none, standard"),
    (dict(students=("knn:3",), labels="soft"), InputError, "student: soft labels .* does not accept sample_weight"),
    (dict(students=("bert",)), InputError, "student: unknown model 'bert'; choose one of logistic"),
    (dict(students=("logistic", "logistic:C=1.0")), None, None),
    (dict(students=("logistic", "logistic")), InputError, "student: names a student twice"),
    (dict(seed=-1), ParameterError, "seed: must be >= 0"),
])
def test_bad_settings_are_refused_before_any_run(change, error, match):
    settings = dataclasses.replace(FAST, runs=2, **change) if "runs" not in change else dataclasses.replace(FAST, **change)
    if error is None:
        assert len(run_distill(settings, jobs=1).students) == 2
        return
    with pytest.raises(error, match=match):
        run_distill(settings, jobs=1)


def test_on_error_and_backend_are_checked():
    with pytest.raises(ParameterError, match="on_error: must be one of stop, skip"):
        run_distill(FAST, on_error="ignore")
    with pytest.raises(InputError, match="backend: must be one of joblib, dask"):
        run_distill(FAST, backend="ray")
    with pytest.raises(InputError, match="scheduler: only with the dask backend"):
        run_distill(FAST, scheduler="tcp://127.0.0.1:1")
    with pytest.raises(InputError, match="jobs: must be a whole number >= 1"):
        run_distill(FAST, jobs=0)
    with pytest.raises(InputError, match=r"resume: only with a runs file to resume \(runs_out\)"):
        run_distill(FAST, resume=True)


# --------------------------------------------------------------------------- data files


def test_data_files_in_every_format_give_the_same_rows(tmp_path):
    from sklearn.datasets import load_iris

    iris = load_iris()
    names = np.array(["setosa", "versicolor", "virginica"])[iris.target]
    cols = {f"f{j}": iris.data[:, j].tolist() for j in range(4)}
    csv = tmp_path / "iris.csv"
    csv.write_text("f0,f1,label,f2,f3\n" + "".join(f"{a!r},{b!r},{lab},{c!r},{d!r}\n" for a, b, c, d, lab in zip(
        cols["f0"], cols["f1"], cols["f2"], cols["f3"], names)))
    tsv = tmp_path / "iris.tsv"
    tsv.write_text(csv.read_text().replace(",", "\t"))
    npz = tmp_path / "iris.npz"
    np.savez(npz, X=iris.data, label=names)
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"f0": cols["f0"], "label": names, **{k: v for k, v in cols.items() if k != "f0"}}),
                   tmp_path / "iris.parquet")
    base = run_distill(FAST, jobs=1).rows
    for path in (csv, tsv, npz, tmp_path / "iris.parquet"):
        rows = run_distill(dataclasses.replace(FAST, data=str(path), target="label"), jobs=1).rows
        assert [r.values() for r in rows] == [r.values() for r in base], path


def test_class_labels_sort_numerically_when_they_are_numbers(tmp_path):
    from kdbound.io.pool import class_codes

    codes, classes = class_codes(np.array(["10", "9", "2", "10"], dtype=object))
    assert classes == ("2", "9", "10") and codes.tolist() == [2, 1, 0, 2]
    codes, classes = class_codes(np.array(["b", "a", "B"], dtype=object))
    assert classes == ("B", "a", "b") and codes.tolist() == [2, 1, 0]
    codes, classes = class_codes(np.array([2.5, 1.0, 2.5]))
    assert classes == ("1", "2.5") and codes.tolist() == [1, 0, 1]


def test_bad_data_files_say_one_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,y\n1,2,0\n3,x,1\n" + "".join(f"{i},{i},{i % 2}\n" for i in range(200)))
    with pytest.raises(InputError, match=r"data: column 'b' is not numeric \(row 2: 'x'\)"):
        run_distill(dataclasses.replace(FAST, data=str(bad), target="y"), jobs=1)
    with pytest.raises(InputError, match=r"target: .* has no column 'label' \(its columns: 'a', 'b', 'y'\)"):
        run_distill(dataclasses.replace(FAST, data=str(bad), target="label"), jobs=1)
    with pytest.raises(InputError, match="target: required with a data file"):
        run_distill(dataclasses.replace(FAST, data=str(bad)), jobs=1)
    empty = tmp_path / "empty.csv"
    empty.write_text("a,b,y\n1,,0\n")
    with pytest.raises(InputError, match="column 'b', row 1: is empty"):
        run_distill(dataclasses.replace(FAST, data=str(empty), target="y"), jobs=1)
    one = tmp_path / "one.csv"
    one.write_text("a,y\n" + "".join(f"{i},{0 if i else 1}\n" for i in range(300)))
    with pytest.raises(InputError, match="class 1 has 1 example"):
        run_distill(dataclasses.replace(FAST, data=str(one), target="y"), jobs=1)
    (tmp_path / "x.xlsx").write_bytes(b"PK")
    with pytest.raises(InputError, match="data: cannot tell the format"):
        run_distill(dataclasses.replace(FAST, data=str(tmp_path / "x.xlsx"), target="y"), jobs=1)


# --------------------------------------------------------------------------- factories


@pytest.fixture
def factory_module(tmp_path, monkeypatch):
    name = f"kdb_runner_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent("""
        import numpy as np
        from sklearn.linear_model import LogisticRegression
        from sklearn.tree import DecisionTreeClassifier

        def seeded(random_state):
            return DecisionTreeClassifier(max_depth=2, max_features=2, random_state=random_state)

        def unseeded(random_state):
            return DecisionTreeClassifier(max_depth=2, max_features=2)

        class Flaky(LogisticRegression):
            def fit(self, X, y, sample_weight=None):
                if self.random_state % 2:
                    raise ValueError("odd seeds diverge")
                return super().fit(X, y, sample_weight=sample_weight)

        def flaky(random_state):
            return Flaky(random_state=random_state)

        class Deaf(LogisticRegression):
            # Ctrl-C in the middle of fit, swallowed as MLPClassifier does ("Training interrupted by user")
            def fit(self, X, y, sample_weight=None):
                if self.random_state % 3 == 2:
                    import signal
                    try:
                        signal.raise_signal(signal.SIGINT)
                    except KeyboardInterrupt:
                        pass
                return super().fit(X, y, sample_weight=sample_weight)

        def deaf(random_state):
            return Deaf(random_state=random_state)
    """))
    monkeypatch.chdir(tmp_path)  # the current directory is on the import path
    return name


def test_a_factory_is_the_spec_it_builds(factory_module):
    a = run_distill(dataclasses.replace(FAST, students=(f"{factory_module}:seeded",)), jobs=1).rows
    b = run_distill(dataclasses.replace(FAST, students=("tree:depth=2,max_features=2",)), jobs=1).rows
    assert [r.values()[:-1] for r in a] == [r.values()[:-1] for r in b]
    assert {r.student for r in a} == {f"{factory_module}:seeded"}


def test_a_factory_that_ignores_its_seed_is_refused(factory_module):
    settings = dataclasses.replace(FAST, teacher=f"{factory_module}:unseeded", runs=2)
    for _ in range(5):  # two unseeded fits agree now and then: max_features=2 of 4 makes that rare
        try:
            run_distill(settings, jobs=1)
        except InputError as exc:
            assert exc.describe().startswith(f"teacher: the factory '{factory_module}:unseeded' ignores its "
                                             "random_state: run 0 fitted twice with the same seed gave different rows")
            break
    else:
        pytest.fail("the unseeded factory was never caught")


def test_model_failures_stop_or_are_skipped(factory_module, tmp_path):
    from kdbound.engine.distill import run_seeds

    # a seed whose run 0 succeeds and some later run fails: the runs before it are kept
    seed = next(s for s in range(100) if run_seeds(s, 0).student % 2 == 0 and run_seeds(s, 3).student % 2)
    settings = dataclasses.replace(FAST, students=(f"{factory_module}:flaky",), runs=6, seed=seed)
    odd = [i for i in range(6) if run_seeds(seed, i).student % 2]
    assert 0 < odd[0] <= 3
    res = run_distill(settings, jobs=1, on_error="skip")
    assert sorted(f.index for f in res.failures) == odd
    assert all(f.role == "student" and f.message == "ValueError: odd seeds diverge" for f in res.failures)
    assert sorted({r.dataset for r in res.rows}) == [i for i in range(6) if i not in odd]
    out = tmp_path / "runs.csv"
    with pytest.raises(ModelError) as err:
        run_distill(settings, jobs=1, runs_out=str(out))
    kept = f"{odd[0]} completed run{'s are' if odd[0] > 1 else ' is'}"
    assert err.value.describe() == (f"student: run {odd[0]}: the student {factory_module}:flaky failed: ValueError: "
                                    f"odd seeds diverge; the {kept} kept in the runs file")
    lines = out.read_text().splitlines()
    assert lines[0] == ",".join(ROW_COLUMNS) and len(lines) == 1 + 2 * odd[0]  # the runs before it, kept
    # without a runs file the message does not promise them (the attack found "kept" with nothing kept)
    with pytest.raises(ModelError) as err:
        run_distill(settings, jobs=1)
    assert err.value.describe().endswith(f"the {kept} not kept (no runs_out)")


def test_several_students_share_the_teacher_and_equal_single_runs(tmp_path):
    both = run_distill(dataclasses.replace(FAST, students=("tree:depth=2", "knn:3")), jobs=1,
                       runs_out=[str(tmp_path / "a.csv"), str(tmp_path / "b.jsonl")])
    for k, student in enumerate(("tree:depth=2", "knn:3")):
        alone = run_distill(dataclasses.replace(FAST, students=(student,)), jobs=1).rows
        assert both.students[k].rows == alone
    with pytest.raises(InputError, match=r"runs_out: give one runs file per student \(2\), got 1"):
        run_distill(dataclasses.replace(FAST, students=("tree:depth=2", "knn:3")), runs_out=str(tmp_path / "c.csv"))


def test_no_more_workers_than_runs_left(monkeypatch):
    import kdbound.experiment.runner as R

    seen = []
    real = R.open_executor

    def spy(*args, **kwargs):
        seen.append(kwargs["jobs"])
        return real(*args, **kwargs)

    monkeypatch.setattr(R, "open_executor", spy)
    run_distill(dataclasses.replace(FAST, runs=2), jobs=8)
    assert seen == [2]
    res = run_distill(dataclasses.replace(FAST, runs=2))  # default: every core, at most the runs
    assert seen[1] <= 2 and len(res.rows) == 4


def test_a_stop_before_any_run_leaves_no_file(tmp_path):
    """A spec that fails at fit time left a header-only runs file and its settings: the corrected command was
    then refused (the file exists) and --resume refused it too (other settings)."""
    out = tmp_path / "sp.csv"
    bad = dataclasses.replace(FAST, students=("mlp:8:max_iter=5.0",), runs=2)
    with pytest.raises(ModelError, match="no run had completed"):
        run_distill(bad, jobs=1, runs_out=str(out))
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    run_distill(dataclasses.replace(bad, students=("mlp:8:max_iter=5",)), jobs=1, runs_out=str(out))
    assert out.exists()


def test_ctrl_c_that_a_model_swallows_still_stops_the_run(factory_module, tmp_path):
    """MLPClassifier catches KeyboardInterrupt and returns half trained: the run finished with exit 0 and the
    half-trained run's rows in the runs file, where --resume kept them."""
    seed = next(s for s in range(100) if run_seeds(s, 0).student % 3 != 2
                and any(run_seeds(s, i).student % 3 == 2 for i in range(1, 4)))
    first = next(i for i in range(1, 4) if run_seeds(seed, i).student % 3 == 2)
    settings = dataclasses.replace(FAST, students=(f"{factory_module}:deaf",), runs=6, seed=seed)
    out = tmp_path / "runs.csv"
    with pytest.raises(KeyboardInterrupt):
        run_distill(settings, jobs=1, runs_out=str(out))
    lines = out.read_text().splitlines()
    assert lines[0] == ",".join(ROW_COLUMNS) and len(lines) == 1 + 2 * first  # the runs before it only
    import signal
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is put back
