"""--plot and render/plot.py: the images are written (or, at the top of float64, the reason why not), a
missing matplotlib or an unwritable path is one line before any output."""

import builtins
import os

import numpy as np
import pytest
from conftest import SHARP, SWEEP, UP, invoke, one_line_error

UP_NO_KL = ["upper", "--gen-t", "0.05", "--sigma", "0.1"]


# ----------------------------------------------------------------------------- images

def test_plots_are_written(run, tmp_path):
    pytest.importorskip("matplotlib")
    for args, name in ((UP_NO_KL + ["--kl", "0.2"], "up.png"), (SHARP, "sh.svg"), (UP_NO_KL + ["--sweep", "kl=0:1:9"], "s.png"),
                       (["lower", "--gen-t", "0.05", "--sigma", "0.1", "--kl", "0.1"], "lo.png")):
        path = tmp_path / name
        r = run(*args, "--plot", path)
        assert r.exit_code == 0, r.stderr
        assert path.stat().st_size > 1000
    assert (tmp_path / "sh.svg").read_text().lstrip().startswith("<?xml")


def test_solve_with_plot(run, tmp_path):
    pytest.importorskip("matplotlib")
    r = run(*UP[:3], "--sigma", "0.1", "--solve", "kl", "--target", "0.1", "--plot", tmp_path / "s.png")
    assert r.exit_code == 0 and (tmp_path / "s.png").stat().st_size > 1000


@pytest.mark.parametrize("kl, status", [("1e308", 0), ("1.7e308", None)])
def test_plots_at_the_top_of_float64_draw_or_say_why(run, tmp_path, kl, status):
    pytest.importorskip("matplotlib")
    out = tmp_path / "big.png"
    r = run("upper", "--gen-t", "0.05", "--kl", kl, "--sigma", "0.1", "--plot", str(out), "-f", "tsv")
    assert r.exit_code in (0, 2) if status is None else r.exit_code == status
    if r.exit_code == 0:
        assert out.stat().st_size > 0 and "RuntimeWarning" not in r.stderr
    else:
        assert r.stdout == "" and r.stderr.count("\n") == 1 and "--plot: cannot draw" in r.stderr


def test_rank_plot_has_integer_ticks_and_every_curve(tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from kdbound.render.plot import plot_rank_sweep

    cols = {"rank": np.array([1, 2, 3]), "kl_bound": np.array([3.0, 2.0, 1.0]),
            "kl_bound_tight": np.array([2.5, 1.5, 0.5]), "apx": np.array([2.0, 1.0, 0.0]),
            "dataset_shift_bound": np.full(3, 0.4), "spread": np.full(3, 0.4), "cov": np.zeros(3),
            "kl_exact": np.array([np.nan, np.nan, 0.3])}
    captured = {}
    real_close = plt.close

    def keep(fig):
        captured["fig"] = fig
        real_close(fig)

    plt.close = keep
    try:
        plot_rank_sweep(cols, str(tmp_path / "r.png"))
    finally:
        plt.close = real_close
    ax = captured["fig"].axes[0]
    ticks = [t for t in ax.get_xticks() if 1 <= t <= 3]
    assert all(float(t).is_integer() for t in ticks)
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    styles = {(ln.get_marker(), str(ln.get_linestyle())) for ln in lines.values()}
    assert len(styles) == len(lines) == 7          # overlapping curves stay distinguishable
    assert any(label.startswith("spread") for label in lines) and any(label.startswith("dataset_shift_bound")
                                                                        for label in lines)


# ----------------------------------------------------------------------------- failures

def test_plot_without_matplotlib(run, tmp_path, monkeypatch):
    real_import = builtins.__import__

    def fake_import(name, *args, **kw):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError("no matplotlib")
        return real_import(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    r = run(*UP_NO_KL, "--kl", "0.2", "--plot", tmp_path / "x.png")
    assert r.exit_code == 2
    assert "pip install 'kdbound[plot]'" in r.stderr and not (tmp_path / "x.png").exists()


def test_plot_bad_extension(run, tmp_path):
    r = run(*UP_NO_KL, "--kl", "0.2", "--plot", tmp_path / "x.jpg")
    assert r.exit_code == 2 and "--plot: must end in .png, .svg or .pdf" in r.stderr
    r = run(*UP_NO_KL, "--kl", "0.2", "--plot", tmp_path / "x.pdf")  # a figure for a paper
    assert r.exit_code == 0 and (tmp_path / "x.pdf").read_bytes()[:5] == b"%PDF-"


def test_plot_without_matplotlib_fails_before_any_output(tmp_path, monkeypatch):
    import builtins

    real = builtins.__import__

    def fake(name, *args, **kw):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError("no matplotlib")
        return real(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", fake)
    one_line_error(invoke(*SWEEP, "-o", tmp_path / "nm3.csv", "--plot", tmp_path / "nm3.png"), "--plot",
                   "matplotlib")
    assert os.listdir(tmp_path) == []
    one_line_error(invoke(*UP, "--plot", tmp_path / "x.png"), "--plot")


def test_plot_onto_a_folder_leaves_nothing(tmp_path):
    (tmp_path / "d.png").mkdir()
    one_line_error(invoke(*UP, "--plot", tmp_path / "d.png"), "--plot", "is a folder")
    assert os.listdir(tmp_path) == ["d.png"] and os.listdir(tmp_path / "d.png") == []


def test_a_full_disk_under_a_plot_is_one_line(tmp_path):
    os.symlink("/dev/full", tmp_path / "full.png")
    r = invoke("upper", "--gen-t", "0.05", "--sigma", "0.1", "--sweep", "kl=0:1:5", "--plot", str(tmp_path / "full.png"),
               "-f", "csv")
    assert r.exit_code == 2 and r.stdout == "" and r.stderr.count("\n") == 1, r.stderr
    assert "--plot: cannot write" in r.stderr and "No space left" in r.stderr


# ----------------------------------------------------------------------------- figures for a paper

@pytest.fixture
def figures(monkeypatch):
    """The figures kdbound draws, kept open instead of saved (their axes are what a reader sees)."""
    from kdbound.render import plot

    kept = []
    monkeypatch.setattr(plot, "_save", lambda fig, path: kept.append(fig))
    monkeypatch.setattr(plot._pyplot(), "close", lambda fig=None: None)
    return kept


def _legend(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


# mutations: no subtitle, log_y never logarithmic, vacuity skipped, the grid drawn as one curve
def test_a_figure_states_its_fixed_parameters_and_the_vacuity_level(run, tmp_path, figures):
    r = run("upper", "--gen-t", "0.05", "--sigma", "0.1", "--loss-min", "0", "--loss-max", "1", "--sweep",
            "kl=0:1:20", "--plot", tmp_path / "a.png")
    assert r.exit_code == 0, r.stderr
    ax = figures[-1].axes[0]
    assert ax.get_title().splitlines()[1] == "gen_T = 0.05, sigma = 0.1, a = 0, b = 1"
    assert "vacuous above b - a = 1 (above the plot)" in _legend(ax)  # far above: named, not drawn
    r = run("upper", "--gen-t", "0.5", "--sigma", "0.5", "--loss-min", "0", "--loss-max", "1", "--sweep",
            "kl=0:1:20", "--plot", tmp_path / "c.png")
    ax = figures[-1].axes[0]
    assert "vacuous above b - a = 1" in _legend(ax)  # the bound crosses it: drawn
    assert any(list(line.get_ydata()) == [1.0, 1.0] for line in ax.get_lines())
    r = run("lower", "--gen-t", "0.05", "--kl", "0.01", "--loss-min", "0", "--loss-max", "1", "--beta", "1e-4",
            "--sweep", "n=log:100:1000000:20", "--plot", tmp_path / "d.png")
    assert "Remark 2's value (Thm 10), within 2% of the lower bound" in _legend(figures[-1].axes[0])
    r = run("upper", "--sigma", "0.1", "--sweep", "gen_t=0:0.09:10", "--solve", "kl", "--target", "0.1", "--plot",
            tmp_path / "b.png")
    assert figures[-1].axes[0].get_title().splitlines()[1] == "sigma = 0.1, target = 0.1"


def test_values_over_more_than_two_decades_get_a_log_axis(run, tmp_path, figures):
    r = run("upper", "--sigma", "0.1", "--sweep", "gen_t=0:0.099:12", "--solve", "kl", "--target", "0.1", "--plot",
            tmp_path / "a.png")  # K from 0.5 down to 5e-5
    assert r.exit_code == 0, r.stderr
    assert figures[-1].axes[0].get_yscale() == "log"
    run("upper", "--gen-t", "0.05", "--sigma", "0.1", "--sweep", "kl=0:1:20", "--plot", tmp_path / "b.png")
    assert figures[-1].axes[0].get_yscale() == "linear"  # one decade, and a two-sided lower value below zero


def test_a_grid_draws_one_curve_per_value_of_the_second_sweep(run, tmp_path, figures):
    r = run("upper", "--gen-t", "0.05", "--sweep", "kl=0:1:20", "--sweep", "sigma=0.1:0.3:3", "--plot",
            tmp_path / "a.png")
    assert r.exit_code == 0, r.stderr
    ax = figures[-1].axes[0]
    assert [label for label in _legend(ax) if "sigma =" in label] == [
        "upper bound (Thm 1), sigma = 0.1", "upper bound (Thm 1), sigma = 0.2", "upper bound (Thm 1), sigma = 0.3"]
    styles = {(line.get_linestyle(), line.get_marker()) for line in ax.get_lines()[:3]}
    assert len(styles) == 3  # each curve its own line style and marker


def test_curves_that_coincide_say_so(run, tmp_path, figures):
    r = run("linear-gaussian", "--rank-sweep", "1:3", "--plot", tmp_path / "r.png")
    assert r.exit_code == 0, r.stderr
    labels = _legend(figures[-1].axes[0])
    assert any("spread" in label and "within 2% of dataset_shift_bound" in label for label in labels)
    assert figures[-1].axes[0].get_title().splitlines()[1].startswith("n = 50, d = 5")


def test_simulate_sweep_of_n_on_a_log_axis(run, tmp_path, figures):
    r = run("simulate", "--sweep", "n=log:10:3000:4", "--datasets", "400", "--plot", tmp_path / "s.png")
    assert r.exit_code == 0, r.stderr
    ax = figures[-1].axes[0]
    assert ax.get_yscale() == "log" and "student = kernel" in ax.get_title()


def test_simulate_grid_one_colour_per_value_of_the_second_sweep(run, tmp_path, figures):
    r = run("simulate", "--d", "3", "--k", "2", "--datasets", "200", "--sweep", "n=10:30:3", "--sweep",
            "beta_t=0.5:2:2", "--plot", tmp_path / "g.png")
    assert r.exit_code == 0, r.stderr
    ax = figures[-1].axes[0]
    labels = _legend(ax)
    assert "beta_t = 0.5" in labels and "beta_t = 2" in labels
    assert "beta_t" not in ax.get_title().splitlines()[1] and "d = 3" in ax.get_title()
