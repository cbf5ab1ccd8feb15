"""`kdbound estimate`: read a table of training runs, check every row, call the engine, render the bounds."""

from __future__ import annotations

import io
import math
import os

import numpy as np

from ..engine import estimate as E
from ..errors import InputError, KdboundError, ParameterError, format_value, spell_text
from ..formats import Format
from ..io import tables
from ..io.atomic import AtomicFile, resolve_output
from ..render import Check, Environment, Report, non_finite_notes, render_report
from ..render.progress import Progress
from .options import Common, environment, option_name, output_format

THEOREM = ("Theorem 1 (Li and He, ISIT 2026) with K_h = KL(law of the student gap || law of the teacher gap) "
           "<= K, and its two-sided form (docs/theory.md, \"Bounds from measured runs\")")
FORMULA = "gen_T - sigma sqrt(2 K_h) <= gen_S <= gen_T + sigma sqrt(2 K_h)"

ROLES = ("teacher", "student")
#: columns read as numbers (cells are checked one by one); the others are text or ids
NUMERIC = ("train_loss", "test_loss", "gap", "n_test")
KNOWN = ("role", *NUMERIC, "dataset", "seed")


def _row_error(row: int, column: str, rule: str, value=None, refs: tuple[str, ...] = ()) -> InputError:
    got = "" if value is None else f" (got {format_value(value)})"
    return InputError(f"row {row + 1}, column {column}: {rule}{got}", refs=refs)


def _runs_error(exc: KdboundError) -> KdboundError:
    """A reader's error about ``input`` re-addressed to the RUNS argument."""
    if isinstance(exc, InputError) and exc.param == "input":
        return InputError(f"RUNS: {exc.message}", refs=exc.refs)
    return exc


def parse_jitter(text: str | None):
    """``--jitter``: a width > 0 or ``auto``."""
    if text is None:
        return None
    if text.strip().lower() == "auto":
        return "auto"
    try:
        width = float(text)
    except ValueError:
        raise ParameterError("jitter", "must be a width > 0 or 'auto'", text) from None
    if not (math.isfinite(width) and width > 0):
        raise ParameterError("jitter", "must be a width > 0 or 'auto'", text)
    return width


def check_options(opts: dict) -> dict:
    """Every option checked before the file is read; returns the engine's keyword arguments."""
    method = (opts["kl_method"] or "").strip().lower()
    if method not in E.KL_METHODS:
        raise ParameterError("kl_method", "must be gauss or knn", opts["kl_method"])
    delta = E.check_delta(opts["delta"])
    replicates = E.check_replicates(opts["bootstrap"], delta)
    E.check_loss_range(opts["loss_min"], opts["loss_max"])
    jitter = parse_jitter(opts["jitter"])
    if jitter is not None and method != "knn":
        raise InputError("only with {kl_method} knn (the Gaussian fit has no ties to break)", "jitter",
                         refs=("kl_method",))
    seed = opts["seed"]
    if seed is not None and seed < 0:
        raise ParameterError("seed", "must be >= 0", seed)
    return dict(loss_min=opts["loss_min"], loss_max=opts["loss_max"], delta=delta, kl_method=method, jitter=jitter,
                replicates=replicates, seed=seed)


# --------------------------------------------------------------------------- the runs table

class Runs:
    """The checked runs: per role, the gaps, test-set sizes, row numbers and dataset codes."""

    def __init__(self):
        self.gaps: dict[str, np.ndarray] = {}
        self.n_test: dict[str, np.ndarray | None] = {}
        self.rows: dict[str, np.ndarray] = {}
        self.datasets: dict[str, np.ndarray | None] = {}
        self.unused: list[str] = []
        self.gap_from = "gap"
        self.has_losses = False


def _columns(found: dict) -> dict:
    """Input column names by their canonical name (``test-loss`` or ``test_loss``)."""
    names = {}
    for original in found:
        name = original.strip().replace("-", "_")
        if name in names:
            raise InputError(f"RUNS: two columns name {name!r} ({names[name]!r} and {original!r})")
        names[name] = original
    if "role" not in names:
        raise InputError("RUNS: column role is missing (each run needs a role: teacher or student)")
    has_losses = [c for c in ("train_loss", "test_loss") if c in names]
    if len(has_losses) == 1:
        other = "test_loss" if has_losses[0] == "train_loss" else "train_loss"
        raise InputError(f"RUNS: column {other} is missing (give train_loss and test_loss, or gap)")
    if not has_losses and "gap" not in names:
        raise InputError("RUNS: columns train_loss and test_loss (or gap) are missing")
    return names


def _numbers(col, column: str, rows: np.ndarray) -> np.ndarray:
    """A numeric column, every cell of ``rows`` checked: a finite number, or one line naming the first bad row."""
    values, empty, not_number, raw = tables.to_float(col)
    bad = empty | not_number | ~np.isfinite(values)
    bad_rows = rows[bad[rows]]
    if bad_rows.size:
        r = int(bad_rows[0])
        if empty[r]:
            raise _row_error(r, column, "must be a number (the cell is empty)")
        if not_number[r]:
            raise _row_error(r, column, "must be a number", raw[r] if raw is not None else tables.cell(col, r))
        raise _row_error(r, column, "must be finite", float(values[r]))
    return values


def read_runs(path: str, input_format: str | None, loss_range) -> Runs:
    try:
        fmt = tables.input_format(path, input_format)
        found = tables.read_columns(path, fmt, set(NUMERIC) | {"role", "dataset"})  # cells as text
    except KdboundError as exc:
        raise _runs_error(exc) from None
    if not found or all(len(col) == 0 for col in found.values()):
        raise InputError("RUNS: the table has no runs (one row per training run is needed)")
    names = _columns(found)
    role_col = found[names["role"]]
    codes = tables.text_codes(role_col, ROLES)
    bad = np.flatnonzero(codes < 0)
    if bad.size:
        r = int(bad[0])
        if codes[r] == -2:
            raise _row_error(r, "role", "must be teacher or student (the cell is empty)")
        raise _row_error(r, "role", "must be teacher or student", str(tables.cell(role_col, r)))
    used = np.arange(codes.size)
    runs = Runs()
    runs.unused = [names[n] for n in names if n not in KNOWN]
    values = {n: _numbers(found[names[n]], names[n], used) for n in NUMERIC if n in names}
    if "train_loss" in values:
        runs.has_losses = True
        with np.errstate(over="ignore"):  # a difference beyond float64 is refused below, naming its row
            computed = values["test_loss"] - values["train_loss"]
        beyond = np.flatnonzero(~np.isfinite(computed))
        if beyond.size:
            r = int(beyond[0])
            raise _row_error(r, names["test_loss"], f"test_loss - train_loss is beyond float64's range (test_loss "
                             f"{format_value(float(values['test_loss'][r]))}, train_loss "
                             f"{format_value(float(values['train_loss'][r]))})")
        if loss_range is not None:
            a, b = loss_range
            for n in ("train_loss", "test_loss"):
                out = np.flatnonzero((values[n] < a) | (values[n] > b))
                if out.size:
                    raise _row_error(int(out[0]), names[n], "must lie in the loss range [{loss_min}, {loss_max}]",
                                     float(values[n][out[0]]), refs=("loss_min", "loss_max"))
        if "gap" in values:
            gap = values["gap"]
            scale = np.maximum.reduce([np.abs(values["train_loss"]), np.abs(values["test_loss"]), np.abs(gap),
                                       np.full(gap.shape, np.finfo(float).tiny)])
            off = np.flatnonzero(np.abs(gap - computed) > 1e-9 * scale)
            if off.size:
                r = int(off[0])
                raise _row_error(r, names["gap"], f"differs from test_loss - train_loss = {float(computed[r])!r}; give "
                                 "gap or the two losses, or make them agree", float(gap[r]))
            runs.gap_from = "gap"
        else:
            values["gap"] = computed
            runs.gap_from = "test_loss - train_loss"
    elif loss_range is not None:
        span = loss_range[1] - loss_range[0]
        out = np.flatnonzero(np.abs(values["gap"]) > span)
        if out.size:
            raise _row_error(int(out[0]), names["gap"], "must lie in [-(b - a), b - a] for a loss in [{loss_min}, "
                             "{loss_max}]", float(values["gap"][out[0]]), refs=("loss_min", "loss_max"))
    if "n_test" in values:
        n = values["n_test"]
        bad = np.flatnonzero((n < 1) | (n != np.floor(n)))
        if bad.size:
            raise _row_error(int(bad[0]), names["n_test"], "must be a whole number >= 1 (a test-set size)",
                             float(n[bad[0]]))
    datasets = tables.category_codes(found[names["dataset"]]) if "dataset" in names else None
    for code, role in enumerate(ROLES):
        rows = np.flatnonzero(codes == code)
        runs.rows[role] = rows
        runs.gaps[role] = values["gap"][rows]
        runs.n_test[role] = values["n_test"][rows] if "n_test" in values else None
        runs.datasets[role] = datasets[rows] if datasets is not None else None
    return runs


def check_counts(runs: Runs, method: str) -> None:
    need = E.KNN_MIN_RUNS if method == "knn" else E.MIN_RUNS
    for role in ROLES:
        got = runs.gaps[role].size
        if got < need:
            why = " for {kl_method} knn" if method == "knn" else ""
            raise InputError(f"column role: needs at least {need} {role} runs{why} (got {got})",
                             refs=("kl_method",))


def _shared_datasets(codes: np.ndarray | None) -> tuple[int, int] | None:
    """(runs, distinct ids) when some runs of a role share a dataset id; None otherwise."""
    if codes is None:
        return None
    known = codes[codes >= 0]
    distinct = np.unique(known).size
    return (known.size, distinct) if distinct < known.size else None


# --------------------------------------------------------------------------- the command

def run_estimate(path: str, opts: dict, common: Common, env: Environment | None) -> int:
    env = environment(env, common)
    fmt = output_format(common, env)
    kwargs = check_options(opts)
    if common.output is not None:
        resolve_output(common.output)  # a bad output path fails before any work
    loss_range = E.check_loss_range(kwargs["loss_min"], kwargs["loss_max"])
    runs = read_runs(path, common.input_format, loss_range)
    check_counts(runs, kwargs["kl_method"])
    progress = Progress(env, "kNN subsamples")
    try:
        res = E.estimate(runs.gaps["teacher"], runs.gaps["student"], n_test_teacher=runs.n_test["teacher"],
                         n_test_student=runs.n_test["student"], progress=progress, **kwargs)
    except E.TieError as tie:
        raise _tie_error(tie, runs) from None
    finally:
        progress.close()
    report = build_report(res, runs, path, kwargs)
    write_report(report, fmt, common, env)
    return 0


def _tie_error(tie: E.TieError, runs: Runs) -> InputError:
    (ra, ia), (rb, ib) = tie.first, tie.second
    row_a, row_b = int(runs.rows[ra][ia]) + 1, int(runs.rows[rb][ib]) + 1
    column = "column gap" if runs.gap_from == "gap" else "test_loss - train_loss"
    return InputError(f"rows {row_a} and {row_b}, {column}: tied values ({tie.value!r}; {tie.count} in all): the kNN "
                      "estimator needs distinct gaps; break ties with {jitter} auto (uniform noise one grid step "
                      "wide) or use {kl_method} gauss", refs=("jitter", "kl_method"))


def write_report(report: Report, fmt: Format, common: Common, env: Environment) -> None:
    if common.output is None:
        render_report(report, fmt, env)
        return
    if fmt == Format.PARQUET:
        from ..io.tables import write_table_file  # pyarrow, only for a Parquet file

        write_table_file({k: [v] for k, v in report.results.items()}, common.output, fmt)
        for note in report.notes:  # as for CSV/TSV: the file holds the values, stderr says why some are null
            env.warn(f"note: {note}")
    else:
        buf, said = io.StringIO(), io.StringIO()
        render_report(report, fmt, Environment(out=buf, err=said, stdout_isatty=False, quiet=env.quiet))
        with AtomicFile(common.output) as tmp, open(tmp, "w", encoding="utf-8") as fh:
            fh.write(buf.getvalue())
        env.stderr.write(said.getvalue())  # the notes, once the file is written (a failed write says one line)
    env.warn(f"wrote {common.output}")


def _g(x) -> str:
    return f"{x:.6g}"


def build_report(res: E.RunsEstimate, runs: Runs, path: str, kwargs: dict) -> Report:
    results = res.results()
    notes: list[str] = []
    checks: list[Check] = []
    spell = option_name
    delta = res.delta
    span = res.sigma_range

    # the proxy
    if span is None:
        notes.append(spell_text("sigma_range is null: no loss range was given ({loss_min}/{loss_max}), so no proxy is "
                                "certified; the bounds use the plug-in sigma_hat, which the runs cannot certify "
                                "(the empirical CGF misses tails the runs did not reach).", spell))
        checks.append(Check.assumed(f"sub-Gaussian teacher gap, sigma_hat = {_g(res.sigma_hat)}",
                                    "plug-in from the teacher runs' empirical CGF: not certified"))
    else:
        a, b = kwargs["loss_min"], kwargs["loss_max"]
        what = "loss" if runs.gap_from != "gap" or runs.has_losses else "gap"
        inside = f"[{_g(a)}, {_g(b)}]" if what == "loss" else f"[{_g(-span)}, {_g(span)}]"
        checks.append(Check.verified(True, f"every observed {what} lies in {inside}",
                                     "then the gap lies in [-(b-a), b-a] and sigma_range = b - a is a certified "
                                     "proxy (Hoeffding's lemma); the loss range itself is declared, not observed"))

    # independence of the runs and the conditional law
    for role in ROLES:
        shared = _shared_datasets(runs.datasets[role])
        if shared is not None:
            notes.append(f"{shared[0]} {role} runs share {shared[1]} dataset id(s): runs on one training set are not "
                         "independent draws of D_n, so these numbers estimate the law of the gap conditional on "
                         "those datasets, not over datasets (a teacher and a student sharing an id is the normal "
                         "paired design).")
    any_shared = any(_shared_datasets(runs.datasets[r]) is not None for r in ROLES)
    if runs.datasets["teacher"] is None:
        checks.append(Check.assumed("independent runs", "each run draws its own training set (no dataset column to "
                                    "check)"))
    else:
        checks.append(Check.verified(not any_shared, "independent training sets within each role",
                                     "distinct dataset ids" if not any_shared
                                     else "shared dataset ids: the law is conditional on those datasets"))

    # the test losses
    n_test = runs.n_test["teacher"] is not None
    if n_test and span is not None:
        checks.append(Check.verified(True, "finite test sets accounted for",
                                     f"Hoeffding term {_g(res.hoeffding_t)} (teacher), {_g(res.hoeffding_s)} (student) "
                                     "added to the gap intervals, delta split with the t interval"))
    else:
        checks.append(Check.assumed("test_loss is the population loss, or its errors are independent across runs",
                                    "give n_test and a loss range to add the finite test set's Hoeffding term"))
        if n_test:
            notes.append(spell_text("n_test is used only with a loss range ({loss_min}/{loss_max}): Hoeffding's "
                                    "test-set term needs it.", spell))

    # K_h
    if res.kl_method == "gauss":
        checks.append(Check.assumed("Gaussian gap laws", "kl_gap is the KL of the two Gaussian fits and kl_gap_hi "
                                    f"its parametric bootstrap limit ({res.replicates} replicates): exact for Gaussian "
                                    "gaps only"))
    else:
        bm, bk = res.subsample
        checks.append(Check.verified(True, "distinct gap values", "no zero nearest-neighbour distance"
                                     + (f" after a uniform jitter of width {_g(res.jitter)}" if res.jitter else "")))
        checks.append(Check.assumed("continuous gap laws, many runs", f"the 1-NN estimate is consistent; kl_gap_hi by "
                                    f"subsampling ({res.replicates} subsamples of {bm} student and {bk} teacher runs)"))
        if res.jitter:
            notes.append(f"kNN ties were broken by adding uniform noise of width {_g(res.jitter)} to every gap before "
                         "estimating K_h (seeded); the gaps themselves are unchanged.")
    if math.isinf(res.kl_gap):
        flat = [role for role, sd in (("teacher", res.sigma_sd), ("student", res.student_sd)) if sd == 0]
        notes.append("kl_gap is +inf, so the bounds are infinite (null): "
                     + (f"the {' and '.join(flat)} gaps are all equal, and a Gaussian fit without spread has "
                        "infinite KL against one with spread or at another value" if flat else
                        "the estimate diverges") + ".")
    if res.kl_gap_raw < 0:
        notes.append(f"the kNN estimate of K_h is {res.kl_gap_raw:.3g} < 0 (estimator noise around 0): kl_gap is "
                     "clipped at 0, as K_h >= 0.")
    for role, runs_n, skew in (("teacher", res.teacher_runs, res.skew_t), ("student", res.student_runs, res.skew_s)):
        if runs_n <= 25 * skew * skew:
            notes.append(f"the {role} gaps are skewed (sample skewness {skew:.2g}): with {runs_n} runs, no more than "
                         f"Cochran's 25 g1^2 = {25 * skew * skew:.3g}, the t interval of its mean gap may cover less "
                         "than its nominal level.")
    notes.append(f"gen_t_lo/hi and gen_s_lo/hi are two-sided intervals at level {1 - delta:g}; kl_gap_hi is "
                 f"one-sided at {1 - delta / 2:g}, so upper_bound_hi and lower_bound_lo hold at {1 - delta:g} "
                 "(Bonferroni).")

    # vacuity and the consistency check
    vacuous = set()
    if span is not None:
        vacuous = {k for k in ("upper_bound", "upper_bound_hi") if getattr(res, k) >= span}
        vacuous |= {k for k in ("lower_bound", "lower_bound_lo") if getattr(res, k) <= -span}
        for key, side in (("upper_bound", "upper"), ("lower_bound", "lower")):
            said = [k for k in (key, key + ("_hi" if side == "upper" else "_lo")) if k in vacuous]
            if said:
                rule = (f">= b - a = {_g(span)}: vacuous (the gap can never exceed b - a)" if side == "upper" else
                        f"<= -(b - a) = {_g(-span)}: vacuous (the gap is never below -(b - a))")
                notes.append(f"{' and '.join(said)} {rule}.")
    if res.observed_within_bounds is False:
        side = "above upper_bound" if res.gen_s_observed > res.upper_bound else "below lower_bound"
        limit = res.upper_bound_hi if side.startswith("above") else res.lower_bound_lo
        clear = res.gen_s_lo > res.upper_bound_hi if side.startswith("above") else res.gen_s_hi < res.lower_bound_lo
        notes.append(f"gen_s_observed lies {side}; "
                     + ("its interval misses the bound's confidence limit too (" + _g(limit) + "): the runs "
                        "contradict the bound at about level delta; check the assumptions above." if clear else
                        "within the confidence limits (" + _g(limit) + "), so this is not evidence against the "
                        "bound."))
    elif res.observed_within_bounds is None:
        notes.append("observed_within_bounds is null: a bound is not finite.")
    notes += [n for n in non_finite_notes(results) if not any(n.split()[0] in m for m in notes)]

    # the file's name (not its folder) keeps tables narrow
    inputs = {"runs": os.path.basename(path) or path, "gap": runs.gap_from, "loss_min": kwargs["loss_min"],
              "loss_max": kwargs["loss_max"], "delta": delta, "kl_method": res.kl_method,
              "bootstrap": res.replicates, "seed": kwargs["seed"]}
    if kwargs["jitter"] is not None:
        inputs["jitter"] = kwargs["jitter"]
    extra = {"teacher_runs": res.teacher_runs, "student_runs": res.student_runs, "sigma_used": res.sigma_used,
             "conditional": any_shared, "basis": {k: res.basis.get(k) for k in E.RESULT_KEYS}}
    if res.subsample is not None:
        extra["subsample"] = {"student": res.subsample[0], "teacher": res.subsample[1]}
    if res.jitter:
        extra["jitter_width"] = res.jitter
    if runs.unused:
        notes.append(f"column(s) {', '.join(map(repr, runs.unused))} are not used by estimate.")
    labels = {k: (v or "") + (", vacuous" if k in vacuous else "") for k, v in extra["basis"].items()}
    return Report(command="estimate", theorem=THEOREM, formula=FORMULA, inputs=inputs, results=results,
                  checks=checks, notes=notes, extra=extra, labels=labels)
