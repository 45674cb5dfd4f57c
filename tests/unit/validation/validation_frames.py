"""Tiny canonical tables for the validation tests, built inline with `schema.conform`.

A plain module with a unique name (not conftest.py), so `from validation_frames import ...`
always finds this file whichever other test folders pytest collects first.
"""

from __future__ import annotations

import pandas as pd

from shopseq import schema as s

# A reference "now", so timestamp checks do not depend on the wall clock.
NOW = pd.Timestamp("2026-07-01", tz="UTC")


def events_frame(rows: list[tuple]) -> pd.DataFrame:
    """(user_id, item_id, event_type, ts, price) tuples -> canonical events."""
    frame = pd.DataFrame(rows, columns=[s.USER_ID, s.ITEM_ID, s.EVENT_TYPE, s.TS, s.PRICE])
    return s.conform(frame, s.EVENTS)


def items_frame(rows: list[tuple]) -> pd.DataFrame:
    """(item_id, title, price) tuples -> canonical items."""
    frame = pd.DataFrame(rows, columns=[s.ITEM_ID, s.TITLE, s.PRICE])
    frame[s.DESCRIPTION] = "a thing"
    frame[s.CATEGORY] = "things"
    return s.conform(frame, s.ITEMS)


def reviews_frame(rows: list[tuple]) -> pd.DataFrame:
    """(user_id, item_id, ts, rating) tuples -> canonical reviews."""
    frame = pd.DataFrame(rows, columns=[s.USER_ID, s.ITEM_ID, s.TS, s.RATING])
    frame[s.TEXT] = "fine"
    return s.conform(frame, s.REVIEWS)


def good_events(n: int, n_items: int = 2) -> pd.DataFrame:
    """`n` clean, distinct view events over items i0..i{n_items-1}."""
    return events_frame(
        [
            (f"u{k}", f"i{k % n_items}", "view", f"2026-06-01T00:{k // 60:02d}:{k % 60:02d}Z", 10.0)
            for k in range(n)
        ]
    )
