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


def _project_with_workspace(path: Path, workspace: str) -> Path:
    """A directory with the project's params.yaml (naming `workspace`) and dags/."""
    import yaml

    root = Path(__file__).resolve().parents[2]
    raw = yaml.safe_load((root / "params.yaml").read_text())
    raw["dags"]["workspace"] = workspace
    path.mkdir(parents=True)
    (path / "params.yaml").write_text(yaml.safe_dump(raw))
    (path / "dags").mkdir()
    return path


def test_one_airflow_serving_two_workspaces_reads_each_dag_file_from_its_own_project(tmp_path: Path) -> None:
    shops = (_project_with_workspace(tmp_path / "a", "shop_a"), _project_with_workspace(tmp_path / "b", "shop_b"))
    airflow = ClusterAirflow(project=tmp_path / "serving", port=20000, workspaces=shops)
    env = airflow.env()
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(tmp_path / "serving" / "airflow" / "workspaces")
    assert "SHOPSEQ_PROJECT_DIR" not in env  # one fixed project would send both shops' tasks to it
    assert airflow.workspace_names() == {"shop_a": shops[0].resolve(), "shop_b": shops[1].resolve()}
    # served alone, a project keeps its own DAGs folder and project variable
    alone = ClusterAirflow(project=shops[0], port=20000).env()
    assert alone["AIRFLOW__CORE__DAGS_FOLDER"] == str(shops[0] / "dags") and alone["SHOPSEQ_PROJECT_DIR"] == str(shops[0])


@pytest.mark.parametrize(("names", "error"), [(("shop_a", ""), "set dags.workspace"), (("shop_a", "shop_a"), "both set")])
def test_workspaces_must_be_named_and_distinct(tmp_path: Path, names: tuple[str, str], error: str) -> None:
    shops = tuple(_project_with_workspace(tmp_path / str(i), name) for i, name in enumerate(names))
    with pytest.raises(ValueError, match=error):
        ClusterAirflow(project=tmp_path / "serving", workspaces=shops).workspace_names()


def test_supervisor_restarts_a_component_that_exits_and_records_it(tmp_path: Path) -> None:
    import subprocess
    import time

    from shopseq.ops.airflow_local import Supervisor, stop_process_group

    commands = {"scheduler": ["sleep", "0.1"]}  # exits at once, like a scheduler whose database went away
    processes: dict[str, subprocess.Popen] = {}

    def start(name: str) -> None:
        processes[name] = subprocess.Popen(commands[name], start_new_session=True)
        commands[name] = ["sleep", "60"]  # the restarted one stays up

    start("scheduler")
    supervisor = Supervisor(processes, start, tmp_path / "restarts.log", poll_s=0.05, backoff_s=0.2)
    supervisor.start()
    try:
        deadline = time.monotonic() + 20
        while not (tmp_path / "restarts.log").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        assert processes["scheduler"].poll() is None  # running again
        assert (tmp_path / "restarts.log").read_text().split()[1:] == ["scheduler", "exit", "0"]  # once
    finally:
        supervisor.stop()
        stop_process_group(processes["scheduler"])
    assert processes["scheduler"].poll() is not None
