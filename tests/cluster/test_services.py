"""PostgreSQL and Redis as the project starts them: reachable on loopback, stopped by PID."""

from __future__ import annotations

import socket

import pytest

from shopseq.ops.cluster.services import DATABASES, Postgres, Redis, listening


def test_postgres_has_one_database_per_consumer_and_survives_a_restart(postgres: Postgres) -> None:
    names = {row[0] for row in postgres.sql("SELECT datname FROM pg_database")}
    assert set(DATABASES) <= names
    postgres.sql("CREATE TABLE IF NOT EXISTS kept (n int)", database="optuna")
    postgres.sql("INSERT INTO kept VALUES (7)", database="optuna")
    old_pid = postgres.process.pid
    postgres.restart()
    assert postgres.process.pid != old_pid
    assert postgres.sql("SELECT n FROM kept", database="optuna") == [(7,)]
    postgres.sql("DROP TABLE kept", database="optuna")


def test_postgres_refuses_a_wrong_password(postgres: Postgres) -> None:
    import psycopg2

    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(postgres.url("airflow", "postgresql").replace(":shopseq@", ":wrong@"), connect_timeout=5)


def test_postgres_listens_on_loopback_only(postgres: Postgres) -> None:
    assert listening(postgres.port)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outward interface
        outward = probe.getsockname()[0]
    if outward.startswith("127."):
        pytest.skip("this machine has no non-loopback address to check against")
    assert not listening(postgres.port, host=outward)


def test_redis_answers_ping_and_stops_by_pid(cluster_packages: None) -> None:
    import redis

    server = Redis().start()
    try:
        assert redis.Redis.from_url(server.url).ping()
    finally:
        server.stop()
    assert server.process.returncode is not None
    assert not listening(server.port)
