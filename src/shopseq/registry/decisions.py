"""Moving the registry's aliases, each move recorded on the version: who, when, why, from what.

- `register_candidate`: a candidate that passed the gate becomes a new version with alias
  `challenger`, tagged with git commit, data version, params hash and the gate result.
  Registering the same candidate twice returns the existing version (tasks are retried).
- `promote`: alias `champion` moves to a version (default: the challenger).
- `reject`: the rejection is recorded; no alias moves but `challenger` is cleared.
- `rollback_champion`: `champion` goes back to the version it replaced.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from shopseq.config import Base, Registry
from shopseq.io import read_json
from shopseq.registry.client import CHALLENGER, CHAMPION, RegistryError, alias_version, now, registry_client

log = logging.getLogger(__name__)


def register_candidate(base: Base, registry: Registry, candidate: str | Path, reports: str | Path) -> str:
    """Register the `candidate` model directory as a new version with alias `challenger`; return it.

    `reports` is the directory holding the gate's verdict (`gate.json`) and the evaluate metrics.

    Raises:
        RegistryError: the gate has not passed for this candidate.
    """
    meta = read_json(Path(candidate) / "meta.json")
    gate = read_json(Path(reports) / "gate.json")
    if not gate["passed"]:
        raise RegistryError(f"the gate failed, the candidate is not registered: {'; '.join(gate['reasons'])}")
    client = registry_client(base)
    name = registry.model_name
    existing = client.search_model_versions(f"name = '{name}' and tags.candidate_run = '{meta['mlflow_run_id']}'")
    if existing:
        version = existing[0].version
        log.info("candidate of run %s is already version %s", meta["mlflow_run_id"], version)
    else:
        import mlflow

        metrics = read_json(Path(reports) / "evaluate" / "metrics.json")
        tags = {
            "candidate_run": meta["mlflow_run_id"],
            "git_commit": meta["git_commit"],
            "data_version": meta["data_version"],
            "params_hash": meta["params_hash"],
            "gate_passed": "true",
            "gate_reasons": json.dumps(gate["reasons"]),
            "metrics": json.dumps({k: metrics[k] for k in ("candidate", "popularity", "champion") if k in metrics}),
            "registered_at": now(),
        }
        version = mlflow.register_model(meta["model_uri"], name, tags=tags).version
        log.info("registered %s version %s", name, version)
    client.set_registered_model_alias(name, CHALLENGER, version)
    return str(version)


def promote(base: Base, registry: Registry, approved_by: str, version: str | None = None, reason: str = "") -> str:
    """Move `champion` to `version` (default: the challenger), recording who, when, why, from what."""
    client = registry_client(base)
    name = registry.model_name
    if version is None:
        challenger = alias_version(client, name, CHALLENGER)
        if challenger is None:
            raise RegistryError(f"{name} has no challenger to promote; pass a version")
        version = challenger.version
    previous = alias_version(client, name, CHAMPION)
    client.get_model_version(name, str(version))  # fails clearly for an unknown version
    tags = {
        "promoted_by": approved_by,
        "promoted_at": now(),
        "promoted_from": str(previous.version) if previous else "none",
        "promotion_reason": reason,
    }
    for key, value in tags.items():
        client.set_model_version_tag(name, str(version), key, value)
    client.set_registered_model_alias(name, CHAMPION, str(version))
    challenger = alias_version(client, name, CHALLENGER)
    if challenger is not None and str(challenger.version) == str(version):
        client.delete_registered_model_alias(name, CHALLENGER)
    log.info("%s version %s is champion (was %s), approved by %s", name, version, tags["promoted_from"], approved_by)
    return str(version)


def reject(base: Base, registry: Registry, version: str, rejected_by: str, reason: str = "") -> None:
    """Record a rejection on `version`; the champion stays where it is."""
    client = registry_client(base)
    name = registry.model_name
    for key, value in {"rejected_by": rejected_by, "rejected_at": now(), "rejection_reason": reason}.items():
        client.set_model_version_tag(name, str(version), key, value)
    challenger = alias_version(client, name, CHALLENGER)
    if challenger is not None and str(challenger.version) == str(version):
        client.delete_registered_model_alias(name, CHALLENGER)
    log.info("%s version %s rejected by %s", name, version, rejected_by)


def rollback_champion(base: Base, registry: Registry, by: str, reason: str = "") -> str:
    """Point `champion` back at the version the current champion replaced; return that version."""
    client = registry_client(base)
    name = registry.model_name
    current = alias_version(client, name, CHAMPION)
    if current is None:
        raise RegistryError(f"{name} has no champion to roll back")
    previous = current.tags.get("promoted_from", "none")
    if previous == "none":
        raise RegistryError(f"{name} version {current.version} replaced no earlier champion; nothing to roll back to")
    client.set_model_version_tag(name, current.version, "rolled_back_by", by)
    client.set_model_version_tag(name, current.version, "rolled_back_at", now())
    client.set_model_version_tag(name, current.version, "rollback_reason", reason)
    client.set_model_version_tag(name, previous, "restored_from", current.version)
    client.set_registered_model_alias(name, CHAMPION, previous)
    log.info("%s champion rolled back from %s to %s by %s", name, current.version, previous, by)
    return str(previous)
