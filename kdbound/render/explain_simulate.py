"""What ``kdbound simulate`` says about its result: the report of one simulation (results,
conditions, notes, the labels beside the values) and the table and notes of a sweep.
Presentation only: the numbers come from :mod:`kdbound.engine.simulate`."""

from __future__ import annotations

import math

import numpy as np

from ..engine.simulate import RESULT_KEYS, Z_VERDICT
from ..formats import Format
from .environment import Environment
from .explain import sweep_title
from .report import Check, Report, render_rows
from .values import non_finite_notes, table_text

THEOREM = "Theorems 1 and 10 (Li and He, ISIT 2026), checked by Monte Carlo in the linear-Gaussian model"
FORMULA = "gen_T - sigma sqrt(2K) <= gen_S <= gen_T + sigma sqrt(2K)"

#: the sweep columns a table shows, most important first, as many as the terminal fits (all in other formats)
TABLE_SWEEP = ("gen_t", "gen_s", "verdict_upper", "verdict_lower", "kl", "upper_bound_hat", "upper_bound",
               "lower_bound", "gen_t_se", "gen_s_se", "dv_optimum", "z_upper", "z_lower", "gen_s_real")


# --------------------------------------------------------------------------- one simulation

def _sigma_s_text(model, sigma_text):
    if model.student != "kernel":
        return None
    if isinstance(model.sigma_s, str):
        return "teacher"
    if isinstance(model.sigma_s, float):
        return model.sigma_s
    return sigma_text


def simulate_report(res, model, opts: dict, datasets: int, w_path, sigma_text, fmt) -> Report:
    """The report of one simulation (``opts``: the options, for the seed; ``w_path``/``sigma_text``: the
    files or text given for W* and Sigma_S)."""
    source = (f"file {w_path}" if w_path is not None
              else f"synthetic, seed {opts['seed']}")
    inputs = {"w_star": source, "n": model.n, "d": model.d, "k": model.k, "lam": model.lam, "beta_t": model.beta_t,
              "noise": model.noise, "student": model.student}
    if model.student == "kernel":
        inputs.update(rank=model.rank, sigma_s=_sigma_s_text(model, sigma_text))
    else:
        inputs["beta_s"] = model.beta_s
    inputs.update(clip=model.clip, datasets=datasets, seed=opts["seed"], kl_scale=res.kl_scale)
    results = {key: getattr(res, key) for key in RESULT_KEYS}
    verdict = {"upper": res.verdict_upper, "lower": res.verdict_lower}
    notes = notes_of(res, model)
    notes += [n for n in non_finite_notes(results) if not any(n.split()[0] in m for m in notes)]
    labels = {
        "gen_t": f"SE {res.gen_t_se:.2g}", "gen_s": f"SE {res.gen_s_se:.2g}, pseudo data",
        "gen_s_real": f"SE {res.gen_s_real_se:.2g}, real labels", "kl": f"{res.kl_kind}, SE {res.kl_se:.2g}",
        "sigma": "certified", "sigma_hat": "plug-in, not certified",
        "upper_bound": "Theorem 1, sigma", "upper_bound_hat": "with sigma_hat",
        "lower_bound": "two-sided, sigma", "dv_optimum": "plug-in, on gen_S - gen_T",
        "z_upper": res.verdict_upper, "z_lower": res.verdict_lower,
    }
    if fmt in (Format.CSV, Format.TSV):     # machine rows of key, value: the verdict as rows too
        results.update(kl_kind=res.kl_kind, verdict_upper=res.verdict_upper, verdict_lower=res.verdict_lower)
    extra = {"kl_kind": res.kl_kind, "verdict": verdict} if fmt != Format.TABLE else {}
    return Report(command="simulate", theorem=THEOREM, formula=FORMULA, inputs=inputs, results=results,
                  checks=_checks(res, model, datasets), notes=notes, extra=extra, labels=labels)


def notes_of(res, model) -> list[str]:
    """The notes of one simulation (also the source of a sweep's notes)."""
    notes = []
    if res.kl_scale != 1.0:
        notes.append(f"--kl-scale {res.kl_scale!r}: the bounds use K x {res.kl_scale!r}, not K, so they are not the "
                     "theorems' bounds (an experiment; a violation below 1 is expected and tests the verdict).")
    if model.kl_kind == "bound-tight":
        notes.append(f"the kernel student has a rank bottleneck (rank {model.rank} < min(k, d) = "
                     f"{min(model.k, model.d)}): K has no closed form, so kl is kl_bound_tight (exact dataset "
                     "shift + Cov + Apx + Spread, docs/theory.md), an upper bound on K; the bounds stay valid.")
    if res.upper_bound >= 1.0:
        notes.append(f"upper_bound {res.upper_bound:.4g} >= 1 = b - a: with the certified sigma = 1 Theorem 1 says "
                     "nothing here (every gap is in [-1, 1]); vacuous = true.")
    if res.lower_bound <= -1.0:
        notes.append(f"lower_bound {res.lower_bound:.4g} <= -1: the two-sided lower bound says nothing here.")
    notes.append("dv_optimum = inf over l > 0 of (K + log E exp(l (h - gen_T))) / l from the simulated teacher gaps h: "
                 "a bound on gen_S - gen_T with the plug-in CGF (not certified).")
    if math.isnan(res.slack_used):
        notes.append("slack_used is undefined: the slack sigma sqrt(2K) is 0 (K = 0 or kl_scale = 0).")
    if not math.isfinite(res.kl):
        notes.insert(0, "kl is not finite: K given X could not be computed in float64 for these hyperparameters (for "
                        "example beta_s far above beta_t); the bounds are infinite (printed as null) and say "
                        "nothing.")
    elif not math.isfinite(res.upper_bound):
        notes.insert(0, "sigma sqrt(2 kl x kl_scale) is beyond float64: the bounds are infinite (printed as null) and "
                        "say nothing.")
    if res.saturated:
        notes.append(f"the loss saturates: in {res.saturated} of {res.datasets} training sets a population loss is "
                     "within 1e-4 of 1 (clip far below the residual variance); the gaps are then averages of rare "
                     "events and their standard errors (and the verdicts) are unreliable; raise --clip.")
    for key, z, margin in (("z_upper", res.z_upper, res.margin_upper), ("z_lower", res.z_lower, res.margin_lower)):
        if not math.isfinite(margin):
            notes.append(f"{key} is infinite (printed as null): the bound is infinite.")
        elif math.isinf(z):
            notes.append(f"{key} is infinite (printed as null): the margin has standard error 0; the verdict "
                         "follows its sign.")
        elif math.isnan(z):
            notes.append(f"{key} is undefined: the margin and its standard error are both 0 (verdict inconclusive).")
    return notes


def _checks(res, model, datasets: int) -> list:
    checks = [
        Check.verified(True, "loss in [0, 1], so every gap h in [-1, 1]",
                       "sigma = 1 is a certified sub-Gaussian proxy (Hoeffding's lemma)"),
        Check.verified(True, "K exact given X" if res.kl_kind == "exact" else "K replaced by kl_bound_tight >= K",
                       "closed form per dataset, averaged over the simulated X" if res.kl_kind == "exact"
                       else "rank bottleneck: no closed form; a valid upper bound keeps the bounds valid"),
        Check.verified(res.kl_scale == 1.0, f"kl_scale = {res.kl_scale:g}", "the bounds use the true K"
                       if res.kl_scale == 1.0 else "K is scaled: the bounds are not the theorems' bounds"),
        Check.assumed("sigma_hat from the empirical CGF of the simulated teacher gaps",
                      "plug-in, not certified; upper_bound_hat and dv_optimum inherit this"),
        Check.verified(datasets >= 100, f"{datasets} independent training sets",
                       f"gaps are Monte Carlo means with standard errors; verdicts at ±{Z_VERDICT:g} SE"
                       if datasets >= 100 else "few training sets: the standard errors themselves are rough"),
    ]
    return checks


# --------------------------------------------------------------------------- sweeps

def sweep_notes(rows, models, columns: dict) -> list[str]:
    """The notes of the sweep's points, each said once; the ones about a single value are summarised."""
    notes = []
    vacuous = sum(res.upper_bound >= 1.0 for _, res, _ in rows)
    if vacuous:
        notes.append(f"the certified upper bound is >= 1 (vacuous: every gap is in [-1, 1]) at {vacuous} of "
                     f"{len(rows)} points.")
    for (_, res, _), model in zip(rows, models):
        for note in notes_of(res, model):
            if not note.startswith(("upper_bound ", "lower_bound ", "z_upper", "z_lower", "the loss saturates",
                                    "--kl-scale")) and note not in notes:
                notes.append(note)
    scaled = sum(res.kl_scale != 1.0 for _, res, _ in rows)
    if scaled:
        notes.append(f"kl_scale != 1 at {scaled} of {len(rows)} points: there the bounds use K x kl_scale and are not "
                     "the theorems' bounds (an experiment).")
    saturated = sum(res.saturated > 0 for _, res, _ in rows)
    if saturated:
        notes.append(f"the loss saturates (a population loss within 1e-4 of 1) at {saturated} of {len(rows)} points: "
                     "there the gaps are averages of rare events and their standard errors are unreliable; raise "
                     "--clip.")
    for key, values in columns.items():
        if isinstance(values, np.ndarray) and values.dtype.kind == "f":
            bad = int(np.sum(~np.isfinite(values)))
            if bad:
                notes.append(f"{key} is not finite at {bad} of {len(values)} points: printed as null.")
    return notes


def _fit_columns(columns: dict, priority: list, width: int) -> set:
    """The columns, in priority order, whose values (6 significant digits) fit ``width`` whole."""
    keep, used = set(), 4
    for key in priority:
        values = columns[key]
        cell = max([len(key)] + [len(table_text(v)) for v in values]) + 3
        if used + cell > width and keep:
            break
        keep.add(key)
        used += cell
    return keep


def sweep_columns(name: str, rows) -> dict:
    """The columns of a sweep: the swept value, the results, the verdicts and the training sets of each point."""
    cols: dict = {name: np.array([r[0] for r in rows])}
    for key in RESULT_KEYS:
        if key == "vacuous":
            cols[key] = np.array([r[1].upper_bound >= 1.0 for r in rows])
        else:
            cols[key] = np.array([getattr(r[1], key) for r in rows], dtype=float)
    cols["kl_kind"] = [r[1].kl_kind for r in rows]
    cols["verdict_upper"] = [r[1].verdict_upper for r in rows]
    cols["verdict_lower"] = [r[1].verdict_lower for r in rows]
    cols["datasets"] = np.array([r[2] for r in rows])
    return cols


def render_sweep(columns: dict, name: str, fmt: Format, env: Environment) -> None:
    """A sweep's rows on stdout: on a terminal, the columns that fit (most important first) and a note
    naming the others; in the other formats, every column."""
    title = sweep_title("simulate", name)
    if fmt != Format.TABLE:
        render_rows(columns, fmt, env, title=title)
        return
    keep = _fit_columns(columns, [name, *TABLE_SWEEP], env.console().width)
    render_rows({k: columns[k] for k in columns if k in keep}, fmt, env, title=title)
    left = [k for k in columns if k not in keep]
    env.note(f"{len(left)} more columns ({', '.join(left[:4])}{', ...' if len(left) > 4 else ''}) with "
             "--format tsv, csv or json, or a wider terminal.")


def plot_caveat(rows) -> str | None:
    """The plot's caveat when some points scale K (the bounds are then not the theorems')."""
    scales = sorted({res.kl_scale for _, res, _ in rows} - {1.0})
    return f"K x kl_scale ({', '.join(f'{v:g}' for v in scales)}): not the theorems' bounds" if scales else None


def runs_written(path: str, datasets: int) -> str:
    """The line that says where --runs-out wrote the simulated runs."""
    return f"wrote {path} ({2 * datasets} runs: a teacher and a student run per training set)"
