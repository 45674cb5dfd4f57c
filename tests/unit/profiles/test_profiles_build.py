"""Point in time, text aggregation and reduction of the user profiles."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shopseq import schema as s
from shopseq.config import Profiles
from shopseq.embeddings import ItemVectors, ReviewVectors
from shopseq.embeddings.vectors import utc_naive
from shopseq.profiles import build_profiles, price_sensitivity_spearman
from shopseq.profiles.reduce import reduce_profiles, standardize
from shopseq.profiles.text import decayed_item_vectors, mean_review_vectors

AS_OF = pd.Timestamp("2026-07-01", tz="UTC")
N_ITEMS, DIM = 8, 6


def shop(n_users: int = 6, n_events: int = 120, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, ItemVectors]:
    """A small random shop before AS_OF: events, items in two categories, unit item vectors."""
    rng = np.random.default_rng(seed)
    items = s.conform(
        pd.DataFrame(
            {
                s.ITEM_ID: [f"i{i}" for i in range(N_ITEMS)],
                s.TITLE: "t",
                s.DESCRIPTION: "d",
                s.CATEGORY: ["a", "b"] * (N_ITEMS // 2),
                s.PRICE: rng.uniform(5, 50, N_ITEMS).round(2),
            }
        ),
        s.ITEMS,
    )
    events = s.conform(
        pd.DataFrame(
            {
                s.USER_ID: [f"u{u}" for u in rng.integers(0, n_users, n_events)],
                s.ITEM_ID: [f"i{i}" for i in rng.integers(0, N_ITEMS, n_events)],
                s.EVENT_TYPE: rng.choice(["view", "view", "cart", "purchase"], n_events),
                s.TS: AS_OF - pd.to_timedelta(rng.uniform(0.01, 40, n_events), unit="D"),
                s.SESSION_ID: [f"s{x}" for x in rng.integers(0, 30, n_events)],
            }
        ),
        s.EVENTS,
    )
    raw = rng.normal(size=(N_ITEMS, DIM))
    unit = (raw / np.linalg.norm(raw, axis=1, keepdims=True)).astype(np.float32)
    vectors = ItemVectors(ids=items[s.ITEM_ID].to_numpy(str), vectors=unit)
    return events, items, vectors


def reviews_of(events: pd.DataFrame, when: list[pd.Timestamp]) -> ReviewVectors:
    rng = np.random.default_rng(1)
    raw = rng.normal(size=(len(when), DIM))
    return ReviewVectors(
        user_ids=events[s.USER_ID].iloc[: len(when)].to_numpy(str),
        item_ids=events[s.ITEM_ID].iloc[: len(when)].to_numpy(str),
        ts=utc_naive(pd.Series(when)),
        vectors=(raw / np.linalg.norm(raw, axis=1, keepdims=True)).astype(np.float32),
    )


def test_events_and_reviews_at_or_after_as_of_change_nothing():
    events, items, vectors = shop()
    reviews = reviews_of(events, [AS_OF - pd.Timedelta(days=3)] * 3)
    before = build_profiles(events, items, vectors, AS_OF, Profiles(pca_components=3), reviews=reviews).frame

    future = events.sample(n=40, replace=True, random_state=2).assign(
        **{s.TS: AS_OF + pd.to_timedelta(np.arange(40), unit="h")}  # the first one exactly at as_of
    )
    newcomer = future.iloc[:5].assign(**{s.USER_ID: pd.array(["u_future"] * 5, dtype="string")})
    late_reviews = reviews_of(events, [AS_OF - pd.Timedelta(days=3)] * 3 + [AS_OF, AS_OF + pd.Timedelta(days=1)])
    after = build_profiles(
        pd.concat([future, events, newcomer], ignore_index=True),
        items,
        vectors,
        AS_OF,
        Profiles(pca_components=3),
        reviews=late_reviews,
    ).frame
    pd.testing.assert_frame_equal(before, after)


def test_no_event_before_as_of_is_a_clear_error():
    events, items, vectors = shop()
    with pytest.raises(ValueError, match="none before as_of 2020"):
        build_profiles(events, items, vectors, "2020-01-01", Profiles())


@pytest.mark.parametrize(("asked", "users", "expected"), [(16, 6, 5), (2, 6, 2), (0, 6, 0), (16, 1, 0)])
def test_component_count_is_clipped_to_what_the_data_allows(asked, users, expected):
    events, items, vectors = shop(n_users=users)
    table = build_profiles(events, items, vectors, AS_OF, Profiles(pca_components=asked))
    assert [c for c in table.frame.columns if c.startswith("pc_")] == [f"pc_{i}" for i in range(expected)]
    assert len(table.explained_variance) == expected
    assert np.isfinite(table.frame.filter(like="pc_").to_numpy()).all()


def test_explained_variance_is_a_decreasing_share_of_the_total():
    events, items, vectors = shop(n_users=20, n_events=400)
    variance = build_profiles(events, items, vectors, AS_OF, Profiles(pca_components=5)).explained_variance
    assert (np.diff(variance) <= 1e-12).all()
    assert 0 < variance.sum() <= 1 + 1e-9


def test_text_vector_decays_with_the_half_life():
    items = ItemVectors(ids=np.array(["x", "y"]), vectors=np.eye(2, dtype=np.float32))
    events = pd.DataFrame(
        {
            s.USER_ID: pd.array(["u", "u"], dtype="string"),
            s.ITEM_ID: pd.array(["x", "y"], dtype="string"),
            s.TS: [AS_OF - pd.Timedelta(days=1), AS_OF - pd.Timedelta(days=1 + 14)],
        }
    )
    users = pd.Index(["u", "nobody"], dtype="string")
    vectors = decayed_item_vectors(events, items, users, AS_OF, half_life_days=14.0)
    expected = np.array([1.0, 0.5]) / np.linalg.norm([1.0, 0.5])  # y is one half-life older
    np.testing.assert_allclose(vectors[0], expected, atol=1e-6)
    np.testing.assert_array_equal(vectors[1], [0.0, 0.0])  # no events: a zero vector


def test_review_mean_uses_only_the_users_reviews_before_as_of():
    reviews = ReviewVectors(
        user_ids=np.array(["u", "u", "u", "v"]),
        item_ids=np.array(["x", "y", "z", "x"]),
        ts=utc_naive(pd.Series([AS_OF - pd.Timedelta(days=2)] * 2 + [AS_OF, AS_OF - pd.Timedelta(days=1)])),
        vectors=np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1]], dtype=np.float32),
    )
    users = pd.Index(["u", "w"], dtype="string")
    means, counts = mean_review_vectors(reviews, users, AS_OF, dim=3)
    np.testing.assert_allclose(means[0], np.array([1, 1, 0]) / np.sqrt(2), atol=1e-6)
    np.testing.assert_array_equal(means[1], [0, 0, 0])
    assert counts.tolist() == [2, 0]


def test_standardize_turns_undefined_values_into_the_column_mean():
    z = standardize(np.array([[1.0, np.nan, 5.0], [3.0, 2.0, 5.0], [5.0, 4.0, 5.0]]))
    np.testing.assert_allclose(z[:, 0], [-np.sqrt(1.5), 0, np.sqrt(1.5)])
    assert z[0, 1] == 0.0  # NaN -> mean
    np.testing.assert_array_equal(z[:, 2], 0.0)  # constant column


def test_text_block_is_balanced_against_the_features():
    rng = np.random.default_rng(0)
    numeric = rng.normal(size=(50, 3))
    text = rng.normal(size=(50, 200)) * 0.01  # tiny scale, many columns
    reduction = reduce_profiles(numeric, text, n_components=2)
    assert reduction.components.shape == (50, 2)
    assert reduction.components.dtype == np.float32


def test_spearman_against_truth_matches_on_user_id():
    profiles = pd.DataFrame(
        {s.USER_ID: pd.array(["a", "b", "c", "d"], dtype="string"), "price_sensitivity": [0.1, 0.2, 0.3, 0.4]}
    )
    truth = pd.DataFrame({s.USER_ID: ["d", "c", "b", "a", "zz"], "price_sensitivity": [0.9, 0.8, 0.1, 0.0, 0.5]})
    rho, n = price_sensitivity_spearman(profiles, truth)
    assert (rho, n) == (pytest.approx(1.0), 4)
    reversed_truth = truth.assign(price_sensitivity=-truth["price_sensitivity"])
    assert price_sensitivity_spearman(profiles, reversed_truth)[0] == pytest.approx(-1.0)
