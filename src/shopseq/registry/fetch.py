"""The champion's model out of the registry into a directory, for evaluation and downstream stages."""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from pathlib import Path

from shopseq.config import Base, Registry
from shopseq.io import atomic_dir
from shopseq.registry.client import CHAMPION, alias_version, registry_client

log = logging.getLogger(__name__)


def fetch_champion(base: Base, registry: Registry, out: str | Path) -> dict:
    """Write the champion's model directory to `out` with `champion.json`; return it.

    With no champion yet, the directory holds only `champion.json` with `version: null`.
    """
    import mlflow

    client = registry_client(base)
    name = registry.model_name
    champion = alias_version(client, name, CHAMPION)
    info = {"model_name": name, "version": None}
    with atomic_dir(out) as target:
        if champion is not None:
            info.update(
                version=str(champion.version),
                data_version=champion.tags.get("data_version"),
                run_id=champion.run_id,
                promoted_by=champion.tags.get("promoted_by"),
            )
            with tempfile.TemporaryDirectory() as tmp:
                local = Path(mlflow.artifacts.download_artifacts(f"models:/{name}/{champion.version}", dst_path=tmp))
                model_dir = local / _pyfunc_artifact(local, "model_dir")
                for file in model_dir.iterdir():
                    shutil.copy2(file, target / file.name)
        (target / "champion.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    log.info("champion: %s", info)
    return info


def _pyfunc_artifact(model_root: Path, key: str) -> str:
    """Relative path of a pyfunc artifact inside a downloaded model, as its MLmodel file records it."""
    from mlflow.models import Model

    flavor = Model.load(model_root / "MLmodel").flavors["python_function"]
    return flavor["artifacts"][key]["path"]
