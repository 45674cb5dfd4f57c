"""Stage `champion`: copy the registry's current champion into `paths.champion` (always runs).

DVC hashes the directory, so the stages that read it rerun only when the champion really moved.
"""

from __future__ import annotations

from shopseq.config import Params


def run(params: Params) -> None:
    from shopseq.registry import fetch_champion

    fetch_champion(params.base, params.registry, params.paths.champion)
