"""The MLflow model registry as shopseq uses it: aliases, never stages, and every move recorded.

- `register_candidate`: a candidate that passed the gate becomes a new version with alias
  `challenger`, tagged with git commit, data version, params hash and the gate result.
  Registering the same candidate twice returns the existing version (tasks are retried).
- `promote`: alias `champion` moves to a version; who approved, when, why and from which version
  are recorded as tags on the version.
- `reject`: the rejection (who, when, why) is recorded; no alias moves but `challenger` is cleared.
- `rollback_champion`: `champion` goes back to the version it replaced.
- `fetch_champion`: the champion's model directory, for evaluation and downstream stages.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from shopseq.config import Params
from shopseq.io import atomic_dir, read_json

log = logging.getLogger(__name__)

CHAMPION, CHALLENGER = "champion", "challenger"


class RegistryError(ValueError):
    """A registry operation cannot be done as asked (no challenger, gate failed, unknown version)."""


def _client(params: Params):
    from mlflow import MlflowClient

    from shopseq.tracking import configure_mlflow

    configure_mlflow(params.base)
    return MlflowClient()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _alias_version(client, name: str, alias: str):
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def register_candidate(params: Params) -> str:
    """Register `paths.candidate` as a new version with alias `challenger`; return the version.

    Raises:
        RegistryError: the gate has not passed for this candidate.
    """
    candidate = Path(params.paths.candidate)
    meta = read_json(candidate / "meta.json")
    gate = read_json(Path(params.paths.reports) / "gate.json")
    if not gate["passed"]:
        raise RegistryError(f"the gate failed, the candidate is not registered: {'; '.join(gate['reasons'])}")
    client = _client(params)
    name = params.registry.model_name
    existing = client.search_model_versions(f"name = '{name}' and tags.candidate_run = '{meta['mlflow_run_id']}'")
    if existing:
        version = existing[0].version
        log.info("candidate of run %s is already version %s", meta["mlflow_run_id"], version)
    else:
        import mlflow

        metrics = read_json(Path(params.paths.reports) / "evaluate" / "metrics.json")
        tags = {
            "candidate_run": meta["mlflow_run_id"],
            "git_commit": meta["git_commit"],
            "data_version": meta["data_version"],
            "params_hash": meta["params_hash"],
            "gate_passed": "true",
            "gate_reasons": json.dumps(gate["reasons"]),
            "metrics": json.dumps({k: metrics[k] for k in ("candidate", "popularity", "champion") if k in metrics}),
            "registered_at": _now(),
        }
        version = mlflow.register_model(meta["model_uri"], name, tags=tags).version
        log.info("registered %s version %s", name, version)
    client.set_registered_model_alias(name, CHALLENGER, version)
    return str(version)


def promote(params: Params, approved_by: str, version: str | None = None, reason: str = "") -> str:
    """Move `champion` to `version` (default: the challenger), recording who, when, why, from what."""
    client = _client(params)
    name = params.registry.model_name
    if version is None:
        challenger = _alias_version(client, name, CHALLENGER)
        if challenger is None:
            raise RegistryError(f"{name} has no challenger to promote; pass a version")
        version = challenger.version
    previous = _alias_version(client, name, CHAMPION)
    client.get_model_version(name, str(version))  # fails clearly for an unknown version
    tags = {
        "promoted_by": approved_by,
        "promoted_at": _now(),
        "promoted_from": str(previous.version) if previous else "none",
        "promotion_reason": reason,
    }
    for key, value in tags.items():
        client.set_model_version_tag(name, str(version), key, value)
    client.set_registered_model_alias(name, CHAMPION, str(version))
    challenger = _alias_version(client, name, CHALLENGER)
    if challenger is not None and str(challenger.version) == str(version):
        client.delete_registered_model_alias(name, CHALLENGER)
    log.info("%s version %s is champion (was %s), approved by %s", name, version, tags["promoted_from"], approved_by)
    return str(version)


def reject(params: Params, version: str, rejected_by: str, reason: str = "") -> None:
    """Record a rejection on `version`; the champion stays where it is."""
    client = _client(params)
    name = params.registry.model_name
    for key, value in {"rejected_by": rejected_by, "rejected_at": _now(), "rejection_reason": reason}.items():
        client.set_model_version_tag(name, str(version), key, value)
    challenger = _alias_version(client, name, CHALLENGER)
    if challenger is not None and str(challenger.version) == str(version):
        client.delete_registered_model_alias(name, CHALLENGER)
    log.info("%s version %s rejected by %s", name, version, rejected_by)


def rollback_champion(params: Params, by: str, reason: str = "") -> str:
    """Point `champion` back at the version the current champion replaced; return that version."""
    client = _client(params)
    name = params.registry.model_name
    current = _alias_version(client, name, CHAMPION)
    if current is None:
        raise RegistryError(f"{name} has no champion to roll back")
    previous = current.tags.get("promoted_from", "none")
    if previous == "none":
        raise RegistryError(f"{name} version {current.version} replaced no earlier champion; nothing to roll back to")
    client.set_model_version_tag(name, current.version, "rolled_back_by", by)
    client.set_model_version_tag(name, current.version, "rolled_back_at", _now())
    client.set_model_version_tag(name, current.version, "rollback_reason", reason)
    client.set_model_version_tag(name, previous, "restored_from", current.version)
    client.set_registered_model_alias(name, CHAMPION, previous)
    log.info("%s champion rolled back from %s to %s by %s", name, current.version, previous, by)
    return str(previous)


def versions_for_data(params: Params) -> dict[str, list[dict]]:
    """Every registered version grouped by the data version it was trained on, oldest first.

    Each entry: version, aliases, gate result, and who promoted or rejected it.
    """
    client = _client(params)
    name = params.registry.model_name
    aliases: dict[str, list[str]] = {}
    for alias in (CHAMPION, CHALLENGER):
        version = _alias_version(client, name, alias)
        if version is not None:
            aliases.setdefault(str(version.version), []).append(alias)
    grouped: dict[str, list[dict]] = {}
    for version in sorted(client.search_model_versions(f"name = '{name}'"), key=lambda v: int(v.version)):
        tags = dict(version.tags)
        grouped.setdefault(tags.get("data_version", "unknown"), []).append(
            {
                "version": str(version.version),
                "aliases": aliases.get(str(version.version), []),
                "gate_passed": tags.get("gate_passed") == "true",
                "promoted_by": tags.get("promoted_by"),
                "rejected_by": tags.get("rejected_by"),
                "registered_at": tags.get("registered_at"),
            }
        )
    return grouped


def version_for_data(params: Params, data_version: str) -> str | None:
    """The registered version to serve for `data_version`, or None when there is none.

    Rejected versions never qualify; among the rest a version that was champion before wins,
    then the newest.
    """
    usable = [v for v in versions_for_data(params).get(data_version, []) if not v["rejected_by"]]
    if not usable:
        return None
    usable.sort(key=lambda v: (v["promoted_by"] is not None, int(v["version"])))
    return usable[-1]["version"]


def describe(params: Params) -> dict:
    """The champion and challenger versions with their tags (None where an alias is unset)."""
    client = _client(params)
    name = params.registry.model_name
    out = {}
    for alias in (CHAMPION, CHALLENGER):
        version = _alias_version(client, name, alias)
        out[alias] = None if version is None else {"version": str(version.version), "tags": dict(version.tags)}
    return out


def fetch_champion(params: Params) -> dict:
    """Write the champion's model directory to `paths.champion` with `champion.json`; return it.

    With no champion yet, the directory holds only `champion.json` with `version: null`.
    """
    import mlflow

    client = _client(params)
    name = params.registry.model_name
    champion = _alias_version(client, name, CHAMPION)
    info = {"model_name": name, "version": None}
    with atomic_dir(params.paths.champion) as out:
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
                    shutil.copy2(file, out / file.name)
        (out / "champion.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    log.info("champion: %s", info)
    return info


def _pyfunc_artifact(model_root: Path, key: str) -> str:
    """Relative path of a pyfunc artifact inside a downloaded model, as its MLmodel file records it."""
    from mlflow.models import Model

    flavor = Model.load(model_root / "MLmodel").flavors["python_function"]
    return flavor["artifacts"][key]["path"]
