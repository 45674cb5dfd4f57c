"""Plain canonical files: `events`, `items` and optional `reviews` as .parquet, .csv or .csv.gz in a directory.

The columns are already canonical, so nothing is decided on the data's behalf: the report has
no notes beyond what was read. Duplicates and bad rows are left to validation.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from shopseq import schema as s
from shopseq.data.adapters.base import IngestReport, Loaded

SOURCE = "canonical"


def load(directory: Path) -> Loaded:
    """Read the canonical tables from `directory`.

    Raises:
        ValueError: `directory` is not a directory, lacks events or items, or a file misses a
            required column (the message names the file, expected and found columns).
    """
    if not directory.is_dir():
        raise ValueError(f"{directory}: the canonical source is a directory holding events, items and reviews files")
    report = IngestReport(SOURCE)
    frames = []
    for table in s.TABLES:
        file = find_table_file(directory, table.name)
        if file is None:
            if table is s.REVIEWS:
                frames.append(s.conform(pd.DataFrame(columns=list(table.required)), table))
                continue
            raise ValueError(f"{directory}: no {table.name}.parquet, {table.name}.csv or {table.name}.csv.gz found")
        raw = pd.read_parquet(file) if file.suffix == ".parquet" else pd.read_csv(file, dtype=str)
        report.files.append(str(file))
        try:
            frames.append(s.conform(raw, table))
        except ValueError as error:
            raise ValueError(f"{file}: {error}") from None
    return Loaded(frames[0], frames[1], frames[2], report)


def find_table_file(directory: Path, name: str) -> Path | None:
    """The first of `<name>.parquet`, `<name>.csv`, `<name>.csv.gz` that exists in `directory`."""
    for suffix in (".parquet", ".csv", ".csv.gz"):
        candidate = directory / f"{name}{suffix}"
        if candidate.exists():
            return candidate
    return None
