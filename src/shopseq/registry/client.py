"""The MLflow client for the project's registry, and the names every registry module shares.

Below the other registry modules: how to reach the registry (`registry_client`), the two aliases
shopseq uses (`CHAMPION`, `CHALLENGER`; never MLflow stages), the version an alias points at, and
the error a registry operation raises when it cannot do what was asked.
"""

from __future__ import annotations

from datetime import datetime, timezone

from shopseq.config import Base

CHAMPION, CHALLENGER = "champion", "challenger"


class RegistryError(ValueError):
    """A registry operation cannot be done as asked (no challenger, gate failed, unknown version)."""


def registry_client(base: Base):
    """An MlflowClient on the tracking store `base` names (MLflow is imported here, not at import time)."""
    from mlflow import MlflowClient

    from shopseq.tracking import configure_mlflow

    configure_mlflow(base)
    return MlflowClient()


def now() -> str:
    """The current UTC time as the registry's tags record it (ISO 8601, seconds)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def alias_version(client, name: str, alias: str):
    """The model version `alias` points at in registered model `name`, or None when it is unset."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None
