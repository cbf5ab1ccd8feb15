"""The Python API for notebooks (issue 17): every name imports from the package, every result object has
``to_dict()`` with the command line's ``results`` keys and an HTML table, ``solve`` takes keywords, and pandas
stays optional."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import kdbound
from kdbound import (BOUND_SPECS, InputError, linear_gaussian, lower_bound, lower_bound_best, sharpness_bound,
                     sigma_stability, simulate, solve, upper_bound)
from kdbound.formats import html_table

SHARP = dict(gen_t=0.05, kl=0.5, n=10000, loss_min=0, loss_max=1, kappa=2, lipschitz=5, g0=0.5, alpha=10, tau=2)
EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "linear_gaussian"


def cli_args(params: dict) -> list[str]:
    return [x for k, v in params.items() for x in (f"--{k.replace('_', '-')}", str(v))]


def test_every_name_imports_from_the_package():
    from kdbound import estimate  # noqa: F401

    for name in ("upper_bound", "lower_bound_best", "sharpness_bound", "linear_gaussian", "simulate", "estimate",
                 "solve", "Solution", "LinearGaussianResult", "Simulation", "EstimateResult"):
        assert name in kdbound.__all__ and getattr(kdbound, name) is not None
    assert simulate.__doc__.count("Parameters\n    ----------") == 1  # numpydoc
    assert "Returns\n    -------" in simulate.__doc__ and "References\n    ----------" in simulate.__doc__


def test_the_lazy_names_stay_off_the_import_path():
    code = ("import sys, kdbound; heavy = ('kdbound.engine.solve', 'kdbound.engine.lingauss', 'kdbound.engine.simulate',"
            " 'kdbound.api', 'pandas'); print([m for m in heavy if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("command, params, result", [
    ("upper", dict(gen_t=0.05, kl=0.2, sigma=0.1), lambda: upper_bound(0.05, 0.2, 0.1)),
    ("lower", dict(gen_t=0.05, kl=0.01, sigma=0.1), lambda: lower_bound_best(0.05, 0.01, 0.1)),
    ("lower", dict(gen_t=0.05, kl=0.01, eta=2, c=0.5), lambda: lower_bound(0.05, 0.01, 2, 0.5)),
    ("sharpness", dict(SHARP, rho=0.01), lambda: sharpness_bound(**SHARP, rho=0.01)),
    ("sharpness", dict(SHARP, rho=0.3, constants="paper"),
     lambda: sharpness_bound(**SHARP, rho=0.3, constants="paper")),
])
def test_to_dict_has_the_keys_and_values_the_cli_prints(run_json, command, params, result):
    cli = run_json(command, *cli_args(params))["results"]
    mine = result().to_dict()
    assert mine == cli
    json.dumps(mine, allow_nan=False)


def test_sigma_estimate_to_dict():  # the CLI prints sigma in results and the route as sigma_route
    assert sigma_stability(0, 1, 1e-4, 5000).to_dict() == {"sigma": pytest.approx(0.014142135623730952),
                                                             "sigma_route": "stability"}


def test_solution_to_dict_is_the_solve_results(run_json):
    cli = run_json("upper", "--gen-t", "0.05", "--sigma", "0.1", "--solve", "kl", "--target", "0.1")["results"]
    assert solve("upper", target=0.1, unknown="kl", gen_t=0.05, sigma=0.1).to_dict() == cli


def test_linear_gaussian_to_dict(run_json):
    x, y, w = (np.load(EXAMPLES / f"{n}.npy") for n in ("X", "Y", "W"))
    cli = run_json("linear-gaussian", "--x", str(EXAMPLES / "X.npy"), "--y", str(EXAMPLES / "Y.npy"), "--w-star",
                   str(EXAMPLES / "W.npy"), "--rank", "4", "--samples", "16")["results"]
    mine = linear_gaussian(x, w, y, rank=4, samples=16).to_dict()
    assert list(mine) == list(cli)
    for key, value in cli.items():
        assert (mine[key] is None and value is None) or mine[key] == pytest.approx(value, rel=1e-12), key


def test_simulation_to_dict(run_json):
    cli = run_json("simulate", "--n", "20", "--d", "3", "--k", "2", "--datasets", "40")["results"]
    res = simulate(n=20, d=3, k=2, datasets=40)
    assert res.to_dict() == cli
    assert "Simulation" in res._repr_html_() and res.verdict_upper in res._repr_html_()


def test_array_results_make_a_data_frame():
    pd = pytest.importorskip("pandas")
    kl = np.linspace(0, 1, 5)
    frame = pd.DataFrame(upper_bound(0.05, kl, 0.1).to_dict(inputs=True))
    assert list(frame.columns[:3]) == ["gen_t", "kl", "bound"] and len(frame) == 5
    assert frame["bound"].to_numpy() == pytest.approx(0.05 + 0.1 * np.sqrt(2 * kl))
    frame = pd.DataFrame(sharpness_bound(**{**SHARP, "kl": kl[1:]}, rho=[0.01, 0.02, 0.3, 1e-5]).to_dict())
    assert frame.shape == (4, 17) and frame["sharpness_bound"].isna().tolist() == [False, False, False, True]
    frame = pd.DataFrame(solve("upper", target=[0.1, 0.2], unknown="kl", gen_t=0.05, sigma=0.1).to_dict())
    assert frame["kl"].to_numpy() == pytest.approx([0.125, 1.125])


def test_html_tables_escape_their_text():
    page = html_table({"a<b": "x & <y>", "bound": 0.5, "flag": True, "none": float("nan")}, "R<1>")
    assert "a&lt;b" in page and "x &amp; &lt;y&gt;" in page and "R&lt;1&gt;" in page and "<y>" not in page
    assert ">null<" in page and ">true<" in page
    rows = upper_bound(0.05, np.linspace(0, 1, 50), 0.1)._repr_html_()
    assert rows.count("<tr>") == 21 and "30 more rows" in rows  # 20 rows, a header and a count
    sol = solve("upper", target=0.1, unknown="kl", gen_t=0.05, sigma=0.0)
    assert "every kl meets the target" in sol._repr_html_()


def test_html_needs_no_pandas():
    code = ("import sys, numpy as np, kdbound; r = kdbound.upper_bound(0.05, np.linspace(0, 1, 3), 0.1); "
            "r._repr_html_(); r.to_dict(); kdbound.solve('upper', target=0.1, unknown='kl', gen_t=0.05, "
            "sigma=0.1)._repr_html_(); print('pandas' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_solve_takes_keywords_and_keeps_its_form():
    new = solve("upper", target=0.1, unknown="kl", gen_t=0.05, sigma=0.1)
    old = solve(BOUND_SPECS["upper"], {"gen_t": 0.05, "sigma": 0.1}, "kl", 0.1)
    assert float(new.value) == float(old.value) == pytest.approx(0.125)
    mixed = solve("lower", {"gen_t": 0.05}, unknown="kl", target=0.0, sigma=0.1)
    assert float(mixed.value) == pytest.approx(0.125)
    with pytest.raises(InputError, match="model: must be one of upper, lower, sharpness"):
        solve("uper", target=0.1, unknown="kl", gen_t=0.05, sigma=0.1)
    with pytest.raises(InputError, match="unknown: required"):
        solve("upper", target=0.1, gen_t=0.05, sigma=0.1)
    with pytest.raises(InputError, match="gen_t: given both"):
        solve("upper", {"gen_t": 0.05}, "kl", 0.1, gen_t=0.05, sigma=0.1)
