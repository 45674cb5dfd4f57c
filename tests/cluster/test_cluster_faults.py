"""Faults on the running cluster: a Celery worker SIGKILLed, and PostgreSQL restarted, while `train` runs.

Airflow on the CeleryExecutor with two workers, PostgreSQL, Redis and the MLflow server all run
for real. When the worker running `train` dies with its whole process group, the task's
heartbeat stops, the scheduler fails that try, and the retry runs on the other worker; the run
then reaches the approval and is promoted with exactly one registered version, and the
candidate on disk is the retry's (stage outputs are swapped in atomically). The whole process
tree of the worker dies, as with a lost machine.

When PostgreSQL (Airflow's metadata, Celery's results, MLflow's store, Optuna's study) stops
for a few seconds and comes back, Airflow's scheduler, dag-processor and triggerer exit on the
lost connection; they are restarted as compose's `restart: unless-stopped` restarts them, and
the run carries on from the state in the database: one version registered and promoted, every
task finished, no row lost.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from cluster_run import (
    assert_no_row_lost,
    assert_one_version_promoted,
    cluster_airflow,
    fault_project,
    retrain_triggered,
    wait_until_running,
)

from shopseq.ops.cluster.mlflow_server import MlflowServer
from shopseq.ops.cluster.services import Postgres, Redis

MODEL = "fault-test-next-item"
RESTART_MODEL = "postgres-restart-next-item"
POSTGRES_DOWN_S = 10  # long enough that every component's connections break and their retries run


def _worker_tree(home: Path, name: str) -> list[int]:
    """Every live process of Celery worker `name` (of the Airflow at `home`) and all it started.

    The worker's own process group is not enough: Airflow's supervisor puts each task in a
    process group of its own, which would outlive a killed group and finish the stage as an
    orphan. A dead machine takes the whole tree with it; so does this.
    """
    wanted = {f"AIRFLOW_HOME={home}".encode(), f"SHOPSEQ_WORKER_NAME={name}".encode()}
    parents: dict[int, int] = {}
    roots = []
    for pid_dir in Path("/proc").glob("[0-9]*"):
        try:
            stat = (pid_dir / "stat").read_text().rsplit(")", 1)[1].split()
            environ = set((pid_dir / "environ").read_bytes().split(b"\0"))
            leader = os.getpgid(int(pid_dir.name)) == int(pid_dir.name)
        except (OSError, IndexError):
            continue
        pid = int(pid_dir.name)
        parents[pid] = int(stat[1])
        if wanted <= environ and leader:  # the worker (started with setsid) and its tasks' groups
            roots.append(pid)
    assert roots, f"no process of worker {name} found"
    tree = set(roots)
    while grown := {pid for pid, parent in parents.items() if parent in tree and pid not in tree}:
        tree |= grown
    return sorted(tree)


@pytest.mark.slow
def test_worker_killed_during_train_is_retried_on_the_other_worker(
    tmp_path: Path, postgres: Postgres, redis_server: Redis, mlflow_server: MlflowServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    project = fault_project(tmp_path, MODEL, mlflow_server, monkeypatch)
    airflow = cluster_airflow(project, postgres, redis_server, mlflow_server, restart_exited=False)
    with retrain_triggered(airflow) as run:
        train = wait_until_running(run.api, run.watcher, "train")
        time.sleep(3)  # well inside the stage: data loaded, the Optuna trial training
        victim = train["hostname"]
        killed_at = time.time()
        for pid in _worker_tree(airflow.home, victim):
            os.kill(pid, signal.SIGKILL)
        run.approve_and_finish()
        train = run.api.get(f"{run.task_path}/train")
        tries = run.api.get(f"{run.task_path}/train/tries")["task_instances"]

    survivor = {"worker-1": "worker-2", "worker-2": "worker-1"}[victim]
    assert train["try_number"] == 2 and train["hostname"] == survivor, (train, victim)
    assert [t["hostname"] for t in sorted(tries, key=lambda t: t["try_number"])] == [victim, survivor]
    # one version registered and promoted; the candidate on disk is the retry's logged model
    retry_run = assert_one_version_promoted(mlflow_server.url, MODEL, project)
    assert retry_run.start_time / 1000 > killed_at  # trained again, after the kill
    assert_no_row_lost(project)


@pytest.mark.slow
def test_postgres_restarted_during_train_resumes_with_one_version_and_no_row_lost(
    tmp_path: Path, postgres: Postgres, redis_server: Redis, mlflow_server: MlflowServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    project = fault_project(tmp_path, RESTART_MODEL, mlflow_server, monkeypatch)
    airflow = cluster_airflow(project, postgres, redis_server, mlflow_server)
    with retrain_triggered(airflow) as run:
        wait_until_running(run.api, run.watcher, "train")
        time.sleep(3)  # inside the stage: the Optuna trial (its study is in this PostgreSQL) training
        postgres.stop()  # Airflow's metadata, Celery's results, MLflow's store and Optuna's study all go
        time.sleep(POSTGRES_DOWN_S)
        postgres.start()
        run.approve_and_finish()
        instances = run.api.get(run.task_path, limit=100)["task_instances"]
    restarted = airflow.restarts_file.read_text().split() if airflow.restarts_file.exists() else []
    print("restarted after the outage:", restarted)
    print("tasks:", sorted((t["task_id"], t["state"], t["try_number"], t["hostname"]) for t in instances))
    # the scheduler lost its database and was brought back; without that the run would hang here
    assert "scheduler" in restarted
    # every task of the run finished (none lost in the outage), `gate_failed`/`record_rejection` skipped
    assert {t["task_id"]: t["state"] for t in instances if t["state"] != "success"} == {
        "gate_failed": "skipped", "record_rejection": "skipped"
    }  # fmt: skip
    assert_one_version_promoted(mlflow_server.url, RESTART_MODEL, project)  # no duplicate from a retried register
    assert_no_row_lost(project)
