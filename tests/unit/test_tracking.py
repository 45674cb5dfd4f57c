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


def test_configuring_one_project_does_not_send_the_next_one_to_its_store(tmp_path, monkeypatch):
    """A process that worked on one project (a test session, a worker) must not keep its store."""
    import os

    from shopseq.tracking import configure_mlflow

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    for name in ("first", "second"):
        (tmp_path / name).mkdir()
    monkeypatch.chdir(tmp_path / "first")
    configure_mlflow(Base(mlflow_uri="sqlite:///mlflow/mlflow.db"))
    assert "MLFLOW_TRACKING_URI" not in os.environ and "MLFLOW_REGISTRY_URI" not in os.environ
    monkeypatch.chdir(tmp_path / "second")
    assert tracking_uri(Base(mlflow_uri="sqlite:///mlflow/mlflow.db")) == f"sqlite:///{(tmp_path / 'second').resolve()}/mlflow/mlflow.db"


def test_an_unreachable_tracking_server_fails_at_once_with_the_fix(monkeypatch):
    import socket

    import pytest

    from shopseq.tracking import TrackingUnavailable, configure_mlflow

    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
    with pytest.raises(TrackingUnavailable, match=rf"127\.0\.0\.1:{port} is unreachable.*MLFLOW_TRACKING_URI"):
        configure_mlflow(Base())


def test_a_running_server_passes_the_health_check():
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from shopseq.tracking import check_reachable

    class Health(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            self.send_response(200 if self.path == "/health" else 404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        check_reachable(f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
