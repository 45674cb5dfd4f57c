"""The cluster's Airflow settings without starting anything: worker names, ports, the summary's keys."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from shopseq.ops.cluster.airflow_celery import ClusterAirflow
from shopseq.ops.cluster.worker_name import worker_hostname


def test_a_worker_records_its_own_name_else_the_machines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPSEQ_WORKER_NAME", "worker-2")
    assert worker_hostname() == "worker-2"
    monkeypatch.delenv("SHOPSEQ_WORKER_NAME")
    assert worker_hostname() == socket.getfqdn()


def test_each_worker_gets_its_name_and_its_own_log_port() -> None:
    airflow = ClusterAirflow(project=Path("/p"), port=20000, metadata_db="postgresql+psycopg2://x/airflow",
                             broker="redis://127.0.0.1:1/0", overrides=(("AIRFLOW__X__Y", "1"),))  # fmt: skip
    envs = {name: airflow.component_env(name) for name in airflow.components()}
    assert [envs[w]["SHOPSEQ_WORKER_NAME"] for w in airflow.workers] == ["worker-1", "worker-2"]
    log_ports = {envs[w]["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] for w in airflow.workers}
    assert log_ports == {"20003", "20004"} and set(airflow.ports()) == set(range(20000, 20005))
    assert "SHOPSEQ_WORKER_NAME" not in envs["scheduler"]
    assert all(env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor" and env["AIRFLOW__X__Y"] == "1" for env in envs.values())
    assert envs["scheduler"]["AIRFLOW__CELERY__RESULT_BACKEND"] == "db+postgresql+psycopg2://x/airflow"
    assert airflow.scheduler_log == Path("/p/airflow/scheduler.log")
