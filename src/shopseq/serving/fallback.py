"""Recent popularity: the documented fallback for users and sequences the model cannot score.

An item's fallback score is its share of all events in the last `days` days before the newest
event; items with no recent event follow, ordered by all-time events (share 0), then item id.
"""

from __future__ import annotations

import pandas as pd

from shopseq import schema as s

RECENT, TOTAL = "recent", "total"


def recent_popularity(events: pd.DataFrame, days: int) -> pd.Series:
    """Item id -> share of the last `days` days' events, most popular first (sums to 1 when any).

    Raises:
        ValueError: `events` is empty (there is nothing to be popular).
    """
    if events.empty:
        raise ValueError("recent popularity needs events: the validated events table is empty")
    newest = events[s.TS].max()
    recent = events[s.TS] >= newest - pd.Timedelta(days=days)
    counts = pd.DataFrame(
        {
            RECENT: events.loc[recent, s.ITEM_ID].astype(str).value_counts(),
            TOTAL: events[s.ITEM_ID].astype(str).value_counts(),
        }
    ).fillna(0)
    counts.index.name = s.ITEM_ID
    ranked = counts.reset_index().sort_values(
        [RECENT, TOTAL, s.ITEM_ID], ascending=[False, False, True], kind="stable"
    )
    share = ranked[RECENT].to_numpy() / max(float(ranked[RECENT].sum()), 1.0)
    return pd.Series(share, index=pd.Index(ranked[s.ITEM_ID], name=s.ITEM_ID), name="score")
