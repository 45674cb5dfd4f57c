"""Data-version rollback: the data of an earlier version back in the workspace, its model champion.

`rollback_to` restores a recorded data version byte for byte (see `shopseq.ops.versions.restore`),
then points the registry's `champion` alias at the model registered for that data version. When
no usable model was registered for it (its gate failed, or every candidate was rejected), the
pipeline is reproduced from the restored data and the new candidate, if it passes the gate, is
registered and promoted: the operator who asked for the rollback is its approver. Every rollback
leaves an audit record: who, when, why, from which data and model version to which, as tags on
the model version, as an MLflow run tagged `shopseq.operation=rollback`, and as a line in
`<reports>/audit/rollbacks.jsonl`.
"""

from __future__ import annotations

import json
import logging
from contextlib import chdir
from datetime import datetime, timezone
from pathlib import Path

from shopseq.ops import versions
from shopseq.ops.pipeline import gate_passed, run_dvc_stage
from shopseq.config import Params

log = logging.getLogger(__name__)


def rollback_to(project: str | Path, params: Params, data_version: str, by: str, reason: str = "") -> dict:
    """Restore `data_version` and its champion; return the audit record.

    Raises:
        VersionError: the data version is unknown or cannot be restored.
        RegistryError: the retrained candidate did not pass the gate (the champion stays).
    """
    project = Path(project).resolve()
    with chdir(project):  # params' relative paths and the MLflow store resolve in the project
        return _rollback(project, params, data_version, by, reason)


def _rollback(project: Path, params: Params, data_version: str, by: str, reason: str) -> dict:
    from shopseq import registry

    target = versions.find(project, data_version).name
    try:
        data_before = versions.current_name(project, params)
    except versions.VersionError:
        data_before = "none"
    champion_before = (registry.describe(params.base, params.registry)[registry.CHAMPION] or {}).get("version")
    restored = versions.restore(project, params, target)

    why = f"rollback to data version {target}" + (f": {reason}" if reason else "")
    model = registry.version_for_data(params.base, params.registry, target)
    retrained = model is None
    if retrained:
        log.info("no usable model registered for %s: reproducing the pipeline from the restored data", target)
        run_dvc_stage("gate", project, single=False)
        if not gate_passed(project, params):
            raise registry.RegistryError(
                f"retrained on data version {target}, but the candidate failed the gate; champion stays {champion_before}"
            )
        paths = params.paths
        model = registry.register_candidate(params.base, params.registry, paths.candidate, paths.reports)
    registry.promote(params.base, params.registry, approved_by=by, version=model, reason=why)
    run_dvc_stage("champion", project, single=True)

    audit = {
        "operation": "rollback",
        "by": by,
        "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "reason": reason,
        "from_data_version": data_before,
        "to_data_version": target,
        "from_model_version": champion_before,
        "to_model_version": str(model),
        "retrained": retrained,
        "verified_hash": restored["verified_hash"],
    }
    _record(project, params, audit)
    log.info("rolled back: %s", audit)
    return audit


def _record(project: Path, params: Params, audit: dict) -> None:
    """Keep the audit record on the model version, in MLflow and in the project's audit log."""
    import mlflow
    from mlflow import MlflowClient

    from shopseq.tracking import configure_mlflow

    configure_mlflow(params.base)
    client = MlflowClient()
    name, version = params.registry.model_name, audit["to_model_version"]
    for key in ("by", "at", "from_data_version", "from_model_version"):
        client.set_model_version_tag(name, version, f"rollback_{key}", str(audit[key]))
    with mlflow.start_run(run_name=f"rollback to {audit['to_data_version']}", tags={"shopseq.operation": "rollback"}):
        mlflow.set_tags({f"rollback.{key}": str(value) for key, value in audit.items()})
        mlflow.log_dict(audit, "audit.json")
    log_file = project / params.paths.reports / "audit" / "rollbacks.jsonl"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("a") as handle:
        handle.write(json.dumps(audit, sort_keys=True) + "\n")
