"""Item and review texts, review fusion, and the npz files of the embed stage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shopseq import schema as s
from shopseq.embeddings import (
    ItemVectors,
    ReviewVectors,
    fuse_item_vectors,
    item_texts,
    item_vectors_as_of,
    load_item_vectors,
    load_item_vectors_as_of,
    load_review_vectors,
    review_texts,
    save_item_vectors,
    save_review_vectors,
)
from shopseq.embeddings.vectors import utc_naive


def items_frame(**overrides) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            s.ITEM_ID: ["i1", "i2"],
            s.TITLE: ["Acme kettle", "Plain mug."],
            s.DESCRIPTION: ["Boils fast.", "  "],
            s.CATEGORY: ["kitchen", "kitchen"],
            s.BRAND: ["Acme", None],
            s.PRICE: [20.0, 5.0],
        }
    )
    return s.conform(frame.assign(**overrides), s.ITEMS)


def test_item_text_joins_title_description_brand_and_category():
    assert item_texts(items_frame()) == [
        "Acme kettle. Boils fast. Brand: Acme. Category: kitchen.",
        "Plain mug. Category: kitchen.",  # blank description and missing brand left out
    ]


def test_item_texts_refuse_duplicate_item_ids():
    with pytest.raises(ValueError, match=r"items: 1 duplicate item_id.*'i1'"):
        item_texts(items_frame(item_id=["i1", "i1"]))


def test_review_texts_are_stripped_and_missing_ones_empty():
    reviews = pd.DataFrame({s.TEXT: pd.array([" Love it. ", None], dtype="string")})
    assert review_texts(reviews) == ["Love it.", ""]


def test_fusion_blends_own_text_with_the_mean_of_the_item_reviews():
    own = np.eye(3, dtype=np.float32)[:2]  # i1 -> e0, i2 -> e1
    reviews = np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]], dtype=np.float32)
    fused = fuse_item_vectors(["i1", "i2"], own, ["i1", "i1", "unknown"], reviews, review_weight=0.3)
    expected_i1 = 0.7 * own[0] + 0.3 * (reviews[0] + reviews[1]) / 2
    np.testing.assert_allclose(fused[0], expected_i1 / np.linalg.norm(expected_i1), atol=1e-6)
    np.testing.assert_allclose(fused[1], own[1])  # no reviews: its own text only
    assert fused.dtype == np.float32


def as_of_fixture():
    own = ItemVectors(ids=np.array(["i1", "i2"]), vectors=np.eye(3, dtype=np.float32)[:2])  # i1 -> e0, i2 -> e1
    ts = pd.Series(pd.to_datetime(["2026-06-01", "2026-06-10", "2026-06-20"], utc=True))
    reviews = ReviewVectors(user_ids=np.array(["u1", "u2", "u3"]), item_ids=np.array(["i1", "i1", "i2"]),
                            ts=utc_naive(ts), vectors=np.eye(3, dtype=np.float32)[[2, 2, 0]])
    return own, reviews


def test_item_vectors_as_of_a_cut_fuse_only_the_reviews_written_before_it():
    own, reviews = as_of_fixture()
    cut = pd.Timestamp("2026-06-10", tz="UTC")  # the review at exactly the cut is not before it
    expected = fuse_item_vectors(["i1", "i2"], own.vectors, ["i1"], reviews.vectors[:1], 0.3)
    np.testing.assert_array_equal(item_vectors_as_of(own, reviews, cut, 0.3).vectors, expected)
    np.testing.assert_array_equal(item_vectors_as_of(own, reviews, cut, 0.3).vectors[1], own.vectors[1])
    everything = fuse_item_vectors(["i1", "i2"], own.vectors, reviews.item_ids, reviews.vectors, 0.3)
    np.testing.assert_array_equal(item_vectors_as_of(own, reviews, None, 0.3).vectors, everything)
    before_all = item_vectors_as_of(own, reviews, pd.Timestamp("2026-01-01", tz="UTC"), 0.3)
    np.testing.assert_array_equal(before_all.vectors, own.vectors)


def test_item_vectors_as_of_need_the_own_text_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="items_text.npz.*rerun the embed stage"):
        load_item_vectors_as_of(tmp_path, None, 0.3)


@pytest.mark.parametrize("weight", [-0.1, 1.5])
def test_fusion_weight_outside_unit_interval_is_rejected(weight):
    with pytest.raises(ValueError, match="embed.review_weight"):
        fuse_item_vectors(["i1"], np.ones((1, 2)), [], np.zeros((0, 2)), weight)


def test_vectors_round_trip_without_pickle(tmp_path):
    items = ItemVectors(ids=np.array(["i1", "i2"]), vectors=np.eye(2, dtype=np.float32))
    ts = pd.Series(pd.to_datetime(["2026-06-01T10:00:00+02:00"], utc=True))
    reviews = ReviewVectors(
        user_ids=np.array(["u1"]), item_ids=np.array(["i2"]), ts=utc_naive(ts), vectors=np.ones((1, 2), np.float32)
    )
    save_item_vectors(tmp_path / "items.npz", items)
    save_review_vectors(tmp_path / "reviews.npz", reviews)
    loaded_items = load_item_vectors(tmp_path / "items.npz")
    loaded_reviews = load_review_vectors(tmp_path / "reviews.npz")
    assert loaded_items.ids.tolist() == ["i1", "i2"]
    np.testing.assert_array_equal(loaded_items.vectors, items.vectors)
    assert loaded_items.rows(pd.Series(["i2", "nope"])).tolist() == [1, -1]
    assert loaded_reviews.ts[0] == np.datetime64("2026-06-01T08:00:00")  # stored in UTC
    assert loaded_reviews.user_ids.tolist() == ["u1"]


def test_missing_vectors_file_says_which_stage_to_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="run the embed stage first"):
        load_item_vectors(tmp_path / "items.npz")


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError, match="2 ids"):
        ItemVectors(ids=np.array(["i1", "i2"]), vectors=np.zeros((3, 2), np.float32))
