"""The cluster's services for tests: PostgreSQL, Redis and an MLflow server on free loopback ports.

Each is started by the project's own code (shopseq.ops.cluster), installed from Debian's packages
first when missing and running as root, and stopped by its PID when the session ends. Where
they can be neither found nor installed, the tests that need them skip and say why.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from shopseq.ops.cluster.mlflow_server import MlflowServer
from shopseq.ops.cluster.services import Postgres, Redis, ServiceError, ensure_installed


@pytest.fixture(scope="session")
def cluster_packages() -> None:
    try:
        ensure_installed()
    except ServiceError as error:
        pytest.skip(f"cluster tests need PostgreSQL and Redis: {error}")


@pytest.fixture(scope="session")
def postgres(cluster_packages: None) -> Iterator[Postgres]:
    server = Postgres.in_temp_dir().start()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture(scope="session")
def redis_server(cluster_packages: None) -> Iterator[Redis]:
    server = Redis().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mlflow_server(postgres: Postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    root: Path = tmp_path_factory.mktemp("mlflow-server")
    server = MlflowServer(backend_store_uri=postgres.url("mlflow"), artifacts_dir=root / "artifacts").start()
    try:
        yield server
    finally:
        server.stop()
