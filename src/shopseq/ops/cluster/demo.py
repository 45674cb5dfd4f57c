"""`shopseq demo --cluster`: the demo on a whole cluster brought up on this machine, then torn down.

PostgreSQL (Airflow's metadata, MLflow's store), Redis (Celery's broker), an MLflow server and
Airflow on the CeleryExecutor with two workers start on free loopback ports; the demo's own
steps then run unchanged (`shopseq.ops.demo.run_demo`), and everything started is stopped by PID,
whatever ends the run. `reports/cluster_demo_summary.json` holds every key of
demo_summary.json plus where the tasks ran.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

from shopseq.ops.cluster.airflow_celery import CELERY_EXECUTOR, ClusterAirflow
from shopseq.ops.cluster.mlflow_server import MlflowServer
from shopseq.ops.cluster.services import Postgres, Redis, free_port_block
from shopseq.ops.demo import DemoSettings, run_demo
from shopseq.io import write_json

log = logging.getLogger(__name__)

SUMMARY_NAME = "cluster_demo_summary.json"


@dataclass
class Cluster:
    """The running services of one cluster (all on loopback, all started by this process)."""

    postgres: Postgres
    redis: Redis
    mlflow: MlflowServer
    root: Path

    def airflow(self, project: Path, port: int, user: str, workers: tuple[str, ...]) -> ClusterAirflow:
        """The CeleryExecutor Airflow for `project` on this cluster (AIRFLOW_HOME under the cluster's root)."""
        return ClusterAirflow(
            project=project,
            port=port,
            user=user,
            metadata_db=self.postgres.url("airflow"),
            broker=self.redis.url,
            mlflow_uri=self.mlflow.url,
            optuna_storage=self.postgres.url("optuna"),
            workers=workers,
        )

    def tasks_by_worker(self) -> dict[str, int]:
        """Task instances per worker name that ran them (their latest try), from Airflow's metadata."""
        rows = self.postgres.sql(
            "SELECT hostname, count(*) FROM task_instance WHERE hostname <> '' GROUP BY hostname ORDER BY hostname",
            database="airflow",
        )
        return {str(host): int(count) for host, count in rows}


@contextmanager
def running_cluster(root: Path | None = None) -> Iterator[Cluster]:
    """PostgreSQL, Redis and an MLflow server, up for the block and stopped (by PID) after it."""
    root = root or Path(tempfile.mkdtemp(prefix="shopseq-cluster-"))
    with ExitStack() as stack:
        postgres = Postgres.in_temp_dir()
        stack.callback(postgres.remove)
        postgres.start()
        redis = Redis()
        stack.callback(redis.stop)
        redis.start()
        mlflow = MlflowServer(backend_store_uri=postgres.url("mlflow"), artifacts_dir=root / "mlflow-artifacts")
        stack.callback(mlflow.stop)
        mlflow.start()
        yield Cluster(postgres=postgres, redis=redis, mlflow=mlflow, root=root)


@contextmanager
def tracking_at(uri: str) -> Iterator[None]:
    """MLFLOW_TRACKING_URI set to `uri` in this process for the block (the demo asks the registry)."""
    previous = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = uri
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = previous


def cluster_keys(summary: dict[str, Any], cluster: Cluster, airflow: ClusterAirflow) -> dict[str, Any]:
    """The summary plus the cluster's keys (issue 21's contract; add keys, never rename)."""
    tasks = cluster.tasks_by_worker()
    return summary | {
        "executor": CELERY_EXECUTOR,
        "workers": sorted(name for name, count in tasks.items() if count > 0),
        "tasks_by_worker": tasks,
        "mlflow_tracking_uri": cluster.mlflow.url,
        "metadata_db": urlsplit(airflow.metadata_db).scheme.split("+")[0],
        "broker": urlsplit(airflow.broker).scheme,
    }


def run_cluster_demo(
    project: Path, settings: DemoSettings | None = None, workers: tuple[str, ...] = ("worker-1", "worker-2")
) -> dict[str, Any]:
    """Bring the cluster up, run the demo on it, tear it down; write and return the summary."""
    start = time.monotonic()
    settings = settings or DemoSettings.from_env()
    project = project.resolve()
    root = Path(tempfile.mkdtemp(prefix="shopseq-cluster-"))
    try:
        with running_cluster(root) as cluster, tracking_at(cluster.mlflow.url):
            port = settings.port if os.environ.get("SHOPSEQ_AIRFLOW_PORT") else free_port_block(3 + len(workers))
            airflow = cluster.airflow(project, port, settings.user, workers)
            summary = run_demo(
                project,
                settings,
                airflow=airflow,
                summary_name=SUMMARY_NAME,
                extend=lambda summary: cluster_keys(summary, cluster, airflow),
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    summary["wall_seconds"] = round(time.monotonic() - start, 1)  # cluster start and teardown included
    write_json(Path(summary["reports"]["summary"]), summary)
    return summary
