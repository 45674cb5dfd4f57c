"""Top-K next items for one history: the model when it knows an item of it, else recent popularity.

No web framework here: the HTTP service and the tests call `recommend` with a loaded model, the
users' histories and the fallback ranking.

A model trained with the user profile input (`train.use_profile`) carries its profile table, built
as of its training cut: a request by user id is scored with that user's row of it (zeros for users
new since then), an ad-hoc sequence with the zero profile, the average user. Batch scoring,
audiences and forecasts score histories alone, so with the zero profile too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from shopseq.sequences.scoring import Scorer, known_items, next_item_probabilities, readable_history
from shopseq.sequences.streaming import chunk_size, item_chunks, summarise

MODEL, FALLBACK = "model", "recent_popularity"  # where a recommendation list came from


@dataclass(frozen=True)
class Recommendations:
    """One answer: ranked item ids with scores, where they came from, and why a fallback was used."""

    item_ids: list[str]
    scores: list[float]
    source: str  # MODEL or FALLBACK
    fallback_reason: str | None = None
    unknown_items: list[str] = field(default_factory=list)  # history items the model does not know


def top_k(probabilities: np.ndarray, k: int) -> np.ndarray:
    """(U, I) -> (U, min(k, I)) column indices, most probable first; ties go to the lower index.

    Sorts whole rows: fine for a few rows; over a catalogue use `streaming.summarise` (same order).
    """
    k = min(k, probabilities.shape[1])
    return np.argsort(-probabilities, axis=1, kind="stable")[:, :k]  # (U, k)


def recommend(
    model: Scorer,
    history: Sequence[str],
    k: int,
    fallback: pd.Series,
    fallback_reason: str | None = None,
    user_id: str | None = None,
) -> Recommendations:
    """Top-`k` next items after `history` (item ids, oldest first), of `user_id` when given.

    Items the model does not know are ignored and reported. With `fallback_reason` set, or when no
    item of the history is known to the model, the answer is the top of `fallback` (item id ->
    recent-popularity share, most popular first) with that reason.
    """
    known = known_items(model)
    usable = readable_history(history, known)
    unknown = list(dict.fromkeys(item for item in history if item not in known))
    if fallback_reason is None and not usable:
        fallback_reason = "no item of the sequence is known to the model" if history else "empty history"
    if fallback_reason is not None:
        top = fallback.head(k)
        return Recommendations(
            item_ids=[str(i) for i in top.index],
            scores=[float(v) for v in top.to_numpy()],
            source=FALLBACK,
            fallback_reason=fallback_reason,
            unknown_items=unknown,
        )
    profile = user_profile(model, user_id)  # (1, P) or None
    if (index := getattr(model, "candidate_index", None)) is not None:
        # A very large catalogue: the index's candidates, scored exactly (`serving.index`).
        from shopseq.serving.index import approximate_top_k

        columns, probabilities = approximate_top_k(model, index, [usable], k, profile)
    else:
        # The catalogue in slices with a running top-K: memory and sort cost stay small for any catalogue.
        scores = item_chunks(model, [usable], chunk_size(1), profile)
        summary = summarise(scores, 1, min(k, len(model.item_ids)))
        columns, probabilities = summary.top_columns, summary.top_probabilities()
    return Recommendations(
        item_ids=[model.item_ids[i] for i in columns[0]],
        scores=[float(p) for p in probabilities[0]],
        source=MODEL,
        unknown_items=unknown,
    )


def user_profile(model: Scorer, user_id: str | None) -> np.ndarray | None:
    """(1, P) the profile `model` keeps for `user_id` when it takes a profile input; else None."""
    lookup = getattr(model, "profile_vectors", None)
    return None if user_id is None or lookup is None else lookup([user_id])
