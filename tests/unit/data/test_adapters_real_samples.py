"""Each public-format adapter on the real sample in ../shared/data, in its published layout.

The counts asserted here are the ones the samples' PROVENANCE.md files state, so a mapping that
loses or invents rows fails loudly.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from shopseq import schema as s
from shopseq.data.adapters import adapter_for
from shopseq.data.adapters.base import NO_TEXT, SESSION_USER_PREFIX, UNKNOWN_CATEGORY, Loaded

from shared_samples import sample


def assert_canonical(loaded: Loaded) -> None:
    """The frames pass validation's not-null and referential rules without quarantine."""
    for frame, table in ((loaded.events, s.EVENTS), (loaded.items, s.ITEMS), (loaded.reviews, s.REVIEWS)):
        assert list(frame.columns) == list(table.columns)
        assert not frame[list(table.required)].isna().any().any(), table.name
    assert loaded.items[s.ITEM_ID].is_unique
    assert set(loaded.events[s.ITEM_ID]) <= set(loaded.items[s.ITEM_ID])
    assert set(loaded.reviews[s.ITEM_ID]) <= set(loaded.items[s.ITEM_ID])
    assert str(loaded.events[s.TS].dt.tz) == "UTC"


@pytest.fixture(scope="module")
def taobao() -> Loaded:
    return adapter_for("taobao")(sample("taobao_userbehavior/UserBehavior_head_users.csv.gz"))


def test_taobao_sample_maps_every_row(taobao: Loaded) -> None:
    assert_canonical(taobao)
    events = taobao.events
    assert len(events) == 84_475
    assert events[s.USER_ID].nunique() == 815
    assert len(taobao.items) == 55_368
    counts = events[s.EVENT_TYPE].value_counts().to_dict()
    assert counts == {s.VIEW: 75_872, s.CART: 4_497, s.FAV: 2_356, s.PURCHASE: 1_750}
    # Unix seconds are instants: the main window is 2017-11-24 16:00 .. 2017-12-03 15:59 UTC.
    assert events[s.TS].quantile(0.01) >= pd.Timestamp("2017-11-24 16:00", tz="UTC")
    assert events[s.TS].max() <= pd.Timestamp("2017-12-03 16:00", tz="UTC")
    assert taobao.report.notes["items_without_metadata"] == 55_368
    assert (taobao.items[s.TITLE] == NO_TEXT).all() and taobao.items[s.CATEGORY].str.isdigit().all()


def test_rees46_sample_keeps_utc_prices_and_counts_duplicates() -> None:
    loaded = adapter_for("rees46")(sample("rees46_multi_category_store"))
    assert_canonical(loaded)
    notes = loaded.report.notes
    assert notes["duplicate_rows_dropped"] == 5  # exact copies in the published head
    assert len(loaded.events) == 17_434 - 5
    assert notes["timezone_assumed_utc"] == 0  # every event_time ends in " UTC"
    assert loaded.events[s.TS].min() == pd.Timestamp("2019-10-01 00:00:00", tz="UTC")
    assert loaded.events[s.EVENT_TYPE].value_counts()[s.PURCHASE] == 214
    assert loaded.events[s.PRICE].notna().all()
    assert loaded.events[s.SESSION_ID].nunique() == 5_066
    items = loaded.items.set_index(s.ITEM_ID)
    assert len(items) == 6_493
    assert items.loc["3900821", s.CATEGORY] == "appliances.environment.water_heater"
    assert items.loc["3900821", s.BRAND] == "aqua"
    assert items.loc["44600062", s.CATEGORY] == "2103807459595387724"  # no category_code: the id


def test_diginetica_sample_joins_views_purchases_and_categories() -> None:
    loaded = adapter_for("diginetica")(sample("diginetica"))
    assert_canonical(loaded)
    events, notes = loaded.events, loaded.report.notes
    assert (events[s.EVENT_TYPE] == s.VIEW).sum() == 12_391
    assert (events[s.EVENT_TYPE] == s.PURCHASE).sum() == 18_025 - notes["duplicate_events_dropped"]
    # Anonymous sessions (userId NA) become session users, counted once each.
    made = events[s.USER_ID].str.startswith(SESSION_USER_PREFIX)
    assert notes["session_only_users"] == events.loc[made, s.USER_ID].nunique() > 0
    assert (events.loc[made, s.USER_ID] == SESSION_USER_PREFIX + events.loc[made, s.SESSION_ID]).all()
    assert notes["timezone_assumed_utc"] == len(events) + notes["duplicate_events_dropped"]
    # Only items that occur are kept; almost all have a category from product-categories.csv.
    assert notes["catalogue_items_without_events"] > 150_000
    assert (loaded.items[s.CATEGORY] != UNKNOWN_CATEGORY).mean() > 0.9


def test_diginetica_single_views_file_orders_a_session_by_timeframe() -> None:
    loaded = adapter_for("diginetica")(sample("diginetica/sample_train-item-views.csv.gz"))
    first = loaded.events[loaded.events[s.SESSION_ID] == "1"].sort_values(s.TS)
    # The file lists session 1 as 81766 (526309 ms), 31331 (1031018 ms), 32118 (243569 ms), ...;
    # by timeframe it starts 9654 (75848 ms), 33043 (173912 ms), 32118.
    assert len(first) == 10
    assert first[s.ITEM_ID].tolist()[:3] == ["9654", "33043", "32118"]
    assert first[s.TS].iloc[0] == pd.Timestamp("2016-05-09", tz="UTC") + pd.Timedelta(milliseconds=75_848)


@pytest.fixture(scope="module")
def amazon() -> Loaded:
    return adapter_for("amazon")(sample("amazon_reviews_2018_5core"))


def test_amazon_reviews_become_reviews_and_purchase_events(amazon: Loaded) -> None:
    assert_canonical(amazon)
    notes = amazon.report.notes
    raw_rows = 3_176 + 5_269 + 2_375 + 2_277
    assert len(amazon.reviews) + notes["duplicate_reviews_dropped"] == raw_rows
    # Each review is repeated once per style variant of its product, under the variant's asin:
    # the variants merge into one item and the copies leave as duplicates.
    assert notes["duplicate_reviews_dropped"] > 8_000
    assert notes["variant_items_merged"] + len(amazon.items) == 31 + 85 + 157 + 48
    # Before merging, 86% of the reviews shared user, time and text with another; what remains is
    # a shopper posting one generic text ("Love") on different products the same day.
    assert amazon.reviews.duplicated([s.USER_ID, s.TS, s.TEXT], keep=False).mean() < 0.1
    assert (amazon.events[s.EVENT_TYPE] == s.PURCHASE).all()
    assert amazon.reviews[s.RATING].between(1, 5).all()
    assert notes["items_without_metadata"] == len(amazon.items)  # no meta_* files in the sample
    assert set(amazon.items[s.CATEGORY]) == {"AMAZON_FASHION", "All_Beauty", "Magazine_Subscriptions", "Appliances"}


def test_amazon_recbole_sequences_get_synthesized_ordered_times() -> None:
    loaded = adapter_for("amazon")(sample("amazon_video_games_2018_sequences"))
    assert_canonical(loaded)
    assert len(loaded.events) == 440_264
    assert loaded.report.notes["timestamps_synthesized"] == 440_264
    assert loaded.events[s.USER_ID].nunique() == 50_546
    assert len(loaded.items) == 16_859 and loaded.report.notes["items_without_metadata"] == 0
    user0 = loaded.events[loaded.events[s.USER_ID] == "0"].sort_values(s.TS)
    assert user0[s.ITEM_ID].tolist() == [str(k) for k in range(15)]  # history 0..13, then target 14
    assert user0[s.TS].iloc[-1] == pd.Timestamp("2018-10-01", tz="UTC")
    title = loaded.items.set_index(s.ITEM_ID).loc["0", s.TITLE]
    assert title == "Fire Emblem: The Sacred Stones"


def test_online_retail_line_items_drop_cancellations_and_convert_uk_time() -> None:
    loaded = adapter_for("online_retail")(sample("online_retail/online_retail_non_uk_2010-12_2011-12.csv.gz"))
    assert_canonical(loaded)
    notes = loaded.report.notes
    assert notes["cancelled_invoice_rows_dropped"] == 1_372
    kept = 44_951 - 1_372 - notes["non_product_rows_dropped"] - notes["invoice_lines_merged"]
    assert len(loaded.events) == kept
    assert notes["local_time_converted_to_utc"] == kept
    assert loaded.events[s.USER_ID].nunique() <= 422
    # 12/1/2010 8:45 London (GMT in winter) is 08:45 UTC.
    assert loaded.events[s.TS].min() == pd.Timestamp("2010-12-01 08:45", tz="UTC")
    assert (loaded.events[s.QUANTITY] > 0).all()
    item = loaded.items.set_index(s.ITEM_ID).loc["22728"]
    assert item[s.TITLE] == "ALARM CLOCK BAKELIKE PINK" and item[s.PRICE] > 0


def test_online_retail_invoice_level_file_is_rejected_with_the_reason() -> None:
    path = sample("online_retail/online_retail_ii_invoice_level_2009-12_2011-12.csv.gz")
    with pytest.raises(ValueError) as error:
        adapter_for("online_retail")(path)
    message = str(error.value)
    assert str(path) in message and "invoice-level" in message
    assert "StockCode" in message and "invoice_id" in message


def test_online_retail_directory_skips_the_invoice_level_file() -> None:
    loaded = adapter_for("online_retail")(sample("online_retail"))
    assert loaded.report.notes["files_skipped"] == 1
    assert len(loaded.report.files) == 1 and "non_uk" in loaded.report.files[0]
