"""Curves for ``--plot``: matplotlib is an optional extra (``pip install kdbound[plot]``).

matplotlib is imported only when a plot is drawn (it costs ~0.3 s)."""

from __future__ import annotations

import functools
import os
import warnings

import numpy as np

from ..errors import InputError
from ..io.atomic import AtomicFile, resolve_output

PLOT_FORMATS = (".png", ".svg", ".pdf")


def check_plot_path(path: str) -> None:
    """Everything ``--plot`` needs, checked before any work: the extension, a writable place, matplotlib."""
    ext = os.path.splitext(path.lower())[1]
    if ext not in PLOT_FORMATS:
        raise InputError(f"must end in .png, .svg or .pdf (got {path!r})", "plot")
    resolve_output(path, "plot")
    _pyplot()


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


LABELS = {"kl": "distillation divergence K (nats)", "rho": "perturbation radius rho", "rank": "student rank r",
          "lam": "prior precision lam", "beta_t": "teacher inverse temperature beta_t",
          "noise": "label noise standard deviation",
          "n": "number of training samples n", "sigma": "sub-Gaussian proxy sigma", "gen_t": "teacher gap gen_T"}


def _quiet(draw):
    """matplotlib's own arithmetic on axes that reach float64's top (margins around K = 4e307) warns about
    overflow; the figure is drawn all the same, and stderr keeps one line per message."""
    @functools.wraps(draw)
    def quiet(*args, **kwargs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            try:
                return draw(*args, **kwargs)
            except (OverflowError, np.linalg.LinAlgError):  # matplotlib's axis arithmetic near float64's top
                raise InputError("cannot draw this curve: its values are too close to float64's largest number "
                                 "for matplotlib's axes (use --format to print them)", "plot") from None
    return quiet


def _save(fig, path: str) -> None:
    """Save atomically: a failed save leaves nothing behind."""
    with AtomicFile(path, "plot", result=True) as tmp:
        fig.savefig(tmp, format=os.path.splitext(path)[1][1:].lower(), dpi=150, bbox_inches="tight")


#: line styles that stay distinguishable where curves overlap (and in grey print)
STYLES = [dict(ls="-", lw=2.0), dict(ls="--", lw=1.6, marker="o", markevery=0.1, ms=4),
          dict(ls=":", lw=1.8, marker="s", markevery=0.13, ms=4),
          dict(ls="-.", lw=1.4, marker="^", markevery=0.17, ms=4)]


def _values(column) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in np.asarray(column, dtype=object).reshape(-1)], dtype=float)


#: how a fixed parameter is written in a figure's subtitle
SYMBOLS = {"gen_t": "gen_T", "kl": "K", "loss_min": "a", "loss_max": "b", "lipschitz": "L"}


def subtitle(fixed: dict | None) -> str:
    """The parameters a figure holds fixed, as its subtitle: ``gen_T = 0.05, sigma = 0.1, target = 0.1``."""
    if not fixed:
        return ""
    return ", ".join(f"{SYMBOLS.get(k, k)} = {_number(v)}" if isinstance(v, (int, float, np.number)) else
                     f"{SYMBOLS.get(k, k)} = {v}" for k, v in fixed.items())


def _title(ax, title: str, fixed: dict | None) -> None:
    sub = subtitle(fixed)
    ax.set_title(title + (f"\n{sub}" if sub else ""), fontsize=9)


def log_y(ax, *arrays) -> bool:
    """A y axis whose values are positive and span more than two decades is logarithmic (a curve that
    crosses zero keeps a linear axis: its values near zero are not a span).  Returns whether it is."""
    y = np.concatenate([np.asarray(a, dtype=float).reshape(-1) for a in arrays]) if arrays else np.array([])
    y = y[np.isfinite(y)]
    if y.size == 0 or (y <= 0).any() or y.max() / y.min() <= 100:
        return False
    ax.set_yscale("log")
    return True


def vacuity(ax, fixed: dict | None, lower: bool = False, drawn=()) -> None:
    """The vacuity level of a loss range [a, b]: a gap lies in [-(b - a), b - a], so an upper bound at or
    above b - a (a lower bound at or below -(b - a)) says nothing.  Drawn where the curves reach near it;
    otherwise named in the legend (a line far away would squash the curves)."""
    if not fixed or fixed.get("loss_min") is None or fixed.get("loss_max") is None:
        return
    width = float(fixed["loss_max"]) - float(fixed["loss_min"])
    level = -width if lower else width
    label = f"vacuous below -(b - a) = {level:.3g}" if lower else f"vacuous above b - a = {level:.3g}"
    y = np.concatenate([np.asarray(a, dtype=float).reshape(-1) for a in drawn]) if len(drawn) else np.array([])
    y = y[np.isfinite(y)]
    if y.size and y.max() > y.min():
        lo, hi = float(y.min()), float(y.max())
        far = (level - hi if not lower else lo - level) > 0.5 * (hi - lo)
        if far:
            ax.plot([], [], color="0.3", ls=(0, (6, 2, 1, 2)), lw=1.0,
                    label=f"{label} ({'below' if lower else 'above'} the plot)")
            return
    ax.axhline(level, color="0.3", ls=(0, (6, 2, 1, 2)), lw=1.0, label=label)


def _number(v) -> str:
    """A fixed parameter's value: whole numbers with thousands separators (n = 10,000), others to 4 digits."""
    f = float(v)
    return f"{int(f):,}" if f.is_integer() and abs(f) < 1e15 else f"{f:.4g}"


def _curves(ax, x, columns: dict, key: str, by: str, label: str) -> list:
    """One curve of ``key`` per value of ``by`` (a two-sweep grid), each in its own style."""
    byv = _values(columns[by])
    drawn = []
    for i, v in enumerate(dict.fromkeys(byv.tolist())):
        at = byv == v
        y = _values(columns[key])[at]
        ax.plot(x[at], y, label=f"{label}, {SYMBOLS.get(by, by)} = {v:.4g}", **STYLES[i % len(STYLES)],
                color=f"C{i % 10}")
        drawn.append(y)
    return drawn


@_quiet
def plot_bound(model, name: str, columns: dict, path: str, extra: dict | None = None, log_x: bool = False,
               formula: str | None = None, at: float | None = None, by: str | None = None,
               fixed: dict | None = None) -> None:
    """Bounds against the swept parameter, the fixed parameters in the subtitle.

    upper: the bound and the two-sided lower value; lower: the bound (two-sided, or Theorem 10) and
    Remark 2's value; sharpness: B_sh and B_std, with rho0 and rho_min marked.  With ``by`` (a second
    sweep), the bound once per value of ``by``.  A loss range draws the vacuity level b - a.
    """
    plt = _pyplot()
    x = _values(columns[name])
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    series = {"upper": [("bound", "upper bound (Thm 1)"), ("lower_two_sided", "two-sided lower")],
              "lower": [("bound", "lower bound (best)"), ("remark2_bound", "Remark 2's value (Thm 10)")],
              "sharpness": [("sharpness_bound", "B_sh (Thm 12)"), ("standard_bound", "B_std")]}[model.name]
    drawn = []
    if by is not None:
        drawn = _curves(ax, x, columns, "bound", by, series[0][1])
    else:
        for (key, label), style in zip(series, STYLES):
            if key in columns and columns[key] is not None and np.isfinite(_values(columns[key])).any():
                y = _values(columns[key])
                on = [lab for (k, lab), other in zip(series, drawn)
                      if np.allclose(y, other, rtol=0.02, atol=1e-12, equal_nan=True)]
                ax.plot(x, y, label=label + (f", within 2% of the {on[0].split(' (')[0]}" if on else ""), **style)
                drawn.append(y)
    log_y(ax, *drawn)
    vacuity(ax, fixed, lower=model.name == "lower", drawn=drawn)
    if model.name == "sharpness" and by is None:
        src = extra if extra is not None else columns
        rho0 = float(np.asarray(src["rho0"]).reshape(-1)[0])
        rho_min = float(np.asarray(src["rho_min"]).reshape(-1)[0])
        if name == "rho":
            if np.isfinite(rho0) and rho0 > 0:
                ax.axvline(rho0, color="0.4", ls="--", lw=1, label=f"rho0 = {rho0:.3g}")
            ax.axvline(rho_min, color="0.6", ls=":", lw=1, label=f"rho_min = kappa/n = {rho_min:.3g}")
            if np.isfinite(rho0) and rho_min < rho0:
                ax.axvspan(rho_min, rho0, color="tab:green", alpha=0.08, label="admissible, tighter")
    if at is not None and np.isfinite(at):
        ax.axvline(at, color="tab:red", ls="-.", lw=1, label=f"evaluated: {name} = {at:.4g}")
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel(LABELS.get(name, name))
    ax.set_ylabel("generalization gap bound")
    _title(ax, f"kdbound {model.name}: {formula or model.formula}", fixed)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    _save(fig, path)
    plt.close(fig)


@_quiet
def plot_solved(model, name: str, unknown: str, columns: dict, path: str, log_x: bool = False,
                by: str | None = None, fixed: dict | None = None) -> None:
    """The solved quantity against the swept one (or against the target): what ``--solve`` answers; with
    ``by`` (a second sweep), one curve per value of ``by``."""
    plt = _pyplot()
    x, y = _values(columns[name]), _values(columns[unknown])
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    if by is not None:
        log_y(ax, *_curves(ax, x, columns, unknown, by, f"{unknown} that meets the target"))
    else:
        ax.plot(x, y, marker="o", ms=3, lw=1.6, label=f"{unknown} that meets the target")
        log_y(ax, y)
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel(LABELS.get(name, "target value of the bound" if name == "target" else name))
    ax.set_ylabel(LABELS.get(unknown, unknown))
    _title(ax, f"kdbound {model.name} --solve {unknown}: {model.formula}", fixed)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    _save(fig, path)
    plt.close(fig)


@_quiet
def plot_rank_sweep(columns: dict, path: str, x: str = "rank", by: str | None = None, log_x: bool = False,
                    fixed: dict | None = None) -> None:
    """linear-gaussian: the K bounds and their terms against the student rank (or the swept parameter ``x``;
    with ``by``, a second sweep, kl_bound once per value of ``by``).

    Integer rank ticks; each curve has its own marker and line style (and the
    constant terms are drawn dashed, behind), so curves that coincide stay visible.
    """
    check_plot_path(path)
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    r = _values(columns[x])
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    if by is not None:
        columns = {x: columns[x], by: columns[by], "kl_bound": columns["kl_bound"]}
    styles = {  # key: (marker, linestyle, linewidth, marker size, z-order, label)
        "kl_bound": ("o", "-", 2.2, 6, 5, "kl_bound (paper)"),
        "kl_bound_tight": ("s", "--", 1.8, 5, 6, "kl_bound_tight"),
        "kl_exact": ("*", "none", 1.0, 11, 8, "kl_exact (no rank bottleneck)"),
        "apx": ("^", "-", 1.4, 6, 4, "apx (rank cost)"),
        "dataset_shift_bound": ("D", ":", 1.6, 7, 3, "dataset_shift_bound"),
        "spread": ("x", "-.", 1.4, 7, 7, "spread"),
        "cov": ("v", (0, (1, 3)), 1.4, 5, 2, "cov"),
    }
    positive, drawn = [], {}
    for key, (marker, ls, lw, ms, z, label) in styles.items():
        if key not in columns:
            continue
        if by is not None:
            positive += [v for y in _curves(ax, r, columns, key, by, label) for v in y if np.isfinite(v) and v > 0]
            continue
        y = np.array([np.nan if v is None else v for v in columns[key]], dtype=float)
        if not np.isfinite(y).any():
            continue
        positive += [v for v in y if np.isfinite(v) and v > 0]
        const = np.isfinite(y).sum() > 1 and np.nanmax(y) == np.nanmin(y)
        same = [k for k, other in drawn.items() if np.allclose(y, other, rtol=0.02, atol=0, equal_nan=True)]
        drawn[key] = y
        words = ([f"same at every {x}"] if const else []) + ([f"within 2% of {same[0]}"] if same else [])
        ax.plot(r, y, marker=marker, ls=ls, lw=lw, ms=ms, zorder=z, mfc="none" if marker not in "x*" else None,
                label=label + (f" ({'; '.join(words)})" if words else ""))
    if log_x:
        ax.set_xscale("log")
    elif x == "rank":
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(LABELS.get(x, x))
    ax.set_ylabel("nats")
    # logarithmic above the smallest positive value shown, linear below it (so zeros stay on the plot)
    ax.set_yscale("symlog", linthresh=min(positive) / 2 if positive else 1.0)
    ax.set_ylim(bottom=0)  # K and its terms are >= 0: no empty negative half
    what = "bounds on K and their terms" if by is None else f"kl_bound, one curve per {by},"
    _title(ax, f"kdbound linear-gaussian: {what} against {LABELS.get(x, x)}", fixed)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))  # beside the plot, not over it
    _save(fig, path)
    plt.close(fig)


# --------------------------------------------------------------------------- simulate

def check_simulate_plot(path: str) -> None:
    """--plot for simulate, checked before any simulation: the file name, its folder and matplotlib."""
    check_plot_path(path)
    _pyplot()


@_quiet
def plot_simulate(columns: dict, name: str, path: str, log_x: bool = False, caveat: str | None = None,
                  fixed: dict | None = None, by: str | None = None) -> None:
    """simulate --sweep: the measured gaps (error bars: +-2 standard errors) and the bounds against ``name``.

    The certified bounds (sigma = 1) are often far outside the range of the gaps: the
    y axis follows the gaps and the plug-in bounds, and a certified bound beyond it is
    named in the legend with its range instead of flattening the plot.  With ``by`` (a
    second sweep): gen_S and the plug-in bound, one colour per value of ``by``.
    """
    check_plot_path(path)
    if by is not None:
        _plot_simulate_grid(columns, name, by, path, log_x, caveat, fixed)
        return
    plt = _pyplot()
    x = np.asarray(columns[name], dtype=float)

    def col(key):
        return np.asarray(columns[key], dtype=float)

    gen_t, gen_s = col("gen_t"), col("gen_s")
    hat, dv = col("upper_bound_hat"), col("gen_t") + col("dv_optimum")
    upper, lower = col("upper_bound"), col("lower_bound")
    fig, ax = plt.subplots(figsize=(6.8, 4.4))
    ax.errorbar(x, gen_t, yerr=2 * col("gen_t_se"), marker="o", ms=4, capsize=3, color="tab:blue",
                label="gen_T (teacher), ±2 SE")
    ax.errorbar(x, gen_s, yerr=2 * col("gen_s_se"), marker="s", ms=4, capsize=3, color="tab:red",
                label="gen_S (student, pseudo data), ±2 SE")
    ax.plot(x, hat, ls="--", color="tab:orange", label="gen_T + sigma_hat sqrt(2K) (plug-in)")
    ax.plot(x, dv, ls=":", color="tab:green", lw=2, label="gen_T + DV optimum (plug-in)")
    measured = np.concatenate([gen_t - 2 * col("gen_t_se"), gen_s + 2 * col("gen_s_se"), gen_s - 2 * col("gen_s_se"),
                               hat, dv])
    measured = measured[np.isfinite(measured)]
    lo, hi = (float(measured.min()), float(measured.max())) if measured.size else (-1.0, 1.0)
    pad = 0.08 * (hi - lo or 1.0)
    lo, hi = lo - pad, hi + pad
    for y, style, label in ((upper, "-", "upper bound, Thm 1 (sigma = 1)"), (lower, "-.", "lower bound (sigma = 1)")):
        fin = y[np.isfinite(y)]
        inside = fin.size and fin.min() >= lo - 3 * pad and fin.max() <= hi + 3 * pad
        if inside:
            lo, hi = min(lo, float(fin.min()) - pad), max(hi, float(fin.max()) + pad)
            ax.plot(x, y, ls=style, color="0.25", label=label)
        elif fin.size:
            where = "above" if fin.min() > hi else ("below" if fin.max() < lo else "outside")
            ax.plot([], [], ls=style, color="0.25",
                    label=f"{label}: {fin.min():.3g} to {fin.max():.3g}, {where} the plot")
    if log_y(ax, gen_t, gen_s, hat, dv):  # gaps that shrink over decades (a sweep of n) stay apart
        central = np.concatenate([gen_t, gen_s, hat, dv])
        central = central[np.isfinite(central)]
        lo, hi = float(central.min()) / 1.5, float(central.max()) * 1.5
    ax.set_ylim(lo, hi)
    if log_x:
        ax.set_xscale("log")
    if name in ("n", "d", "k", "rank", "datasets"):
        from matplotlib.ticker import MaxNLocator  # integer parameters get integer ticks

        if not log_x:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.axhline(0.0, color="0.85", lw=0.8, zorder=0)
    ax.set_xlabel(LABELS.get(name, {"n": "training-set size n", "d": "features d", "k": "outputs k",
                                    "datasets": "simulated training sets"}.get(name, name)))
    ax.set_ylabel("generalization gap")
    kinds = sorted(set(columns.get("kl_kind", [])))
    title = "kdbound simulate: measured gaps and bounds" + (f" (K {', '.join(kinds)})" if kinds else "")
    _title(ax, title + (f"\n{caveat}" if caveat else ""), fixed)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    _save(fig, path)
    plt.close(fig)


def _plot_simulate_grid(columns: dict, name: str, by: str, path: str, log_x: bool, caveat, fixed) -> None:
    """simulate with two sweeps: per value of ``by``, the measured gen_S (+-2 SE) and the plug-in upper
    bound gen_T + sigma_hat sqrt(2K) in one colour, against ``name``."""
    plt = _pyplot()
    x, byv = _values(columns[name]), _values(columns[by])
    gen_s, se, hat = _values(columns["gen_s"]), _values(columns["gen_s_se"]), _values(columns["upper_bound_hat"])
    fig, ax = plt.subplots(figsize=(6.8, 4.4))
    markers = "osD^vP*X"
    for i, v in enumerate(dict.fromkeys(byv.tolist())):
        at = byv == v
        ax.errorbar(x[at], gen_s[at], yerr=2 * se[at], marker=markers[i % len(markers)], ms=4, capsize=3,
                    color=f"C{i % 10}", label=f"{SYMBOLS.get(by, by)} = {_number(v)}")
        ax.plot(x[at], hat[at], ls="--", color=f"C{i % 10}")
    ax.plot([], [], ls="-", marker="o", color="0.3", label="gen_S (student, pseudo data), ±2 SE")
    ax.plot([], [], ls="--", color="0.3", label="gen_T + sigma_hat sqrt(2K) (plug-in)")
    log_y(ax, gen_s, hat)
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel(LABELS.get(name, name))
    ax.set_ylabel("generalization gap")
    _title(ax, "kdbound simulate: measured gaps and plug-in bounds" + (f"\n{caveat}" if caveat else ""), fixed)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    _save(fig, path)
    plt.close(fig)
