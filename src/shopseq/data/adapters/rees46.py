"""REES46 "eCommerce behavior data from multi category store" (monthly CSVs with a header).

Columns: `event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session`.
- `event_time` ends in ` UTC` as published; a value without a zone is taken as UTC and counted
  (`timezone_assumed_utc`).
- `event_type` view/cart/remove_from_cart/purchase map one to one.
- A missing `user_id` becomes `session:<user_session>` (`session_only_users`).
- Items: category = `category_code` where given (e.g. `appliances.kitchen.washer`), else the
  numeric `category_id`; brand; the median positive price seen. There is no product text, so every
  item counts as `items_without_metadata` (its text vector encodes brand and category).
- A directory is read as every `*.csv` in it (one file per month).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from shopseq import schema as s
from shopseq.data.adapters.base import (
    INVALID_PRICE,
    INVALID_TS,
    IngestReport,
    Loaded,
    clean_ids,
    files_in,
    finish,
    mark_unparsed,
    no_files_error,
    parse_times_utc,
    pick_matching,
    read_csv,
    require_header,
    users_or_sessions,
)

SOURCE = "rees46"
COLUMNS = [
    "event_time",
    "event_type",
    "product_id",
    "category_id",
    "category_code",
    "brand",
    "price",
    "user_id",
    "user_session",
]
EVENT_TYPES = {"view": s.VIEW, "cart": s.CART, "remove_from_cart": s.REMOVE_FROM_CART, "purchase": s.PURCHASE}


def check(file: Path) -> None:
    """Raise FormatError unless the header holds the REES46 columns."""
    require_header(file, SOURCE, COLUMNS)


def load(path: Path) -> Loaded:
    """Read REES46 file(s) at `path` into canonical frames."""
    report = IngestReport(SOURCE)
    files = files_in(path, ["*.csv"])
    if not files:
        raise no_files_error(path, SOURCE, "2019-Oct.csv-style monthly files")
    files = pick_matching(files, SOURCE, check, report, path)
    raw = pd.concat([read_csv(f, dtype=str, keep_default_na=False) for f in files], ignore_index=True)
    report.files = [str(f) for f in files]
    event_type = raw["event_type"].str.strip()
    events = pd.DataFrame(
        {
            s.USER_ID: users_or_sessions(raw["user_id"], raw["user_session"], report),
            s.ITEM_ID: clean_ids(raw["product_id"]),
            s.EVENT_TYPE: event_type.map(EVENT_TYPES).fillna(event_type),
            s.TS: parse_times_utc(raw["event_time"], report),
            s.SESSION_ID: clean_ids(raw["user_session"]),
            s.PRICE: pd.to_numeric(raw["price"], errors="coerce"),
        }
    )
    mark_unparsed(events, s.TS, raw["event_time"], INVALID_TS)
    mark_unparsed(events, s.PRICE, raw["price"], INVALID_PRICE)
    code = raw["category_code"].str.strip()
    items = pd.DataFrame(
        {
            s.ITEM_ID: events[s.ITEM_ID],
            s.CATEGORY: code.mask(code == "", clean_ids(raw["category_id"])),
            s.BRAND: raw["brand"].str.strip().replace("", pd.NA),
            # A non-positive price is a missing one for the catalogue (the event keeps the raw value).
            s.PRICE: events[s.PRICE].where(events[s.PRICE] > 0),
            "_ts": events[s.TS],
        }
    )
    # The latest row per product wins for category and brand (they drift over a month); the price
    # is the median of the positive event prices, so one absurd event price (quarantined with its
    # event) does not make the catalogue item, and with it every event of the item, invalid.
    items[s.PRICE] = items.groupby(s.ITEM_ID)[s.PRICE].transform("median")
    items = items.sort_values("_ts", kind="stable").drop(columns="_ts")
    return finish(events, items, None, report, items_from_events=True)
