"""Full-ranking next-item metrics: every catalogue item is a candidate, no sampled negatives."""

from __future__ import annotations

import numpy as np


def target_ranks(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """0-based rank of each target among all items, ties counted against the target.

    Args:
        scores: (n, n_items) model scores; -inf for items the model cannot recommend.
        targets: (n,) column index of the true next item, or -1 when the model does not know it
            (ranked last).
    """
    n, n_items = scores.shape
    known = targets >= 0
    target_scores = np.where(known, scores[np.arange(n), np.clip(targets, 0, None)], -np.inf)
    # Pessimistic ties: an item scoring the same as the target is ranked above it.
    ranks = (scores >= target_scores[:, None]).sum(axis=1) - 1
    return np.where(known & np.isfinite(target_scores), ranks, n_items)


def ranking_metrics(ranks: np.ndarray, ks: list[int]) -> dict[str, float]:
    """HR@K, NDCG@K, MRR@K and Recall@K (one target per row, so recall equals HR)."""
    ranks = np.asarray(ranks)
    if ranks.size == 0:
        raise ValueError("no evaluation targets: the test period is empty")
    out: dict[str, float] = {}
    for k in ks:
        hit = ranks < k
        out[f"hr@{k}"] = float(hit.mean())
        out[f"recall@{k}"] = float(hit.mean())
        out[f"ndcg@{k}"] = float(np.where(hit, 1.0 / np.log2(ranks + 2.0), 0.0).mean())
        out[f"mrr@{k}"] = float(np.where(hit, 1.0 / (ranks + 1.0), 0.0).mean())
    return out


def coverage(top_items: np.ndarray, n_items: int) -> float:
    """Share of the catalogue that appears in at least one top-K list."""
    return float(len(np.unique(top_items)) / n_items) if n_items else 0.0
