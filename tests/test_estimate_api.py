"""`kdbound.estimate` in Python (issue 17, "A Python API for notebooks"): a file path, a pandas DataFrame or a
mapping of columns gives what `kdbound estimate` prints; pandas and the reader stay off the import path."""

import json
import subprocess
import sys

import numpy as np
import pytest

import kdbound
from kdbound.engine import estimate as E
from kdbound.errors import InputError, ParameterError


def runs_columns(seed=0, runs=120):
    rng = np.random.default_rng(seed)
    cols = {"role": [], "train_loss": [], "test_loss": [], "dataset": []}
    for role, gap, sd in (("teacher", 0.05, 0.02), ("student", 0.06, 0.025)):
        for i in range(runs):
            train = float(rng.uniform(0.1, 0.3))
            cols["role"].append(role)
            cols["train_loss"].append(train)
            cols["test_loss"].append(train + gap + sd * float(rng.standard_normal()))
            cols["dataset"].append(i)
    return cols


@pytest.fixture
def runs_csv(tmp_path):
    cols = runs_columns()
    path = tmp_path / "runs.csv"
    path.write_text(",".join(cols) + "\n" + "".join(",".join(repr(cols[c][i]) if isinstance(cols[c][i], float)
                                                              else str(cols[c][i]) for c in cols) + "\n"
                                                     for i in range(len(cols["role"]))))
    return path


def test_importable_from_the_package():
    from kdbound import EstimateResult, estimate

    assert estimate is kdbound.estimate and EstimateResult.__name__ == "EstimateResult"
    assert "estimate" in kdbound.__all__
    assert estimate.__doc__.count("Parameters\n    ----------") == 1  # numpydoc


@pytest.mark.parametrize("method", ["gauss", "knn"])
def test_a_file_gives_what_the_command_prints(run_json, runs_csv, method):
    cli = run_json("estimate", runs_csv, "--loss-min", 0, "--loss-max", 1, "--kl-method", method)
    res = kdbound.estimate(str(runs_csv), loss_min=0, loss_max=1, kl_method=method)
    assert res.to_dict() == cli["results"] and res.basis == cli["basis"]
    assert {k: v for k, v in res.as_json().items() if k not in ("notes", "command")} == \
        {k: v for k, v in cli.items() if k not in ("notes", "command", "theorem", "formula")}
    assert res.upper_bound == cli["results"]["upper_bound"] and res.estimate.kl_method == method
    assert len(res.notes) == len(cli["notes"])
    # the notes name parameters as Python does
    assert all("--" not in n for n in res.notes)
    json.dumps(res.as_json(), allow_nan=False)


def test_a_dataframe_and_a_mapping_give_the_same_numbers(runs_csv):
    pd = pytest.importorskip("pandas")
    cols = runs_columns()
    from_file = kdbound.estimate(runs_csv, kl_method="knn", seed=3)
    from_frame = kdbound.estimate(pd.DataFrame(cols), kl_method="knn", seed=3)
    from_lists = kdbound.estimate(cols, kl_method="knn", seed=3)
    from_arrays = kdbound.estimate({k: np.asarray(v) for k, v in cols.items()}, kl_method="knn", seed=3)
    assert from_file.to_dict() == from_frame.to_dict() == from_lists.to_dict() == from_arrays.to_dict()
    assert from_frame.inputs["runs"] == "<DataFrame>" and from_lists.inputs["runs"] == "<columns>"
    assert from_frame.info["gap_correlation"] == from_file.info["gap_correlation"]  # paired by dataset id


def test_the_result_reads_in_a_notebook(runs_csv):
    res = kdbound.estimate(runs_csv, loss_min=0, loss_max=1)
    assert list(res.to_dict()) == list(E.RESULT_KEYS)
    html = res._repr_html_()
    assert html.count("<tr>") == len(E.RESULT_KEYS) + 1 and "upper_bound_plugin_hi" in html and "certified" in html
    assert "upper_bound_hi" in repr(res) and "upper_bound_hi" in dir(res)
    assert not hasattr(res, "no_such_result")


@pytest.mark.parametrize("runs, kwargs, error, expect", [
    ({"role": ["teacher", "teacher", "student", "student"], "gap": [0.1, "x", 0.2, 0.3]}, {}, InputError,
     "row 2, column gap: must be a number (got 'x')"),
    ({"gap": [0.1, 0.2]}, {}, InputError, "runs: column role is missing"),
    ({"role": ["teacher", "student"], "gap": [0.1]}, {}, InputError, "runs: column 'gap' has 1 values, the others 2"),
    (42, {}, InputError, "runs: must be a file path, a pandas DataFrame or a mapping of columns (got int)"),
    ("no/such/file.csv", {}, InputError, "runs: no such file"),
    (None, {"kl_method": "knn", "bootstrap": 200}, ParameterError, "bootstrap: only with kl_method gauss"),
    (None, {"loss_min": 0}, InputError, "loss_max: required with loss_min"),
    (None, {"kl_method": "kde"}, ParameterError, "kl_method: must be gauss or knn (got 'kde')"),
])
def test_bad_input_raises_one_clear_error(runs, kwargs, error, expect):
    runs = runs_columns() if runs is None else runs
    with pytest.raises(error) as exc:
        kdbound.estimate(runs, **kwargs)
    assert expect in str(exc.value), str(exc.value)
    assert isinstance(exc.value, ValueError) or isinstance(exc.value, kdbound.KdboundError)


def test_the_reader_stays_off_the_import_path_and_pandas_is_optional(runs_csv):
    """`import kdbound` loads neither the API module nor the runs reader; estimate() works on columns and files
    where pandas cannot be imported (kdbound never imports it; pyarrow, where pandas is installed, may)."""
    block = ("import sys, importlib.abc\n"
             "class NoPandas(importlib.abc.MetaPathFinder):\n"
             "    def find_spec(self, name, path, target=None):\n"
             "        if name.split('.')[0] == 'pandas':\n"
             "            raise ImportError('pandas is not installed here')\n"
             "sys.meta_path.insert(0, NoPandas())\n")
    code = block + ("import kdbound; before = set(sys.modules); "
            "r = kdbound.estimate({'role': ['teacher'] * 3 + ['student'] * 3, 'gap': [.1, .2, .3, .2, .3, .5]}); "
            f"f = kdbound.estimate({str(runs_csv)!r}); "
            "print(int('kdbound.api' in before), int('kdbound.io.runs_table' in before), r.gen_t, "
            "f.info['teacher_runs'], int('pandas' in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[:2] == ["0", "0"] and float(out[2]) == pytest.approx(0.2) and out[3:] == ["120", "0"]
