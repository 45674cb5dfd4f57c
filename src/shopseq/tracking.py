"""MLflow set-up shared by training, evaluation and the registry."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from shopseq.config import Base


def tracking_uri(base: Base) -> str:
    """The MLflow tracking URI: MLFLOW_TRACKING_URI when set, else params' base.mlflow_uri.

    A relative SQLite path is made absolute (against the working directory, the project root):
    MLflow caches stores by URI string, so two projects must never share one relative URI.
    """
    uri = os.environ.get("MLFLOW_TRACKING_URI") or base.mlflow_uri
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        uri = "sqlite:///" + str(Path(uri.removeprefix("sqlite:///")).resolve())
    return uri


def download_model_version(store_uri: str, name: str, version: str, dst: Path) -> Path:
    """Download one registered model version from `store_uri` into `dst`; return its MLmodel folder.

    MLflow (3.17) resolves a `models:/` URI through the process-wide registry URI, whatever
    `registry_uri` the download call is given: in a process that never set it (`shopseq serve`) that
    is a default `./mlflow.db`, which MLflow then creates empty and does not find the model in.
    Asking a client bound to the store for the version's download URI avoids the global entirely.
    """
    import mlflow
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=store_uri, registry_uri=store_uri)
    source = client.get_model_version_download_uri(name, version)
    return Path(mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=str(dst), tracking_uri=store_uri))


class TrackingUnavailable(ConnectionError):
    """The MLflow tracking server cannot be reached; the message says which and how to fix it."""


def check_reachable(uri: str, timeout: float = 10.0) -> None:
    """Fail fast, with a fix, when an http(s) tracking URI does not answer its health check.

    Without this MLflow retries each call for minutes and then fails with a bare
    connection error deep inside a stage; a task should instead fail at once with a message
    an operator can act on, and let Airflow retry it.
    """
    if not uri.startswith(("http://", "https://")):
        return
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout) as answer:
            if answer.status == 200:
                return
            problem = f"HTTP {answer.status}"
    except (urllib.error.URLError, OSError) as error:
        problem = str(getattr(error, "reason", error))
    raise TrackingUnavailable(
        f"MLflow tracking server {uri} is unreachable ({problem}). Fix: start it "
        "(docker/compose.yaml runs one), or point MLFLOW_TRACKING_URI / params.yaml base.mlflow_uri at one "
        "that runs; the task fails now and Airflow retries it."
    )


@contextmanager
def environment_restored(*names: str) -> Iterator[None]:
    """Undo what the block writes to these environment variables (restored as they were before it).

    `mlflow.set_tracking_uri` also exports MLFLOW_TRACKING_URI, which `tracking_uri` reads as the
    operator's choice: a process that configured one project (a test session, a long-lived worker)
    would then send every later project to that project's store, and hand it to its subprocesses.
    MLflow's in-process setting is enough; the environment stays the operator's.
    """
    before = {name: os.environ.get(name) for name in names}
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def configure_mlflow(base: Base) -> str:
    """Point MLflow at the project's store and experiment; return the experiment id.

    With a local store the experiment's artifact location is set explicitly, otherwise artifacts
    land in ./mlruns of whatever the working directory happens to be. With an MLflow server
    (http/https) the server decides, so artifacts go to its artifact store.
    """
    import mlflow

    uri = tracking_uri(base)
    check_reachable(uri)
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    with environment_restored("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
    experiment = mlflow.get_experiment_by_name(base.experiment)
    if experiment is not None:
        experiment_id = experiment.experiment_id
    elif uri.startswith(("http://", "https://")):
        experiment_id = mlflow.create_experiment(base.experiment)
    else:
        artifacts = Path(base.mlflow_artifacts).resolve()
        artifacts.mkdir(parents=True, exist_ok=True)
        experiment_id = mlflow.create_experiment(base.experiment, artifact_location=artifacts.as_uri())
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id
