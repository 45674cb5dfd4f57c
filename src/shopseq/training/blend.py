"""Choose the neighbourhood baseline and weight that a trained model is blended with, on validation.

Every candidate baseline (`train.blend`) is fitted on the training sequences only; the model's
and each baseline's scores for the validation targets are computed once, and every weight of
`WEIGHTS` is tried on them. The blend with the best validation NDCG@10 wins when it beats the
model alone; otherwise the model stays unblended. Test targets are never seen here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict

import numpy as np
import pandas as pd

from shopseq.config import BLENDABLE
from shopseq.sequences.baselines import BaselineSettings, fit_baselines, vocabulary_of
from shopseq.sequences.recommender import Blend, Recommender, mix_scores
from shopseq.sequences.split import HISTORY, TARGET
from shopseq.training.evaluate import row_profiles, users_per_chunk
from shopseq.training.metrics import ranking_metrics, target_ranks

log = logging.getLogger(__name__)

WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)  # the neighbourhood's share
OBJECTIVE = "ndcg@10"


def fit_blend(
    recommender: Recommender,
    sequences: list[list[str]],
    valid: pd.DataFrame,
    kinds: Sequence[str],
    settings: BaselineSettings,
) -> tuple[Blend | None, dict[str, dict[str, float]]]:
    """The best blend for `recommender` on `valid` targets, or None when blending does not help.

    Args:
        recommender: the trained model (its own blend, if any, is ignored).
        sequences: the training sequences (item ids in time order) the baselines are fitted on.
        valid: validation targets (history, target).
        kinds: the baselines to try, any of `BLENDABLE`.
        settings: the baselines' knobs (params.yaml `evaluate`).

    Returns:
        The chosen blend (None: the model alone was best) and, per kind, validation NDCG@10 by weight.
    """
    if unknown := [k for k in kinds if k not in BLENDABLE]:
        raise ValueError(f"train.blend: unknown baseline(s) {unknown}; choose from {', '.join(BLENDABLE)}")
    if not kinds or valid.empty:
        return None, {}
    columns = {item: i for i, item in enumerate(recommender.item_ids)}
    baselines = fit_baselines(list(kinds), sequences, vocabulary_of(sequences, recommender.item_ids), settings)
    ranks: dict[str, list[list[np.ndarray]]] = {kind: [[] for _ in WEIGHTS] for kind in kinds}
    rows_per_chunk = users_per_chunk(len(recommender.item_ids))  # dense (rows x catalogue) scores below
    for start in range(0, len(valid), rows_per_chunk):
        rows = valid.iloc[start : start + rows_per_chunk]
        histories = rows[HISTORY].tolist()
        targets = np.array([columns.get(t, -1) for t in rows[TARGET]])
        profiles = row_profiles(recommender, rows)  # (chunk, P) for a model with the profile input
        model_scores = recommender.model_scores(histories, profiles=profiles)  # (chunk, n_items)
        for kind, baseline in baselines.items():
            neighbour_scores = baseline.score(histories)  # (chunk, n_items)
            for w, weight in enumerate(WEIGHTS):
                ranks[kind][w].append(target_ranks(mix_scores(model_scores, neighbour_scores, weight), targets))
    curves = {
        kind: {str(weight): ranking_metrics(np.concatenate(parts), [10])[OBJECTIVE] for weight, parts in zip(WEIGHTS, by_weight)}
        for kind, by_weight in ranks.items()
    }
    alone = curves[kinds[0]][str(WEIGHTS[0])]
    kind, weight, value = max(
        ((k, float(w), v) for k, curve in curves.items() for w, v in curve.items() if float(w) > 0),
        key=lambda choice: choice[2],
    )
    log.info("blend: model alone %s %.4f; best %s at weight %.2f: %.4f", OBJECTIVE, alone, kind, weight, value)
    if value <= alone:
        return None, curves
    return Blend(kind, weight, [list(map(str, s)) for s in sequences], asdict(settings)), curves
