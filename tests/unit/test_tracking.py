"""MLflow URIs: a relative SQLite store is pinned to its project, a server URI is left alone."""

from __future__ import annotations

from shopseq.config import Base
from shopseq.tracking import tracking_uri


def test_relative_sqlite_store_becomes_absolute_per_project(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    uri = tracking_uri(Base(mlflow_uri="sqlite:///mlflow/mlflow.db"))
    assert uri == f"sqlite:///{tmp_path.resolve()}/mlflow/mlflow.db"
    (tmp_path / "other").mkdir()
    monkeypatch.chdir(tmp_path / "other")
    assert tracking_uri(Base(mlflow_uri="sqlite:///mlflow/mlflow.db")) != uri


def test_the_environment_wins_and_servers_are_untouched(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow:5000")
    assert tracking_uri(Base()) == "http://mlflow:5000"
