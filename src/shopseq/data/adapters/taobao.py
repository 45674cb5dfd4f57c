"""Taobao / Tianchi UserBehavior: headerless CSV `user_id,item_id,category_id,behavior_type,timestamp`.

- `behavior_type` pv/cart/fav/buy -> view/cart/fav/purchase.
- `timestamp` is unix seconds, an absolute instant: read as UTC (the publisher describes the
  days in Beijing time, UTC+8; no conversion is needed, nothing is assumed).
- The format has no sessions, no prices and no item text: items get their category id only
  (counted as `items_without_metadata`).
- A directory is read as every `*.csv` in it (the full data set is sometimes split).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from shopseq import schema as s
from shopseq.data.adapters.base import (
    INVALID_TS,
    IngestReport,
    Loaded,
    clean_ids,
    files_in,
    finish,
    first_row,
    headerless_error,
    mark_unparsed,
    no_files_error,
    pick_matching,
    read_csv,
    reading,
    unix_to_utc,
)

SOURCE = "taobao"
COLUMNS = ["user_id", "item_id", "category_id", "behavior_type", "timestamp"]
BEHAVIOURS = {"pv": s.VIEW, "cart": s.CART, "fav": s.FAV, "buy": s.PURCHASE}


def check(file: Path) -> None:
    """Raise FormatError unless the first row looks like UserBehavior (5 fields, a known behaviour)."""
    row = first_row(file)
    ok = len(row) == 5 and row[3] in BEHAVIOURS and all(row[k].strip().isdigit() for k in (0, 1, 2, 4))
    if not ok:
        rule = f"5 fields, numbers except behavior_type, which is one of {sorted(BEHAVIOURS)}"
        raise headerless_error(file, SOURCE, {"events": COLUMNS}, row, rule)


def load(path: Path) -> Loaded:
    """Read UserBehavior file(s) at `path` into canonical frames."""
    report = IngestReport(SOURCE)
    files = source_files(path, report)
    raw = pd.concat([read_csv(f, **CSV_OPTIONS) for f in files], ignore_index=True)
    events, items = map_rows(raw, report)
    return finish(events, items, None, report, items_from_events=True)


# How the headerless files are read: every field as text, empty fields kept as "" (not NaN).
CSV_OPTIONS = {"header": None, "names": COLUMNS, "dtype": str, "keep_default_na": False}


def source_files(path: Path, report: IngestReport) -> list[Path]:
    """The UserBehavior files at `path` (a file, or every `*.csv` in a directory), recorded in `report`."""
    files = files_in(path, ["*.csv"])
    if not files:
        raise no_files_error(path, SOURCE, "UserBehavior*.csv")
    files = pick_matching(files, SOURCE, check, report, path)
    report.files = [str(f) for f in files]
    return files


def read_chunks(files: list[Path], rows: int) -> Iterator[pd.DataFrame]:
    """The raw rows of `files` in file order, `rows` at a time (the streamed ingest's reader)."""
    for file in files:
        with reading(file), pd.read_csv(file, encoding="utf-8", chunksize=rows, **CSV_OPTIONS) as chunks:
            yield from chunks


def map_rows(raw: pd.DataFrame, report: IngestReport) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Raw UserBehavior rows as canonical events (unparsed times marked) and item rows; index kept."""
    behaviour = raw["behavior_type"].str.strip()
    unknown = ~behaviour.isin(list(BEHAVIOURS))
    report.count("unknown_behaviour_rows", int(unknown.sum()))
    events = pd.DataFrame(
        {
            s.USER_ID: clean_ids(raw["user_id"]),
            s.ITEM_ID: clean_ids(raw["item_id"]),
            # Unknown behaviours keep their raw value so validation quarantines them visibly.
            s.EVENT_TYPE: behaviour.map(BEHAVIOURS).fillna(behaviour),
            s.TS: unix_to_utc(raw["timestamp"], unit="s"),
        }
    )
    mark_unparsed(events, s.TS, raw["timestamp"], INVALID_TS)
    items = pd.DataFrame({s.ITEM_ID: clean_ids(raw["item_id"]), s.CATEGORY: clean_ids(raw["category_id"])})
    return events, items
