"""PostgreSQL and Redis for the cluster path, installed from Debian and run on loopback by PID.

The cluster (Airflow's CeleryExecutor, an MLflow server, Optuna's RDB storage) needs a
PostgreSQL and a Redis. Nothing runs them on a fresh machine, so the project starts its own:
a private PostgreSQL data directory (`initdb`) and a `redis-server`, each on a free loopback
port, each one process started here and stopped here by its PID. Missing packages are
installed with apt-get when running as root (as `.ci/run` does), otherwise the error says
which packages to install.
"""

from __future__ import annotations

import logging
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

log = logging.getLogger(__name__)

APT_PACKAGES = ("postgresql", "redis-server")
POSTGRES_USER = "shopseq"
DATABASES = ("airflow", "mlflow", "optuna")
"""One database per consumer: Airflow's metadata, MLflow's tracking store, Optuna's studies."""


class ServiceError(RuntimeError):
    """A cluster service could not be installed, started or reached; the message says which."""


def free_port() -> int:
    """A loopback TCP port nothing listens on now (the kernel's pick for a bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def free_port_block(size: int, attempts: int = 50) -> int:
    """A loopback port P with P .. P+size-1 all free now (an API port and its log servers)."""
    for _ in range(attempts):
        port = free_port()
        if port + size < 65536 and not any(listening(port + offset) for offset in range(size)):
            return port
    raise ServiceError(f"found no {size} consecutive free loopback ports")


def listening(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        return probe.connect_ex((host, port)) == 0


def wait_for(ready: Callable[[], bool], timeout_s: float, what: str, alive: Callable[[], bool]) -> None:
    """Poll `ready()` every 0.2 s until it holds.

    Raises:
        ServiceError: the process died (`alive()` false) or `timeout_s` passed first.
    """
    deadline = time.monotonic() + timeout_s
    while not ready():
        if not alive():
            raise ServiceError(f"{what} exited while starting")
        if time.monotonic() > deadline:
            raise ServiceError(f"{what} did not become ready within {timeout_s:.0f} s")
        time.sleep(0.2)


def postgres_bin_dir() -> Path | None:
    """The newest installed PostgreSQL server's bin directory (Debian layout), or None."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parent.parent.name))
    return candidates[-1].parent if candidates else None


def ensure_installed() -> None:
    """Install PostgreSQL and Redis from Debian's packages when missing (root only).

    Raises:
        ServiceError: they are missing and cannot be installed here; says what to install.
    """
    if postgres_bin_dir() is not None and shutil.which("redis-server"):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise ServiceError(
            "the cluster needs PostgreSQL and Redis: install them with "
            f"`sudo apt-get install -y {' '.join(APT_PACKAGES)}` (or run as root to let shopseq do it)"
        )
    log.info("installing %s with apt-get", " ".join(APT_PACKAGES))
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", *APT_PACKAGES]
    if subprocess.run(install, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)
        result = subprocess.run(install, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise ServiceError(f"apt-get install {' '.join(APT_PACKAGES)} failed: {result.stderr.strip()[-300:]}")


def _demote_to(user: str) -> Callable[[], None] | None:
    """A preexec function that drops root to `user` (PostgreSQL refuses to run as root)."""
    if os.geteuid() != 0:
        return None
    record = pwd.getpwnam(user)

    def demote() -> None:
        os.setgid(record.pw_gid)
        os.setuid(record.pw_uid)

    return demote


def stop_pid(process: subprocess.Popen, sig: int = signal.SIGTERM, grace_s: float = 30.0) -> None:
    """Send `sig` to the process, wait up to `grace_s`, then SIGKILL it; idempotent."""
    if process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        log.warning("pid %d still running after %.0f s, killing it", process.pid, grace_s)
        process.kill()
        process.wait()


@dataclass
class Postgres:
    """A private PostgreSQL cluster: own data directory, one loopback port, password login.

    `start()` runs `initdb` once (as the `postgres` user when running as root), creates the
    role `shopseq` with `password` and the databases of DATABASES; `stop()` shuts the server
    down by its PID (fast shutdown: SIGINT). `restart()` is a real stop and start, which is
    what the fault tests use.
    """

    data_dir: Path
    port: int = field(default_factory=free_port)
    password: str = "shopseq"
    process: subprocess.Popen | None = None

    @classmethod
    def in_temp_dir(cls) -> "Postgres":
        """A cluster in a fresh directory the server's user owns (a root pytest tmp_path is 0700)."""
        path = Path(tempfile.mkdtemp(prefix="shopseq-pg-"))
        if os.geteuid() == 0:
            record = pwd.getpwnam("postgres")
            os.chown(path, record.pw_uid, record.pw_gid)
        return cls(data_dir=path / "data")

    def url(self, database: str, scheme: str = "postgresql+psycopg2") -> str:
        """URL of one database, e.g. `postgresql+psycopg2://shopseq:...@127.0.0.1:P/airflow`.

        The driver is named: SQLAlchemy 2.1 reads a bare `postgresql://` as psycopg 3, which is
        not installed; `scheme="postgresql"` gives the libpq form psycopg2 itself takes.
        """
        return f"{scheme}://{POSTGRES_USER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def _run(self, *command: str) -> str:
        bin_dir = postgres_bin_dir()
        assert bin_dir is not None
        result = subprocess.run(
            [str(bin_dir / command[0]), *command[1:]],
            preexec_fn=_demote_to("postgres"),
            capture_output=True,
            text=True,
            cwd="/",
        )
        if result.returncode != 0:
            raise ServiceError(f"{command[0]} failed: {(result.stderr or result.stdout).strip()[-400:]}")
        return result.stdout

    def _initdb(self) -> None:
        password_file = self.data_dir.parent / "pwfile"
        password_file.write_text(self.password + "\n")
        if os.geteuid() == 0:
            record = pwd.getpwnam("postgres")
            os.chown(password_file, record.pw_uid, record.pw_gid)
        self._run(
            "initdb", "-D", str(self.data_dir), "-U", POSTGRES_USER, "--pwfile", str(password_file),
            "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C",
        )  # fmt: skip
        password_file.unlink()

    def start(self, timeout_s: float = 60.0) -> "Postgres":
        """Initialise (first time), start on 127.0.0.1:port, create the databases; return self."""
        ensure_installed()
        bin_dir = postgres_bin_dir()
        assert bin_dir is not None
        first = not (self.data_dir / "PG_VERSION").exists()
        if first:
            self._initdb()
        log_path = self.data_dir.parent / "postgres.log"
        with log_path.open("ab") as log_file:
            self.process = subprocess.Popen(
                [
                    str(bin_dir / "postgres"), "-D", str(self.data_dir), "-p", str(self.port),
                    "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.data_dir.parent}",
                    "-c", "max_connections=200",
                ],
                preexec_fn=_demote_to("postgres"),
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd="/",
            )  # fmt: skip
        process = self.process
        wait_for(
            self._accepts_logins,
            timeout_s,
            f"PostgreSQL on 127.0.0.1:{self.port} (log: {log_path})",
            lambda: process.poll() is None,
        )
        if first:
            for database in DATABASES:
                self.sql(f"CREATE DATABASE {database}")
        log.info("PostgreSQL up on 127.0.0.1:%d (pid %d, data %s)", self.port, process.pid, self.data_dir)
        return self

    def _accepts_logins(self) -> bool:
        import psycopg2

        try:
            psycopg2.connect(self.url("postgres", "postgresql"), connect_timeout=2).close()
        except psycopg2.OperationalError:
            return False
        return True

    def sql(self, statement: str, database: str = "postgres") -> list[tuple]:
        """Run one SQL statement (autocommit); return its rows (empty for statements without)."""
        import psycopg2

        connection = psycopg2.connect(self.url(database, "postgresql"), connect_timeout=5)
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(statement)
                return list(cursor.fetchall()) if cursor.description else []
        finally:
            connection.close()

    def stop(self) -> None:
        """Fast shutdown by PID: SIGINT ends sessions, checkpoints and exits."""
        if self.process is not None:
            stop_pid(self.process, signal.SIGINT)
            log.info("PostgreSQL on port %d stopped", self.port)

    def restart(self) -> None:
        """Stop and start the same cluster on the same port (a fault: every connection breaks)."""
        self.stop()
        self.start()

    def remove(self) -> None:
        """Stop the server and delete its data directory."""
        self.stop()
        shutil.rmtree(self.data_dir.parent, ignore_errors=True)


@dataclass
class Redis:
    """A `redis-server` on one loopback port, in memory only, stopped by its PID."""

    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 30.0) -> "Redis":
        """Start the server (no persistence: a broker's queue lives as long as the cluster)."""
        ensure_installed()
        self.process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd="/",
        )
        process = self.process
        wait_for(lambda: listening(self.port), timeout_s, f"Redis on 127.0.0.1:{self.port}", lambda: process.poll() is None)
        log.info("Redis up on 127.0.0.1:%d (pid %d)", self.port, process.pid)
        return self

    def stop(self) -> None:
        if self.process is not None:
            stop_pid(self.process)
            log.info("Redis on port %d stopped", self.port)
