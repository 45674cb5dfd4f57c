"""Ingest a source larger than memory: raw rows in chunks, Parquet out, the global steps on disk.

The in-memory adapters (`data.adapters`) hold a whole data set in pandas: about 36 GB at 100M
Taobao events. A format with a chunk reader (`STREAMED`) is read here instead, with the same
per-row code and the same decisions, so the outputs are the ones its `load` + `finish` give:

1. raw rows, `base.bucket_events` at a time, go through the adapter's own `map_rows`; rows it
   marked unparseable are rejected with their reasons (`take_marked`), the rest are conformed
   and written as Parquet parts that keep each row's position in the raw data;
2. exact copies (every canonical column equal to an earlier row's) are found in DuckDB, which
   groups on disk beyond `base.engine_memory`, and rejected as `duplicate`, the first one kept;
3. the items table (one row per item, small next to the events) is built by `finish_items`
   from the items the accepted events mention and each item's last raw row;
4. the events are written in raw order, part by part, without the copies.

Memory holds one chunk and the set of copies' positions, never the table.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from shopseq import schema as s
from shopseq.config import Base
from shopseq.data.adapters import taobao
from shopseq.data.adapters.base import (
    DUPLICATE,
    DUPLICATE_EVENTS_DROPPED,
    DUPLICATE_ROWS_DROPPED,
    IngestReport,
    conform_keeping_index,
    finish_items,
    take_marked,
)
from shopseq.engine.embedded import connect
from shopseq.progress import progress

log = logging.getLogger(__name__)

# Formats read in chunks: each module has `source_files(path, report)`, `read_chunks(files, rows)`
# and `map_rows(raw, report) -> (events, items)`, the functions its in-memory `load` runs.
STREAMED: dict[str, ModuleType] = {taobao.SOURCE: taobao}

POSITION = "_source_row"  # a row's position among the raw rows, carried through the parts


@dataclass
class Streamed:
    """What a streamed ingest wrote and decided.

    Attributes:
        events: rows written to the events file.
        items: the items table (small: one row per item).
        reviews: the reviews table (empty: the streamed formats have none).
        report: the ingest report, with the rejected rows (`rejected_tables`).
    """

    events: int
    items: pd.DataFrame
    reviews: pd.DataFrame
    report: IngestReport


def ingest_streamed(source: str, path: Path, events_file: Path, base: Base) -> Streamed:
    """Read `source` at `path` chunk by chunk and write its canonical events to `events_file`.

    Raises:
        ValueError: `source` has no chunk reader, or a file is not in its layout.
    """
    if source not in STREAMED:
        raise ValueError(f"source {source!r} cannot be read in chunks; streamed sources: {', '.join(STREAMED)}")
    adapter = STREAMED[source]
    report = IngestReport(source)
    files = adapter.source_files(Path(path), report)
    work = events_file.parent / f".{events_file.name}.work"
    shutil.rmtree(work, ignore_errors=True)
    (work / "events").mkdir(parents=True)
    try:
        item_rows, seen = _map_chunks(adapter, files, work, base, report)
        copies = _copies(work / "events", work, base)
        report.reject(s.EVENTS.name, copies, DUPLICATE)
        report.count(DUPLICATE_EVENTS_DROPPED, len(copies))
        report.count(DUPLICATE_ROWS_DROPPED, len(copies))
        written = _write_events(work / "events", set(copies.index), events_file)
        reviews = s.conform(pd.DataFrame(columns=list(s.REVIEWS.required)), s.REVIEWS)
        items = finish_items(seen, item_rows, reviews, report, items_from_events=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log.info("%s (streamed): %d events, %d items; notes %s", source, written, len(items), report.notes)
    return Streamed(events=written, items=items, reviews=reviews, report=report)


def _map_chunks(
    adapter: ModuleType, files: list[Path], work: Path, base: Base, report: IngestReport
) -> tuple[pd.DataFrame, pd.Series]:
    """Map every chunk, write its accepted events as a part; each item's last row, the items seen."""
    offset = 0
    last_rows: list[pd.DataFrame] = []
    seen: set[str] = set()
    chunks = adapter.read_chunks(files, base.bucket_events)
    for number, raw in enumerate(progress(chunks, desc="ingest: read", unit="chunk")):
        raw.index = pd.RangeIndex(offset, offset + len(raw))
        offset += len(raw)
        events, items = adapter.map_rows(raw, report)
        events = conform_keeping_index(take_marked(events, s.EVENTS.name, report), s.EVENTS)
        seen.update(events[s.ITEM_ID].dropna().unique())
        part = pa.Table.from_pandas(events.assign(**{POSITION: events.index.to_numpy(dtype="int64")}), preserve_index=False)
        pq.write_table(part, work / "events" / f"part-{number:05d}.parquet")
        # Item rows: the last raw row of each item wins (as `drop_duplicates(keep="last")` on all rows).
        last_rows.append(items.dropna(subset=[s.ITEM_ID]).drop_duplicates(s.ITEM_ID, keep="last"))
    log.info("ingest: %d raw rows read", offset)
    item_rows = pd.concat(last_rows) if last_rows else None  # index: the raw position (`source_row`)
    if item_rows is not None:
        item_rows = item_rows.drop_duplicates(s.ITEM_ID, keep="last")
    return item_rows, pd.Series(sorted(seen), dtype="string")


def _copies(parts: Path, work: Path, base: Base) -> pd.DataFrame:
    """Rows equal in every canonical column to an earlier row (nulls equal, as pandas compares
    them), indexed by raw position, with their canonical columns; few, so held in memory."""
    columns = ", ".join(s.EVENTS.columns)
    con = connect(base.engine_memory, work / "spill")
    try:
        con.execute(f"CREATE VIEW events AS SELECT * FROM read_parquet('{parts}/*.parquet')")
        copies = con.sql(
            f"""SELECT * FROM events WHERE {POSITION} NOT IN (
                    SELECT min({POSITION}) FROM events GROUP BY {columns})
                ORDER BY {POSITION}"""
        ).to_arrow_table()
    finally:
        con.close()
    frame = copies.to_pandas()
    return conform_keeping_index(frame.set_index(POSITION), s.EVENTS)


def _write_events(parts: Path, copies: set[int], events_file: Path) -> int:
    """Write the parts, in raw order and without `copies`, as one Parquet file; rows written."""
    tmp = events_file.with_name(f".{events_file.name}.tmp")
    events_file.parent.mkdir(parents=True, exist_ok=True)
    writer = None
    rows = 0
    try:
        for file in sorted(parts.glob("*.parquet")):
            frame = pd.read_parquet(file)
            frame = frame[~frame[POSITION].isin(copies)] if copies else frame
            frame = s.conform(frame.drop(columns=POSITION), s.EVENTS)
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema)
            writer.write_table(table)
            rows += len(frame)
        if writer is None:  # no rows at all: an empty events table
            empty = s.conform(pd.DataFrame(columns=list(s.EVENTS.required)), s.EVENTS)
            writer = pq.ParquetWriter(tmp, pa.Table.from_pandas(empty, preserve_index=False).schema)
        writer.close()
        tmp.replace(events_file)
    finally:
        tmp.unlink(missing_ok=True)
    return rows
