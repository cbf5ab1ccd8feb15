"""simulate on other processes: --jobs (joblib's loky) and --backend dask draw the blocks elsewhere and merge
them in block order, so the same seed gives the same numbers, bit for bit, whatever executes them."""

import dataclasses
import json
import math

import numpy as np
import pytest
from conftest import local_cluster

from kdbound.engine import simulate as S
from kdbound.experiment.executor import in_order, open_executor

pytest.importorskip("joblib")

SMALL = dict(n=30, d=4, k=2, seed=5)


def fields(sim):
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in dataclasses.asdict(sim).items()}


def on(executor, job, point=0):
    def blocks(model, seed, plan):
        for _, blk in in_order(executor, [((point, i), point, i, start, m) for i, start, m in plan]):
            yield blk
    return blocks


def simulated(model, datasets, executor=None, job=None, runs=None):
    kept = []
    sim = S.simulate(model=model, datasets=datasets, seed=SMALL["seed"], on_block=kept.append,
                     blocks=None if executor is None else on(executor, job))
    return sim, np.concatenate([b.teacher_gap for b in kept]), np.concatenate([b.kl for b in kept])


@pytest.fixture(scope="module")
def model():
    return S.sim_model(**SMALL)


@pytest.fixture(scope="module")
def here(model):
    datasets = 3 * S.block_plan(model, 10 ** 6)[0][2] + 17  # four blocks, the last one short
    return datasets, simulated(model, datasets)


def test_the_plan_covers_the_datasets_in_order(model):
    plan = S.block_plan(model, 1000)
    size = S.block_size(model.n, model.d, model.k)
    assert plan[0] == (0, 0, min(size, 1000)) and sum(m for _, _, m in plan) == 1000
    assert all(b[1] == a[1] + a[2] and b[0] == a[0] + 1 for a, b in zip(plan, plan[1:]))


def test_blocks_finishing_in_any_order_are_merged_in_block_order(model, here):
    datasets, (sim, gaps, kl) = here

    class Reversed:  # an executor that returns the last task first
        name = "reversed"

        def __init__(self, fn, payload):
            self.fn, self.payload, self.tasks = fn, payload, []

        def submit(self, key, *args):
            self.tasks.append((key, args))

        def completed(self):
            for key, args in reversed(self.tasks):
                yield key, self.fn(self.payload, *args)

    plan = S.block_plan(model, datasets)
    job = S.BlockJob([(model, SMALL["seed"], plan[0][2])])
    assert len(plan) == 4
    got, got_gaps, got_kl = simulated(model, datasets, Reversed(S.block_task, job), job)
    assert fields(got) == fields(sim)
    assert np.array_equal(got_gaps, gaps) and np.array_equal(got_kl, kl)


def _same_numbers_on(model, here, **executor) -> None:
    """The simulation on ``open_executor(..., **executor)`` gives the numbers of one process."""
    datasets, (sim, gaps, kl) = here
    job = S.BlockJob([(model, SMALL["seed"], S.block_plan(model, datasets)[0][2])])
    opened = open_executor(S.block_task, job, **executor)
    try:
        got, got_gaps, got_kl = simulated(model, datasets, opened, job)
    finally:
        opened.close()
    assert fields(got) == fields(sim)
    assert np.array_equal(got_gaps, gaps) and np.array_equal(got_kl, kl)


def test_two_local_processes_give_the_numbers_of_one(model, here):
    _same_numbers_on(model, here, backend="joblib", jobs=2)


@pytest.fixture(scope="module")
def cluster():
    cl = local_cluster(pytest.importorskip("distributed"))
    try:
        yield cl
    finally:
        cl.close()


@pytest.mark.dask
def test_a_dask_cluster_gives_the_numbers_of_one_process(model, here, cluster):
    _same_numbers_on(model, here, backend="dask", scheduler=cluster.scheduler_address)


# ----------------------------------------------------------------------------- the command line

ARGS = ["simulate", "--n", "30", "--d", "4", "--k", "2", "--seed", "5", "--datasets", "3000"]


def test_jobs_give_the_same_report_runs_and_sweep(run, tmp_path):
    one = run(*ARGS, "-f", "json", "--runs-out", tmp_path / "one.csv")
    two = run(*ARGS, "-f", "json", "--jobs", "2", "--runs-out", tmp_path / "two.csv")
    assert one.exit_code == 0 and two.exit_code == 0, two.stderr
    assert json.loads(one.stdout) == json.loads(two.stdout)
    assert (tmp_path / "one.csv").read_bytes() == (tmp_path / "two.csv").read_bytes()
    sweep = ["simulate", "--d", "4", "--k", "2", "--datasets", "600", "--sweep", "n=10:40:3", "-f", "csv"]
    a, b = run(*sweep), run(*sweep, "--jobs", "2")
    assert a.exit_code == 0 and a.stdout == b.stdout and a.stdout.count("\n") == 4


@pytest.mark.dask
def test_dask_on_the_command_line(run, cluster):
    one = run(*ARGS, "-f", "json")
    local = run(*ARGS, "-f", "json", "--backend", "dask", "--jobs", "2")
    remote = run(*ARGS, "-f", "json", "--backend", "dask", "--scheduler", cluster.scheduler_address)
    assert local.exit_code == 0 and remote.exit_code == 0, (local.stderr, remote.stderr)
    assert json.loads(one.stdout) == json.loads(local.stdout) == json.loads(remote.stdout)


@pytest.mark.parametrize("args, start", [
    (["--jobs", "0"], "kdbound: error: --jobs: must be a whole number >= 1 (got 0)"),
    (["--scheduler", "tcp://127.0.0.1:1"], "kdbound: error: --scheduler: only with the dask backend"),
    (["--backend", "ray"], "kdbound: error: Invalid value for '--backend': 'ray' is not one of 'joblib', 'dask'"),
])
def test_bad_executor_options_are_one_line(run, args, start):
    r = run(*ARGS, *args)
    assert r.exit_code == 2 and r.stdout == ""
    assert len(r.stderr.splitlines()) == 1 and r.stderr.startswith(start), r.stderr
