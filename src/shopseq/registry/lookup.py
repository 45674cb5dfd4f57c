"""Reading the registry: which versions exist for which data version, and what the aliases hold.

`versions_for_data` feeds `shopseq versions`; `version_for_data` picks the model a data-version
rollback restores; `describe` is the champion and challenger with their tags.
"""

from __future__ import annotations

from shopseq.config import Base, Registry
from shopseq.registry.client import CHALLENGER, CHAMPION, alias_version, registry_client


def versions_for_data(base: Base, registry: Registry) -> dict[str, list[dict]]:
    """Every registered version grouped by the data version it was trained on, oldest first.

    Each entry: version, aliases, gate result, and who promoted or rejected it.
    """
    client = registry_client(base)
    name = registry.model_name
    aliases: dict[str, list[str]] = {}
    for alias in (CHAMPION, CHALLENGER):
        version = alias_version(client, name, alias)
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


def version_for_data(base: Base, registry: Registry, data_version: str) -> str | None:
    """The registered version to serve for `data_version`, or None when there is none.

    Rejected versions never qualify; among the rest a version that was champion before wins,
    then the newest.
    """
    usable = [v for v in versions_for_data(base, registry).get(data_version, []) if not v["rejected_by"]]
    if not usable:
        return None
    usable.sort(key=lambda v: (v["promoted_by"] is not None, int(v["version"])))
    return usable[-1]["version"]


def describe(base: Base, registry: Registry) -> dict:
    """The champion and challenger versions with their tags (None where an alias is unset)."""
    client = registry_client(base)
    name = registry.model_name
    out = {}
    for alias in (CHAMPION, CHALLENGER):
        version = alias_version(client, name, alias)
        out[alias] = None if version is None else {"version": str(version.version), "tags": dict(version.tags)}
    return out
