"""Run Airflow on this machine for the demo: environment, metadata DB, start/stop, REST client.

`LocalAirflow` keeps everything inside the project: AIRFLOW_HOME is `<project>/airflow`
(git-ignored) with a SQLite metadata DB, the DAGs folder is `<project>/dags`, and one named
user of Airflow's SimpleAuthManager answers approval requests. `airflow standalone`
(scheduler, dag-processor, api-server, triggerer; LocalExecutor) runs in its own process
group, so stopping the group stops every process it started, also on an error or Ctrl-C.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from shopseq.ops.orchestration import DVC_POOL, PROJECT_ENV
from shopseq.ops.pipeline import OFFLINE_ENV
from shopseq.ops.ports import PORT_ENV, in_use

log = logging.getLogger(__name__)

DEMO_USER = "demo-approver"


class AirflowError(RuntimeError):
    """Airflow did not start, or answered the REST API with an error."""


@dataclass(frozen=True)
class LocalAirflow:
    """A local Airflow for one project (SQLite metadata, AIRFLOW_HOME inside the project)."""

    project: Path
    port: int = 8080
    user: str = DEMO_USER
    restart_exited: bool = False  # restart a component that exits (the cluster's compose policy); see Supervisor

    @property
    def home(self) -> Path:
        return self.project / "airflow"

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"

    @property
    def passwords_file(self) -> Path:
        return self.home / "simple_auth_manager_passwords.json.generated"

    @property
    def logs(self) -> Path:
        """Where Airflow writes task logs (its default base_log_folder)."""
        return self.home / "logs"

    @property
    def log_file(self) -> Path:
        return self.home / "standalone.log"

    @property
    def restarts_file(self) -> Path:
        """Where the supervisor records each component it restarted."""
        return self.home / "restarts.log"

    def env(self) -> dict[str, str]:
        """Environment for every airflow command of this project."""
        env = dict(os.environ)
        bin_dir = str(Path(sys.executable).parent)
        env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", "")])
        env.update(OFFLINE_ENV)
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.project / "dags"),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": "2",
                # Unpaused on creation: shopseq_retrain has no start_date, so its first
                # scheduled run waits for the next weekly slot; the asset-triggered DAGs must
                # be unpaused to run at all.
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home / 'airflow.db'}",
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.logs),  # the demo tails task logs here
                # The log servers default to 8793/8794; tie them to the API port instead, so
                # two local Airflows (a demo beside a test run) never fight over them.
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self.port + 1),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(self.port + 2),
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__API__BASE_URL": self.url,
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{self.user}:admin",
                # Every component must sign and check tokens with the same key; Airflow's own
                # generated one is shorter than SHA-512 wants, so keep a 64-byte one here.
                "AIRFLOW__API_AUTH__JWT_SECRET": self._secret("jwt_secret"),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.passwords_file),
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
                "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
                PROJECT_ENV: str(self.project),
            }
        )
        return env

    def password(self) -> str:
        """The user's password, generated once and kept in AIRFLOW_HOME for the UI afterwards."""
        self.home.mkdir(parents=True, exist_ok=True)
        passwords: dict[str, str] = {}
        if self.passwords_file.exists() and self.passwords_file.read_text().strip():
            passwords = json.loads(self.passwords_file.read_text())
        if self.user not in passwords:
            passwords[self.user] = secrets.token_urlsafe(12)
            self.passwords_file.write_text(json.dumps(passwords) + "\n")
            self.passwords_file.chmod(0o600)
        return passwords[self.user]

    def _secret(self, name: str) -> str:
        """A random secret generated once and kept (mode 600) in AIRFLOW_HOME."""
        path = self.home / f".{name}"
        if not path.exists():
            self.home.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(64))
            path.chmod(0o600)
        return path.read_text().strip()

    def airflow(self, *args: str) -> str:
        """Run one `airflow` CLI command for this project; return its stdout."""
        command = [str(Path(sys.executable).parent / "airflow"), *args]
        result = subprocess.run(command, env=self.env(), capture_output=True, text=True)
        if result.returncode != 0:
            tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
            raise AirflowError(f"`airflow {' '.join(args)}` failed: " + " | ".join(tail))
        return result.stdout

    def prepare(self) -> None:
        """Create or upgrade the metadata DB, the demo user's password and the DVC pool."""
        self.password()
        log.info("airflow: migrating the metadata DB in %s", self.home)
        self.airflow("db", "migrate")
        self.airflow("pools", "set", DVC_POOL, "1", "tasks that change the DVC workspace")

    def components(self) -> dict[str, list[str]]:
        """The processes to start, by name (each logs to `<home>/<name>.log`): here one standalone."""
        return {"standalone": ["standalone"]}

    def component_env(self, name: str) -> dict[str, str]:
        """The environment of one component (the same for all of them here)."""
        return self.env()

    @property
    def scheduler_log(self) -> Path:
        """The file the scheduler writes its log to (standalone: all components together)."""
        return self.log_file

    def ports(self) -> list[int]:
        """Every port this Airflow listens on (API and log servers)."""
        return [self.port, self.port + 1, self.port + 2]

    @contextmanager
    def running(self, ready_timeout_s: float = 240.0) -> Iterator["AirflowApi"]:
        """Start every component, each in its own process group; yield a logged-in REST client.

        The process groups are stopped when the block ends, whatever ends it.
        """
        busy = [port for port in self.ports() if in_use(port)]
        if busy:
            raise AirflowError(
                f"port {busy[0]} is already in use (another Airflow?); stop it, or set {PORT_ENV} "
                f"to a port P with P, P+1 and P+2 free (unset, the demo picks free ones)"
            )
        self.prepare()
        processes: dict[str, subprocess.Popen] = {}

        def start(name: str) -> None:
            log_file = self.home / f"{name}.log"
            log.info("airflow: starting %s on %s (log: %s)", name, self.url, log_file)
            with log_file.open("ab") as sink:
                processes[name] = subprocess.Popen(
                    [str(Path(sys.executable).parent / "airflow"), *self.components()[name]],
                    env=self.component_env(name),
                    cwd=self.project,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # setsid: its own process group, stopped as one below
                )

        previous_sigterm = signal.signal(signal.SIGTERM, _interrupt)
        supervisor = None
        try:
            for name in self.components():
                start(name)
            wait_until(
                lambda: healthy(self.url),
                timeout_s=ready_timeout_s,
                what="Airflow to become healthy",
                alive=lambda: all(process.poll() is None for process in processes.values()),
                hint=f"see the logs in {self.home}",
            )
            if self.restart_exited:
                supervisor = Supervisor(processes, start, self.restarts_file)
                supervisor.start()
            yield AirflowApi.login(self.url, self.user, self.password())
        finally:
            # A second Ctrl-C (or a SIGTERM) must not cut the clean-up short.
            previous_sigint = signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            try:
                if supervisor is not None:
                    supervisor.stop()
                for process in reversed(list(processes.values())):
                    stop_process_group(process)
            finally:
                signal.signal(signal.SIGINT, previous_sigint)
                signal.signal(signal.SIGTERM, previous_sigterm)


class Supervisor(threading.Thread):
    """Restarts an Airflow component whose process exited, as compose's `restart: unless-stopped` does.

    Airflow's scheduler, dag-processor and triggerer exit when their metadata database goes
    away (a PostgreSQL restart); a deployment restarts them and the run carries on from the
    state in the database. Each restart is logged and appended to `restarts_file`
    (`<time> <component> exit <code>`), so a test or an operator can see what came back.
    """

    def __init__(self, processes: dict[str, subprocess.Popen], start: Callable[[str], None], restarts_file: Path,
                 poll_s: float = 1.0, backoff_s: float = 10.0) -> None:  # fmt: skip
        super().__init__(name="airflow-supervisor", daemon=True)
        self.processes, self.start_component, self.restarts_file = processes, start, restarts_file
        self.poll_s, self.backoff_s = poll_s, backoff_s
        self.stopping = threading.Event()
        self.lock = threading.Lock()

    def run(self) -> None:
        started = {name: time.monotonic() for name in self.processes}
        not_before: dict[str, float] = {}
        while not self.stopping.wait(self.poll_s):
            for name, process in list(self.processes.items()):
                code = process.poll()
                with self.lock:
                    if code is None or self.stopping.is_set():
                        continue
                    now = time.monotonic()
                    if name not in not_before:
                        # One that dies at once again (the database still down) waits before the next try.
                        not_before[name] = now + (self.backoff_s if now - started[name] < self.backoff_s else 0.0)
                        log.warning("airflow: %s exited with code %s; restarting it", name, code)
                    if now < not_before[name]:
                        continue
                    del not_before[name]
                    stop_process_group(process, grace_s=5.0)  # what the group left behind (log servers)
                    with self.restarts_file.open("a") as record:
                        record.write(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {name} exit {code}\n")
                    self.start_component(name)
                    started[name] = time.monotonic()

    def stop(self) -> None:
        """Stop restarting (the block is ending); wait for a restart in progress to finish."""
        self.stopping.set()
        with self.lock:
            pass
        self.join(timeout=10)


def _interrupt(signum: int, frame: object) -> None:
    """Turn SIGTERM into KeyboardInterrupt, so `finally` blocks stop what the demo started."""
    raise KeyboardInterrupt(f"signal {signum}")


def stop_process_group(process: subprocess.Popen, grace_s: float = 30.0) -> None:
    """SIGTERM the process group led by `process`, SIGKILL what is left after `grace_s`.

    The group is signalled even when its leader has already exited: the components it
    started may still be running.
    """
    log.info("airflow: stopping (process group %d)", process.pid)
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        process.wait()
        return
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        log.warning("airflow: still running after %.0f s, killing", grace_s)
    try:
        os.killpg(process.pid, signal.SIGKILL)  # stragglers: log servers, executor workers
    except ProcessLookupError:
        pass
    process.wait()
    # SIGKILL is delivered asynchronously: return only once no member of the group still runs.
    deadline = time.monotonic() + 10.0
    while _group_running(process.pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def _group_running(pgid: int) -> bool:
    """Whether any process of group `pgid` is still running (a zombie has already stopped)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, group = stat.read_text().rsplit(")", 1)[1].split()[:3:2]
        except (OSError, IndexError):
            continue
        if int(group) == pgid and state != "Z":
            return True
    return False


def healthy(url: str) -> bool:
    """Whether the api-server answers and reports DB, scheduler and dag-processor healthy."""
    import httpx

    try:
        health = httpx.get(f"{url}/api/v2/monitor/health", timeout=5).json()
    except (httpx.HTTPError, ValueError):
        return False
    parts = ("metadatabase", "scheduler", "dag_processor")
    return all((health.get(part) or {}).get("status") == "healthy" for part in parts)


def answers(url: str) -> bool:
    """Whether the api-server answers HTTP at all (healthy or not)."""
    import httpx

    try:
        httpx.get(f"{url}/api/v2/monitor/health", timeout=5)
    except httpx.HTTPError:
        return False
    return True


def wait_until(
    ready: Callable[[], Any],
    timeout_s: float,
    what: str,
    alive: Callable[[], bool] = lambda: True,
    hint: str = "",
    poll_s: float = 2.0,
    report_s: float = 30.0,
    detail: Callable[[], str] = lambda: "",
) -> Any:
    """Poll `ready()` until it returns something truthy; log a line every `report_s` seconds.

    Raises:
        AirflowError: `timeout_s` passed, or `alive()` turned false, before `ready()` did.
    """
    start = last = time.monotonic()
    while True:
        value = ready()
        if value:
            return value
        now = time.monotonic()
        if not alive():
            raise AirflowError(f"stopped while waiting for {what}" + (f"; {hint}" if hint else ""))
        if now - start > timeout_s:
            raise AirflowError(f"waited {timeout_s:.0f} s for {what}" + (f"; {hint}" if hint else ""))
        if now - last >= report_s:
            last = now
            extra = detail()
            log.info("still waiting for %s (%.0f s%s)", what, now - start, f"; {extra}" if extra else "")
        time.sleep(poll_s)


@dataclass(frozen=True)
class AirflowApi:
    """A small client of Airflow's REST API v2, logged in as one user."""

    url: str
    token: str
    user: str

    @classmethod
    def login(cls, url: str, user: str, password: str) -> "AirflowApi":
        """Get a JWT from POST /auth/token (SimpleAuthManager)."""
        import httpx

        response = httpx.post(f"{url}/auth/token", json={"username": user, "password": password}, timeout=30)
        if response.status_code >= 300:
            raise AirflowError(f"login as {user} failed: {response.status_code} {response.text[:200]}")
        return cls(url=url, token=response.json()["access_token"], user=user)

    def request(self, method: str, path: str, payload: dict[str, Any] | None = None, **params: Any) -> Any:
        """Send one request to /api/v2; return the JSON answer or raise naming the call."""
        import httpx

        response = httpx.request(
            method,
            f"{self.url}/api/v2{path}",
            json=payload,
            params=params or None,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=60,
        )
        if response.status_code >= 300:
            raise AirflowError(f"{method} /api/v2{path} answered {response.status_code}: {response.text[:300]}")
        return response.json() if response.content else None

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, **params)
