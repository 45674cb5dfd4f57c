"""An MLflow tracking server on PostgreSQL with proxied artifacts, started and stopped by PID.

Workers of the cluster talk to it over HTTP only: runs, metrics, model files (through the
server's artifact proxy, `mlflow-artifacts:/` URIs) and the registry's versions and aliases.
No worker ever reads or writes the artifact directory itself, so the same code works when the
workers sit on other machines.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from shopseq.ops.cluster.services import free_port, wait_for

log = logging.getLogger(__name__)


def server_command(backend_store_uri: str, artifacts_destination: str, host: str, port: int, workers: int) -> list[str]:
    """The `mlflow server` command line; docker/compose.yaml runs the same flags."""
    return [
        "mlflow", "server",
        "--backend-store-uri", backend_store_uri,
        "--artifacts-destination", artifacts_destination,
        "--serve-artifacts",
        "--host", host,
        "--port", str(port),
        "--workers", str(workers),
    ]  # fmt: skip


def answers_health(url: str) -> bool:
    """Whether the server's /health answers 200."""
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=3) as answer:
            return answer.status == 200
    except (urllib.error.URLError, OSError):
        return False


@dataclass
class MlflowServer:
    """`mlflow server` in its own process group on a loopback port.

    Attributes:
        backend_store_uri: the tracking store, a PostgreSQL URL in the cluster.
        artifacts_dir: where the server (and only the server) keeps artifacts.
    """

    backend_store_uri: str
    artifacts_dir: Path
    port: int = field(default_factory=free_port)
    workers: int = 1
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.artifacts_dir.parent / "mlflow-server.log"

    def start(self, timeout_s: float = 180.0) -> "MlflowServer":
        """Start the server and wait for /health (about 20 s on two cores); return self."""
        self.artifacts_dir.mkdir(parents=True, exist_ok=True)
        command = server_command(self.backend_store_uri, str(self.artifacts_dir), "127.0.0.1", self.port, self.workers)
        command[0] = str(Path(sys.executable).parent / "mlflow")
        with self.log_file.open("ab") as sink:
            self.process = subprocess.Popen(
                command, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True, cwd=self.artifacts_dir.parent
            )
        process = self.process
        wait_for(
            lambda: answers_health(self.url),
            timeout_s,
            f"MLflow server on {self.url} (log: {self.log_file})",
            lambda: process.poll() is None,
        )
        log.info("MLflow server up on %s (pid %d)", self.url, process.pid)
        return self

    def stop(self) -> None:
        """Stop the server's whole process group (gunicorn/uvicorn workers included)."""
        from shopseq.ops.airflow_local import stop_process_group

        if self.process is not None:
            stop_process_group(self.process)
            self.process = None

