"""Behaviour features checked against values computed by hand on a two-user shop."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from shopseq import schema as s
from shopseq.config import Profiles
from shopseq.embeddings import ItemVectors
from shopseq.profiles import build_profiles, end_of_data
from shopseq.profiles.features import (
    PRICE_SIGNAL_PRIOR,
    category_features,
    conversion_slopes,
    free_choices,
    frequent_categories,
    prepare_events,
    session_keys,
)

AS_OF = pd.Timestamp("2026-06-29", tz="UTC")


def items() -> pd.DataFrame:
    # Category medians: a -> median(10, 30) = 20, b -> 100.
    return s.conform(
        pd.DataFrame(
            {
                s.ITEM_ID: ["i1", "i2", "i3"],
                s.TITLE: ["cheap a", "dear a", "only b"],
                s.DESCRIPTION: ["", "", ""],
                s.CATEGORY: ["a", "a", "b"],
                s.PRICE: [10.0, 30.0, 100.0],
            }
        ),
        s.ITEMS,
    )


def events() -> pd.DataFrame:
    rows = [
        # user, item, type, ts, session, price, quantity
        ("u1", "i1", "view", "2026-06-01 10:00", "s1", None, None),
        ("u1", "i1", "cart", "2026-06-01 10:05", "s1", None, None),
        ("u1", "i1", "purchase", "2026-06-01 10:10", "s1", 8.0, 2.0),  # discounted, two units
        ("u1", "i3", "view", "2026-06-20 09:00", "s2", None, None),
        ("u1", "i2", "view", "2026-06-20 09:01", "s2", None, None),
        ("u2", "i2", "view", "2026-06-27 12:00", "s3", None, None),
        ("u2", "i2", "cart", "2026-06-27 12:01", "s3", None, None),
        ("u2", "i2", "purchase", "2026-06-27 12:02", "s3", None, None),  # catalogue price, 1 unit
        ("u2", "i3", "view", "2026-06-28 08:00", "s4", None, None),
    ]
    columns = [s.USER_ID, s.ITEM_ID, s.EVENT_TYPE, s.TS, s.SESSION_ID, s.PRICE, s.QUANTITY]
    frame = pd.DataFrame(rows, columns=columns)
    frame[s.TS] = pd.to_datetime(frame[s.TS]).dt.tz_localize("UTC")
    return s.conform(frame, s.EVENTS)


def vectors() -> ItemVectors:
    return ItemVectors(ids=np.array(["i1", "i2", "i3"]), vectors=np.eye(3, dtype=np.float32))


@pytest.fixture(scope="module")
def profiles() -> pd.DataFrame:
    table = build_profiles(events(), items(), vectors(), AS_OF, Profiles(pca_components=4))
    return table.frame.set_index(s.USER_ID)


EXPECTED = {
    "u1": {
        "days_since_last_event": 8 + (14 * 60 + 59) / (24 * 60),  # last event 06-20 09:01
        "days_since_first_event": 27 + 14 / 24,
        "n_events": 5, "n_sessions": 2, "active_days": 2,
        "n_views": 3, "n_carts": 1, "n_purchases": 1,
        "cart_per_view": 1 / 3, "purchase_per_cart": 1.0, "purchase_per_view": 1 / 3,
        "spend": 16.0, "mean_purchase_price": 8.0,
        "category_share__a": 0.8, "category_share__b": 0.2, "top_category_share": 0.8, "n_categories": 2,
        "cheap_purchase_share": 1.0, "price_paid_ratio": 0.4,
        "weekly_events_last_2w": 1.0, "weekly_events_prev_2w": 1.5, "activity_trend": -0.2,
    },
    "u2": {
        "days_since_last_event": 16 / 24,
        "days_since_first_event": 1.5,
        "n_events": 4, "n_sessions": 2, "active_days": 2,
        "n_views": 2, "n_carts": 1, "n_purchases": 1,
        "cart_per_view": 0.5, "purchase_per_cart": 1.0, "purchase_per_view": 0.5,
        "spend": 30.0, "mean_purchase_price": 30.0,
        "category_share__a": 0.75, "category_share__b": 0.25, "top_category_share": 0.75, "n_categories": 2,
        "cheap_purchase_share": 0.0, "price_paid_ratio": 1.5,
        "weekly_events_last_2w": 2.0, "weekly_events_prev_2w": 0.0, "activity_trend": 1.0,
    },
}


@pytest.mark.parametrize("user", ["u1", "u2"])
def test_named_features_match_hand_computed_values(profiles, user):
    row = profiles.loc[user]
    for name, value in EXPECTED[user].items():
        assert row[name] == pytest.approx(value, abs=1e-9), name
    assert row["top_category"] == "a"


def test_price_choice_score_is_the_shrunk_centred_log_relative_price_of_free_choices(profiles):
    # Views only (carts and purchases are conversion, not choice); no transition is shared by two
    # users, so every view is a free choice. x = log(price / category median): category a's
    # views are i1 (u1, 10/20), i2 (u1, 30/20), i2 (u2, 30/20); category b's are i3 at its median.
    a = [math.log(0.5), math.log(1.5), math.log(1.5)]
    mean_a = sum(a) / 3
    var_a = sum((x - mean_a) ** 2 for x in a) / 2  # sample variance; b's is 0
    prior = PRICE_SIGNAL_PRIOR * (3 * var_a / 5)  # five free views, category variance of one view
    u1 = -((a[0] - mean_a) + (a[1] - mean_a)) / (2 * var_a + prior)
    u2 = -(a[2] - mean_a) / (var_a + prior)
    assert profiles.loc["u1", "price_choice_score"] == pytest.approx(u1)
    assert profiles.loc["u2", "price_choice_score"] == pytest.approx(u2)
    # u1 carted the cheap item it viewed, u2 the dear one: u1 is the price-sensitive user
    assert profiles.loc["u1", "price_conversion_slope"] > profiles.loc["u2", "price_conversion_slope"]
    assert profiles.loc["u1", "price_sensitivity"] > profiles.loc["u2", "price_sensitivity"]


def test_free_choices_leave_out_link_clicks_other_users_made_too():
    frame = events()
    # u2 now also goes i3 -> i2 within a session, the move u1 made: a shop link, not a choice
    extra = frame[frame[s.USER_ID] == "u1"].iloc[3:5].assign(
        **{s.USER_ID: "u2", s.SESSION_ID: "s9", s.TS: frame[s.TS].iloc[3:5] + pd.Timedelta(days=5)}
    )
    prepared = prepare_events(s.conform(pd.concat([frame, extra], ignore_index=True), s.EVENTS), items(),
                              pd.Timedelta(minutes=30))
    chosen = free_choices(prepared.assign(log_relative=0.0))
    kept = chosen.groupby(s.USER_ID).size().to_dict()
    assert kept == {"u1": 2, "u2": 3}  # each user's i2 after i3 is dropped; first views of sessions stay


def _simulated_views(slopes: dict[str, float], n_views: dict[str, int], seed: int = 0) -> pd.DataFrame:
    """Views at random relative prices; each user carts with P = sigmoid(-2 - slope * x)."""
    rng = np.random.default_rng(seed)
    rows = []
    for user, slope in slopes.items():
        x = rng.normal(0.0, 0.5, n_views[user])
        carted = rng.random(n_views[user]) < 1.0 / (1.0 + np.exp(2.0 + slope * x))
        rows.append(pd.DataFrame({s.USER_ID: user, "x": x, "carted": carted.astype(float)}))
    return pd.concat(rows, ignore_index=True)


def test_conversion_slopes_order_users_by_how_price_puts_them_off():
    slopes = {f"u{i}": b for i, b in enumerate(np.linspace(-1.0, 4.0, 6))}
    estimated = conversion_slopes(_simulated_views(slopes, {u: 4000 for u in slopes}))
    assert list(estimated.sort_values().index) == list(slopes)  # recovered in the true order
    assert estimated["u5"] == pytest.approx(4.0, abs=0.8)


def test_conversion_slope_of_a_user_with_few_views_shrinks_to_the_population():
    slopes = {**{f"p{i}": 2.0 for i in range(30)}, "few": 6.0, "many": 6.0}
    counts = {**{f"p{i}": 300 for i in range(30)}, "few": 5, "many": 3000}
    estimated = conversion_slopes(_simulated_views(slopes, counts, seed=1))
    population = estimated.drop(["few", "many"]).mean()
    assert abs(estimated["few"] - population) < abs(estimated["many"] - population)
    assert estimated["many"] > 4.5


def test_ratios_without_a_denominator_are_nan_not_zero():
    only_views = events()
    only_views = only_views[only_views[s.EVENT_TYPE] == "view"]
    frame = build_profiles(only_views, items(), vectors(), AS_OF, Profiles(pca_components=1)).frame
    assert frame["purchase_per_cart"].isna().all()
    assert frame["price_paid_ratio"].isna().all()
    assert (frame["cart_per_view"] == 0).all()
    assert (frame["spend"] == 0).all()


def test_sessions_are_derived_from_idle_gaps_where_no_session_id_is_given():
    frame = events().assign(**{s.SESSION_ID: pd.array([pd.NA] * 9, dtype="string")})
    keys = session_keys(prepare_events(frame, items(), pd.Timedelta(minutes=30)), pd.Timedelta(minutes=30))
    per_user = pd.Series(keys.to_numpy(), index=frame[s.USER_ID]).groupby(level=0).nunique()
    assert per_user.to_dict() == {"u1": 2, "u2": 2}


def test_end_of_data_is_the_midnight_after_the_last_event():
    assert end_of_data(events()) == pd.Timestamp("2026-06-29", tz="UTC")
    with pytest.raises(ValueError, match="no rows"):
        end_of_data(events().iloc[:0])


def test_a_shop_without_prices_or_categories_still_gets_profiles():
    bare_items = items().assign(**{s.PRICE: np.nan, s.CATEGORY: pd.NA})
    bare_events = events().assign(**{s.PRICE: np.nan})
    frame = build_profiles(bare_events, bare_items, vectors(), AS_OF, Profiles(pca_components=1)).frame
    assert len(frame) == 2
    assert frame["spend"].eq(0).all() and frame["price_paid_ratio"].isna().all()
    assert frame["price_sensitivity"].eq(0).all()  # no priced event: the prior, no opinion
    assert frame["top_category"].isna().all() and frame["n_categories"].eq(0).all()
    assert not any(c.startswith("category_share__") for c in frame.columns)


def test_frequent_categories_break_ties_by_first_appearance():
    frame = pd.DataFrame({s.CATEGORY: pd.array(["b", "a", None, "c", "a", "b", "c", "d"], dtype="string")})
    assert frequent_categories(frame, 3) == ["b", "a", "c"]  # b, a and c twice each; b first seen


def test_a_bucket_gets_the_share_columns_of_the_whole_table_even_for_categories_it_lacks():
    prepared = prepare_events(events(), items(), pd.Timedelta(minutes=30))
    whole = category_features(prepared, max_categories=5)
    bucket = prepared[prepared[s.USER_ID] == "u2"]  # one user: the bucket's own counts would differ
    given = category_features(bucket, max_categories=5, frequent=["b", "a", "z"])
    assert list(given.columns[:3]) == ["category_share__b", "category_share__a", "category_share__z"]
    assert given.loc["u2", "category_share__z"] == 0.0
    for column in ("category_share__a", "category_share__b", "top_category", "top_category_share", "n_categories"):
        assert given.loc["u2", column] == whole.loc["u2", column], column


@pytest.mark.parametrize("frequent", [[], ["z"]])
def test_a_bucket_without_any_share_category_gets_zero_shares_and_its_own_top_category(frequent):
    prepared = prepare_events(events(), items(), pd.Timedelta(minutes=30))
    given = category_features(prepared, max_categories=5, frequent=frequent)
    assert list(given.columns) == [f"category_share__{c}" for c in frequent] + [
        "top_category", "top_category_share", "n_categories"]
    assert (given.filter(like="category_share__") == 0.0).all().all()
    whole = category_features(prepared, max_categories=5)
    pd.testing.assert_frame_equal(given[["top_category", "top_category_share", "n_categories"]],
                                  whole[["top_category", "top_category_share", "n_categories"]])
