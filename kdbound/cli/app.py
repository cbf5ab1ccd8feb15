"""The Typer commands: parse options, call the engine, hand the result to a renderer.

The bound commands are built from their specs (:mod:`kdbound.engine.specs`):
each parameter becomes an option with the spec's help text, followed by the
shared options of :mod:`.options`, so names and help have one source.
"""

import inspect
from typing import Annotated, Optional

import typer

from .._version import __version__
from ..errors import InputError
from ..engine.specs import LOWER, SHARPNESS, UPPER, BoundSpec
from ..engine.synthetic import DEFAULT_D, DEFAULT_K, DEFAULT_N
from .click_api import Choice
from .group import KdboundCommand, KdboundGroup
from .options import (Common, Real, check_output, environment, option, option_name, output_format, select_report,
                      shared_parameters)
from ..render.report import render_reports, write_reports
from .run import bound_report, run_bound

SETTINGS = dict(
    cls=KdboundGroup,
    name="kdbound",
    help="""Generalization bounds for knowledge distillation (Li and He, ISIT 2026).

Examples:

kdbound upper --gen-t 0.05 --kl 0.2 --sigma 0.1
kdbound upper --gen-t 0.05 --sigma 0.1 --sweep kl=log:1e-3:10:50 --plot upper.pdf
kdbound estimate runs.csv --loss-min 0 --loss-max 1

Every command's --help lists its options. The guides are in docs/ (docs/pipelines.md: batch, solve, sweep, \
plot and output formats). Exit status: 0 ok, 2 bad input or no solution, 3 some batch rows failed, 130 \
interrupted, 1 internal error.""",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)
app = typer.Typer(**SETTINGS)


def app_for(argv: list[str]) -> typer.Typer:
    """The app with only the command that ``argv`` runs, when it names one.

    Typer builds a click command for every registered command up front, about
    a millisecond per option; the console script needs only one of them.
    Anything else (help, completion, an unknown name) gets the full app.
    """
    name = argv[0] if argv else None
    chosen = [c for c in app.registered_commands if (c.name or c.callback.__name__) == name]
    if not chosen:
        return app
    sub = typer.Typer(**SETTINGS)
    sub.registered_callback = app.registered_callback
    sub.registered_commands = chosen
    return sub


def _version(value: bool) -> None:
    if value:
        typer.echo(f"kdbound {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[Optional[bool], typer.Option("--version", callback=_version, is_eager=True,
                                                     help="Show the version and exit.")] = None,
) -> None:
    """kdbound: the generalization bounds of knowledge distillation, as numbers.

    Exit status: 0 ok, 2 bad input or no solution, 3 some batch rows failed, 1 internal error.
    """


def escape(text: str) -> str:
    """Help text for rich: brackets are mathematics (E[h], [a, b]), not markup."""
    return text.replace("[", "\\[")


def _doc(text: str) -> str:
    """Help text: each paragraph on one line (the formatter wraps it to the terminal), brackets escaped.

    A paragraph whose lines start with two spaces keeps its lines (formulas, examples).
    """
    paras = []
    for para in text.split("\n\n"):
        lines = para.splitlines()
        if all(line.startswith("  ") for line in lines if line.strip()):
            paras.append("\n".join(line.strip() for line in lines))
        else:
            paras.append(" ".join(line.strip() for line in lines))
    return escape("\n\n".join(paras))


#: help panels by a parameter's role
PANELS = {
    "inputs": "Inputs",
    "sigma": "sigma, given",
    "loss": "Loss range and n (stability routes; vacuity)",
    "stability": "sigma from uniform stability (Proposition 9)",
    "param-stability": "sigma from parameter stability (Lemma 13)",
    "central": "Central condition (Theorem 10)",
    "constants": "Constants of Theorem 12 (assumptions A1-A5)",
    "radius": "Radius and constants",
    "measured": "Measured values (replace Lemmas 14-16)",
}


def _param_option(spec: BoundSpec, p) -> inspect.Parameter:
    if p.choices is not None:
        kind, extra = Optional[str], {"click_type": Choice(p.choices)}
    else:
        kind, extra = Optional[float], {"click_type": Real(whole=p.integer)}
    return inspect.Parameter(p.name, inspect.Parameter.KEYWORD_ONLY, default=None,
                             annotation=Annotated[kind, option(option_name(p.name), help=escape(p.help),
                                                               panel=PANELS[p.group], **extra)])


class _Callback:
    """A command's callback whose signature (its options) is built only when typer reads it.

    typer builds the click command of the one command the console script runs (``app_for``);
    building every command's ~25 options at import would cost every start-up for nothing.
    """

    def __init__(self, name: str, run, options):
        self.__name__ = name
        self._run, self._options = run, options
        self._signature = None

    @property
    def __signature__(self) -> inspect.Signature:
        if self._signature is None:
            params = [inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context),
                      *self._options()]
            self._signature = inspect.Signature(params)
        return self._signature

    @property
    def __annotations__(self) -> dict:
        return {p.name: p.annotation for p in self.__signature__.parameters.values()}

    def __call__(self, ctx: typer.Context, **kwargs) -> int:
        return self._run(ctx, **kwargs)


def bound_command(spec: BoundSpec, summary: str, help: str) -> None:
    """Register the command for ``spec``: its parameters as options, then the shared options."""

    def run(ctx: typer.Context, **kwargs) -> int:
        common = Common.pop(kwargs)
        return run_bound(spec, kwargs, common, ctx.obj)

    def options():
        return [*(_param_option(spec, p) for p in spec.params), *shared_parameters()]

    app.command(spec.name, help=_doc(help), short_help=escape(summary), cls=KdboundCommand)(
        _Callback(spec.name, run, options))


bound_command(UPPER, f"Upper bound (Theorem 1): {UPPER.formula}", f"""Upper bound of Theorem 1:

  {UPPER.formula}

Also the slack sigma*sqrt(2K), the optimal Donsker-Varadhan lambda* = sqrt(2K)/sigma and the
two-sided lower value gen_T - sigma*sqrt(2K). sigma is given (--sigma), or comes from algorithmic
stability (--loss-min --loss-max --beta --n; Proposition 9: sqrt(n) beta + (b-a)/(2 sqrt(n))), or
from parameter stability (--loss-min --loss-max --kappa --lipschitz --n; Lemma 13:
(kappa L + (b-a)/2)/sqrt(n)).

Example:

  kdbound upper --gen-t 0.05 --kl 0.2 --sigma 0.1""")

bound_command(LOWER, "Lower bound: gen_S >= gen_T - sigma * sqrt(2 K), or Theorem 10 with (eta, c)",
              f"""Lower bound: the best valid lower bound from sigma, or Theorem 10 with a central-condition pair:

  gen_S >= gen_T - sigma * sqrt(2 K)      (with --sigma or a stability route)
  {LOWER.formula}      (with --eta --c)

Under the (eta, c)-central condition of the teacher gap (--eta, --c with 0 < c <= 1). With sigma
instead of --c (Remark 2): c = 1 - eta sigma^2/(2 gen_T) for 0 < eta < 2 gen_T/sigma^2, needs
gen_T > 0; without --eta, eta is optimal: eta* = sqrt(2K)/sigma (bound gen_T - sigma sqrt(2K)),
or at the interval's end when eta* lies beyond it (bound -K sigma^2/(2 gen_T), trivial).

Example:

  kdbound lower --gen-t 0.05 --kl 0.01 --sigma 0.1""")

bound_command(SHARPNESS, f"Sharpness-aware bound (Theorem 12): {SHARPNESS.formula}",
              f"""Sharpness-aware bound of Theorem 12:

  {SHARPNESS.formula}

sigma_u (Lemma 14) = (kappa (g0 + alpha rho) + (b-a)/2)/sqrt(n);
nu (Lemma 15) = (alpha kappa rho/2 + g0 rho + alpha rho^2/2)/sqrt(n);
E[S_P] <= tau rho^2/2 (Lemma 16; tau rho^2 d/(2(d+2)) with --dim).
Compared with the standard bound B_std = gen_T + sigma0 sqrt(2K), sigma0 = (kappa L + (b-a)/2)/sqrt(n)
(Lemma 13): B_sh < B_std exactly for 0 < rho < rho0, the tightness radius, and Lemmas 14-15 need
rho >= kappa/n. Without --rho the best admissible radius kappa/n is used.

Example:

  kdbound sharpness --gen-t 0.05 --kl 0.5 --n 10000 --loss-min 0 --loss-max 1 \\
      --kappa 2 --lipschitz 5 --g0 0.5 --alpha 10 --tau 2""")


DEMO = {
    "upper": {"gen_t": 0.05, "kl": 0.2, "sigma": 0.1},
    "lower": {"gen_t": 0.05, "kl": 0.01, "sigma": 0.1},
    "sharpness": {"gen_t": 0.05, "kl": 0.5, "n": 10000.0, "loss_min": 0.0, "loss_max": 1.0, "kappa": 2.0,
                  "lipschitz": 5.0, "g0": 0.5, "alpha": 10.0, "tau": 2.0},
}


def demo(ctx: typer.Context, **kwargs) -> int:
    common = Common.pop(kwargs)
    env = environment(ctx.obj, common)
    fmt = output_format(common, env)
    check_output(common)
    specs = {"upper": UPPER, "lower": LOWER, "sharpness": SHARPNESS}
    reports = {name: bound_report(specs[name], dict(values), Common()) for name, values in DEMO.items()}
    every = list(dict.fromkeys(k for r in reports.values() for k in r.results))  # --columns: each report its own
    reports = {name: select_report(r, common, every) for name, r in reports.items()}
    if common.output is not None:
        write_reports(reports, fmt, common.output, env)
        env.warn(f"kdbound: wrote {common.output}")
    else:
        render_reports(reports, fmt, env)
    return 0


#: shared options a command cannot take, and why: refused in one line that says so (hidden from the help)
REFUSED = {
    "demo": {"sweep": "demo runs its embedded scenario; sweep a parameter with upper, lower or sharpness",
             "plot": "demo draws no figure; plot a sweep of upper, lower or sharpness",
             "input": "demo runs its embedded scenario; evaluate rows with upper, lower or sharpness",
             "solve": "demo runs its embedded scenario; solve with upper, lower or sharpness"},
    "estimate": {"sweep": "estimate reports on measured runs: it has no parameter to sweep",
                 "plot": "estimate draws no figure (its report is numbers from the runs)",
                 "input": "RUNS is estimate's input: give the file as its argument",
                 "solve": "estimate has no unknown to solve for; solve with upper or lower"},
    "distill": {"sweep": "distill runs one experiment; run it once per setting to compare settings",
                "plot": "distill draws no figure (its report is numbers from the runs)",
                "input": "distill reads its pool from --data",
                "solve": "distill has no unknown to solve for; solve with upper or lower"},
    "linear-gaussian": {"input": "linear-gaussian reads arrays (--x, --y, --w-star), not rows",
                        "solve": "linear-gaussian computes K; plug it into upper or lower --solve"},
    "simulate": {"solve": "simulate measures gaps and checks the bounds; solve with upper or lower"},
}


def _refused(name: str) -> list[inspect.Parameter]:
    return [inspect.Parameter(f"refused_{opt}", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[
        Optional[str], option(option_name(opt), *(("-i",) if opt == "input" else ()), help=why, panel="Output",
                              hidden=True)])
        for opt, why in REFUSED.get(name, {}).items()]


def _register(func, name: str | None, shared: tuple[str, ...], own=(), help=None, short_help=None):
    """Register a command whose options are ``own`` (a list, or a function that builds it when typer
    asks) followed by the ``shared`` options (and, hidden, the shared ones it refuses: :data:`REFUSED`)."""
    def options():
        return [*(own() if callable(own) else own), *shared_parameters(*shared), *_refused(name)]

    def run(ctx, **kwargs):
        for opt, why in REFUSED.get(name, {}).items():
            if kwargs.pop(f"refused_{opt}", None) is not None:
                raise InputError(why, opt)
        return func(ctx, **kwargs)

    app.command(name, help=None if help is None else _doc(help), cls=KdboundCommand,
                short_help=None if short_help is None else escape(short_help))(_Callback(name, run, options))


_register(demo, "demo", ("fmt", "quiet", "columns", "output"),
          short_help="The three bounds on an embedded example scenario",
          help="""Run upper, lower and sharpness on one embedded example scenario and print their tables
(or --format).

The scenario: a teacher with gap gen_T = 0.05 distilled at K = 0.2 nats with sigma = 0.1 (upper),
K = 0.01 (lower), and a sharpness scenario with n = 10,000 samples, loss in [0, 1], kappa = 2,
L = 5, g0 = 0.5, alpha = 10, tau = 2.""")


def _lg_option(name, kind, default, help, panel="Parameters", **extra):
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                             annotation=Annotated[kind, option(option_name(name), help=help, panel=panel, **extra)])


def linear_gaussian_options() -> list[inspect.Parameter]:
    return [
        _lg_option("x", Optional[str], None, "Features X, n x d (rows are samples).", "Data"),
        _lg_option("y", Optional[str], None, "Labels Y, n x k (optional).", "Data"),
        _lg_option("w_star", Optional[str], None, "Ground truth W*, k x d (optional; scikit-learn's coef_).", "Data"),
        _lg_option("d", Optional[int], None, f"Synthetic problem: features (default {DEFAULT_D}).", "Data"),
        _lg_option("n", Optional[int], None, f"Synthetic problem: samples (default {DEFAULT_N}).", "Data"),
        _lg_option("k", Optional[int], None, f"Outputs (synthetic default {DEFAULT_K}; needed without --y/--w-star).",
                   "Data"),
        _lg_option("lam", float, 1.0, "Prior precision lam > 0."),
        _lg_option("beta_t", float, 1.0, "Teacher inverse temperature beta_t > 0."),
        _lg_option("noise", Optional[float], None, "Label noise standard deviation > 0 (default: estimated from --y "
                   "when given, else 1.0)."),
        _lg_option("rank", int, 1, "Student rank r in 1..min(k, d, n)."),
        _lg_option("sigma_s", str, "teacher", "Student kernel covariance: a number s (s I), 'teacher' (Sigma_T) or a "
                   "d x d file."),
        _lg_option("samples", int, 256, "Monte Carlo draws for Apx.", "Monte Carlo"),
        _lg_option("seed", int, 0, "Random seed (same seed, same numbers).", "Monte Carlo"),
        _lg_option("rank_sweep", Optional[str], None, "Tabulate apx, kl_bound and kl_bound_tight for ranks START:STOP "
                   "or a comma list.", "Monte Carlo"),
        _lg_option("gen_t", Optional[float], None, "Teacher gap: also print Theorem 1's upper bound and the best lower "
                   "bound at the tightest K available (kl_exact, else kl_bound_tight).", "Plug into the bounds"),
        _lg_option("sigma", Optional[float], None, "Sub-Gaussian proxy for the plugged-in bounds.",
                   "Plug into the bounds"),
        _lg_option("loss_min", Optional[float], None, "Loss range [a, b] (with --loss-max): flags vacuous plugged-in "
                   "bounds.", "Plug into the bounds"),
        _lg_option("loss_max", Optional[float], None, "Upper end b of the loss range.", "Plug into the bounds"),
    ]


def linear_gaussian_cmd(ctx: typer.Context, **kwargs) -> int:
    # loaded when the command runs: the linear-Gaussian engine is not on the bound commands' start-up path
    from .lingauss import run_linear_gaussian

    common = Common.pop(kwargs)
    return run_linear_gaussian(kwargs, common, ctx.obj)


_register(linear_gaussian_cmd, "linear-gaussian", ("fmt", "quiet", "columns", "output", "sweep", "plot"),
          linear_gaussian_options,
          short_help="The distillation divergence K of the linear-Gaussian case study, term by term",
          help=("""The distillation divergence K of the linear-Gaussian case study (Lemma 11, eq. 28-39).

K <= E[(Bias + k Var)/(2 noise^2) + Apx + Cov + Spread] (kl_bound): the teacher's bias and variance
(dataset shift), the student's rank bottleneck (Apx, by Monte Carlo), the kernel covariance cost
(Cov) and the posterior spread. Also the exact dataset shift, kl_bound_tight (the exact shift in
place of the convexity step) and, when the student rank r >= min(k, d), the exact K
(kl_exact): dataset shift <= kl_exact <= kl_bound_tight <= kl_bound. Teacher: Gibbs posterior with
prior MN(0, I, 1/lam I) at inverse temperature beta_t; labels Y ~ MN(X W*^T, noise^2 I_n, I_k);
student: rank r, W_T M* = L_r L_r^T W_T.

Files: --x is n x d (rows are samples), --y n x k, --w-star k x d (scikit-learn's coef_), as .npy,
.npz (file.npz:name), .csv or .tsv. With Y the terms are conditional on the dataset; without Y but
with W* they are averaged over Y. With no files an embedded synthetic problem is used.

Example:

  kdbound linear-gaussian --d 50 --n 1000 --k 5 --rank 2 --rank-sweep 1:5"""))


# --------------------------------------------------------------------------- simulate

def simulate_options() -> list[inspect.Parameter]:
    from ..experiment.executor import BACKENDS  # a light module (its libraries load when an executor starts)

    return [
        _lg_option("d", Optional[int], None, f"Features d of the synthetic W* (default {DEFAULT_D}).", "Model"),
        _lg_option("n", Optional[int], None, f"Samples per training set (default {DEFAULT_N}).", "Model"),
        _lg_option("k", Optional[int], None, f"Outputs k of the synthetic W* (default {DEFAULT_K}).", "Model"),
        _lg_option("w_star", Optional[str], None, "Ground truth W*, k x d file (default: seeded synthetic, N(0, 1/d) "
                   "entries).", "Model"),
        _lg_option("lam", Optional[float], None, "Prior precision lam > 0 (default 1).", "Model"),
        _lg_option("beta_t", Optional[float], None, "Teacher inverse temperature beta_t > 0 (default 1).", "Model"),
        _lg_option("noise", Optional[float], None, "Label noise standard deviation > 0 (default 1).", "Model"),
        _lg_option("student", str, "kernel", "kernel: Theta ~ MN(L_r L_r^T W_T, I, Sigma_S); refit: the Gibbs "
                   "posterior recomputed on the pseudo data at --beta-s.", "Student", metavar="[kernel|refit]"),
        _lg_option("rank", Optional[int], None, "Kernel student's rank r in 1..min(k, d, n) (default the largest; "
                   "below min(k, d) K is bounded, not exact).", "Student"),
        _lg_option("sigma_s", Optional[str], None, "Kernel student's covariance: a number s (s I), 'teacher' (Sigma_T, "
                   "the default) or a d x d file.", "Student"),
        _lg_option("beta_s", Optional[float], None, "Refit student's inverse temperature > 0 (default beta_t).",
                   "Student"),
        _lg_option("clip", Optional[float], None, "Clip level B > 0 of the loss min((y - w.x)^2, B) / B, in [0, 1] "
                   "(default 4).", "Loss"),
        _lg_option("datasets", Optional[int], None, "Independent training sets >= 2 (default sized for a few seconds).",
                   "Monte Carlo"),
        _lg_option("seed", int, 0, "Random seed (same seed, same numbers).", "Monte Carlo"),
        _lg_option("kl_scale", Optional[float], None, "Multiply K by this factor >= 0 before forming the bounds "
                   "(default 1; an experiment: below 1 the bounds are no longer the theorems').", "Monte Carlo"),
        _lg_option("jobs", Optional[int], None, "Worker processes drawing the blocks of training sets (default 1: "
                   "this process); the numbers are the same whatever --jobs or --backend.", "Where blocks are drawn"),
        _lg_option("backend", str, "joblib", "joblib: local processes; dask: a dask.distributed cluster (--scheduler, "
                   "else a LocalCluster of --jobs workers; pip install 'kdbound\\[dask]').", "Where blocks are drawn",
                   click_type=Choice(BACKENDS), show_default=True),
        _lg_option("scheduler", Optional[str], None, "Address of a running Dask scheduler (tcp://HOST:PORT), with "
                   "--backend dask.", "Where blocks are drawn"),
        _lg_option("runs_out", Optional[str], None, "Write the simulated runs (one row per teacher or student run) to "
                   "FILE.csv|.tsv|.jsonl|.parquet, the input of kdbound estimate.", "Output"),
        # simulate reads no batch: --input is accepted only to refuse it with a message that points to --sweep
        inspect.Parameter("input", inspect.Parameter.KEYWORD_ONLY, default=None,
                          annotation=Annotated[Optional[str], option("--input", "-i", help="Not for simulate.",
                                                                     panel="Output", hidden=True)]),
    ]


def simulate_cmd(ctx: typer.Context, **kwargs) -> int:
    # loaded when the command runs: scipy and the simulation engine are not on the other commands' start-up path
    from .simulate import run_simulate

    common = Common.pop(kwargs)
    return run_simulate(kwargs, common, ctx.obj)


_register(simulate_cmd, "simulate", ("fmt", "quiet", "columns", "output", "sweep", "plot"), simulate_options,
          help=("""Check Theorems 1 and 10 by Monte Carlo in the linear-Gaussian model, where every quantity is
known.

Many independent training sets (x ~ N(0, I_d), y = W* x + noise) are drawn in vectorised blocks; on each, the
Gibbs-posterior teacher, the pseudo labels and the student are drawn, and the clipped loss min((y - w.x)^2, B)/B
(in [0, 1]) gives the gaps h = L_P - L_D, with L_P exact. K is exact given X (no rank bottleneck, or a refit
student) or a valid upper bound (kl_kind bound-tight). Printed: gen_T, gen_S (on the pseudo data, as Theorem 1
defines it) and gen_S on the real labels, with standard errors; K; the certified proxy sigma = 1 and a plug-in
sigma_hat; the bounds gen_T +- sigma sqrt(2K), their plug-in version and the Donsker-Varadhan optimum; and a
verdict per bound: holds, violated (margin below -4 standard errors) or inconclusive.

Examples:

  kdbound simulate
  kdbound simulate --student refit --beta-s 3
  kdbound simulate --sweep n=10:200:8 --plot sim.png
  kdbound simulate --datasets 2000 --runs-out runs.csv"""),
          short_help="Check Theorems 1 and 10 by Monte Carlo, where every quantity is known")


# --------------------------------------------------------------------------- estimate

def _est_option(name, kind, default, help, panel, **extra):
    return _lg_option(name, kind, default, escape(help), panel, **extra)


def estimate_options() -> list[inspect.Parameter]:
    return [
        inspect.Parameter("runs", inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[str, typer.Argument(
            metavar="RUNS", show_default=False, help=escape(
                "The runs table (CSV, TSV, JSON Lines or Parquet; '-' for stdin): one row per training run with role "
                "(teacher or student), train_loss and test_loss (or gap), and optionally n_test, dataset, seed; "
                "distill's runs files also give the loss range and the pool."))]),
        _est_option("loss_min", Optional[float], None, "Loss range [a, b]: lower end (with --loss-max).", "Loss range"),
        _est_option("loss_max", Optional[float], None, "Loss range [a, b]: upper end. Gives the certified proxy "
                    "sigma_range = b - a.", "Loss range"),
        _est_option("delta", float, 0.05, "One minus the confidence level, in (0, 1).", "Statistics"),
        _est_option("kl_method", str, "gauss", "How to estimate K_h: gauss (Gaussian fit, parametric bootstrap) or knn "
                    "(1-nearest neighbour, its bias extrapolated from exact subsample means; >= 50 runs per role, "
                    "distinct gaps).", "Statistics", metavar="[gauss|knn]"),
        _est_option("jitter", Optional[str], None, "knn only: add uniform noise of this width to every gap before "
                    "estimating K_h, to break ties; 'auto' = the smallest distance between distinct gaps.",
                    "Statistics"),
        _est_option("bootstrap", Optional[int], None, "gauss only: bootstrap replicates for kl_gap_hi, >= 2/delta "
                    "(default 1000).", "Statistics"),
        _est_option("seed", int, 0, "Random seed of the replicates, the jitter and knn's random halvings (same seed, "
                    "same numbers).", "Statistics"),
        # the shared names (Common.pop reads them), described for a table of runs in and one report out
        _est_option("input_format", Optional[str], None, "csv | tsv | jsonl | parquet (default: from RUNS' extension; "
                    "csv for stdin).", "Files", metavar="[csv|tsv|jsonl|parquet]"),
        inspect.Parameter("output", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[
            Optional[str], option("--output", "-o", panel="Files", help=escape(
                "Write the report to FILE (atomically) instead of stdout: JSON, JSON Lines, CSV or TSV as --format "
                "or the extension says, or one row of results as .parquet."))]),
    ]


def estimate_cmd(ctx: typer.Context, **kwargs) -> int:
    # loaded when the command runs: the estimate engine and the table readers are not on the start-up path
    from .estimate import run_estimate

    common = Common.pop(kwargs)
    return run_estimate(kwargs.pop("runs"), kwargs, common, ctx.obj)


_register(estimate_cmd, "estimate", ("fmt", "quiet", "columns"), estimate_options,
          short_help="Bounds of Theorem 1 from measured training runs, with the gap-law divergence K_h",
          help=_doc("""Bounds of Theorem 1 from measured training runs, with K_h for K:
gen_T - sigma sqrt(2 K_h) <= gen_S <= gen_T + sigma sqrt(2 K_h).

RUNS is a table (CSV, TSV, JSON Lines or Parquet; '-' for stdin) with one row per training run:
role (teacher or student), train_loss and test_loss (or gap), and optionally n_test (test-set size),
dataset (training-set id) and seed.

K_h = KL(law of the student gap || law of the teacher gap) <= K (data processing), estimated from
the runs. Each result carries its basis: certified, assumption, asymptotic, model (Gaussian fit)
or plug-in. The gen_T interval and kl_gap_hi take delta/2 each, so upper_bound_hi and
lower_bound_lo hold together at 1 - delta (Bonferroni). With a loss range the bounds come with
the certified sigma = b - a and, as *_plugin, with the plug-in sigma_hat.

Example:  kdbound estimate runs.csv --loss-min 0 --loss-max 1"""))


# --------------------------------------------------------------------------- distill

def _d_option(name, kind, default, help, panel, *names, **extra):
    names = names or (option_name(name),)
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                             annotation=Annotated[kind, option(*names, help=escape(help), panel=panel, **extra)])


def _choices(values) -> dict:
    return {"click_type": Choice(values), "show_default": True}


def distill_options() -> list[inspect.Parameter]:
    # the experiment's names (light modules: no scikit-learn); built only when typer builds distill's options
    from ..engine.distill import DEFAULT_LOG_CLIP, LABELS, LOSSES, loss_range
    from ..experiment.data import BUNDLED
    from ..experiment.executor import BACKENDS, default_jobs
    from ..experiment.runner import DEFAULT_TEACHER, ON_ERROR, SCALES

    clip_range = loss_range("log", DEFAULT_LOG_CLIP)[1]
    data, models, protocol, runs, where = "Data", "Models", "Protocol and loss", "Runs", "Where runs execute"
    return [
        _d_option("data", str, "digits", f"A data set bundled with scikit-learn ({', '.join(BUNDLED)}; no download), "
                  "or a CSV, TSV, Parquet or .npz file with --target.", data, show_default=True),
        _d_option("target_column", Optional[str], None, "The class-label column of a --data file (every other column "
                  "is a feature and must hold numbers).", data, "--target"),
        _d_option("n", int, 300, "Training-set size of each run (a stratified draw); the rest of the pool is held "
                  "out.", data, show_default=True),
        _d_option("test_size", Optional[int], None, "Cap each run's held-out set at this many examples (default: the "
                  "whole rest of the pool).", data),
        _d_option("min_test", int, 100, "Fewest held-out examples a run may have (--n must leave them).", data,
                  show_default=True),
        _d_option("scale", str, "none", "standard: standardise the features in each run with that run's training "
                  "statistics (never the held-out set's).", data, **_choices(SCALES)),
        _d_option("teacher", str, DEFAULT_TEACHER, "The teacher's model spec (see above).", models,
                  show_default=True),
        _d_option("student", Optional[list[str]], None, "The student's model spec (default logistic). Repeat for "
                  "several students: one teacher fit per run is shared, and each student's runs go to their own "
                  "file (see --runs-out).", models),
        _d_option("labels", str, "hard", "The teacher's labels: hard (its argmax class) or soft (its probabilities "
                  "at --temperature, fitted through sample weights: the student must accept sample_weight).",
                  protocol, **_choices(LABELS)),
        _d_option("temperature", float, 1.0, "Soft labels' temperature T > 0: q = softmax(ln p / T).", protocol,
                  click_type=Real(), show_default=True),
        _d_option("loss", str, "zero-one", "The bounded loss: zero-one in [0, 1], brier (sum over classes, not halved) "
                  "in [0, 2], log clipped at --log-clip in [0, ln(1/eps)].", protocol, **_choices(LOSSES)),
        _d_option("log_clip", float, DEFAULT_LOG_CLIP, f"eps of the clipped log loss -ln max(p(y|x), eps), in (0, 1). "
                  f"The default {DEFAULT_LOG_CLIP:g} gives the range [0, {clip_range:.2f}]; the certified sigma = "
                  "ln(1/eps), so the bounds' slack grows with ln(1/eps).", protocol, click_type=Real(),
                  show_default=True),
        _d_option("runs", int, 200, "Runs (each a training set, a teacher and the students), >= 2.", runs,
                  show_default=True),
        _d_option("seed", int, 0, "Seed of the experiment: the same seed gives the same rows whatever --jobs, "
                  "--backend or the order runs complete in.", runs, show_default=True),
        _d_option("runs_out", Optional[str], None, "Write the runs to FILE (.csv, .tsv, .jsonl or .parquet) as they "
                  "complete, with the experiment's settings; with several --student, each to FILE's name with the "
                  "student's spec before the extension (runs.csv: runs.logistic.csv, runs.mlp-8.csv). An existing "
                  "file is refused without --resume.", runs),
        _d_option("resume", bool, False, "Continue the experiment of --runs-out: keep its complete runs, run the "
                  "missing ones (the settings must match; --runs may grow).", runs),
        _d_option("on_error", str, "stop", "A model that fails to fit: stop (exit 2, completed runs kept) or skip "
                  "its run and go on.", runs, **_choices(ON_ERROR)),
        _d_option("jobs", Optional[int], None, f"Worker processes (default: every core, {default_jobs()} here; 1 "
                  "runs in this process).", where),
        _d_option("backend", str, "joblib", "joblib: local processes; dask: a dask.distributed cluster (--scheduler, "
                  "else a LocalCluster of --jobs workers; pip install 'kdbound[dask]').", where,
                  **_choices(BACKENDS)),
        _d_option("scheduler", Optional[str], None, "Address of a running Dask scheduler (tcp://HOST:PORT), with "
                  "--backend dask.", where),
        _d_option("no_estimate", bool, False, "Only run the experiment and write the runs: no report.", "Output"),
        inspect.Parameter("output", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[
            Optional[str], option("--output", "-o", panel="Output", help=escape(
                "Write the report to FILE (atomically) instead of stdout: JSON, JSON Lines, CSV or TSV as --format "
                "or the extension says, or its results as .parquet rows."))]),
    ]


def distill_cmd(ctx: typer.Context, **kwargs) -> int:
    # loaded when the command runs: the experiment, its runs files and estimate's readers are not on the start-up
    # path (scikit-learn, joblib and dask load later still, inside the experiment layer)
    from .distill import run_distill

    common = Common.pop(kwargs)
    defaults = {p.name: p.default for p in estimate_options()}  # the report is estimate's, with its defaults
    return run_distill(kwargs, common, ctx.obj, defaults)


_register(distill_cmd, "distill", ("fmt", "quiet", "columns"), distill_options,
          short_help="Run the distillation experiment on real data and models, then estimate's bounds",
          help="""Run the distillation experiment on real data and real models, then print estimate's report
on its runs.

Each run draws a training set D_n of --n examples from the pool (stratified by class; the rest is held out),
fits the teacher on D_n, labels D_n's inputs with the teacher (--labels hard: its argmax class; soft: its
probabilities at --temperature) and fits each student on those labels. It gives a teacher row and a student
row in estimate's runs format, sharing the run's dataset id: gap = held-out loss on the real labels minus
train loss (the student's on the teacher's labels). The loss is bounded, so sigma = b - a is certified.
The report is kdbound estimate's on the runs file (its defaults, the recorded loss range), plus the models'
mean held-out accuracy.

Without options: digits (1,797 images of 10 digits), teacher mlp:64, student logistic, n = 300, 200 runs
on every core: about a minute on two cores.

Model specs (scikit-learn's defaults but for what the spec names; random_state from the run's seed):

  logistic[:C=1]                          LogisticRegression
  mlp:64[,64][:alpha=1e-4,max_iter=300]   MLPClassifier, hidden layers
  tree:depth=4                            DecisionTreeClassifier
  forest:200[:depth=8]                    RandomForestClassifier, trees
  knn:5                                   KNeighborsClassifier
  module:function                         f(random_state=int) -> classifier

Named parameters are the estimator's own (solver=sgd, max_iter=500, ...). Runs are written to --runs-out
as they complete; after Ctrl-C, SIGTERM, kill -9 or a crash, --resume runs the missing ones and gives the
file an uninterrupted run writes.

Examples:

  kdbound distill
  kdbound distill --student mlp:8 --runs-out runs.parquet
  kdbound distill --data my.csv --target label --student tree:depth=4
  kdbound distill --teacher forest:200 --student logistic --labels soft
  kdbound distill --student logistic --student mlp:8 --runs-out runs.csv
  kdbound distill --student mlp:8 --runs-out runs.csv --resume
  kdbound distill --backend dask --scheduler tcp://10.0.0.5:8786""")
