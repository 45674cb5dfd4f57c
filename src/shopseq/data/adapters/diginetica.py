"""DIGINETICA (CIKM Cup 2016, track 2): semicolon-separated CSVs with a header.

Files (a directory holds any of them; a single file is recognised by its header):
- `train-item-views.csv` (`sessionId;userId;itemId;timeframe;eventdate`; the SR-GNN sample
  spells them `session_id;user_id;item_id;...`) -> `view` events.
- `train-purchases.csv` (`sessionId;userId;timeframe;eventdate;ordernumber;itemId`) -> `purchase` events.
- `product-categories.csv` (`itemId;categoryId`) -> item category.
- `products.csv` (`itemId;pricelog2;product.name.tokens`) -> item price 2**pricelog2 and, as
  title, the hashed name tokens (numbers, as published: they still tell items apart).

Time: `eventdate` is a date with no zone and `timeframe` the milliseconds since the session's
first query, so ts = eventdate (taken as UTC, counted `timezone_assumed_utc`) + timeframe: the
order within a session is exact, the clock time is not. `userId` is `NA` for anonymous sessions:
those rows get `session:<sessionId>` (`session_only_users`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from shopseq import schema as s
from shopseq.data.adapters.base import (
    FILES_SKIPPED,
    INVALID_TS,
    SESSION_ONLY_USERS,
    SESSION_USER_PREFIX,
    TIMEZONE_ASSUMED_UTC,
    FormatError,
    IngestReport,
    Loaded,
    clean_ids,
    files_in,
    finish,
    first_row,
    format_error,
    mark_unparsed,
    no_files_error,
    read_csv,
    users_or_sessions,
)

SOURCE = "diginetica"
SEP = ";"
# Header names normalised: lower case, `_` and `.` removed.
KINDS = {
    "views": ["sessionid", "userid", "itemid", "timeframe", "eventdate"],
    "purchases": ["sessionid", "userid", "timeframe", "eventdate", "ordernumber", "itemid"],
    "categories": ["itemid", "categoryid"],
    "products": ["itemid", "pricelog2", "productnametokens"],
}
PUBLISHED = {
    "views": "sessionId;userId;itemId;timeframe;eventdate",
    "purchases": "sessionId;userId;timeframe;eventdate;ordernumber;itemId",
    "categories": "itemId;categoryId",
    "products": "itemId;pricelog2;product.name.tokens",
}


def _norm(name: str) -> str:
    return name.strip().lower().replace("_", "").replace(".", "")


def kind_of(file: Path) -> str:
    """Which DIGINETICA table `file` is, from its header.

    Raises:
        FormatError: the header is none of the four tables'.
    """
    found = first_row(file, SEP)
    normalised = [_norm(c) for c in found]
    for kind, columns in KINDS.items():
        if normalised == columns:
            return kind
    expected = [f"{k}: {v}" for k, v in PUBLISHED.items()]
    raise format_error(file, SOURCE, expected, found, hint="semicolon-separated, one of the four tables")


def _read(file: Path) -> pd.DataFrame:
    frame = read_csv(file, sep=SEP, dtype=str, keep_default_na=False)
    frame.columns = [_norm(c) for c in frame.columns]
    return frame


def _events(frame: pd.DataFrame, event_type: str, report: IngestReport) -> pd.DataFrame:
    day = pd.to_datetime(frame["eventdate"], format="%Y-%m-%d", errors="coerce", utc=True)
    report.count(TIMEZONE_ASSUMED_UTC, int(day.notna().sum()))
    offset = pd.to_timedelta(pd.to_numeric(frame["timeframe"], errors="coerce"), unit="ms")
    events = pd.DataFrame(
        {
            s.USER_ID: users_or_sessions(frame["userid"], frame["sessionid"], report),
            s.ITEM_ID: clean_ids(frame["itemid"]),
            s.EVENT_TYPE: event_type,
            s.TS: day + offset,
            s.SESSION_ID: clean_ids(frame["sessionid"]),
        }
    )
    # The time is the day plus the offset: a given but unparseable part makes the time invalid.
    mark_unparsed(events, s.TS, frame["eventdate"].where(day.isna() | offset.notna(), frame["timeframe"]), INVALID_TS)
    return events


def load(path: Path) -> Loaded:
    """Read the DIGINETICA table(s) at `path` into canonical frames."""
    report = IngestReport(SOURCE)
    files = files_in(path, ["*.csv"])
    if not files:
        raise no_files_error(path, SOURCE, "train-item-views.csv, train-purchases.csv, product-categories.csv")
    tables: dict[str, list[pd.DataFrame]] = {kind: [] for kind in KINDS}
    for file in files:
        try:
            kind = kind_of(file)
        except FormatError:
            if path.is_file():
                raise
            report.count(FILES_SKIPPED, 1)
            continue
        tables[kind].append(_read(file))
        report.files.append(str(file))
    if not tables["views"] and not tables["purchases"]:
        raise FormatError(
            f"{path}: no {SOURCE} events: expected train-item-views ({PUBLISHED['views']}) or "
            f"train-purchases ({PUBLISHED['purchases']}); read {report.files or 'nothing'}"
        )
    parts = [_events(f, s.VIEW, report) for f in tables["views"]]
    parts += [_events(f, s.PURCHASE, report) for f in tables["purchases"]]
    events = pd.concat(parts, ignore_index=True)
    # Views and purchases share sessions: count distinct session users over both, not per table.
    made = events[s.USER_ID].str.startswith(SESSION_USER_PREFIX, na=False)
    report.notes[SESSION_ONLY_USERS] = int(events.loc[made, s.USER_ID].nunique())
    return finish(events, _items(tables), None, report)


def _items(tables: dict[str, list[pd.DataFrame]]) -> pd.DataFrame | None:
    items = None
    if tables["categories"]:
        cats = pd.concat(tables["categories"], ignore_index=True)
        items = pd.DataFrame({s.ITEM_ID: clean_ids(cats["itemid"]), s.CATEGORY: clean_ids(cats["categoryid"])})
        items = items.drop_duplicates(s.ITEM_ID, keep="last")
    if tables["products"]:
        prods = pd.concat(tables["products"], ignore_index=True)
        log2 = pd.to_numeric(prods["pricelog2"], errors="coerce")
        extra = pd.DataFrame(
            {
                s.ITEM_ID: clean_ids(prods["itemid"]),
                s.TITLE: prods["productnametokens"].str.replace(",", " ", regex=False),
                s.PRICE: np.exp2(log2),
            }
        ).drop_duplicates(s.ITEM_ID, keep="last")
        items = extra if items is None else items.merge(extra, on=s.ITEM_ID, how="outer")
    return items
