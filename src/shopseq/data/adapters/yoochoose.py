"""YOOCHOOSE (RecSys Challenge 2015): headerless `yoochoose-clicks.dat` and `yoochoose-buys.dat`.

- clicks: `session_id,timestamp,item_id,category` -> `view`;
  buys: `session_id,timestamp,item_id,price,quantity` -> `purchase`.
- timestamp is ISO 8601 with `Z` (UTC), e.g. `2014-04-07T10:51:09.277Z`.
- There are no users: every session is its own user `session:<session_id>` (all counted as
  `session_only_users`).
- The click `category` is `0` (missing), `S` (special offer), 1..12 (a category) or a long
  number (a brand): categories and `S` (as `special_offer`) go to the item category, long
  numbers to its brand, the latest seen per item.
- Price and quantity 0 mean unknown in the published data: set to null and counted
  (`unknown_price_set_null`, `unknown_quantity_set_null`) instead of quarantined.
A single file is recognised by its field count (4: clicks, 5: buys). `yoochoose-test.dat`
(clicks without buys) is not read from a directory.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from shopseq import schema as s
from shopseq.data.adapters.base import (
    INVALID_PRICE,
    INVALID_QUANTITY,
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
    parse_times_utc,
    read_csv,
    users_or_sessions,
)

SOURCE = "yoochoose"
CLICKS = ["session_id", "timestamp", "item_id", "category"]
BUYS = ["session_id", "timestamp", "item_id", "price", "quantity"]
SPECIAL_OFFER = "special_offer"


def kind_of(file: Path) -> str:
    """`clicks` or `buys`, from the first row's shape. Raises FormatError otherwise."""
    row = first_row(file)
    looks_like = len(row) in (4, 5) and row[0].strip().isdigit() and row[1].strip()[:4].isdigit() and "T" in row[1]
    # Buys end in an integer quantity; a 5th field that is not one is a clicks file with an extra column.
    looks_like = looks_like and (len(row) == 4 or row[4].strip().lstrip("-").isdigit())
    if not looks_like:
        rule = "a numeric session id, an ISO timestamp such as 2014-04-07T10:51:09.277Z, then the item's fields"
        raise headerless_error(file, SOURCE, {"clicks": CLICKS, "buys": BUYS}, row, rule)
    return "clicks" if len(row) == 4 else "buys"


def load(path: Path) -> Loaded:
    """Read YOOCHOOSE clicks and/or buys at `path` into canonical frames."""
    report = IngestReport(SOURCE)
    files = [path] if path.is_file() else files_in(path, ["*clicks*.dat", "*buys*.dat"])
    if not files:
        raise no_files_error(path, SOURCE, "yoochoose-clicks.dat and yoochoose-buys.dat")
    clicks, buys = [], []
    for file in files:
        kind = kind_of(file)
        names = CLICKS if kind == "clicks" else BUYS
        frame = read_csv(file, header=None, names=names, dtype=str, keep_default_na=False)
        (clicks if kind == "clicks" else buys).append(frame)
        report.files.append(str(file))
    parts, items = [], None
    if clicks:
        raw = pd.concat(clicks, ignore_index=True)
        parts.append(_events(raw, s.VIEW, report))
        items = _items(raw)
    if buys:
        raw = pd.concat(buys, ignore_index=True)
        frame = _events(raw, s.PURCHASE, report)
        for column, key, invalid in (
            (s.PRICE, "unknown_price_set_null", INVALID_PRICE),
            (s.QUANTITY, "unknown_quantity_set_null", INVALID_QUANTITY),
        ):
            values = pd.to_numeric(raw[column], errors="coerce")
            frame[column] = values
            mark_unparsed(frame, column, raw[column], invalid)
            report.count(key, int((values == 0).sum()))
            # 0 means unknown as published; a negative value stays, for validation to quarantine.
            frame[column] = values.mask(values == 0)
        parts.append(frame)
    events = pd.concat(parts, ignore_index=True)
    made = events[s.USER_ID].dropna()
    report.notes["session_only_users"] = int(made.nunique())
    return finish(events, items, None, report, items_from_events=True)


def _events(raw: pd.DataFrame, event_type: str, report: IngestReport) -> pd.DataFrame:
    sessions = clean_ids(raw["session_id"])
    events = pd.DataFrame(
        {
            s.USER_ID: users_or_sessions(pd.Series(pd.NA, index=raw.index, dtype="string"), sessions, report),
            s.ITEM_ID: clean_ids(raw["item_id"]),
            s.EVENT_TYPE: event_type,
            s.TS: parse_times_utc(raw["timestamp"], report),
            s.SESSION_ID: sessions,
        }
    )
    mark_unparsed(events, s.TS, raw["timestamp"], INVALID_TS)
    return events


def _items(clicks: pd.DataFrame) -> pd.DataFrame:
    code = clicks["category"].str.strip()
    is_category = code.str.fullmatch(r"[1-9]|1[0-2]") | (code == "S")
    is_brand = code.str.fullmatch(r"\d{4,}")
    frame = pd.DataFrame(
        {
            s.ITEM_ID: clean_ids(clicks["item_id"]),
            s.CATEGORY: code.where(is_category).replace("S", SPECIAL_OFFER),
            s.BRAND: code.where(is_brand),
        }
    )
    # The latest non-missing value per item for each attribute.
    category = frame.dropna(subset=[s.CATEGORY]).drop_duplicates(s.ITEM_ID, keep="last")
    brand = frame.dropna(subset=[s.BRAND]).drop_duplicates(s.ITEM_ID, keep="last")
    items = pd.DataFrame({s.ITEM_ID: frame[s.ITEM_ID].dropna().unique()})
    items = items.merge(category[[s.ITEM_ID, s.CATEGORY]], on=s.ITEM_ID, how="left")
    return items.merge(brand[[s.ITEM_ID, s.BRAND]], on=s.ITEM_ID, how="left")
