"""Lineage facts stamped on every run and model version: git commit, params hash, data version."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
from pathlib import Path

from shopseq.config import Params


def git_commit(directory: str | Path = ".", paths: tuple[str, ...] = ()) -> str:
    """The checked-out commit, with `-dirty` when tracked files differ; `unknown` outside git.

    Args:
        paths: only these pathspecs count towards `-dirty` (e.g. a benchmark's code, not the
            results it is rewriting); empty: every tracked file.
    """
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", *paths],
            cwd=directory, capture_output=True, text=True, check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit}-dirty" if dirty else commit


def params_hash(params: Params) -> str:
    """A short, stable hash of every tunable (the whole params file as loaded).

    The one library function that takes the whole `Params`: its job is to name all of them.
    """
    canonical = json.dumps(dataclasses.asdict(params), sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def data_version(reports: str | Path) -> str:
    """The validated data's version as the validate stage recorded it under `reports`."""
    summary = Path(reports) / "validation" / "summary.json"
    if not summary.exists():
        raise FileNotFoundError(f"{summary} not found: run the validate stage first")
    return json.loads(summary.read_text())["data_version"]
