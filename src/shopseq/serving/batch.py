"""Batch scoring: top-K next items and per-category propensities for every known user.

A known user is one with at least one validated event. Users whose history holds an item the
model knows are scored by the model: item scores are the softmax probabilities of being the next
item, and a category's propensity is the probability mass on its items. Users the model knows no
item of get recent popularity (`shopseq.serving.fallback`) for both, marked `source =
recent_popularity`.

This module is the `score` stage's work only. How a history is read and scores become
probabilities is shared with the audiences' and the forecast's point-in-time scoring and lives
below both, in `shopseq.sequences.scoring`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from shopseq import schema as s
from shopseq.sequences.scoring import (
    RANK,
    SCORE,
    Scorer,
    category_onehot,
    item_categories,
    model_histories,
    summary_batches,
)
from shopseq.serving.fallback import recent_popularity
from shopseq.serving.recommend import FALLBACK, MODEL

SOURCE, PROPENSITY = "source", "propensity"
MANIFEST = "manifest.json"  # what the scores were computed from: model, users, last event
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
    usable = model_histories(model, events)  # user -> readable item ids, time order
    everyone = pd.Index(sorted(events[s.USER_ID].unique()))
    model_users, fallback_users = list(usable.index), list(everyone.difference(usable.index, sort=False))
    categories = sorted(set(items[s.CATEGORY].dropna().astype(str)))

    onehot = category_onehot(item_categories(items, model.item_ids), categories)  # (I, C)
    item_ids = np.asarray(model.item_ids, dtype=object)
    recommendation_parts, propensity_parts = [], []
    for start, summary in summary_batches(model, list(usable), batch_size, k, onehot, "score: users", mode):
        users = model_users[start : start + len(summary.mass)]
        best = summary.top_columns  # (B, k)
        recommendation_parts.append(_long_recommendations(users, item_ids[best], summary.top_probabilities(), MODEL))
        propensity_parts.append(_long_propensity(users, categories, summary.mass, MODEL))  # (B, C)

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
        mass = popular.to_numpy() @ category_onehot(item_categories(items, list(popular.index)), categories)  # (C,)
        propensity_parts.append(_long_propensity(fallback_users, categories, np.tile(mass, (n, 1)), FALLBACK))

    recommendations = _concat(recommendation_parts, RECOMMENDATION_COLUMNS)
    propensity = _concat(propensity_parts, PROPENSITY_COLUMNS)
    return BatchScores(recommendations, propensity, len(model_users), len(fallback_users))


def scores_manifest(scored_by: str, events: pd.DataFrame, n_users: int) -> dict:
    """What a set of batch scores was computed from, written next to them (`MANIFEST`)."""
    return {"scored_by": scored_by, "last_event": events[s.TS].max().isoformat(), "n_users": int(n_users)}


def stale_scores(manifest: dict, scored_by: str, events: pd.DataFrame) -> str | None:
    """Why batch scores described by `manifest` do not fit `events` scored by `scored_by` (None when they do).

    Readers that take the scores as "the model's view as of the end of these events" (the
    audiences) call this, so a scores table left over from an earlier model or earlier data is
    an error rather than a silent mix.
    """
    expected = scores_manifest(scored_by, events, events[s.USER_ID].nunique())
    wrong = [f"{key} {manifest.get(key)!r} (expected {value!r})" for key, value in expected.items()
             if manifest.get(key) != value]
    return "; ".join(wrong) or None


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
