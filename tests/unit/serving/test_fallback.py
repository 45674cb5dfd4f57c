"""Recent popularity, the fallback for users and sequences the model cannot score."""

from __future__ import annotations

import pandas as pd
import pytest

from shopseq import schema as s
from shopseq.serving.fallback import recent_popularity

NOW = pd.Timestamp("2026-07-01 12:00", tz="UTC")


def events(*rows: tuple[str, int]) -> pd.DataFrame:
    """(item, days before NOW) -> an events frame."""
    return pd.DataFrame(
        {
            s.USER_ID: ["u"] * len(rows),
            s.ITEM_ID: [item for item, _ in rows],
            s.TS: [NOW - pd.Timedelta(days=days) for _, days in rows],
        }
    )


def test_items_rank_by_recent_events_then_all_time_events_then_id():
    frame = events(("a", 0), ("a", 1), ("b", 1), ("c", 2), ("c", 30), ("c", 31), ("d", 30), ("e", 2))
    ranking = recent_popularity(frame, days=7)
    # recent: a 2, b 1, c 1, e 1, d 0; b and e tie on all-time too (1), so the id decides; c has 3 all-time
    assert list(ranking.index) == ["a", "c", "b", "e", "d"]
    assert list(ranking) == pytest.approx([2 / 5, 1 / 5, 1 / 5, 1 / 5, 0.0])


def test_the_window_ends_at_the_newest_event_not_at_the_wall_clock():
    frame = events(("old", 400), ("older", 410), ("older", 409))
    ranking = recent_popularity(frame, days=7)
    assert list(ranking.index) == ["old", "older"]  # only "old" is within 7 days of the newest event
    assert ranking["old"] == 1.0 and ranking["older"] == 0.0


def test_no_events_is_a_clear_error():
    with pytest.raises(ValueError, match="validated events table is empty"):
        recent_popularity(events(), days=7)
