"""What the test modules share.

Fixtures: ``run`` and ``run_json`` (kdbound in-process), ``exe`` (the installed console script),
``in_pty`` (kdbound on a real pseudo-terminal), ``decimal_60`` (60-digit decimal arithmetic for the
oracles of the float-safety tests).

Helpers, imported by name (``from conftest import invoke, one_line_error``): ``invoke`` (what ``run``
gives), ``one_line_error``, ``printed_bound``, ``full``, ``within``; the reference computations
``problem``, ``spd``, ``gauss_kl`` and ``dense_kl``; the argument lists ``UP``, ``SWEEP`` and ``SHARP``
and the Theorem 12 inputs ``SH``.

Every test that uses ``exe`` or ``in_pty`` is marked ``subprocess``, as are test_docs.py, test_main.py and
test_no_pyarrow.py: ``-m "not subprocess"`` leaves out the tests that run kdbound's command line in
processes of its own.
"""

import decimal
import json
import math
import os
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from kdbound.cli.app import app
from kdbound.render import Environment


#: the end-to-end tests marked ``slow`` (``python -m pytest`` leaves them out, ``python -m pytest -m slow``
#: runs them; the README's test command and .ci/run run both): whole modules, and single tests by name
SLOW_MODULES = {"test_distill_cli_process", "test_distill_resume", "test_distill_executors", "test_real_data_study",
                "test_simulate_jobs"}
SLOW_TESTS = {"test_error_exits_after_pyarrow_never_abort", "test_bash_block_runs_as_written",
              "test_no_more_workers_than_runs_left", "test_jobs_do_not_change_the_file",
              "test_ctrl_c_at_any_moment_is_exit_130_one_line_and_no_file"}


def pytest_collection_modifyitems(items):
    """Mark every test that runs the installed console script (``-m "not subprocess"`` leaves them out), and
    the end-to-end ones ``slow`` (processes of their own, clusters, the docs' scripts, the real-data study)."""
    for item in items:
        if {"exe", "in_pty"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.subprocess)
        name = getattr(item, "originalname", None) or item.name
        if (item.module.__name__.rsplit(".", 1)[-1] in SLOW_MODULES or name in SLOW_TESTS
                or item.get_closest_marker("dask")):
            item.add_marker(pytest.mark.slow)


# ----------------------------------------------------------------------------- arguments many tests use

UP = ["upper", "--gen-t", "0.05", "--kl", "0.2", "--sigma", "0.1"]
SWEEP = ["upper", "--gen-t", "0.05", "--sigma", "0.1", "--sweep", "kl=0:1:5"]
SHARP = ["sharpness", "--gen-t", "0.05", "--kl", "0.5", "--n", "10000", "--loss-min", "0", "--loss-max", "1",
         "--kappa", "2", "--lipschitz", "5", "--g0", "0.5", "--alpha", "10", "--tau", "2"]
#: SHARP's inputs as the engine's parameters
SH = dict(gen_t=0.05, kl=0.5, n=10000.0, loss_min=0.0, loss_max=1.0, kappa=2.0, lipschitz=5.0, g0=0.5,
          alpha=10.0, tau=2.0)


# ----------------------------------------------------------------------------- the command line

def invoke(*args, input=None, env=None, tty=False, chunk_bytes=None):
    """Run kdbound in-process; returns click's Result (stdout, stderr, exit_code).

    ``tty``: stdout is a terminal (tables, no colour); ``chunk_bytes``: the batch block size (small
    values make a batch cross many blocks).  Otherwise kdbound builds its Environment as it does
    for a user.
    """
    obj = None
    if tty or chunk_bytes is not None:
        obj = Environment(stdout_isatty=tty, no_color=True, chunk_bytes=4 << 20 if chunk_bytes is None else chunk_bytes)
    return CliRunner().invoke(app, [str(a) for a in args], input=input, env=env, obj=obj)


@pytest.fixture
def run():
    """:func:`invoke`, as a fixture."""
    return invoke


@pytest.fixture
def run_json(run):
    def _run(*args):
        r = run(*args, "--format", "json")
        assert r.exit_code == 0, r.stderr
        return json.loads(r.stdout)

    return _run


def one_line_error(r, *words):
    """``r`` (an in-process run) failed as bad input must: exit 2, nothing on stdout, one line on stderr
    holding every one of ``words``."""
    assert r.exit_code == 2, (r.exit_code, r.stdout, r.stderr)
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])


def printed_bound(run_json, command, gen_t, kl, sigma):
    """The bound ``kdbound <command>`` prints for these inputs (passed as their repr)."""
    return run_json(command, "--gen-t", repr(gen_t), "--kl", repr(kl), "--sigma", repr(sigma))["results"]["bound"]


@pytest.fixture(scope="session")
def exe():
    """The installed kdbound console script, beside this interpreter (where a virtual environment has it).

    A missing script fails the tests that need it: they are the user's view of kdbound.
    """
    path = os.path.join(os.path.dirname(sys.executable), "kdbound")
    if not os.access(path, os.X_OK):
        pytest.fail(f"the kdbound console script is not installed beside {sys.executable} (pip install -e .)")
    return path


@pytest.fixture
def in_pty(exe):
    """Run kdbound with stdout and stderr on a real pseudo-terminal of the given width.

    Returns (text with ANSI codes and carriage returns removed, exit status).
    """
    import fcntl
    import pty
    import re
    import struct
    import subprocess
    import termios

    def _run(args, columns, cwd=None):
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
        env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR")}
        env.update(TERM="xterm-256color", COLUMNS=str(columns))
        p = subprocess.Popen([exe, *map(str, args)], stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd,
                             close_fds=True)
        os.close(slave)
        chunks = []
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        os.close(master)
        status = p.wait(timeout=120)
        text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", b"".join(chunks).decode("utf-8", "replace"))
        return text.replace("\r", ""), status

    return _run


# ----------------------------------------------------------------------------- the engine

def full(spec, **values):
    """Every parameter of ``spec``, None where ``values`` does not give it (as the solver takes them)."""
    return {p: values.get(p) for p in spec.param_names}


@pytest.fixture
def decimal_60():
    """60 significant digits and exponents far beyond float64's, for this test only (the context is the
    thread's: set for the whole module, it would leak into every test that runs after it)."""
    with decimal.localcontext(decimal.Context(prec=60, Emax=10 ** 6, Emin=-10 ** 6)):
        yield


def within(a, se_a, b, se_b, z):
    """Two Monte Carlo estimates agree: |a - b| is at most z standard errors of the difference."""
    return abs(a - b) <= z * math.hypot(se_a, se_b)


def problem(n=7, d=4, k=3, seed=3, noise=0.7, scale=1.0):
    """A linear-Gaussian data set: X (n x d) ~ scale N(0, 1), W* (k x d) ~ N(0, 1), Y = X W*^T + noise N(0, 1)."""
    rng = np.random.default_rng(seed)
    x = scale * rng.normal(size=(n, d))
    w = rng.normal(size=(k, d))
    y = x @ w.T + noise * rng.normal(size=(n, k))
    return x, w, y


def spd(d, seed):
    """A random symmetric positive definite d x d matrix (eigenvalues at least 0.3)."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(d, d))
    return a @ a.T / d + 0.3 * np.eye(d)


def gauss_kl(m1, c1, m2, c2):
    """KL(N(m1, c1) || N(m2, c2)), dense: explicit inverse and log-determinants."""
    dim = m1.size
    c2inv = np.linalg.inv(c2)
    diff = m2 - m1
    return 0.5 * (np.trace(c2inv @ c1) - dim + diff @ c2inv @ diff + np.linalg.slogdet(c2)[1]
                  - np.linalg.slogdet(c1)[1])


def dense_kl(x, w, y, lam, beta_t, noise, student="kernel", sigma_s="teacher", beta_s=None):
    """Sum over rows of the (n+d)-dimensional Gaussian KL, paper layout X = x^T (d x n); also the y-marginal KL.

    For each output row, the joint mean and covariance of (y, w) under the teacher process and of
    (y^, theta) under the student process, formed explicitly (explicit inverses, no eigenbasis, no
    chain rule); ``y`` None integrates the labels out (K given X).
    """
    X = x.T
    d, n = X.shape
    s2 = noise ** 2
    c = beta_t / s2
    ST = np.linalg.inv(lam * np.eye(d) + c * X @ X.T)
    G = c * ST @ X                                           # d x n
    if isinstance(sigma_s, str):
        SS = ST
    elif np.ndim(sigma_s) == 0:
        SS = sigma_s * np.eye(d)
    else:
        SS = sigma_s
    total = shift = 0.0
    for j in range(w.shape[0]):
        # teacher: y = X^T w* + noise e1, w = G y + ST^{1/2} z1
        my = X.T @ w[j]
        mT = np.concatenate([my, G @ my])
        CT = np.block([[s2 * np.eye(n), s2 * G.T], [s2 * G, s2 * G @ G.T + ST]])
        # student: W_T ~ N(mw, A); y^ = X^T W_T + noise e2
        if y is None:
            mw, A = G @ my, s2 * G @ G.T + ST
        else:
            mw, A = G @ y[:, j], ST
        myh = X.T @ mw
        Cyy = X.T @ A @ X + s2 * np.eye(n)
        if student == "kernel":                               # theta = W_T + SS^{1/2} z2
            mth, Cty, Ctt = mw, A @ X, A + SS
        else:                                                 # refit posterior on (X, y^) at beta_s
            cs = beta_s / s2
            SR = np.linalg.inv(lam * np.eye(d) + cs * X @ X.T)
            GR = cs * SR @ X
            mth, Cty, Ctt = GR @ myh, GR @ Cyy, GR @ Cyy @ GR.T + SR
        mS = np.concatenate([myh, mth])
        CS = np.block([[Cyy, Cty.T], [Cty, Ctt]])
        total += gauss_kl(mS, CS, mT, CT)
        shift += gauss_kl(myh, Cyy, my, s2 * np.eye(n))
    return total, shift


def local_cluster(distributed, n_workers: int = 2):
    """A dask.distributed LocalCluster on loopback for a test: single-threaded worker processes, no
    dashboard, the scheduler's HTTP server on a free port, quiet logs."""
    import logging

    return distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                    dashboard_address=None, scheduler_kwargs={"dashboard_address": ":0"},
                                    silence_logs=logging.ERROR)


#: a module of one model factory whose fits take ~0.15 s (a logistic student that sleeps in fit): runs slow
#: enough to be interrupted midway
SLOW_FACTORY = """\
import time
from sklearn.linear_model import LogisticRegression


class Slow(LogisticRegression):
    def fit(self, X, y, sample_weight=None):
        time.sleep(0.15)
        return super().fit(X, y, sample_weight=sample_weight)


def slow(random_state):
    return Slow(random_state=random_state, C=0.5)
"""
