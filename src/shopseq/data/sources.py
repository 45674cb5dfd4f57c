"""Load a data source into the canonical events/items/reviews frames.

The source names are the ones params.yaml and the CLI use (`config.SOURCES`). The synthetic
generator is built here; every other source is read by its adapter in `shopseq.data.adapters`,
which maps the format's published layout onto the same schema and reports what it decided.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from shopseq.config import SOURCES, Ingest
from shopseq.data.adapters import IngestReport, Loaded, adapter_for
from shopseq.suggest import did_you_mean

Tables = tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]


def load_source(source: str, path: str | Path | None, ingest: Ingest, seed: int = 42) -> Tables:
    """Return canonical (events, items, reviews) for `source` read from `path`.

    Raises:
        ValueError: unknown source, or a file that does not have the source's layout.
        FileNotFoundError: `path` does not exist.
    """
    return read_source(source, path, ingest, seed).tables


def read_source(source: str, path: str | Path | None, ingest: Ingest, seed: int = 42) -> Loaded:
    """Like `load_source`, plus the `IngestReport` counting every decision the adapter took.

    Raises:
        ValueError: unknown source, or a file that does not have the source's layout.
        FileNotFoundError: `path` does not exist.
    """
    if source not in SOURCES:
        where = f" for {path}" if path is not None else ""
        raise ValueError(
            f"unknown source {source!r}{where}{did_you_mean(source, SOURCES)}; known sources: {', '.join(SOURCES)}"
        )
    if source == "synthetic":
        from shopseq.data.synthetic import generate_shop

        shop = generate_shop(ingest.synthetic, seed)
        return Loaded(shop.events, shop.items, shop.reviews, IngestReport(source))
    if path is None:
        raise ValueError(f"source {source!r} needs a path (ingest.path or --path)")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist (source {source!r})")
    return adapter_for(source)(path)


def load_canonical(directory: Path) -> Tables:
    """Read `events`, `items` and (optionally) `reviews` as .parquet, .csv or .csv.gz from a directory."""
    from shopseq.data.adapters.canonical import load

    return load(directory).tables
