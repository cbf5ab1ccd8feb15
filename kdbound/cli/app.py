"""The Typer commands: parse options, call the engine, hand the result to a renderer."""


from typing import Annotated, Optional

import typer

from .. import __version__
from ..engine.models import LOWER, SHARPNESS, UPPER
from .main import KdboundGroup
from .run import Common, run_bound

SETTINGS = dict(
    cls=KdboundGroup,
    name="kdbound",
    help="Generalization bounds for knowledge distillation (Li and He, ISIT 2026).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help text is mathematics: brackets are not markup
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


# ----------------------------------------------------------------------------- shared options

def _doc(text: str) -> str:
    """Help text: each paragraph on one line, so the help formatter can wrap it to the terminal."""
    return "\n\n".join(" ".join(line.strip() for line in para.splitlines()) for para in text.split("\n\n"))


def _o(*names: str, help: str, panel: str = "Parameters", **kw):
    return typer.Option(*names, help=help, rich_help_panel=panel, **kw)


F = Optional[float]
GenT = Annotated[F, _o("--gen-t", help="Teacher generalization gap gen_T = E[h(D_n, f_T)].")]
KL = Annotated[F, _o("--kl", help="Distillation divergence K (nats), >= 0.")]
Sigma = Annotated[F, _o("--sigma", help="Sub-Gaussian proxy sigma of the teacher gap (not sigma^2).", panel="sigma")]
LossMin = Annotated[F, _o("--loss-min", help="Lower end a of the loss range.", panel="sigma")]
LossMax = Annotated[F, _o("--loss-max", help="Upper end b of the loss range (> a).", panel="sigma")]
Beta = Annotated[F, _o("--beta", help="Uniform stability beta (Proposition 9).", panel="sigma")]
Kappa = Annotated[F, _o("--kappa", help="Parameter stability kappa: ||A(D)-A(D')|| <= kappa/n (Lemma 13).",
                        panel="sigma")]
Lipschitz = Annotated[F, _o("--lipschitz", help="Global Lipschitz constant L of the loss (Lemma 13).", panel="sigma")]
N = Annotated[F, _o("--n", help="Number of training samples n >= 1.", panel="sigma")]

Format = Annotated[Optional[str], _o("--format", "-f", help="table | json | jsonl | csv | tsv "
                                     "(default: table on a terminal, TSV otherwise).", panel="Output")]
Quiet = Annotated[bool, _o("--quiet", "-q", help="No notes, warnings or progress on stderr.", panel="Output")]
Input = Annotated[Optional[str], _o("--input", "-i", help="Evaluate every row of FILE (CSV, TSV, JSON Lines, "
                                    "Parquet; '-' for stdin). Columns are option names.", panel="Batch")]
InputFormat = Annotated[Optional[str], _o("--input-format", help="csv | tsv | jsonl | parquet (default: from the "
                                          "extension; csv for stdin).", panel="Batch")]
Output = Annotated[Optional[str], _o("--output", "-o", help="Write rows to FILE (written atomically; .parquet "
                                     "allowed) instead of stdout.", panel="Batch")]
OnError = Annotated[str, _o("--on-error", help="stop (exit 2) | skip the row | null its results; "
                            "skip/null exit 3 when any row failed.", panel="Batch")]
Solve = Annotated[Optional[str], _o("--solve", help="Solve for this parameter (kl, sigma, gen_t, n, rho, ...) "
                                    "so that the bound equals --target.", panel="Solve, sweep, plot")]
Target = Annotated[Optional[float], _o("--target", help="Target value of the bound for --solve.",
                                       panel="Solve, sweep, plot")]
Sweep = Annotated[Optional[str], _o("--sweep", help="PARAM=START:STOP:NUM (linear) or PARAM=log:START:STOP:NUM.",
                                    panel="Solve, sweep, plot")]
Plot = Annotated[Optional[str], _o("--plot", help="Draw the curves to FILE.png or FILE.svg (needs kdbound[plot]).",
                                   panel="Solve, sweep, plot")]


def _common(fmt, quiet, input, input_format, output, on_error, solve, target, sweep, plot) -> Common:
    return Common(fmt=fmt, quiet=quiet, input=input, input_format=input_format, output=output,
                  on_error=on_error, solve=solve, target=target, sweep=sweep, plot=plot)


# ----------------------------------------------------------------------------- commands

@app.command(help=_doc(f"""Upper bound of Theorem 1:  {UPPER.formula}.

Also the slack sigma*sqrt(2K), the optimal Donsker-Varadhan lambda* = sqrt(2K)/sigma and the
two-sided lower value gen_T - sigma*sqrt(2K). sigma is given (--sigma), or comes from algorithmic
stability (--loss-min --loss-max --beta --n; Proposition 9: sqrt(n) beta + (b-a)/(2 sqrt(n))), or
from parameter stability (--loss-min --loss-max --kappa --lipschitz --n; Lemma 13:
(kappa L + (b-a)/2)/sqrt(n)).

Example:  kdbound upper --gen-t 0.05 --kl 0.2 --sigma 0.1"""))
def upper(ctx: typer.Context, gen_t: GenT = None, kl: KL = None, sigma: Sigma = None, loss_min: LossMin = None,
          loss_max: LossMax = None, beta: Beta = None, kappa: Kappa = None, lipschitz: Lipschitz = None,
          n: N = None, fmt: Format = None, quiet: Quiet = False, input: Input = None,
          input_format: InputFormat = None, output: Output = None, on_error: OnError = "stop",
          solve: Solve = None, target: Target = None, sweep: Sweep = None, plot: Plot = None) -> int:
    values = dict(gen_t=gen_t, kl=kl, sigma=sigma, loss_min=loss_min, loss_max=loss_max, beta=beta,
                  kappa=kappa, lipschitz=lipschitz, n=n)
    return run_bound(UPPER, values, _common(fmt, quiet, input, input_format, output, on_error, solve, target,
                                            sweep, plot), ctx.obj)


@app.command(help=_doc(f"""Lower bound of Theorem 10:  {LOWER.formula}.

Under the (eta, c)-central condition of the teacher gap (--eta, --c with 0 < c <= 1). With sigma
instead of --c (Remark 2): c = 1 - eta sigma^2/(2 gen_T) for 0 < eta < 2 gen_T/sigma^2, needs
gen_T > 0; without --eta, eta is optimal: eta* = sqrt(2K)/sigma (bound gen_T - sigma sqrt(2K)),
or at the interval's end when eta* lies beyond it (bound -K sigma^2/(2 gen_T), trivial).

Example:  kdbound lower --gen-t 0.05 --kl 0.01 --sigma 0.1"""))
def lower(ctx: typer.Context, gen_t: GenT = None, kl: KL = None,
          eta: Annotated[F, _o("--eta", help="Central-condition eta > 0 (optional with sigma).")] = None,
          c: Annotated[F, _o("--c", help="Central-condition constant c in (0, 1].")] = None,
          sigma: Sigma = None, loss_min: LossMin = None, loss_max: LossMax = None, beta: Beta = None,
          kappa: Kappa = None, lipschitz: Lipschitz = None, n: N = None, fmt: Format = None,
          quiet: Quiet = False, input: Input = None, input_format: InputFormat = None, output: Output = None,
          on_error: OnError = "stop", solve: Solve = None, target: Target = None, sweep: Sweep = None,
          plot: Plot = None) -> int:
    values = dict(gen_t=gen_t, kl=kl, eta=eta, c=c, sigma=sigma, loss_min=loss_min, loss_max=loss_max,
                  beta=beta, kappa=kappa, lipschitz=lipschitz, n=n)
    return run_bound(LOWER, values, _common(fmt, quiet, input, input_format, output, on_error, solve, target,
                                            sweep, plot), ctx.obj)


@app.command(help=_doc(f"""Sharpness-aware bound of Theorem 12:  {SHARPNESS.formula}.

sigma_u (Lemma 14) = (kappa (g0 + alpha rho) + (b-a)/2)/sqrt(n);
nu (Lemma 15) = (alpha kappa rho/2 + g0 rho + alpha rho^2/2)/sqrt(n);
E[S_P] <= tau rho^2/2 (Lemma 16; tau rho^2 d/(2(d+2)) with --dim).
Compared with the standard bound B_std = gen_T + sigma0 sqrt(2K), sigma0 = (kappa L + (b-a)/2)/sqrt(n)
(Lemma 13): B_sh < B_std exactly for 0 < rho < rho0, the tightness radius, and Lemmas 14-15 need
rho >= kappa/n. Without --rho the best admissible radius kappa/n is used.

Example:  kdbound sharpness --gen-t 0.05 --kl 0.5 --n 10000 --loss-min 0 --loss-max 1 --kappa 2
--lipschitz 5 --g0 0.5 --alpha 10 --tau 2"""))
def sharpness(ctx: typer.Context, gen_t: GenT = None, kl: KL = None,
              n: Annotated[F, _o("--n", help="Number of training samples n >= 1.")] = None,
              loss_min: Annotated[F, _o("--loss-min", help="Lower end a of the loss range.")] = None,
              loss_max: Annotated[F, _o("--loss-max", help="Upper end b of the loss range (> a).")] = None,
              kappa: Annotated[F, _o("--kappa", help="Parameter stability kappa >= 0.")] = None,
              lipschitz: Annotated[F, _o("--lipschitz", help="Global Lipschitz constant L >= 0.")] = None,
              g0: Annotated[F, _o("--g0", help="Gradient bound at the teacher, g0 >= 0.")] = None,
              alpha: Annotated[F, _o("--alpha", help="Smoothness alpha >= 0 on B(f_T, 2 rho).")] = None,
              tau: Annotated[F, _o("--tau", help="Population Hessian norm bound tau >= 0.")] = None,
              rho: Annotated[F, _o("--rho", help="Perturbation radius rho >= 0 (default kappa/n).")] = None,
              dim: Annotated[F, _o("--dim", help="Parameter dimension d >= 1 (sharper Lemma 16).")] = None,
              sigma_u: Annotated[F, _o("--sigma-u", help="Measured sigma_u (replaces Lemma 14).",
                                       panel="Measured values")] = None,
              nu: Annotated[F, _o("--nu", help="Measured nu (replaces Lemma 15).", panel="Measured values")] = None,
              sharpness_: Annotated[F, _o("--sharpness", help="Measured E[S_P(f_T)] (replaces Lemma 16).",
                                          panel="Measured values")] = None,
              fmt: Format = None, quiet: Quiet = False, input: Input = None, input_format: InputFormat = None,
              output: Output = None, on_error: OnError = "stop", solve: Solve = None, target: Target = None,
              sweep: Sweep = None, plot: Plot = None) -> int:
    values = dict(gen_t=gen_t, kl=kl, n=n, loss_min=loss_min, loss_max=loss_max, kappa=kappa,
                  lipschitz=lipschitz, g0=g0, alpha=alpha, tau=tau, rho=rho, dim=dim, sigma_u=sigma_u, nu=nu,
                  sharpness=sharpness_)
    return run_bound(SHARPNESS, values, _common(fmt, quiet, input, input_format, output, on_error, solve,
                                                target, sweep, plot), ctx.obj)


DEMO = {
    "upper": {"gen_t": 0.05, "kl": 0.2, "sigma": 0.1},
    "lower": {"gen_t": 0.05, "kl": 0.01, "sigma": 0.1},
    "sharpness": {"gen_t": 0.05, "kl": 0.5, "n": 10000.0, "loss_min": 0.0, "loss_max": 1.0, "kappa": 2.0,
                  "lipschitz": 5.0, "g0": 0.5, "alpha": 10.0, "tau": 2.0},
}


@app.command()
def demo(ctx: typer.Context, fmt: Format = None, quiet: Quiet = False) -> int:
    """Run upper, lower and sharpness on one embedded example scenario and print their tables (or --format).

    The scenario: a teacher with gap gen_T = 0.05 distilled at K = 0.2 nats with sigma = 0.1 (upper),
    K = 0.01 (lower, Remark 2), and a sharpness scenario with n = 10,000 samples, loss in [0, 1],
    kappa = 2, L = 5, g0 = 0.5, alpha = 10, tau = 2.
    """
    models = {"upper": UPPER, "lower": LOWER, "sharpness": SHARPNESS}
    for name, values in DEMO.items():
        full = {p: values.get(p) for p in models[name].param_names}
        # one JSON document per line: three reports are not one JSON object
        demo_fmt = "jsonl" if fmt == "json" else (fmt or "table")
        run_bound(models[name], full, _common(demo_fmt, quiet, None, None, None, "stop", None, None, None, None),
                  ctx.obj)
    return 0


@app.command("linear-gaussian", help=_doc("""The distillation divergence K of the linear-Gaussian case study (Lemma 11, eq. 28-39).

K <= E[(Bias + k Var)/(2 noise^2) + Apx + Cov + Spread]: the teacher's bias and variance (dataset
shift), the student's rank bottleneck (Apx, by Monte Carlo), the kernel covariance cost (Cov) and
the posterior spread, plus the exact dataset shift KL(Y^|X || Y|X) and how loose the bound is.
Teacher: Gibbs posterior with prior MN(0, I, 1/lam I) at inverse temperature beta_t; student: rank-r.

Files: --x is n x d (rows are samples), --y n x k, --w-star k x d (scikit-learn's coef_), as .npy,
.npz (file.npz:name), .csv or .tsv. With Y the terms are conditional on the dataset; without Y but
with W* they are averaged over Y. With no files an embedded synthetic problem is used.

Example:  kdbound linear-gaussian --d 50 --n 1000 --k 5 --rank 2 --rank-sweep 1:5"""))
def linear_gaussian_cmd(
    ctx: typer.Context,
    x: Annotated[Optional[str], _o("--x", help="Features X, n x d (rows are samples).", panel="Data")] = None,
    y: Annotated[Optional[str], _o("--y", help="Labels Y, n x k (optional).", panel="Data")] = None,
    w_star: Annotated[Optional[str], _o("--w-star", help="Ground truth W*, k x d (optional).", panel="Data")] = None,
    d: Annotated[Optional[int], _o("--d", help="Synthetic problem: features (default 20).", panel="Data")] = None,
    n: Annotated[Optional[int], _o("--n", help="Synthetic problem: samples (default 500).", panel="Data")] = None,
    k: Annotated[Optional[int], _o("--k", help="Outputs (synthetic default 3; needed without --y/--w-star).",
                                   panel="Data")] = None,
    lam: Annotated[float, _o("--lam", help="Prior precision lam > 0.")] = 1.0,
    beta_t: Annotated[float, _o("--beta-t", help="Teacher inverse temperature beta_t > 0.")] = 1.0,
    noise: Annotated[float, _o("--noise", help="Label noise standard deviation > 0.")] = 1.0,
    rank: Annotated[int, _o("--rank", help="Student rank r in 1..min(k, d, n).")] = 1,
    sigma_s: Annotated[str, _o("--sigma-s", help="Student kernel covariance: a number s (s I), 'teacher' "
                                                 "(Sigma_T) or a d x d file.")] = "teacher",
    samples: Annotated[int, _o("--samples", help="Monte Carlo draws for Apx.", panel="Monte Carlo")] = 256,
    seed: Annotated[int, _o("--seed", help="Random seed (same seed, same numbers).", panel="Monte Carlo")] = 0,
    rank_sweep: Annotated[Optional[str], _o("--rank-sweep", help="Tabulate apx and kl_bound for ranks START:STOP "
                                            "or a comma list.", panel="Monte Carlo")] = None,
    gen_t: Annotated[F, _o("--gen-t", help="Teacher gap: also print Theorem 1 and 10 bounds at K = kl_bound.",
                           panel="Plug into the bounds")] = None,
    sigma: Annotated[F, _o("--sigma", help="Sub-Gaussian proxy for the plugged-in bounds.",
                           panel="Plug into the bounds")] = None,
    fmt: Format = None, quiet: Quiet = False, plot: Plot = None,
) -> int:
    from .lingauss import run_linear_gaussian

    opts = dict(x=x, y=y, w_star=w_star, d=d, n=n, k=k, lam=lam, beta_t=beta_t, noise=noise, rank=rank,
                sigma_s=sigma_s, samples=samples, seed=seed, rank_sweep=rank_sweep, gen_t=gen_t, sigma=sigma)
    return run_linear_gaussian(opts, Common(fmt=fmt, quiet=quiet, plot=plot), ctx.obj)
