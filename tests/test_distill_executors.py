"""The same seed gives the same rows on every executor: this process, local processes, a Dask cluster.

The Dask tests start a real ``dask.distributed.LocalCluster`` on loopback (``-m dask`` selects them).
"""

import dataclasses
import inspect
import os
import socket
import textwrap
import time

import pytest
from conftest import local_cluster

from kdbound.engine.distill import run_seeds
from kdbound.errors import InputError
from kdbound.experiment.runner import DistillSettings, run_distill

SETTINGS = DistillSettings(data="digits", teacher="mlp:8:max_iter=30", students=("logistic:C=0.1", "tree:depth=3"),
                           n=150, runs=6, seed=5, labels="soft", temperature=2.0, loss="brier", scale="standard")
SOFT_STUDENTS = ("logistic:C=0.1", "mlp:4:max_iter=20")


@pytest.fixture(scope="module")
def serial():
    return run_distill(dataclasses.replace(SETTINGS, students=SOFT_STUDENTS), jobs=1)


def rows(result):
    return [s.rows for s in result.students]


def test_two_local_processes_give_the_rows_of_one(serial):
    assert rows(run_distill(dataclasses.replace(SETTINGS, students=SOFT_STUDENTS), jobs=2)) == rows(serial)


@pytest.mark.dask
def test_an_unreachable_scheduler_is_an_error_within_the_timeout():
    pytest.importorskip("distributed")
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert inspect.signature(run_distill).parameters["connect_timeout"].default == 10.0
    t0 = time.monotonic()
    with pytest.raises(InputError) as err:
        run_distill(SETTINGS, backend="dask", scheduler=f"tcp://127.0.0.1:{port}", connect_timeout=2.0)
    assert time.monotonic() - t0 < 8
    assert err.value.describe().startswith(f"scheduler: cannot reach the Dask scheduler 'tcp://127.0.0.1:{port}' "
                                           "within 2 s")


# --------------------------------------------------------------------------- Dask


@pytest.fixture(scope="module")
def cluster():
    dask = pytest.importorskip("dask")
    distributed = pytest.importorskip("distributed")

    # a worker runs one task at a time and holds no queued one (saturation 1.0), and a task whose worker died
    # fails at once (KilledWorker): so the run that kills its worker is the only one that fails
    with dask.config.set({"distributed.scheduler.allowed-failures": 0, "distributed.scheduler.worker-saturation": 1.0}):
        cl = local_cluster(distributed)
    try:
        yield cl
    finally:
        cl.close()


@pytest.mark.dask
def test_a_dask_cluster_gives_the_rows_of_one_process(serial, cluster):
    got = run_distill(dataclasses.replace(SETTINGS, students=SOFT_STUDENTS), backend="dask",
                      scheduler=cluster.scheduler_address)
    assert rows(got) == rows(serial)


@pytest.mark.dask
def test_dask_without_a_scheduler_starts_a_local_cluster(serial):
    got = run_distill(dataclasses.replace(SETTINGS, students=SOFT_STUDENTS), backend="dask", jobs=2)
    assert rows(got) == rows(serial)


@pytest.fixture
def worker_modules(tmp_path, monkeypatch):
    name = f"kdb_workers_{tmp_path.name.replace('-', '_')}"
    kill = run_seeds(SETTINGS.seed, 2).student
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(f"""
        import os
        from sklearn.linear_model import LogisticRegression

        class Fatal(LogisticRegression):
            def fit(self, X, y, sample_weight=None):
                if self.random_state == {kill}:
                    if os.environ.get("KDB_DRIVER_PID") == str(os.getpid()):
                        raise ValueError("refused to kill the test process")
                    os._exit(3)  # the whole worker process dies, as a segfault or the OOM killer would do
                return super().fit(X, y, sample_weight=sample_weight)

        def fatal(random_state):
            return Fatal(random_state=random_state)
    """))
    (tmp_path / f"{name}_driver_only.py").write_text(textwrap.dedent("""
        import os
        if os.environ.get("KDB_DRIVER_PID") != str(os.getpid()):
            raise ImportError("this module imports only in the driver")
        from sklearn.linear_model import LogisticRegression

        def model(random_state):
            return LogisticRegression(random_state=random_state)
    """))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KDB_DRIVER_PID", str(os.getpid()))
    return name


@pytest.mark.dask
def test_every_worker_must_import_the_factory(cluster, worker_modules):
    settings = dataclasses.replace(SETTINGS, students=(f"{worker_modules}_driver_only:model",), runs=2)
    with pytest.raises(InputError) as err:
        run_distill(settings, backend="dask", scheduler=cluster.scheduler_address)
    msg = err.value.describe()
    assert msg.startswith("student: the Dask worker tcp://127.0.0.1:")
    assert f"cannot import '{worker_modules}_driver_only' (ImportError: this module imports only in the driver)" in msg


def test_a_run_that_kills_a_local_worker_stops_the_experiment(worker_modules, tmp_path):
    """A dead loky worker breaks its pool: the experiment stops, whatever on_error says, and keeps its runs."""
    settings = dataclasses.replace(SETTINGS, students=(f"{worker_modules}:fatal",), runs=4, labels="hard",
                                   temperature=1.0)
    out = str(tmp_path / "runs.csv")
    with pytest.raises(InputError, match=r"^run [0-3]: (the process running it died|a process died while runs "
                                         r"([0-3], )+[0-3] were running on the pool) \(TerminatedWorkerError: "):
        run_distill(settings, jobs=2, runs_out=out, on_error="skip")
    again = run_distill(settings, jobs=1, runs_out=out, resume=True, on_error="skip")  # run 2 fails in-process
    assert sorted({r.dataset for r in again.rows}) == [0, 1, 3]


@pytest.mark.dask
def test_a_run_that_kills_its_worker_is_a_model_failure(cluster, worker_modules, tmp_path):
    settings = dataclasses.replace(SETTINGS, students=(f"{worker_modules}:fatal",), runs=4, labels="hard",
                                   temperature=1.0)
    res = run_distill(settings, backend="dask", scheduler=cluster.scheduler_address, on_error="skip")
    assert [f.index for f in res.failures] == [2]
    assert res.failures[0].role == "worker" and "KilledWorker" in res.failures[0].message
    assert sorted({r.dataset for r in res.rows}) == [0, 1, 3]
    out = str(tmp_path / "runs.csv")
    with pytest.raises(InputError, match=r"^run 2: the process running it died \(KilledWorker: "):
        run_distill(settings, backend="dask", scheduler=cluster.scheduler_address, runs_out=out)
    # the runs that completed before the stop are in the file; a resume that skips the failure completes it
    again = run_distill(settings, backend="dask", scheduler=cluster.scheduler_address, runs_out=out, resume=True,
                        on_error="skip")
    assert sorted({r.dataset for r in again.rows}) == [0, 1, 3] and again.computed + again.kept == 4
