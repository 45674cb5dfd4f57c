"""Metrics per segment of the test targets: new vs returning users, cold vs warm target items.

An overall NDCG can hide a model that only serves heavy users and popular items. Segments split
the same test targets the evaluate stage scores, so each segment's numbers are comparable across
candidate, champion and baselines.

- user `new`: the user has no sequence in the training split; `returning`: they have one.
- item `cold`: the target item occurs fewer than `COLD_MAX_COUNT` times in training (or never);
  `warm`: at least that often.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from shopseq import schema as s
from shopseq.sequences.split import TARGET

COLD_MAX_COUNT = 5  # a target item seen fewer times than this in training is "cold"
SEGMENTS = ("user:new", "user:returning", "item:cold", "item:warm")


def label_segments(
    targets: pd.DataFrame, train_users: pd.Series, vocabulary: pd.DataFrame, cold_max_count: int = COLD_MAX_COUNT
) -> pd.DataFrame:
    """One row per target with its `user` segment (new/returning) and `item` segment (cold/warm).

    Args:
        targets: test targets with the user id and `target` item id columns.
        train_users: user ids that have a training sequence.
        vocabulary: training item counts (`item_id`, `count`).
        cold_max_count: items seen fewer times than this in training are cold.
    """
    counts = dict(zip(vocabulary[s.ITEM_ID], vocabulary["count"]))
    known = set(train_users)
    returning = targets[s.USER_ID].isin(known)
    warm = targets[TARGET].map(lambda item: counts.get(item, 0) >= cold_max_count)
    return pd.DataFrame(
        {
            "user": returning.map({True: "returning", False: "new"}),
            "item": warm.map({True: "warm", False: "cold"}),
        },
        index=targets.index,
    )


def segment_metrics(
    evaluate: Callable[[pd.DataFrame], dict], targets: pd.DataFrame, labels: pd.DataFrame
) -> dict[str, dict | None]:
    """`evaluate(rows) -> metrics` on each segment's targets; None for an empty segment.

    Keys are `user:new`, `user:returning`, `item:cold`, `item:warm`.
    """
    out: dict[str, dict | None] = {}
    for key in SEGMENTS:
        axis, value = key.split(":")
        rows = targets[labels[axis] == value]
        out[key] = evaluate(rows) if len(rows) else None
    return out
