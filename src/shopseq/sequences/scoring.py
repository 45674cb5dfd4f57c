"""Scoring users' histories with a next-item model, the same way everywhere it happens.

The batch scores (`shopseq.serving.batch`, stage `score`), the online service
(`shopseq.serving.recommend`), the audiences' point-in-time propensity and the forecast's expected
purchases (`shopseq.downstream`) all read a user's history, ask a model for next-item scores and
turn them into probabilities. The pieces they share live here, below both serving and downstream,
so that none of them borrows from another and a history reads the same for all:

- `Scorer`: what any of them needs from a model (`shopseq.sequences.recommender.Recommender` and
  every baseline have it);
- `build_histories`: each user's item ids in time order, consecutive repeats collapsed by the same
  rule the training sequences use (`shopseq.sequences.split.collapse_steps`);
- `readable_history` / `model_histories`: a history as the model reads it (the items it knows);
- `summary_batches`: top-K, softmax normaliser and group mass, a chunk of users at a time, the
  catalogue scanned in slices (`shopseq.sequences.streaming`: memory users x slice);
- `next_item_probabilities`, `probability_batches`, `target_mass`: softmax over the catalogue (every
  item's probability, for the few consumers that need them all) and the probability mass on groups
  of items (categories, targets);
- `item_categories`, `category_onehot`: the model's items mapped to catalogue categories.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from typing import Protocol

import numpy as np
import pandas as pd

from shopseq import schema as s
from shopseq.progress import progress
from shopseq.sequences.split import collapse_steps
from shopseq.sequences.streaming import CHUNK_CELLS, CatalogueSummary, chunk_size, item_chunks, summarise

SCORE, RANK = "score", "rank"  # columns of every ranked output: batch recommendations, audiences
UNKNOWN_CATEGORY = "unknown"  # an item the catalogue gives no category


class Scorer(Protocol):
    """What scoring needs from a next-item model (see `shopseq.sequences.recommender`)."""

    item_ids: list[str]

    def score(self, histories: list[list[str]]) -> np.ndarray:
        """Next-item scores of shape (n_histories, n_items); higher = more likely next."""
        ...


def build_histories(events: pd.DataFrame) -> pd.Series:
    """Each user's item ids in time order with consecutive duplicates removed.

    Returns:
        A Series indexed by user id (sorted) whose values are lists of item ids.
    """
    steps = collapse_steps(events)  # the training sequences' rule for a user's repeats
    return steps.groupby(s.USER_ID, sort=True)[s.ITEM_ID].agg(list)


def known_items(model: Scorer) -> Collection[str]:
    """The item ids `model` knows, for membership tests: its own index when it keeps one.

    Building a set of the catalogue per request would cost a pass over millions of ids.
    """
    index = getattr(model, "item_index", None)
    return index if index is not None else set(model.item_ids)


def readable_history(history: Sequence[str], known: Collection[str]) -> list[str]:
    """The history as the model reads it: the items it knows, consecutive repeats collapsed.

    Training sequences never hold the same item twice in a row (`shopseq.sequences.split`), and
    dropping an unknown item between two equal ones would create such a pair. One definition for
    the online service, the batch scores and every point-in-time scoring.
    """
    usable = [item for item in history if item in known]
    return [item for i, item in enumerate(usable) if i == 0 or item != usable[i - 1]]


def model_histories(model: Scorer, events: pd.DataFrame) -> pd.Series:
    """Each user's history in `events` as the model reads it (`readable_history`), oldest first.

    Returns:
        A Series indexed by user id (sorted) of item-id lists; users with no item the model knows
        are left out (the model has nothing to go on for them).
    """
    known = known_items(model)
    readable = build_histories(events).map(lambda history: readable_history(history, known))
    return readable[readable.map(len) > 0]


def next_item_probabilities(scores: np.ndarray) -> np.ndarray:
    """Softmax over the catalogue: (U, I) scores -> (U, I) probabilities, rows sum to 1."""
    scores = np.asarray(scores, dtype=np.float64)
    shifted = scores - scores.max(axis=1, keepdims=True)  # (U, I) stable softmax
    weights = np.exp(shifted)  # (U, I)
    return weights / weights.sum(axis=1, keepdims=True)  # (U, I)


def probability_batches(
    model: Scorer, histories: Sequence[list[str]], batch_size: int, desc: str | None = None, mode: str = "auto",
) -> Iterator[tuple[int, np.ndarray]]:
    """Next-item probabilities of `histories`, `batch_size` at a time: yields (first index, (B, I)).

    For consumers that need every item's probability; the batch shrinks for large catalogues so
    that (B x catalogue) stays bounded. With `desc`, the batches show as a progress bar (or log
    lines under Airflow).
    """
    batch_size = max(1, min(batch_size, 4 * CHUNK_CELLS // max(len(model.item_ids), 1)))
    chunks = range(0, len(histories), batch_size)
    for start in progress(chunks, desc=desc, unit="batch", mode=mode) if desc else chunks:
        yield start, next_item_probabilities(model.score(list(histories[start : start + batch_size])))  # (B, I)


def summary_batches(
    model: Scorer, histories: Sequence[list[str]], batch_size: int, k: int, groups: np.ndarray | None = None,
    desc: str | None = None, mode: str = "auto",
) -> Iterator[tuple[int, CatalogueSummary]]:
    """Top-`k` items, softmax normaliser and group mass of `histories`, `batch_size` at a time.

    The catalogue is scanned in slices (`shopseq.sequences.streaming`), so memory is bounded by
    (batch x slice) whatever the catalogue size. Yields (first index, summary of the batch).
    """
    chunks = range(0, len(histories), batch_size)
    for start in progress(chunks, desc=desc, unit="batch", mode=mode) if desc else chunks:
        batch = list(histories[start : start + batch_size])
        scores = item_chunks(model, batch, chunk_size(len(batch)))
        yield start, summarise(scores, len(batch), min(k, len(model.item_ids)), groups)


def target_mass(
    model: Scorer, histories: Sequence[list[str]], onehot: np.ndarray, batch_size: int = 512,
    desc: str | None = None, mode: str = "auto",
) -> np.ndarray:
    """Probability that each history's next item is in each target: (U,) histories, (I, T) -> (U, T).

    `onehot[i, t]` is 1 where the model's item i belongs to target t.
    """
    parts = [summary.mass for _, summary in summary_batches(model, histories, batch_size, 1, onehot, desc, mode)]
    return np.concatenate(parts) if parts else np.zeros((0, onehot.shape[1]))  # (U, T)


def item_categories(items: pd.DataFrame, item_ids: Sequence[str]) -> np.ndarray:
    """The category of each of the model's items, `UNKNOWN_CATEGORY` where the catalogue lacks it."""
    lookup = items.drop_duplicates(s.ITEM_ID).set_index(s.ITEM_ID)[s.CATEGORY]
    found = lookup.reindex(list(item_ids))
    return found.astype("object").where(found.notna(), UNKNOWN_CATEGORY).to_numpy()  # (I,)


def category_onehot(item_cats: np.ndarray, categories: Sequence[str]) -> np.ndarray:
    """(I,) item categories -> (I, C) 1 where item i belongs to category c."""
    return (item_cats[:, None] == np.array(list(categories), dtype=object)[None, :]).astype(np.float64)
