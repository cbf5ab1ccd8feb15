"""The real-data study of docs/real-data.md, from one command.

Runs the experiments with ``kdbound distill`` (digits, teacher mlp:64, students logistic, mlp:8 and
mlp:32, each with hard and with soft labels, n = 300, 200 runs, zero-one loss), estimates every
student's bounds with ``kdbound estimate`` (K_h by the Gaussian fit and by 1-NN, the certified proxy
sigma = b - a and the plug-in sigma_hat), writes the tables and findings into docs/real-data.md
between its ``<!-- study:NAME -->`` markers, and draws the figure (docs/real-data.png and .pdf).

Run (a few minutes on two cores; runs files go to --out, and a second call resumes them):

    python docs/real_data_study.py
    python docs/real_data_study.py --runs 60 --out /tmp/study --doc /tmp/real-data.md --figure /tmp/fig.png

Every number in the doc's generated sections comes from this run.  The options other than the
set-up's exist for CI's reduced run (tests/test_real_data_study.py).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import math
import os
import re
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
LABELS = ("hard", "soft")
#: kNN jitter widths of the sensitivity table, besides 'auto' (zero-one gaps lie on a grid of 1/n and 1/n_test)
JITTERS = ("auto", "0.001", "0.003", "0.01")


def _kdbound(*args) -> subprocess.CompletedProcess:
    """Run kdbound (this interpreter's); a failure stops the study with its message."""
    p = subprocess.run([sys.executable, "-m", "kdbound", *map(str, args)], capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"kdbound {' '.join(map(str, args))} failed ({p.returncode}):\n{p.stderr}")
    return p


def kdbound(*args) -> str:
    """kdbound's stdout."""
    return _kdbound(*args).stdout


def kdbound_err(*args) -> str:
    """kdbound's stderr (what distill says it ran)."""
    return _kdbound(*args).stderr


def estimate(path: str, *opts) -> dict:
    return json.loads(kdbound("estimate", path, "--format", "json", *opts))


# ----------------------------------------------------------------------------- the experiments

def file_part(spec: str) -> str:
    """How distill names a student's runs file (docs/distill.md): the spec with other characters as '-'."""
    return re.sub(r"[^A-Za-z0-9._=-]+", "-", spec).strip("-")


def run_experiments(a) -> tuple[dict, list[str]]:
    """{(labels, student): runs file}, running (or resuming) one distill per label mode; and distill's line
    saying what ran, per mode."""
    os.makedirs(a.out, exist_ok=True)
    files, said = {}, []
    for labels in LABELS:
        base = os.path.join(a.out, f"runs-{labels}.csv")
        paths = {s: f"{os.path.splitext(base)[0]}.{file_part(s)}.csv" for s in a.students}
        resume = ["--resume"] if any(os.path.exists(p) for p in paths.values()) else []
        args = ["distill", "--data", a.data, "--teacher", a.teacher, *[x for s in a.students for x in ("--student", s)],
                "--labels", labels, "--n", a.n, "--runs", a.runs, "--min-test", a.min_test, "--scale", a.scale,
                "--seed", a.seed, "--runs-out", base, "--no-estimate", *resume]
        if a.jobs:
            args += ["--jobs", a.jobs]
        started = time.perf_counter()
        err = kdbound_err(*args)
        minutes = (time.perf_counter() - started) / 60
        ran = re.search(r"(\d+) runs: (\d+) computed ([^,\n]*)(?:, (\d+) kept)?", err)
        if ran is None:  # nothing left to compute
            said.append(f"{labels} labels: every run kept from an earlier call")
        else:
            said.append(f"{labels} labels: {ran.group(2)} runs computed {ran.group(3)} in {minutes:.1f} min"
                        + (f", {ran.group(4)} kept from an earlier call" if ran.group(4) else ""))
        files.update({(labels, s): p for s, p in paths.items()})
    return files, said


def read_runs(path: str) -> dict:
    """{role: [(dataset, gap, test_accuracy)]} of a runs file."""
    out = {"teacher": [], "student": []}
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            out[row["role"]].append((int(row["dataset"]), float(row["gap"]), float(row["test_accuracy"])))
    return out


def correlation(runs: dict) -> float:
    """The teacher-student gap correlation over paired runs (one dataset id each)."""
    t = {d: g for d, g, _ in runs["teacher"]}
    pairs = [(t[d], g) for d, g, _ in runs["student"] if d in t]
    n = len(pairs)
    mx, my = sum(p[0] for p in pairs) / n, sum(p[1] for p in pairs) / n
    sxy = sum((x - mx) * (y - my) for x, y in pairs)
    sxx, syy = sum((x - mx) ** 2 for x, _ in pairs), sum((y - my) ** 2 for _, y in pairs)
    return sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else math.nan


# ----------------------------------------------------------------------------- the estimates

@dataclass
class Row:
    """One student with one kind of labels: estimate's numbers, certified and plug-in."""

    student: str
    labels: str
    runs: int
    acc_t: float
    acc_s: float
    corr: float
    cert: dict                      # estimate's results, gauss, certified sigma = b - a
    knn: dict                       # estimate's results, knn with jitter auto, certified sigma
    plug: dict                      # the plug-in bounds: {"gauss": (lower, upper), "knn": (lower, upper)}
    plugin_source: str              # which keys they came from
    jitter_width: float
    sensitivity: dict = field(default_factory=dict)   # jitter -> (kl_gap, kl_gap_hi) of knn


def _plugin(certified: dict, path: str, opts) -> tuple[tuple[float, float], str]:
    """The plug-in bounds (sigma_hat): estimate's ``*_plugin`` keys when it prints them, else estimate's bounds
    without a loss range (it then uses sigma_hat)."""
    res = certified["results"]
    if "upper_bound_plugin" in res:
        return (res.get("lower_bound_plugin", math.nan), res["upper_bound_plugin"]), "upper_bound_plugin"
    report = estimate(path, *opts)
    if report.get("sigma_used") != "sigma_hat":
        raise SystemExit(f"estimate without a loss range used {report.get('sigma_used')!r}, not sigma_hat, and printed "
                         "no upper_bound_plugin: find where estimate now reports its plug-in bounds")
    res = report["results"]
    return (res["lower_bound"], res["upper_bound"]), "estimate without a loss range (sigma_hat)"


def estimate_row(labels: str, student: str, path: str, a) -> Row:
    runs = read_runs(path)
    rng = ("--loss-min", "0", "--loss-max", "1")
    cert = estimate(path, *rng)
    acc = {r: sum(x[2] for x in v) / len(v) for r, v in runs.items()}
    row = Row(student, labels, len(runs["student"]), acc["teacher"], acc["student"], correlation(runs),
              cert["results"], {}, {}, "", math.nan)
    row.plug["gauss"], row.plugin_source = _plugin(cert, path, ())
    if row.runs >= 50:
        knn = estimate(path, *rng, "--kl-method", "knn", "--jitter", "auto")
        row.knn, row.jitter_width = knn["results"], knn.get("jitter_width", math.nan)
        row.plug["knn"], _ = _plugin(knn, path, ("--kl-method", "knn", "--jitter", "auto"))
        for width in JITTERS:
            res = knn["results"] if width == "auto" else estimate(path, *rng, "--kl-method", "knn", "--jitter",
                                                                   width)["results"]
            row.sensitivity[width] = (res["kl_gap"], res["kl_gap_hi"])
    return row


# ----------------------------------------------------------------------------- the doc

def _f(x: float, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:.{digits}f}"


def _interval(res: dict, key: str, lo: str, hi: str) -> str:
    return f"{_f(res[key])} [{_f(res[lo])}, {_f(res[hi])}]"


def _within(lower: float, value: float, upper: float) -> str:
    return "yes" if lower <= value <= upper else "**no**"


def gaps_table(rows) -> str:
    out = ["| student | labels | accuracy T / S | gen_T [95% CI] | gen_S [95% CI] | corr(h_T, h_S) | "
           "K_h gauss [upper] | K_h knn [upper] |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        k = r.knn
        knn = f"{_f(k['kl_gap'])} [{_f(k['kl_gap_hi'])}]" if k else "n/a (< 50 runs)"
        out.append(f"| {r.student} | {r.labels} | {_f(r.acc_t)} / {_f(r.acc_s)} | "
                   f"{_interval(r.cert, 'gen_t', 'gen_t_lo', 'gen_t_hi')} | "
                   f"{_interval(r.cert, 'gen_s_observed', 'gen_s_lo', 'gen_s_hi')} | {_f(r.corr, 2)} | "
                   f"{_f(r.cert['kl_gap'])} [{_f(r.cert['kl_gap_hi'])}] | {knn} |")
    return "\n".join(out)


def bounds_table(rows) -> str:
    out = ["| student | labels | gen_S | certified, gauss [lower, upper] | certified, knn | in certified (gauss / knn) "
           "| plug-in, gauss | plug-in, knn | in plug-in (gauss / knn) |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        g = r.cert["gen_s_observed"]
        cg = (r.cert["lower_bound"], r.cert["upper_bound"])
        ck = (r.knn["lower_bound"], r.knn["upper_bound"]) if r.knn else None
        pg, pk = r.plug["gauss"], r.plug.get("knn")
        span = lambda b: f"[{_f(b[0])}, {_f(b[1])}]" if b else "n/a"  # noqa: E731
        inside = " / ".join(_within(b[0], g, b[1]) for b in (cg, ck) if b)
        plug_in = " / ".join(_within(b[0], g, b[1]) for b in (pg, pk) if b)
        out.append(f"| {r.student} | {r.labels} | {_f(g)} | {span(cg)} | {span(ck)} | {inside} | {span(pg)} | "
                   f"{span(pk)} | {plug_in} |")
    return "\n".join(out)


def jitter_table(rows) -> str:
    if not any(r.sensitivity for r in rows):
        return "(kNN needs at least 50 runs per role: no sensitivity table in this run.)"
    out = ["| student | labels | auto width | " + " | ".join(f"K_h knn, jitter {w}" for w in JITTERS) + " |",
           "|---|---|---|" + "---|" * len(JITTERS)]
    for r in rows:
        cells = [f"{_f(r.sensitivity[w][0])} [{_f(r.sensitivity[w][1])}]" for w in JITTERS]
        out.append(f"| {r.student} | {r.labels} | {r.jitter_width:.2g} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def _order(rows, key) -> str:
    return " < ".join(r.student for r in sorted(rows, key=key))


def findings(rows, a, ran: list[str]) -> str:
    """The sentences whose numbers come from this run, as Markdown bullets wrapped at 100 characters."""
    n_rows = len(rows)
    vacuous = [r for r in rows if r.cert["upper_bound"] >= 1.0 or (r.knn and r.knn["upper_bound"] >= 1.0)]
    tight = min(rows, key=lambda r: r.cert["upper_bound"])
    plug_ok = [r for r in rows if r.plug["gauss"][0] <= r.cert["gen_s_observed"] <= r.plug["gauss"][1]]
    plug_knn = [r for r in rows if "knn" in r.plug]
    plug_knn_ok = [r for r in plug_knn if r.plug["knn"][0] <= r.cert["gen_s_observed"] <= r.plug["knn"][1]]
    ratio = tight.cert["upper_bound"] / max(tight.cert["gen_s_observed"], 1e-12)
    sig = [r.cert["sigma_hat"] for r in rows]
    kls = [r.cert["kl_gap"] for r in rows]
    lines = [f"* Produced by `python docs/real_data_study.py` on {datetime.date.today().isoformat()}: "
             f"{a.runs} runs per label mode ({n_rows} student rows); data {a.data}, teacher {a.teacher}, "
             f"n = {a.n}, --scale {a.scale}, seed {a.seed}; " + "; ".join(ran) + ".",
             f"* Certified bound (sigma = b - a = 1): vacuous (upper >= 1) for {len(vacuous)} of {n_rows} rows; "
             f"the tightest is {tight.student} ({tight.labels}) at {_f(tight.cert['upper_bound'])} against an "
             f"observed gen_S of {_f(tight.cert['gen_s_observed'])} ({ratio:.1f} times).",
             f"* The teacher gaps' own spread is far below the certified proxy: sigma_hat = {_f(max(sig), 5)} "
             f"(from the teacher runs, which every row shares; their standard deviation s_T = "
             f"{_f(max(r.cert['sigma_sd'] for r in rows), 5)}), {1 / max(sig):.0f} times smaller than sigma = 1; "
             f"and K_h (Gaussian fit) runs from {_f(min(kls))} to {_f(max(kls))} nats, so sigma sqrt(2 K_h) "
             "reaches b - a = 1 once K_h >= 0.5.",
             f"* Plug-in bound (sigma_hat): gen_S within it for {len(plug_ok)} of {n_rows} rows with K_h gauss"
             + (f", {len(plug_knn_ok)} of {len(plug_knn)} with K_h knn." if plug_knn else ".")]
    sens = [max(v[0] for v in r.sensitivity.values()) / min(v[0] for v in r.sensitivity.values() if v[0] > 0)
            for r in rows if r.sensitivity and any(v[0] > 0 for v in r.sensitivity.values())]
    if sens:
        widths = [r.jitter_width for r in rows if r.sensitivity]
        lines.append(f"* kNN jitter: the automatic width (the smallest distance between distinct gaps) is "
                     f"{min(widths):.2g} to {max(widths):.2g} here; across the widths of the jitter table, K_h by 1-NN "
                     f"changes by a factor of up to {max(sens):.1f} for a student between its non-zero values"
                     + (" (and an estimate reaches 0, where it is clipped)" if any(
                         min(v[0] for v in r.sensitivity.values()) == 0 for r in rows if r.sensitivity) else "") + ".")
    for labels in LABELS:
        group = [r for r in rows if r.labels == labels]
        if not group:
            continue
        by_gap = _order(group, lambda r: r.cert["gen_s_observed"])
        lines.append(f"* {labels} labels: students by measured gen_S: {by_gap}"
                     f"; by K_h gauss: {_order(group, lambda r: r.cert['kl_gap'])}"
                     + (f"; by K_h knn: {_order(group, lambda r: r.knn['kl_gap'])}." if all(r.knn for r in group)
                        else "."))
    return "\n".join(textwrap.fill(line, 100, subsequent_indent="  ", break_on_hyphens=False,
                                   break_long_words=False) for line in lines)


def write_sections(doc: str, sections: dict) -> None:
    """Replace the text between ``<!-- study:NAME -->`` and ``<!-- /study:NAME -->`` in ``doc``."""
    with open(doc, encoding="utf-8") as fh:
        text = fh.read()
    for name, body in sections.items():
        pattern = re.compile(rf"(<!-- study:{name} -->\n).*?(<!-- /study:{name} -->)", flags=re.S)
        if not pattern.search(text):
            raise SystemExit(f"{doc}: no markers <!-- study:{name} --> ... <!-- /study:{name} -->")
        text = pattern.sub(lambda m, body=body: m.group(1) + body.rstrip("\n") + "\n" + m.group(2), text)
    with open(doc, "w", encoding="utf-8") as fh:
        fh.write(text)


# ----------------------------------------------------------------------------- the figure

def figure(rows, path: str) -> None:
    """gen_S with its interval beside each student's bounds: (a) certified sigma, (b) plug-in sigma_hat."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    plt.rcParams.update({"font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8, "legend.fontsize": 7,
                         "xtick.labelsize": 7, "ytick.labelsize": 7, "pdf.fonttype": 42})
    fig, axes = plt.subplots(2, 1, figsize=(3.4, 4.9), sharex=True, layout="constrained")
    xs = list(range(len(rows)))
    gen_s = [r.cert["gen_s_observed"] for r in rows]
    err = [[g - r.cert["gen_s_lo"] for g, r in zip(gen_s, rows)], [r.cert["gen_s_hi"] - g for g, r in zip(gen_s, rows)]]
    titles = (r"(a) certified proxy $\sigma = b - a = 1$", r"(b) plug-in proxy $\hat\sigma$ (not certified)")
    for ax, title in zip(axes, titles):
        ax.errorbar(xs, gen_s, yerr=err, fmt="o", color="black", ms=3, capsize=2, lw=0.8, zorder=3)
        ax.plot(xs, [r.cert["gen_t"] for r in rows], "x", color="0.4", ms=4, mew=1.0, zorder=4)
        ax.set_title(title, loc="left")
        ax.set_ylabel("generalization gap (0-1 loss)")
        ax.grid(axis="y", lw=0.3, color="0.85")
    off, colors = {"gauss": -0.2, "knn": 0.2}, {"gauss": "tab:blue", "knn": "tab:orange"}
    for method in ("gauss", "knn"):
        cert = [(r.cert if method == "gauss" else r.knn) for r in rows]
        have = [i for i, c in enumerate(cert) if c]
        at = [xs[i] + off[method] for i in have]
        axes[0].vlines(at, [cert[i]["lower_bound"] for i in have], [cert[i]["upper_bound"] for i in have],
                       color=colors[method], lw=2.2)
        plug = [rows[i].plug[method] for i in have]
        axes[1].vlines(at, [p[0] for p in plug], [p[1] for p in plug], color=colors[method], lw=2.2)
    top = max(1.2, 1.05 * max(max(r.cert["upper_bound"], r.knn["upper_bound"] if r.knn else 0) for r in rows))
    axes[0].set_ylim(-top, top)
    axes[0].axhspan(1.0, top, color="0.9", zorder=0, lw=0)
    axes[0].axhspan(-top, -1.0, color="0.9", zorder=0, lw=0)
    axes[1].set_xticks(xs, [f"{r.student}\n{r.labels}" for r in rows])
    axes[1].set_xlim(-0.6, len(rows) - 0.4)
    handles = [plt.Line2D([], [], marker="o", color="black", ms=3, lw=0.8, label=r"gen$_S$, 95% interval"),
               plt.Line2D([], [], marker="x", color="0.4", ls="", ms=4, label=r"gen$_T$"),
               plt.Line2D([], [], color=colors["gauss"], lw=2.2, label=r"bounds, $K_h$ by Gaussian fit"),
               plt.Line2D([], [], color=colors["knn"], lw=2.2, label=r"bounds, $K_h$ by 1-NN"),
               Patch(color="0.9", label=r"vacuous: $|$gap$| > b - a$")]
    fig.legend(handles=handles, loc="outside upper center", ncol=2, frameon=False, handlelength=1.6,
               columnspacing=1.0)
    for ext in (".png", ".pdf"):
        fig.savefig(os.path.splitext(path)[0] + ext, dpi=300)
    plt.close(fig)


# ----------------------------------------------------------------------------- main

def options(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=200)
    p.add_argument("--jobs", type=int, default=None, help="distill's --jobs (default: every core)")
    p.add_argument("--out", default=os.path.join(HERE, "..", "benchmarks", "data", "real-data"),
                   help="folder of the runs files (kept: a second call resumes them)")
    p.add_argument("--doc", default=os.path.join(HERE, "real-data.md"))
    p.add_argument("--figure", default=os.path.join(HERE, "real-data.png"))
    p.add_argument("--data", default="digits")
    p.add_argument("--teacher", default="mlp:64")
    p.add_argument("--students", default="logistic,mlp:8,mlp:32", type=lambda t: tuple(t.split(",")))
    p.add_argument("--n", type=int, default=300)
    p.add_argument("--min-test", type=int, default=100)
    p.add_argument("--scale", default="standard")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def main(argv=None) -> None:
    a = options(argv)
    start = time.perf_counter()
    files, ran = run_experiments(a)
    rows = [estimate_row(labels, s, files[(labels, s)], a) for labels in LABELS for s in a.students]
    seconds = time.perf_counter() - start
    write_sections(a.doc, {"gaps": gaps_table(rows), "bounds": bounds_table(rows), "jitter": jitter_table(rows),
                           "findings": findings(rows, a, ran)})
    figure(rows, a.figure)
    print(f"wrote {a.doc} and {a.figure} ({seconds:.0f} s); plug-in bounds from: {rows[0].plugin_source}")


if __name__ == "__main__":
    main()
