"""What a person sees, rendered in a real pseudo-terminal at 80 and 120 columns.

No number is cut, no escape character shows, the help is grouped in panels,
checks say holds / fails / assumed, and a dominated or vacuous bound is said
to be so.
"""

import json
import subprocess

import pytest
from conftest import SHARP

WIDTHS = (80, 120)


def lines_fit(text, columns):
    """Every line drawn by rich fits (messages on stderr are plain lines the terminal wraps)."""
    return all(len(line) <= columns for line in text.splitlines()
               if not line.startswith(("kdbound:", "note:", "warning:")))


@pytest.mark.parametrize("columns", WIDTHS)
def test_help_has_panels_and_no_escapes(in_pty, exe, columns):
    for args, panels in ((["upper", "--help"], ["Inputs", "sigma, given", "sigma from uniform stability",
                                                "sigma from parameter stability", "Output", "Batch", "Solve"]),
                         (["lower", "--help"], ["Inputs", "Central condition"]),
                         (SHARP[:1] + ["--help"], ["Constants of Theorem 12", "Measured values"])):
        text, status = in_pty(args, columns)
        assert status == 0
        assert "\\[" not in text, text
        for panel in panels:
            assert panel in text, (panel, text)
        assert "E[h(D_n, f_T)]" in text.replace("\n", " ").replace("│", " ") or args[0] != "upper"
        assert lines_fit(text, columns)


@pytest.mark.parametrize("columns", WIDTHS)
def test_root_help_shows_whole_summaries(in_pty, exe, columns):
    text, status = in_pty(["--help"], columns)
    assert status == 0 and "\\[" not in text
    flat = " ".join(text.replace("│", " ").split())
    for summary in ("Upper bound (Theorem 1): gen_S <= gen_T + sigma * sqrt(2 K)",
                    "Sharpness-aware bound (Theorem 12): gen_S <= gen_T + E[S_P(f_T)] + (sigma_u + nu) * sqrt(2 K)"):
        assert summary in flat, flat


def _numbers_whole(text, values):
    """Every value, as the table rounds it (6 significant digits), appears whole."""
    for v in values:
        if isinstance(v, float):
            assert f"{v:.6g}" in text, (f"{v:.6g}", text)


@pytest.mark.parametrize("columns", WIDTHS)
def test_single_tables_show_numbers_whole_and_honest_marks(in_pty, exe, columns):
    for args in (["upper", "--gen-t", "0.05", "--kl", "0.2", "--sigma", "0.1"], SHARP + ["--rho", "0.01"],
                 ["lower", "--gen-t", "0.05", "--kl", "2", "--sigma", "0.1"]):
        text, status = in_pty(args, columns)
        assert status == 0 and "…" not in text and lines_fit(text, columns), text
        out = json.loads(subprocess.run([exe, *args, "-f", "json"], capture_output=True, text=True).stdout)
        _numbers_whole(text, out["results"].values())
        assert "? assumed" in text and "✓ holds" in text


def test_dominated_and_vacuous_bounds_are_said(in_pty, exe):
    text, _ = in_pty(SHARP + ["--sigma-u", "0.2", "--rho", "0.001"], 120)
    assert "B_sh is dominated" in " ".join(text.split())
    text, _ = in_pty(["upper", "--gen-t", "0.05", "--kl", "50", "--loss-min", "0", "--loss-max", "1",
                           "--kappa", "2", "--lipschitz", "5", "--n", "5000"], 120)
    flat = " ".join(text.split())
    assert "vacuous" in flat and "says nothing" in flat


@pytest.mark.parametrize("columns", WIDTHS)
def test_batch_tables_never_cut_a_number(in_pty, exe, columns, tmp_path):
    rows = tmp_path / "rows.csv"
    rows.write_text("rho\n0.001\n0.0123456789\n0.3\n")
    text, status = in_pty([*SHARP, "-i", rows], columns)
    assert status == 0 and "…" not in text and lines_fit(text, columns), text
    assert "left out to fit the terminal" in text or columns >= 200
    assert "0.0123457" in text and "--columns" in " ".join(text.split())


@pytest.mark.parametrize("columns", WIDTHS)
def test_demo_and_linear_gaussian_fit(in_pty, exe, columns):
    for args in (["demo"], ["linear-gaussian", "--samples", "64"]):
        text, status = in_pty(args, columns)
        assert status == 0 and "…" not in text and "\\[" not in text, text


# ----------------------------------------------------------------------------- data is never markup

def test_data_is_never_read_as_markup(in_pty, tmp_path):
    rows = tmp_path / "m.csv"
    rows.write_text("run,gen_t,kl,sigma\n[/bold] a,0.05,0.2,0.1\n[red]b,0.05,0.3,0.1\n")
    text, status = in_pty(["upper", "-i", rows, "--columns", "run,bound"], 120)
    assert status == 0 and "[/bold] a" in text and "[red]b" in text
    text, status = in_pty(["upper", "--gen-t", "0.5", "--kl", "20", "--sigma", "0.1", "--loss-min", "0",
                           "--loss-max", "1"], 120)
    assert status == 0 and "for any loss in [a, b]" in " ".join(text.split())


# mutations: every value cell right-aligned again; a text column of rows right-aligned
def test_text_is_left_aligned_and_numbers_right_aligned(run, tmp_path):
    r = run("upper", "--gen-t", "0.05", "--kl", "0.2", "--sigma", "0.1", "--loss-min", "0", "--loss-max", "1",
            tty=True)
    lines = r.stdout.splitlines()
    line_of = {key: next(ln for ln in lines if f" {key} " in ln) for key in ("sigma_route", "lower_two_sided",
                                                                               "vacuous", "bound")}
    start = line_of["lower_two_sided"].index("-0.0132456")  # the widest value fills the column
    assert line_of["sigma_route"].index("given") == start and line_of["vacuous"].index("no") == start
    end = start + len("-0.0132456")
    assert line_of["bound"].index("0.113246") + len("0.113246") == end
    rows = tmp_path / "rows.csv"
    rows.write_text("run,gen_t,kl\nresnet-a,0.05,0.2\nvit-long-name,0.05,0.3\n")
    r = run("upper", "-i", rows, "--sigma", "0.1", "--columns", "run,bound", tty=True)
    lines = r.stdout.splitlines()
    header = next(ln for ln in lines if "run" in ln and "bound" in ln)
    assert header.index("run") == next(ln for ln in lines if "resnet-a" in ln).index("resnet-a")


def test_no_key_is_cut_at_80_columns(run, tmp_path):
    import numpy as np

    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(60, 5)), rng.normal(size=(3, 5))
    np.save(tmp_path / "x.npy", x), np.save(tmp_path / "w.npy", w)
    np.save(tmp_path / "y.npy", x @ w.T + 0.5 * rng.normal(size=(60, 3)))
    r = run("linear-gaussian", "--x", tmp_path / "x.npy", "--y", tmp_path / "y.npy", "--w-star", tmp_path / "w.npy",
            "--gen-t", "0.05", "--sigma", "0.1", "--loss-min", "0", "--loss-max", "1", tty=True,
            env={"COLUMNS": "80"})
    assert r.exit_code == 0, r.stderr
    assert "dataset_shift_conditional " in r.stdout and "…" not in r.stdout
    assert max(map(len, r.stdout.splitlines())) <= 80


@pytest.mark.parametrize("columns", [30, 44, 50])
def test_a_narrow_terminal_cuts_no_number(in_pty, columns):
    """At 44 columns the table showed nu = 2.0002e-05 as '2.0002e-0' and standard_bound 0.155 as '0.15'."""
    from conftest import SHARP, invoke

    text, status = in_pty(SHARP, columns)
    assert status == 0, text
    printed = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and not line.startswith("kdbound"):
            printed[parts[0]] = parts[1]
    want = json.loads(invoke(*SHARP, "--format", "json").stdout)["results"]
    shown = [k for k, v in want.items() if isinstance(v, float)]
    assert shown and all(float(printed[k]) == want[k] for k in shown), printed
