"""Load a data source into the canonical events/items/reviews frames.

The source names are the ones params.yaml and the CLI use (`config.SOURCES`). The synthetic
generator and plain canonical files are read here; adapters for the public formats map their
published layouts onto the same schema.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from shopseq import schema as s
from shopseq.config import SOURCES, Ingest

Tables = tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]


def load_source(source: str, path: str | Path | None, ingest: Ingest, seed: int = 42) -> Tables:
    """Return canonical (events, items, reviews) for `source` read from `path`.

    Raises:
        ValueError: unknown source, or a file that does not have the source's layout.
        FileNotFoundError: `path` does not exist.
    """
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; known sources: {', '.join(SOURCES)}")
    if source == "synthetic":
        from shopseq.data.synthetic import generate_shop

        shop = generate_shop(ingest.synthetic, seed)
        return shop.events, shop.items, shop.reviews
    if path is None:
        raise ValueError(f"source {source!r} needs a path (ingest.path or --path)")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist (source {source!r})")
    if source == "canonical":
        return load_canonical(path)
    raise ValueError(
        f"source {source!r} is named in the design but its adapter is not built yet; "
        "convert the data to the canonical layout (events/items/reviews CSV or parquet) and use source 'canonical'"
    )


def load_canonical(directory: Path) -> Tables:
    """Read `events`, `items` and (optionally) `reviews` as .parquet, .csv or .csv.gz from a directory."""
    if not directory.is_dir():
        raise ValueError(f"{directory}: the canonical source is a directory holding events, items and reviews files")
    frames = []
    for table in s.TABLES:
        file = _find_table_file(directory, table.name)
        if file is None:
            if table is s.REVIEWS:
                frames.append(s.conform(pd.DataFrame(columns=list(table.required)), table))
                continue
            raise ValueError(f"{directory}: no {table.name}.parquet, {table.name}.csv or {table.name}.csv.gz found")
        raw = pd.read_parquet(file) if file.suffix == ".parquet" else pd.read_csv(file, dtype=str)
        try:
            frames.append(s.conform(raw, table))
        except ValueError as error:
            raise ValueError(f"{file}: {error}") from None
    return frames[0], frames[1], frames[2]


def _find_table_file(directory: Path, name: str) -> Path | None:
    for suffix in (".parquet", ".csv", ".csv.gz"):
        candidate = directory / f"{name}{suffix}"
        if candidate.exists():
            return candidate
    return None
