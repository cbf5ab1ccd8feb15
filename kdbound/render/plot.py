"""Curves for ``--plot``: matplotlib is an optional extra (``pip install kdbound[plot]``).

matplotlib is imported only when a plot is drawn (it costs ~0.3 s)."""

from __future__ import annotations

import os

import numpy as np

from ..errors import InputError
from ..io.atomic import AtomicFile

PLOT_FORMATS = (".png", ".svg")


def check_plot_path(path: str) -> None:
    ext = os.path.splitext(path.lower())[1]
    if ext not in PLOT_FORMATS:
        raise InputError(f"must end in .png or .svg (got {path!r})", "plot")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise InputError(f"folder {folder!r} does not exist", "plot")


def _pyplot():
    """matplotlib's pyplot on the Agg backend, imported only when a plot is drawn (~0.3 s)."""
    try:
        import matplotlib
    except ImportError:
        raise InputError("needs matplotlib, which is not installed; "
                         "install it with: pip install 'kdbound[plot]'", "plot") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


LABELS = {"kl": "distillation divergence K (nats)", "rho": "perturbation radius rho", "rank": "student rank r"}


def _save(fig, path: str) -> None:
    """Save atomically: a failed save leaves nothing behind."""
    with AtomicFile(path, "plot") as tmp:
        fig.savefig(tmp, format=os.path.splitext(path)[1][1:].lower(), dpi=150, bbox_inches="tight")


def plot_bound(model, name: str, columns: dict, path: str, extra: dict | None = None) -> None:
    """Bounds against the swept parameter.

    upper: the bound and the two-sided lower value; lower: the bound;
    sharpness: B_sh and B_std, with rho0 and rho_min marked.
    """
    check_plot_path(path)
    plt = _pyplot()
    x = np.asarray(columns[name], dtype=float)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    series = {"upper": [("bound", "upper bound (Thm 1)"), ("lower_two_sided", "two-sided lower")],
              "lower": [("bound", "lower bound (Thm 10)")],
              "sharpness": [("bound", "B_sh (Thm 12)"), ("standard_bound", "B_std")]}[model.name]
    for key, label in series:
        ax.plot(x, np.asarray(columns[key], dtype=float), label=label)
    if model.name == "sharpness":
        src = extra if extra is not None else columns
        rho0 = float(np.asarray(src["rho0"]).reshape(-1)[0])
        rho_min = float(np.asarray(src["rho_min"]).reshape(-1)[0])
        if name == "rho":
            if np.isfinite(rho0) and rho0 > 0:
                ax.axvline(rho0, color="0.4", ls="--", lw=1, label=f"rho0 = {rho0:.3g}")
            ax.axvline(rho_min, color="0.6", ls=":", lw=1, label=f"rho_min = kappa/n = {rho_min:.3g}")
            if np.isfinite(rho0) and rho_min < rho0:
                ax.axvspan(rho_min, rho0, color="tab:green", alpha=0.08, label="admissible, tighter")
    ax.set_xlabel(LABELS.get(name, name))
    ax.set_ylabel("generalization gap bound")
    ax.set_title(f"kdbound {model.name}: {model.formula}", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    _save(fig, path)
    plt.close(fig)


def plot_rank_sweep(columns: dict, path: str) -> None:
    """linear-gaussian: the K bounds and their terms against the student rank.

    Integer rank ticks; each curve has its own marker and line style (and the
    constant terms are drawn dashed, behind), so curves that coincide stay visible.
    """
    check_plot_path(path)
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    r = np.asarray(columns["rank"], dtype=float)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    styles = {  # key: (marker, linestyle, linewidth, marker size, z-order, label)
        "kl_bound": ("o", "-", 2.2, 6, 5, "kl_bound (paper)"),
        "kl_bound_tight": ("s", "--", 1.8, 5, 6, "kl_bound_tight"),
        "kl_exact": ("*", "none", 1.0, 11, 8, "kl_exact (no rank bottleneck)"),
        "apx": ("^", "-", 1.4, 6, 4, "apx (rank cost)"),
        "dataset_shift_bound": ("D", ":", 1.6, 7, 3, "dataset_shift_bound"),
        "spread": ("x", "-.", 1.4, 7, 7, "spread"),
        "cov": ("v", (0, (1, 3)), 1.4, 5, 2, "cov"),
    }
    for key, (marker, ls, lw, ms, z, label) in styles.items():
        if key not in columns:
            continue
        y = np.array([np.nan if v is None else v for v in columns[key]], dtype=float)
        if not np.isfinite(y).any():
            continue
        const = np.isfinite(y).sum() > 1 and np.nanmax(y) == np.nanmin(y)
        ax.plot(r, y, marker=marker, ls=ls, lw=lw, ms=ms, zorder=z, mfc="none" if marker not in "x*" else None,
                label=label + (" (same at every rank)" if const else ""))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(LABELS["rank"])
    ax.set_ylabel("nats")
    ax.set_yscale("symlog", linthresh=1e-3)
    ax.set_title("kdbound linear-gaussian: bounds on K and their terms against the student rank", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    _save(fig, path)
    plt.close(fig)
