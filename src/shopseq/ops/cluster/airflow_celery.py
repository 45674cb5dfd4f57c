"""Airflow on the CeleryExecutor: PostgreSQL metadata, a Redis broker, every component its own process.

`ClusterAirflow` is the embedded `LocalAirflow` with the cluster's settings: the same project,
DAGs, user, pool and REST client, but a scheduler, an api-server, a dag-processor, a triggerer
(the approval task defers to it) and N Celery workers started as separate processes, the
metadata in PostgreSQL, the queue in Redis and MLflow behind its server. The environment
variables set here are the ones docker/compose.yaml sets, so what the tests run is what ships.

With `workspaces` the same Airflow serves several shops, one project directory each: its DAGs
folder holds a link per workspace to that project's `dags/` (a DAG file finds its project
through the link), and each workspace has its own DAG ids and one-slot DVC pool
(`dags.workspace` in the project's params.yaml, see `orchestration.WorkspaceNames`), so two
shops' runs proceed side by side on two workers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from shopseq.ops.airflow_local import LocalAirflow
from shopseq.config import STUDY_STORAGE_ENV
from shopseq.ops.orchestration import PROJECT_ENV, WorkspaceNames, load_project_params
from shopseq.ops.cluster.worker_name import WORKER_NAME_ENV

CELERY_EXECUTOR = "CeleryExecutor"


def celery_settings(metadata_db: str, broker: str, mlflow_uri: str, optuna_storage: str) -> dict[str, str]:
    """The environment that switches the project from embedded to cluster (compose sets the same)."""
    return {
        "AIRFLOW__CORE__EXECUTOR": CELERY_EXECUTOR,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_db,
        "AIRFLOW__CELERY__BROKER_URL": broker,
        # Celery's result backend reads `db+<SQLAlchemy URL>`; the metadata database holds it.
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{metadata_db}",
        # One task at a time per worker, taken only when free: tasks spread over the workers,
        # and a killed worker loses only the task it was running (acks late: redelivered).
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",
        "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "1",
        "AIRFLOW__CELERY__TASK_ACKS_LATE": "True",
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "shopseq.ops.cluster.worker_name.worker_hostname",
        "MLFLOW_TRACKING_URI": mlflow_uri,
        # Trials of the same data and params share one Optuna study, whichever worker runs them.
        STUDY_STORAGE_ENV: optuna_storage,
    }


@dataclass(frozen=True)
class ClusterAirflow(LocalAirflow):
    """Airflow on Celery for one project; `workers` names the Celery workers to start."""

    metadata_db: str = ""
    broker: str = ""
    mlflow_uri: str = ""
    optuna_storage: str = ""
    workers: tuple[str, ...] = ("worker-1", "worker-2")
    overrides: tuple[tuple[str, str], ...] = ()  # more environment, e.g. a shorter heartbeat timeout
    workspaces: tuple[Path, ...] = ()  # project directories served side by side (each names its workspace)
    restart_exited: bool = True  # as compose's `restart: unless-stopped`: a component that exits comes back

    def env(self) -> dict[str, str]:
        env = super().env()
        env.update(celery_settings(self.metadata_db, self.broker, self.mlflow_uri, self.optuna_storage))
        env["AIRFLOW__CORE__PARALLELISM"] = str(2 * len(self.workers))
        if self.workspaces:
            # Each DAG file finds its own project through its link; one fixed project would override them all.
            env["AIRFLOW__CORE__DAGS_FOLDER"] = str(self.workspaces_folder)
            env.pop(PROJECT_ENV, None)
        env.update(dict(self.overrides))
        return env

    @property
    def workspaces_folder(self) -> Path:
        return self.home / "workspaces"

    def workspace_names(self) -> dict[str, Path]:
        """Each served workspace's name (`dags.workspace` of its params.yaml) and project directory.

        Raises:
            ValueError: a project names no workspace, or two name the same one.
        """
        names: dict[str, Path] = {}
        for project in self.workspaces:
            name = load_project_params(project).dags.workspace
            if not name:
                raise ValueError(f"{project / 'params.yaml'}: set dags.workspace to serve it beside other shops")
            if name in names:
                raise ValueError(f"{project} and {names[name]} both set dags.workspace: {name}")
            names[name] = project.resolve()
        return names

    def prepare(self) -> None:
        """The metadata DB and user as usual; then one DAGs link and one DVC pool per workspace."""
        super().prepare()
        if not self.workspaces:
            return
        self.workspaces_folder.mkdir(parents=True, exist_ok=True)
        for name, project in self.workspace_names().items():
            link = self.workspaces_folder / name
            if link.is_symlink() and link.resolve() != (project / "dags").resolve():
                link.unlink()
            if not link.is_symlink():
                link.symlink_to(project / "dags", target_is_directory=True)
            self.airflow("pools", "set", WorkspaceNames(name).pool, "1", f"tasks that change {project}'s DVC workspace")

    def components(self) -> dict[str, list[str]]:
        components = {
            "scheduler": ["scheduler"],
            "dag-processor": ["dag-processor"],
            "triggerer": ["triggerer"],
            "api-server": ["api-server", "--port", str(self.port)],
        }
        for name in self.workers:
            components[name] = ["celery", "worker", "--celery-hostname", f"{name}@%h", "--concurrency", "1"]
        return components

    def component_env(self, name: str) -> dict[str, str]:
        env = self.env()
        if name in self.workers:
            env[WORKER_NAME_ENV] = name
            # Each worker serves its task logs on its own port (they share the machine).
            env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] = str(self.worker_log_port(name))
        return env

    def worker_log_port(self, name: str) -> int:
        return self.port + 3 + self.workers.index(name)

    def ports(self) -> list[int]:
        return [*super().ports(), *(self.worker_log_port(name) for name in self.workers)]

    @property
    def scheduler_log(self):
        return self.home / "scheduler.log"
