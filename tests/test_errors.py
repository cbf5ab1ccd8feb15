"""How a failure reaches the user (cli/group.py, kdbound/errors.py): a bug is exit 1 with one line, a usage
error one suggestion, and the Python API raises kdbound's own errors."""

import pytest
from conftest import UP

from kdbound import BOUND_SPECS, InputError, NoSolutionError, ParameterError, solve, tightness_radius, upper_bound


# mutation: an internal error (a bug) exits 0 instead of 1
def test_a_bug_is_exit_1_with_one_line(run, monkeypatch):
    import kdbound.cli.run as run_module

    def broken(*args, **kwargs):
        raise ZeroDivisionError("deliberate")

    monkeypatch.setattr(run_module, "bound_report", broken)
    monkeypatch.delenv("KDBOUND_DEBUG", raising=False)
    r = run(*UP)
    assert r.exit_code == 1 and r.stdout == ""
    assert r.stderr == ("kdbound: internal error: ZeroDivisionError: deliberate "
                        "(set KDBOUND_DEBUG=1 for a traceback)\n")


# mutation: _once removed (click and typer both suggest a command)
def test_a_suggestion_is_made_once(run):
    r = run("uppr")
    assert r.exit_code == 2 and r.stderr.count("Did you mean") == 1, r.stderr


@pytest.mark.parametrize("call, error, words", [
    (lambda: upper_bound([0.05, 0.1], [0.1, 0.2, 0.3], 0.1), InputError, "do not broadcast"),
    (lambda: solve(BOUND_SPECS["upper"], {"sigma": 0.1}, "kl", 0.1), ParameterError, "gen_t: is required"),
    (lambda: solve(BOUND_SPECS["upper"], {"gen_t": 0.05, "sigma": 0.1, "bogus": 1}, "kl", 0.1), InputError,
     "bogus"),
    (lambda: tightness_radius(-1, 10, 1, 1, 0, 1, 1), ParameterError, "kl: must be >= 0"),
    (lambda: tightness_radius(1, 10, 1, 1, 0, 1, 1, constants="wrong"), ParameterError, "constants"),
    (lambda: solve(BOUND_SPECS["upper"], {"gen_t": 0.05, "sigma": 0.1}, "kl", 0.01), NoSolutionError, "target"),
])
def test_api_raises_kdbound_errors(call, error, words):
    with pytest.raises(error, match=words):
        call()


# issue 17, item 9: numpy's ValueError escaped for a ragged list and for solve's shapes
@pytest.mark.parametrize("call, words", [
    (lambda: upper_bound([0.05, [0.1, 0.2]], 0.2, 0.1), "gen_t: is a ragged sequence"),
    (lambda: solve(BOUND_SPECS["upper"], {"gen_t": [0.05, 0.1], "sigma": [0.1, 0.2, 0.3]}, "kl", 0.1),
     "gen_t sigma: shapes do not broadcast"),
    (lambda: solve(BOUND_SPECS["upper"], {"gen_t": [0.05, 0.1], "sigma": 0.1}, "kl", [0.1, 0.2, 0.3]),
     "target gen_t: shapes do not broadcast"),
    (lambda: solve(BOUND_SPECS["upper"], {"gen_t": [[0.05], [0.1, 0.2]], "sigma": 0.1}, "kl", 0.1),
     "gen_t: is a ragged sequence"),
])
def test_shapes_are_input_errors(call, words):
    with pytest.raises(InputError, match=words) as info:
        call()
    assert type(info.value) is InputError


def test_kdbound_errors_are_value_errors():
    assert issubclass(InputError, ValueError) and issubclass(ParameterError, ValueError)


# issue 17 (Python API): a ParameterError on an array names the offending index, a multi-index for 2-D input
def test_parameter_errors_name_the_index():
    import numpy as np

    with pytest.raises(ParameterError, match=r"^kl: must be >= 0 \(got -1.0\) at index 1$") as info:
        upper_bound(0.05, [0.1, -1.0, 0.2], 0.1)
    assert info.value.index == 1
    with pytest.raises(ParameterError, match=r"at index \(1, 0\)$") as info:
        upper_bound(0.05, np.array([[0.1, 0.2], [-1.0, 0.3]]), 0.1)
    assert info.value.index == (1, 0) and info.value.describe() == "kl: must be >= 0 (got -1.0)"
    with pytest.raises(ParameterError, match=r"^sigma: must be >= 0 \(got -0.1\) at index 1$"):  # in sigma itself
        upper_bound([[0.05, 0.05]], [[0.1], [0.2]], [0.1, -0.1])
    with pytest.raises(ParameterError, match=r"^sigma: must be >= 0 \(got -0.1\)$"):  # a scalar: no index
        upper_bound(0.05, 0.1, -0.1)
