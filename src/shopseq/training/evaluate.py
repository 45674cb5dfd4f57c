"""Score models and baselines on the same targets with full-ranking metrics."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd

from shopseq import schema as s
from shopseq.sequences.baselines import Baseline
from shopseq.sequences.recommender import Recommender
from shopseq.sequences.split import HISTORY, TARGET
from shopseq.sequences.streaming import CHUNK_CELLS, chunk_size, dense_chunks, item_chunks, summarise
from shopseq.training.metrics import coverage, ranking_metrics

CHUNK = 1024  # targets scored at once; the catalogue is scanned in slices (`streaming`), so memory is CHUNK x slice


def users_per_chunk(n_items: int) -> int:
    """Targets to score at once with a scorer that returns whole (targets x catalogue) rows: CHUNK, fewer for big catalogues."""
    return max(1, min(CHUNK, 4 * CHUNK_CELLS // max(n_items, 1)))


def sample_targets(targets: pd.DataFrame, max_targets: int, seed: int) -> pd.DataFrame:
    """At most `max_targets` rows, the same rows for every model given the same seed."""
    if len(targets) <= max_targets:
        return targets
    return targets.sample(n=max_targets, random_state=seed).sort_index()


def evaluate_chunks(
    score_chunks: Callable[[pd.DataFrame], Iterable[tuple[int, np.ndarray]]],
    item_ids: list[str],
    targets: pd.DataFrame,
    ks: list[int],
    rows_per_chunk: int = CHUNK,
) -> dict:
    """Metrics for `score_chunks(rows)`, which yields the rows' scores a catalogue slice at a time.

    One pass per chunk of rows keeps a running top-(max K + 1), so ranks are exact wherever a
    metric at K <= max(ks) can see them, and memory is bounded by rows x slice.
    """
    index = {item: i for i, item in enumerate(item_ids)}
    k = max(ks)
    ranks, tops = [], []
    for start in range(0, len(targets), rows_per_chunk):
        rows = targets.iloc[start : start + rows_per_chunk]
        columns = np.array([index.get(t, -1) for t in rows[TARGET]], dtype=np.int64)
        summary = summarise(score_chunks(rows), len(rows), k + 1, targets=columns)
        ranks.append(summary.target_ranks(len(item_ids)))
        tops.append(summary.top_columns[:, :k])
    if not ranks:
        raise ValueError("no evaluation targets: the evaluation period holds no known items")
    metrics = ranking_metrics(np.concatenate(ranks), ks)
    metrics[f"coverage@{k}"] = coverage(np.concatenate(tops), len(item_ids))
    metrics["n_targets"] = int(len(targets))
    return metrics


def evaluate_scorer(
    score: Callable[[pd.DataFrame], np.ndarray], item_ids: list[str], targets: pd.DataFrame, ks: list[int]
) -> dict:
    """Metrics for `score(rows) -> (len(rows), len(item_ids))`, applied to `targets` in chunks of rows."""
    def score_chunks(rows: pd.DataFrame) -> Iterable[tuple[int, np.ndarray]]:
        return dense_chunks(score(rows), chunk_size(len(rows)))

    return evaluate_chunks(score_chunks, item_ids, targets, ks, users_per_chunk(len(item_ids)))


def evaluate_recommender(recommender: Recommender, targets: pd.DataFrame, ks: list[int]) -> dict:
    """Full-ranking metrics of a trained model on `targets` (history, target; user_id for a profile model)."""
    def score_chunks(rows: pd.DataFrame) -> Iterable[tuple[int, np.ndarray]]:
        profiles = row_profiles(recommender, rows)  # (rows, P) for a model with the profile input
        return item_chunks(recommender, rows[HISTORY].tolist(), chunk_size(len(rows)), profiles)

    return evaluate_chunks(score_chunks, recommender.item_ids, targets, ks)


def evaluate_baseline(baseline: Baseline, targets: pd.DataFrame, ks: list[int]) -> dict:
    """Full-ranking metrics of a baseline on `targets` (history, target), like any model."""
    return evaluate_scorer(lambda rows: baseline.score(rows[HISTORY].tolist()), baseline.item_ids, targets, ks)


def row_profiles(recommender: Recommender, rows: pd.DataFrame) -> np.ndarray | None:
    """The profile of each row's user (`user_id` column) when the model takes one; else None."""
    if s.USER_ID not in rows or not hasattr(recommender, "profile_vectors"):
        return None
    return recommender.profile_vectors(rows[s.USER_ID].astype(str).tolist())


def evaluate_popularity(vocabulary: pd.DataFrame, targets: pd.DataFrame, ks: list[int]) -> dict:
    """The popularity baseline: every user gets the items most often seen in training."""
    counts = vocabulary["count"].to_numpy(dtype=np.float32)
    return evaluate_scorer(
        lambda rows: np.tile(counts, (len(rows), 1)), vocabulary[s.ITEM_ID].tolist(), targets, ks
    )
