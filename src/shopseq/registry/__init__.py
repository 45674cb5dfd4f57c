"""The MLflow model registry as shopseq uses it: aliases, never stages, and every move recorded.

- `register_candidate`: a candidate that passed the gate becomes a new version with alias
  `challenger`, tagged with git commit, data version, params hash and the gate result.
  Registering the same candidate twice returns the existing version (tasks are retried).
- `promote`: alias `champion` moves to a version; who approved, when, why and from which version
  are recorded as tags on the version.
- `reject`: the rejection (who, when, why) is recorded; no alias moves but `challenger` is cleared.
- `rollback_champion`: `champion` goes back to the version it replaced.
- `fetch_champion`: the champion's model directory, for evaluation and downstream stages.
- `describe`, `versions_for_data`, `version_for_data`: what the aliases hold, versions by data.

This face only gathers the modules: `client` (the MLflow client, alias names, `RegistryError`),
`decisions` (alias moves), `lookup` (reads), `fetch` (the champion's files), `pyfunc` (the
logged model). Importing it does not import MLflow.
"""

from shopseq.registry.client import CHALLENGER, CHAMPION, RegistryError
from shopseq.registry.decisions import promote, register_candidate, reject, rollback_champion
from shopseq.registry.fetch import fetch_champion
from shopseq.registry.lookup import describe, version_for_data, versions_for_data

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "RegistryError",
    "describe",
    "fetch_champion",
    "promote",
    "register_candidate",
    "reject",
    "rollback_champion",
    "version_for_data",
    "versions_for_data",
]
