"""RetailRocket and YOOCHOOSE (no shared sample) on fixtures written from their published descriptions."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from shopseq import schema as s
from shopseq.data.adapters import adapter_for
from shopseq.data.adapters.base import UNKNOWN_CATEGORY

FIXTURES = Path(__file__).parent / "fixtures"


def test_retailrocket_events_map_types_times_and_categories() -> None:
    loaded = adapter_for("retailrocket")(FIXTURES / "retailrocket")
    events, notes = loaded.events, loaded.report.notes
    assert len(events) == 11 and notes["duplicate_rows_dropped"] == 1
    assert events[s.EVENT_TYPE].value_counts().to_dict() == {s.VIEW: 7, s.CART: 2, s.PURCHASE: 2}
    first = events.iloc[0]
    assert first[s.USER_ID] == "257597" and first[s.ITEM_ID] == "355908"
    assert first[s.TS] == pd.Timestamp(1433221332117, unit="ms", tz="UTC")
    categories = loaded.items.set_index(s.ITEM_ID)[s.CATEGORY]
    assert categories["355908"] == "1224/1338"  # path from the root through category_tree.csv
    assert categories["248676"] == "1224/1338"  # the later categoryid row wins over 1016
    assert categories["253185"] == UNKNOWN_CATEGORY  # properties without a categoryid
    assert "999999" not in categories.index  # in the properties, never in the events
    assert notes["items_without_metadata"] == 6  # every other property is hashed: no text


def test_retailrocket_events_file_alone_gives_items_without_metadata() -> None:
    loaded = adapter_for("retailrocket")(FIXTURES / "retailrocket" / "events.csv")
    assert (loaded.items[s.CATEGORY] == UNKNOWN_CATEGORY).all()
    assert set(loaded.events[s.ITEM_ID]) == set(loaded.items[s.ITEM_ID])


def test_yoochoose_sessions_become_marked_users_with_clicks_and_buys() -> None:
    loaded = adapter_for("yoochoose")(FIXTURES / "yoochoose")
    events, notes = loaded.events, loaded.report.notes
    assert (events[s.USER_ID] == "session:" + events[s.SESSION_ID]).all()
    assert notes["session_only_users"] == events[s.SESSION_ID].nunique() == 8
    assert notes["duplicate_rows_dropped"] == 1  # session 4 clicks 214706482 twice at one instant
    assert (events[s.EVENT_TYPE] == s.PURCHASE).sum() == 5
    assert events[s.TS].min() == pd.Timestamp("2014-04-02T13:17:46.940Z")
    buy = events[(events[s.EVENT_TYPE] == s.PURCHASE) & (events[s.ITEM_ID] == "214537888")].iloc[0]
    assert buy[s.PRICE] == 12462 and buy[s.QUANTITY] == 1
    # Price and quantity 0 mean unknown: null, counted, not quarantined later.
    assert notes["unknown_price_set_null"] == 1 and events[s.PRICE].dropna().gt(0).all()
    items = loaded.items.set_index(s.ITEM_ID)
    assert items.loc["214716935", s.CATEGORY] == "special_offer"
    assert items.loc["214774687", s.CATEGORY] == "2"
    assert items.loc["214836765", s.BRAND] == "2053850853"
    assert items.loc["214536502", s.CATEGORY] == UNKNOWN_CATEGORY


@pytest.mark.parametrize("name, purchases", [("yoochoose-clicks.dat", 0), ("yoochoose-buys.dat", 5)])
def test_yoochoose_single_file_is_recognised_by_shape(name: str, purchases: int) -> None:
    loaded = adapter_for("yoochoose")(FIXTURES / "yoochoose" / name)
    assert (loaded.events[s.EVENT_TYPE] == s.PURCHASE).sum() == purchases
