"""docker/compose.yaml ships what the cluster tests run: the same settings, the same commands."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import yaml

from shopseq.ops.cluster.airflow_celery import ClusterAirflow, celery_settings
from shopseq.ops.cluster.mlflow_server import server_command

COMPOSE = yaml.safe_load((Path(__file__).resolve().parents[2] / "docker" / "compose.yaml").read_text())
TESTED = celery_settings(
    metadata_db="postgresql+psycopg2://u:p@127.0.0.1:5432/airflow",
    broker="redis://127.0.0.1:6379/0",
    mlflow_uri="http://127.0.0.1:5000",
    optuna_storage="postgresql+psycopg2://u:p@127.0.0.1:5432/optuna",
)


def _scheme(url: str) -> str:
    return urlsplit(url).scheme


def _flags(command: list[str]) -> list[str]:
    return [token for token in command if token.startswith("--")]


def test_every_cluster_setting_is_set_alike_in_compose() -> None:
    shipped = COMPOSE["x-airflow"]["environment"]
    missing = sorted(set(TESTED) - set(shipped))
    assert not missing, f"compose.yaml lacks {missing}"
    for key, value in TESTED.items():
        if "://" in value:  # hosts and credentials differ; the driver must not
            assert _scheme(str(shipped[key])) == _scheme(value), key
        else:
            assert str(shipped[key]) == value, key


def test_compose_starts_the_same_airflow_components_with_the_same_commands() -> None:
    tested = ClusterAirflow(project=Path("/p"), port=8080).components()
    services = {name: service for name, service in COMPOSE["services"].items() if name.startswith("airflow-")}
    shipped = [service["command"] for service in services.values() if service.get("command") != ["init"]]
    assert sorted(shipped) == sorted(["airflow", *args] for args in tested.values())


def test_compose_runs_the_same_mlflow_server_flags() -> None:
    tested = _flags(server_command("postgresql+psycopg2://u:p@h/mlflow", "/a", "127.0.0.1", 5000, 1))
    shipped = COMPOSE["services"]["mlflow"]["command"]
    # --allowed-hosts only in compose: there the server is reached by its service name, not loopback
    assert [flag for flag in _flags(shipped) if flag != "--allowed-hosts"] == tested
    store = shipped[shipped.index("--backend-store-uri") + 1]
    assert _scheme(store) == "postgresql+psycopg2"


def test_compose_restarts_an_exited_airflow_component_as_the_tested_cluster_does() -> None:
    # The PostgreSQL restart fault test relies on it: the scheduler exits when its database goes away.
    assert ClusterAirflow(project=Path("/p")).restart_exited
    services = {name: service for name, service in COMPOSE["services"].items() if name.startswith("airflow-")}
    for name, service in services.items():
        if service.get("command") != ["init"]:
            assert service.get("restart", COMPOSE["x-airflow"]["restart"]) == "unless-stopped", name
