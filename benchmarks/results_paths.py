"""Paths as committed results files may name them: repository-relative, the shared data as `$DATA`.

A results file is read and rerun on other machines, so it must not record where this checkout or
the data sit here (`/work/...`). Standard library only: `recbole_peer.py` imports it in RecBole's
own venv, `quality.py` in shopseq's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA_VARIABLE = "$DATA"  # each results page says: `$DATA` = the shared data folder


def portable_text(text: str, data: Path | None = None) -> str:
    """`text` with the data folder written `$DATA` and paths inside the repository made relative to its root.

    `data` is replaced both as given and resolved, first, so a data folder inside the repository
    still reads `$DATA`.
    """
    if data is not None:
        for form in dict.fromkeys((str(Path(data).resolve()), str(data))):  # the longer, resolved form first
            if Path(form).is_absolute():
                text = text.replace(form, DATA_VARIABLE)
    return text.replace(str(ROOT) + "/", "").replace(str(ROOT), ".")


def portable_json(value: Any, data: Path | None = None) -> Any:
    """A JSON value with `portable_text` applied to every string in it (keys included)."""
    if isinstance(value, str):
        return portable_text(value, data)
    if isinstance(value, dict):
        return {portable_text(str(key), data): portable_json(item, data) for key, item in value.items()}
    if isinstance(value, list):
        return [portable_json(item, data) for item in value]
    return value


def repository_relative(path: Path) -> str:
    """`path` (relative to the current folder, or absolute) as a path relative to the repository root when inside it."""
    resolved = Path(path).resolve()
    return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else str(path)
