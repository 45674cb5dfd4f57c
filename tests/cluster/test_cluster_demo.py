"""`shopseq demo --cluster` end to end: Airflow on Celery with two workers, PostgreSQL, Redis, MLflow server.

The whole production path on one machine: the demo brings the cluster up on free loopback
ports, runs `shopseq_retrain` on a tiny project with its approval answered through the REST
API, waits for the asset-triggered downstream DAGs, and tears everything down.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dags"))
from tiny_project import make_tiny_project  # noqa: E402  (tests/dags holds the tiny project)

from shopseq.ops.cluster.services import listening  # noqa: E402


def _processes_with(needle: bytes) -> list[int]:
    """Live processes whose environment holds `needle` (e.g. b"AIRFLOW_HOME=...")."""
    found = []
    for pid_dir in Path("/proc").glob("[0-9]*"):
        try:
            environ = (pid_dir / "environ").read_bytes().split(b"\0")
            state = (pid_dir / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if needle in environ and state != "Z":
            found.append(int(pid_dir.name))
    return found


@pytest.mark.slow
def test_cluster_demo_runs_on_two_celery_workers_and_tears_down(tmp_path: Path, cluster_packages: None) -> None:
    project = make_tiny_project(tmp_path / "project")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW") and k != "SHOPSEQ_PROJECT_DIR"}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("SHOPSEQ_AIRFLOW_PORT", None)
    shopseq = str(Path(sys.executable).parent / "shopseq")
    result = subprocess.run(
        [shopseq, "demo", "--cluster", "--project", str(project)],
        cwd=project, env=env, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    summary = json.loads((project / "reports" / "cluster_demo_summary.json").read_text())

    # every key of demo_summary.json, with the same meaning
    assert summary["approved_by"] == "demo-approver" and summary["champion_version"] == "1"
    assert summary["dag_runs"] == {
        "shopseq_retrain": "success", "shopseq_audiences": "success", "shopseq_forecast": "success"
    }  # fmt: skip
    assert summary["gate"]["passed"] is True and summary["validation"]["passed"] is True
    assert summary["metrics"]["candidate"]["ndcg@10"] > 0
    # the cluster's own keys
    assert summary["executor"] == "CeleryExecutor"
    assert (summary["metadata_db"], summary["broker"]) == ("postgresql", "redis")
    assert urlsplit(summary["mlflow_tracking_uri"]).scheme == "http"
    assert summary["workers"] == ["worker-1", "worker-2"], summary["tasks_by_worker"]
    assert all(summary["tasks_by_worker"][name] > 0 for name in summary["workers"])
    assert sum(summary["tasks_by_worker"].values()) >= 20  # retrain (~17 tasks) + audiences + forecast
    assert summary["wall_seconds"] > 0
    # the embedded stores were not used: no SQLite MLflow store in the project
    assert not (project / "mlflow" / "mlflow.db").exists()
    # torn down: no process of this project's Airflow, nothing on the MLflow server's port
    assert _processes_with(f"AIRFLOW_HOME={project / 'airflow'}".encode()) == []
    assert not listening(urlsplit(summary["mlflow_tracking_uri"]).port)
    assert "answers Approve through the REST API" in result.stderr
