"""Batch scoring: top-K next items and per-category propensities for every known user.

A known user is one with at least one validated event. Users whose history holds an item the
model knows are scored by the model: item scores are the softmax probabilities of being the next
item, and a category's propensity is the probability mass on its items (the definition the
audiences use, `shopseq.downstream.audiences.category_mass`). Users the model knows no item of get
recent popularity (`shopseq.serving.fallback`) for both, marked `source = recent_popularity`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from shopseq import schema as s
from shopseq.downstream.audiences import RANK, SCORE, build_histories, item_categories
from shopseq.progress import progress
from shopseq.serving.fallback import recent_popularity
from shopseq.serving.recommend import FALLBACK, MODEL, Scorer, next_item_probabilities, top_k

SOURCE, PROPENSITY = "source", "propensity"
RECOMMENDATION_COLUMNS = [s.USER_ID, RANK, s.ITEM_ID, SCORE, SOURCE]
PROPENSITY_COLUMNS = [s.USER_ID, s.CATEGORY, PROPENSITY, SOURCE]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchScores:
    """The two outputs of batch scoring, long format, sorted by user."""

    recommendations: pd.DataFrame  # RECOMMENDATION_COLUMNS, rank 1 = most likely next
    propensity: pd.DataFrame  # PROPENSITY_COLUMNS, one row per user and category
    n_model_users: int
    n_fallback_users: int


def score_users(
    model: Scorer,
    events: pd.DataFrame,
    items: pd.DataFrame,
    k: int,
    batch_size: int = 512,
    recent_days: int = 7,
    mode: str = "auto",
) -> BatchScores:
    """Score every user of `events` with `model` (recent popularity for users it cannot score)."""
    histories = build_histories(events)  # user -> item ids, time order
    known = set(model.item_ids)
    usable = histories.map(lambda h: [item for item in h if item in known])
    has_known = usable.map(len) > 0
    model_users, fallback_users = list(usable.index[has_known]), list(usable.index[~has_known])
    categories = sorted(set(items[s.CATEGORY].dropna().astype(str)))

    onehot = _onehot(item_categories(items, model.item_ids), categories)  # (I, C)
    item_ids = np.asarray(model.item_ids, dtype=object)
    recommendation_parts, propensity_parts = [], []
    lists = list(usable[has_known])
    chunks = range(0, len(lists), batch_size)
    for start in progress(chunks, desc="score: users", unit="batch", mode=mode):
        users = model_users[start : start + batch_size]
        probabilities = next_item_probabilities(model.score(lists[start : start + batch_size]))  # (B, I)
        best = top_k(probabilities, k)  # (B, k)
        chosen = np.take_along_axis(probabilities, best, axis=1)  # (B, k)
        recommendation_parts.append(_long_recommendations(users, item_ids[best], chosen, MODEL))
        propensity_parts.append(_long_propensity(users, categories, probabilities @ onehot, MODEL))  # (B, C)

    if fallback_users:
        log.info("%d users have no item the model knows: they get recent popularity", len(fallback_users))
        popular = recent_popularity(events, recent_days)  # (all items,) most popular first
        top = popular.head(k)
        n = len(fallback_users)
        recommendation_parts.append(
            _long_recommendations(
                fallback_users,
                np.tile(top.index.to_numpy(dtype=object), (n, 1)),
                np.tile(top.to_numpy(), (n, 1)),
                FALLBACK,
            )
        )
        mass = popular.to_numpy() @ _onehot(item_categories(items, list(popular.index)), categories)  # (C,)
        propensity_parts.append(_long_propensity(fallback_users, categories, np.tile(mass, (n, 1)), FALLBACK))

    recommendations = _concat(recommendation_parts, RECOMMENDATION_COLUMNS)
    propensity = _concat(propensity_parts, PROPENSITY_COLUMNS)
    return BatchScores(recommendations, propensity, len(model_users), len(fallback_users))


def _onehot(item_cats: np.ndarray, categories: list[str]) -> np.ndarray:
    """(I,) item categories -> (I, C) 1 where item i belongs to category c."""
    return (item_cats[:, None] == np.array(categories, dtype=object)[None, :]).astype(np.float64)


def _long_recommendations(users: list[str], items: np.ndarray, scores: np.ndarray, source: str) -> pd.DataFrame:
    """(U, k) item ids and scores -> one row per user and rank."""
    n_users, k = items.shape
    return pd.DataFrame(
        {
            s.USER_ID: np.repeat(np.asarray(users, dtype=object), k),
            RANK: np.tile(np.arange(1, k + 1), n_users),
            s.ITEM_ID: items.reshape(-1),
            SCORE: scores.reshape(-1).astype(np.float64),
            SOURCE: source,
        }
    )


def _long_propensity(users: list[str], categories: list[str], mass: np.ndarray, source: str) -> pd.DataFrame:
    """(U, C) category mass -> one row per user and category."""
    return pd.DataFrame(
        {
            s.USER_ID: np.repeat(np.asarray(users, dtype=object), len(categories)),
            s.CATEGORY: np.tile(np.asarray(categories, dtype=object), len(users)),
            PROPENSITY: mass.reshape(-1).astype(np.float64),
            SOURCE: source,
        }
    )


def _concat(parts: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    if not parts:
        return pd.DataFrame({column: [] for column in columns})
    frame = pd.concat(parts, ignore_index=True)
    return frame.sort_values([s.USER_ID, columns[1]], kind="stable", ignore_index=True)[columns]
