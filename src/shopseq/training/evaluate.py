"""Score models and baselines on the same targets with full-ranking metrics."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from shopseq import schema as s
from shopseq.sequences.baselines import Baseline
from shopseq.sequences.recommender import Recommender
from shopseq.sequences.split import HISTORY, TARGET
from shopseq.training.metrics import coverage, ranking_metrics, target_ranks

CHUNK = 1024  # targets scored at once: bounds memory to CHUNK x catalogue size


def sample_targets(targets: pd.DataFrame, max_targets: int, seed: int) -> pd.DataFrame:
    """At most `max_targets` rows, the same rows for every model given the same seed."""
    if len(targets) <= max_targets:
        return targets
    return targets.sample(n=max_targets, random_state=seed).sort_index()


def evaluate_scorer(
    score: Callable[[pd.DataFrame], np.ndarray], item_ids: list[str], targets: pd.DataFrame, ks: list[int]
) -> dict:
    """Metrics for `score(rows) -> (len(rows), len(item_ids))`, applied to `targets` in chunks."""
    index = {item: i for i, item in enumerate(item_ids)}
    k = max(ks)
    ranks, tops = [], []
    for start in range(0, len(targets), CHUNK):
        rows = targets.iloc[start : start + CHUNK]
        scores = score(rows)  # (chunk, n_items)
        columns = np.array([index.get(t, -1) for t in rows[TARGET]])
        ranks.append(target_ranks(scores, columns))
        # A copy: a slice would keep the whole (chunk, n_items) index array alive until the end.
        tops.append(np.argpartition(-scores, kth=min(k, scores.shape[1] - 1), axis=1)[:, :k].copy())
    if not ranks:
        raise ValueError("no evaluation targets: the evaluation period holds no known items")
    metrics = ranking_metrics(np.concatenate(ranks), ks)
    metrics[f"coverage@{k}"] = coverage(np.concatenate(tops), len(item_ids))
    metrics["n_targets"] = int(len(targets))
    return metrics


def evaluate_recommender(recommender: Recommender, targets: pd.DataFrame, ks: list[int]) -> dict:
    """Full-ranking metrics of a trained model on `targets` (history, target; user_id for a profile model)."""
    def score(rows: pd.DataFrame) -> np.ndarray:
        profiles = row_profiles(recommender, rows)  # (rows, P) for a model with the profile input
        return recommender.score(rows[HISTORY].tolist(), profiles=profiles)

    return evaluate_scorer(score, recommender.item_ids, targets, ks)


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
