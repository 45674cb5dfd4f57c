"""Faults on the running cluster: a Celery worker SIGKILLed while it runs `train`.

Airflow on the CeleryExecutor with two workers, PostgreSQL, Redis and the MLflow server all run
for real. When the worker running `train` dies with its whole process group, the task's
heartbeat stops, the scheduler fails that try, and the retry runs on the other worker; the run
then reaches the approval and is promoted with exactly one registered version, and the
candidate on disk is the retry's (stage outputs are swapped in atomically). The whole process
tree of the worker dies, as with a lost machine.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dags"))
from tiny_project import make_tiny_project, set_params  # noqa: E402

from shopseq.ops.cluster.airflow_celery import ClusterAirflow  # noqa: E402
from shopseq.ops.cluster.mlflow_server import MlflowServer  # noqa: E402
from shopseq.ops.cluster.services import Postgres, Redis, free_port_block  # noqa: E402
from shopseq.ops.demo import RETRAIN, DemoSettings, RunWatcher, approve, trigger, wait_for_decision_point, wait_for_run  # noqa: E402
from shopseq.io import read_json  # noqa: E402

MODEL = "fault-test-next-item"
HEARTBEAT_TIMEOUT_S = 60  # how long a silent task counts as running (Airflow's default: 300 s)


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
    import mlflow

    project = make_tiny_project(tmp_path / "project")
    # its own model name: the session's MLflow server also holds other tests' versions
    set_params(project, dags={"retries": 1, "retry_delay_minutes": 0}, registry={"model_name": MODEL})
    for name in [n for n in os.environ if n.startswith("AIRFLOW")] + ["SHOPSEQ_PROJECT_DIR"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.url)
    airflow = ClusterAirflow(
        project=project,
        port=free_port_block(5),
        user="demo-approver",
        metadata_db=postgres.url("airflow"),
        broker=redis_server.url,
        mlflow_uri=mlflow_server.url,
        optuna_storage=postgres.url("optuna"),
        overrides=(
            ("AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT", str(HEARTBEAT_TIMEOUT_S)),
            ("AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL", "5"),
        ),
    )
    settings = DemoSettings(port=airflow.port)
    with airflow.running() as api:
        offset = airflow.scheduler_log.stat().st_size if airflow.scheduler_log.exists() else 0
        run_id = trigger(api, RETRAIN)
        watcher = RunWatcher(api, RETRAIN, run_id)
        train_path = f"/dags/{RETRAIN}/dagRuns/{run_id}/taskInstances/train"
        deadline = time.monotonic() + 900
        while True:
            watcher.poll()
            train = api.get(train_path)
            if train["state"] == "running" and train.get("hostname"):
                break
            assert train["state"] not in ("failed", "upstream_failed"), train
            assert time.monotonic() < deadline, "train never started"
            time.sleep(1)
        time.sleep(3)  # well inside the stage: data loaded, the Optuna trial training
        victim = train["hostname"]
        killed_at = time.time()
        for pid in _worker_tree(airflow.home, victim):
            os.kill(pid, signal.SIGKILL)

        assert wait_for_decision_point(watcher, 1200) == "approval"
        approve(api, watcher, airflow.scheduler_log, offset, settings)
        assert wait_for_run(watcher, 1200) == "success"
        train = api.get(train_path)
        tries = api.get(f"{train_path}/tries")["task_instances"]

    survivor = {"worker-1": "worker-2", "worker-2": "worker-1"}[victim]
    assert train["try_number"] == 2 and train["hostname"] == survivor, (train, victim)
    assert [t["hostname"] for t in sorted(tries, key=lambda t: t["try_number"])] == [victim, survivor]
    # one version registered and promoted; the candidate on disk is the retry's logged model
    client = mlflow.MlflowClient(mlflow_server.url)
    versions = client.search_model_versions(f"name = '{MODEL}'")
    assert len(versions) == 1
    assert client.get_model_version_by_alias(MODEL, "champion").version == versions[0].version
    meta = read_json(project / "models" / "candidate" / "meta.json")
    assert versions[0].tags["candidate_run"] == meta["mlflow_run_id"]
    retry_run = client.get_run(meta["mlflow_run_id"]).info
    assert retry_run.status == "FINISHED" and retry_run.start_time / 1000 > killed_at  # trained again, after the kill
    # nothing lost before the fault: every ingested row was accepted or quarantined
    validation = read_json(project / "reports" / "validation" / "summary.json")
    assert validation["rows_in"] == validation["rows_accepted"] + validation["rows_quarantined"]
