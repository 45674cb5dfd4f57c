"""The synthetic shop: seeded, growing, and shaped like a shop a sequence model can learn."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shopseq import schema as s
from shopseq.config import Synthetic
from shopseq.data.synthetic import generate_shop
from shopseq.sequences.split import collapse_steps

CONFIG = Synthetic(n_users=300, n_items=120, n_categories=6, days=42, sessions_per_week=2.0)


@pytest.fixture(scope="module")
def shop():
    return generate_shop(CONFIG, seed=3)


def test_the_same_seed_gives_the_same_shop(shop):
    again = generate_shop(CONFIG, seed=3)
    pd.testing.assert_frame_equal(shop.events, again.events)
    pd.testing.assert_frame_equal(shop.reviews, again.reviews)
    assert not generate_shop(CONFIG, seed=4).events.equals(shop.events)


def test_until_cuts_the_same_history_so_data_only_grows(shop):
    cut = "2026-06-20"
    early = generate_shop(Synthetic(**{**CONFIG.__dict__, "until": cut}), seed=3)
    assert (early.events[s.TS] < pd.Timestamp(cut, tz="UTC")).all()
    expected = shop.events[shop.events[s.TS] < pd.Timestamp(cut, tz="UTC")].reset_index(drop=True)
    pd.testing.assert_frame_equal(early.events, expected)


def test_tables_follow_the_canonical_schema(shop):
    for frame, table in ((shop.events, s.EVENTS), (shop.items, s.ITEMS), (shop.reviews, s.REVIEWS)):
        assert list(frame.columns) == list(table.columns)
        assert frame[list(table.required)].notna().all().all()
    assert set(shop.events[s.ITEM_ID]) <= set(shop.items[s.ITEM_ID])
    assert set(shop.events[s.EVENT_TYPE]) == {s.VIEW, s.CART, s.PURCHASE}


def test_funnel_converts_like_a_shop(shop):
    counts = shop.events[s.EVENT_TYPE].value_counts()
    assert 0.03 < counts[s.CART] / counts[s.VIEW] < 0.3
    assert 0.3 < counts[s.PURCHASE] / counts[s.CART] < 0.8
    # every purchase follows a cart of the same item in the same session
    carts = set(zip(*(shop.events[shop.events[s.EVENT_TYPE] == s.CART][c] for c in (s.SESSION_ID, s.ITEM_ID))))
    purchases = shop.events[shop.events[s.EVENT_TYPE] == s.PURCHASE]
    assert all(key in carts for key in zip(purchases[s.SESSION_ID], purchases[s.ITEM_ID]))


def test_weekends_are_busier_and_churned_users_go_quiet(shop):
    by_day = shop.events.groupby(shop.events[s.TS].dt.day_of_week).size()
    assert by_day[[5, 6]].mean() > by_day[[0, 1, 2, 3]].mean()
    churned = shop.users_truth[shop.users_truth["churned"]]
    assert 0.05 < len(churned) / len(shop.users_truth) < 0.5
    last = shop.events.groupby(s.USER_ID)[s.TS].max()
    for user, churn_ts in zip(churned["user_id"], churned["churn_ts"]):
        if user in last.index:
            assert last[user] < churn_ts + pd.Timedelta(days=1)


def test_reviews_are_written_by_buyers_after_buying(shop):
    first_purchase = (
        shop.events[shop.events[s.EVENT_TYPE] == s.PURCHASE].groupby([s.USER_ID, s.ITEM_ID])[s.TS].min()
    )
    for row in shop.reviews.itertuples():
        assert row.ts > first_purchase[(row.user_id, row.item_id)]
    assert shop.reviews[s.RATING].between(1, 5).all()


def test_next_items_are_far_more_predictable_than_popularity(shop):
    """The structure a sequence model must find: a first-order model beats popularity clearly."""
    steps = collapse_steps(shop.events)
    steps["next"] = steps.groupby(s.USER_ID)[s.ITEM_ID].shift(-1)
    pairs = steps.dropna(subset=["next"])
    half = len(pairs) // 2
    train, test = pairs.iloc[:half], pairs.iloc[half:]
    top10_popular = set(train["next"].value_counts().index[:10])
    follow = train.groupby(s.ITEM_ID)["next"].agg(lambda x: set(x.value_counts().index[:10]))
    markov_hits = np.mean([n in follow.get(i, set()) for i, n in zip(test[s.ITEM_ID], test["next"])])
    popular_hits = np.mean([n in top10_popular for n in test["next"]])
    assert markov_hits > 2 * popular_hits
