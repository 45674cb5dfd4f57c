"""One tiny project's `shopseq_retrain` on the session's cluster: the setup the fault tests share.

Each fault test gets its own tiny project and model name (the session's MLflow server holds
every test's versions), a CeleryExecutor Airflow on the session's PostgreSQL, Redis and MLflow
server, and a way to wait until a given task runs on a worker, which is when it strikes.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dags"))
from tiny_project import make_tiny_project, set_params  # noqa: E402

from shopseq.ops.airflow_local import AirflowApi  # noqa: E402
from shopseq.ops.cluster.airflow_celery import ClusterAirflow  # noqa: E402
from shopseq.ops.cluster.mlflow_server import MlflowServer  # noqa: E402
from shopseq.ops.cluster.services import Postgres, Redis, free_port_block  # noqa: E402
from shopseq.ops.demo import RETRAIN, DemoSettings, RunWatcher, approve, trigger, wait_for_decision_point, wait_for_run  # noqa: E402
from shopseq.io import read_json  # noqa: E402

HEARTBEAT_TIMEOUT_S = 60  # how long a silent task counts as running (Airflow's default: 300 s)


def fault_project(tmp_path: Path, model: str, mlflow_server: MlflowServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A tiny project registering as `model`, one retry without delay; this process talks to the server."""
    project = make_tiny_project(tmp_path / "project")
    set_params(project, dags={"retries": 1, "retry_delay_minutes": 0}, registry={"model_name": model})
    for name in [n for n in os.environ if n.startswith("AIRFLOW")] + ["SHOPSEQ_PROJECT_DIR"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.url)
    return project


def cluster_airflow(
    project: Path, postgres: Postgres, redis_server: Redis, mlflow_server: MlflowServer, restart_exited: bool = True
) -> ClusterAirflow:
    """Airflow on Celery (two workers) for `project`, noticing a silent task after HEARTBEAT_TIMEOUT_S.

    `restart_exited`: components that exit are restarted (compose's policy); off where a killed
    worker stands for a lost machine, which does not come back.
    """
    # A metadata database of its own: the session's `airflow` database keeps earlier tests' asset
    # events, which would trigger this project's downstream DAGs in the middle of the fault.
    metadata = f"airflow_{uuid.uuid4().hex[:12]}"
    postgres.sql(f"CREATE DATABASE {metadata}")
    return ClusterAirflow(
        project=project,
        port=free_port_block(5),
        user="demo-approver",
        metadata_db=postgres.url(metadata),
        broker=redis_server.url,
        mlflow_uri=mlflow_server.url,
        optuna_storage=postgres.url("optuna"),
        overrides=(
            ("AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT", str(HEARTBEAT_TIMEOUT_S)),
            ("AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL", "5"),
        ),
        restart_exited=restart_exited,
    )


def wait_until_running(api: AirflowApi, watcher: RunWatcher, task_id: str, timeout_s: float = 900) -> dict[str, Any]:
    """Poll until `task_id` of the watched run runs on a named worker; return its task instance."""
    path = f"/dags/{watcher.dag_id}/dagRuns/{watcher.run_id}/taskInstances/{task_id}"
    deadline = time.monotonic() + timeout_s
    while True:
        watcher.poll()
        instance = api.get(path)
        if instance["state"] == "running" and instance.get("hostname"):
            return instance
        assert instance["state"] not in ("failed", "upstream_failed"), instance
        assert time.monotonic() < deadline, f"{task_id} never started"
        time.sleep(1)


def assert_one_version_promoted(mlflow_url: str, model: str, project: Path) -> Any:
    """Exactly one version of `model`, the champion, logged by the candidate on disk; return that run's info."""
    import mlflow

    client = mlflow.MlflowClient(mlflow_url)
    versions = client.search_model_versions(f"name = '{model}'")
    assert len(versions) == 1, [v.version for v in versions]
    assert client.get_model_version_by_alias(model, "champion").version == versions[0].version
    meta = read_json(project / "models" / "candidate" / "meta.json")
    assert versions[0].tags["candidate_run"] == meta["mlflow_run_id"]
    run = client.get_run(meta["mlflow_run_id"]).info
    assert run.status == "FINISHED"
    return run


def assert_no_row_lost(project: Path) -> None:
    """Every ingested row was accepted or quarantined (validate's own count, after the fault)."""
    validation = read_json(project / "reports" / "validation" / "summary.json")
    assert validation["rows_in"] == validation["rows_accepted"] + validation["rows_quarantined"]


@dataclass
class RetrainRun:
    """A triggered `shopseq_retrain` run on the cluster and what a test needs to follow and finish it."""

    airflow: ClusterAirflow
    api: AirflowApi
    watcher: RunWatcher
    log_offset: int  # where the scheduler's log stood at the trigger (approve() reads after it)

    @property
    def task_path(self) -> str:
        return f"/dags/{RETRAIN}/dagRuns/{self.watcher.run_id}/taskInstances"

    def approve_and_finish(self, timeout_s: float = 1200) -> None:
        """Wait for the approval request, approve over REST as the demo does, wait for `success`."""
        assert wait_for_decision_point(self.watcher, timeout_s) == "approval"
        approve(self.api, self.watcher, self.airflow.scheduler_log, self.log_offset, DemoSettings(port=self.airflow.port))
        assert wait_for_run(self.watcher, timeout_s) == "success"


@contextmanager
def retrain_triggered(airflow: ClusterAirflow) -> Iterator[RetrainRun]:
    """Start `airflow`, trigger `shopseq_retrain`; the cluster's Airflow stops when the block ends."""
    with airflow.running() as api:
        offset = airflow.scheduler_log.stat().st_size if airflow.scheduler_log.exists() else 0
        run_id = trigger(api, RETRAIN)
        yield RetrainRun(airflow, api, RunWatcher(api, RETRAIN, run_id), offset)
