"""Text side of a profile: what a user has been looking at lately, and what they wrote."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse

from shopseq import schema as s
from shopseq.embeddings.text import l2_normalize
from shopseq.embeddings.vectors import ItemVectors, ReviewVectors

DAY = pd.Timedelta(days=1)


def decay_weights(ts: pd.Series, as_of: pd.Timestamp, half_life_days: float) -> np.ndarray:
    """0.5 ** (age in days / half life): an event `half_life_days` old counts half: (n,)."""
    age_days = ((as_of - ts) / DAY).to_numpy(dtype=np.float64)
    return np.power(0.5, age_days / half_life_days)


def decayed_item_vectors(
    events: pd.DataFrame,
    item_vectors: ItemVectors,
    users: pd.Index,
    as_of: pd.Timestamp,
    half_life_days: float,
) -> np.ndarray:
    """Time-decayed mean of the text vectors of the items each user interacted with, unit length.

    Events of items without a vector are skipped; a user with none gets a zero vector.

    Returns:
        (U, H) float32, rows in `users` order.
    """
    rows = item_vectors.rows(events[s.ITEM_ID])  # (E,), -1 without a vector
    user_codes = users.get_indexer(events[s.USER_ID])  # (E,)
    keep = (rows >= 0) & (user_codes >= 0)
    weights = decay_weights(events[s.TS], as_of, half_life_days)[keep]  # (E',)
    # A sparse (U, I) matrix of summed weights: memory stays O(events), not O(events x H).
    mix = sparse.csr_matrix(
        (weights, (user_codes[keep], rows[keep])), shape=(len(users), len(item_vectors.ids))
    )  # (U, I)
    summed = mix @ item_vectors.vectors.astype(np.float64)  # (U, H)
    return l2_normalize(np.asarray(summed))  # the weighted mean's direction: (U, H)


def mean_review_vectors(
    reviews: ReviewVectors | None, users: pd.Index, as_of: pd.Timestamp, dim: int
) -> tuple[np.ndarray, np.ndarray]:
    """Mean vector of each user's own reviews written before `as_of`, unit length, and review counts.

    Returns:
        ((U, H) float32 with zero rows for users without reviews, (U,) review counts).
    """
    if reviews is None or len(reviews.vectors) == 0:
        return np.zeros((len(users), dim), dtype=np.float32), np.zeros(len(users))
    if reviews.vectors.shape[1] != dim:
        raise ValueError(
            f"review vectors have dim {reviews.vectors.shape[1]} but item vectors {dim}: rerun the embed stage"
        )
    before = reviews.ts < as_of.tz_convert("UTC").tz_localize(None).to_datetime64()  # (R,)
    codes = users.get_indexer(reviews.user_ids.astype(str))  # (R,)
    keep = before & (codes >= 0)
    sums = np.zeros((len(users), dim), dtype=np.float64)  # (U, H)
    np.add.at(sums, codes[keep], reviews.vectors[keep])
    counts = np.bincount(codes[keep], minlength=len(users)).astype(np.float64)  # (U,)
    return l2_normalize(sums), counts
