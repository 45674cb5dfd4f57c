"""The model the service answers with: the registry's `champion`, resolved and loaded as one unit.

`ServedModel` is immutable and the holder swaps the whole object in one assignment, so a request
that read the old model finishes with it while the next request gets the new one.

`ChampionSource` talks to the registry read-only with its own client: the store's URI is resolved
once (a relative SQLite path against the working directory at start-up), so a later change of
working directory never points the service at another store, and nothing sets MLflow's globals.
A loaded model is prepared for production before it serves: from the project's params, a model
that uses item text gets the vectors fused with every review (`use_production_text_vectors`).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from pathlib import Path
from dataclasses import dataclass
from datetime import datetime, timezone

from shopseq.config import Params, Serve
from shopseq.registry import CHAMPION
from shopseq.serving.holder import Holder
from shopseq.serving.recommend import Scorer

log = logging.getLogger(__name__)


class NoChampionError(RuntimeError):
    """The registry has no `champion` alias for the model: there is nothing to serve."""


@dataclass(frozen=True)
class ServedModel:
    """A loaded model version and when it was loaded."""

    model: Scorer
    name: str
    version: str
    uri: str  # models:/<name>/<version>, what was loaded
    loaded_at: datetime


ModelHolder = Holder[ServedModel]  # the served model, swapped whole on a new champion


class ChampionSource:
    """Read-only access to one registered model's `champion` alias and versions."""

    def __init__(self, store_uri: str, model_name: str, prepare: Callable[[Scorer], object] | None = None,
                 serve: Serve | None = None) -> None:
        """`prepare`: called on each loaded recommender before it serves (e.g. production text vectors);
        `serve`: how it is served (a candidate index above `serve.index_above` items, else exact)."""
        from mlflow import MlflowClient

        self.store_uri = store_uri
        self.model_name = model_name
        self._prepare = prepare
        self.serve = serve or Serve()
        self._client = MlflowClient(tracking_uri=store_uri, registry_uri=store_uri)

    @classmethod
    def from_params(cls, params: Params) -> "ChampionSource":
        """The project's store (MLFLOW_TRACKING_URI or base.mlflow_uri) and `registry.model_name`.

        Loaded models score with item vectors fused with every review when `paths.embeddings` is
        there (else the ones they were trained with, with a warning).
        """
        from shopseq.sequences.text_vectors import use_production_text_vectors
        from shopseq.tracking import tracking_uri

        return cls(tracking_uri(params.base), params.registry.model_name,
                   lambda recommender: use_production_text_vectors(
                       recommender, params.paths.embeddings, params.embed.review_weight, required=False),
                   params.serve)

    def champion_version(self) -> str | None:
        """The version the `champion` alias points at now (None when the model or alias is missing)."""
        from mlflow.exceptions import MlflowException

        try:
            return str(self._client.get_model_version_by_alias(self.model_name, CHAMPION).version)
        except MlflowException as error:
            if error.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                return None
            raise

    def load(self, version: str) -> ServedModel:
        """Download `models:/<name>/<version>` and load its next-item recommender into memory."""
        import mlflow

        from shopseq.serving.fold import fold_text_vectors
        from shopseq.serving.index import with_index
        from shopseq.tracking import download_model_version

        uri = f"models:/{self.model_name}/{version}"
        with tempfile.TemporaryDirectory(prefix="shopseq-serve-") as tmp:
            local = download_model_version(self.store_uri, self.model_name, str(version), Path(tmp))
            recommender = mlflow.pyfunc.load_model(local).unwrap_python_model().recommender
        if self._prepare is not None:
            self._prepare(recommender)
        recommender = fold_text_vectors(recommender)  # same scores, a fraction of the CPU per request
        recommender = with_index(recommender, self.serve)  # a candidate index for a very large catalogue
        log.info("loaded %s (%d items)", uri, len(recommender.item_ids))
        return ServedModel(recommender, self.model_name, str(version), uri, datetime.now(timezone.utc))

    def load_champion(self) -> ServedModel:
        """Resolve the alias once and load that exact version.

        Raises:
            NoChampionError: no version holds the alias yet.
        """
        version = self.champion_version()
        if version is None:
            raise NoChampionError(
                f"{self.model_name} has no champion in the registry at {self.store_uri}: promote a version "
                "first (`shopseq registry promote --approved-by NAME`, or `make demo`)"
            )
        return self.load(version)


def champion_version(params: Params) -> str | None:
    """The project registry's champion version for `registry.model_name` (None when unset)."""
    return ChampionSource.from_params(params).champion_version()
