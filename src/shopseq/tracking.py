"""MLflow set-up shared by training, evaluation and the registry."""

from __future__ import annotations

import os
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


def configure_mlflow(base: Base) -> str:
    """Point MLflow at the project's store and experiment; return the experiment id.

    With a local store the experiment's artifact location is set explicitly, otherwise artifacts
    land in ./mlruns of whatever the working directory happens to be. With an MLflow server
    (http/https) the server decides, so artifacts go to its artifact store.
    """
    import mlflow

    uri = tracking_uri(base)
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
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
