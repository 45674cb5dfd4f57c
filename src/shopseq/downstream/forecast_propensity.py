"""The champion's expected purchases per item, as of a day: a feature for the demand model.

Every user active in the `window_days` before the day is scored on their history up to that day;
the softmax of the next-item scores is the probability that the user's next item is each
catalogue item, and summing it over users gives the number of next interactions the model
expects per item: where the shop's current visitors are heading. Users' histories stop before
the day, so the feature never sees the forecast period; the model's weights, though, were
trained on data up to its own training cut, which may be later than an early backtest origin.

Why the model and not the batch scores (`data/scores/`, stage `score`): those are as of the end
of the data, so at a backtest origin they would see the days being forecast, and they keep only
each user's top K items, while this sums every item's probability. The scoring itself is the
batch scores' (`shopseq.sequences.scoring`): same history reading, same softmax.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from shopseq import schema as s
from shopseq.sequences.scoring import Scorer, model_histories, probability_batches

log = logging.getLogger(__name__)

WINDOW_DAYS = 28  # users seen in this many days before the as-of day are the ones scored


def expected_purchases(
    recommender: Scorer,
    events: pd.DataFrame,
    item_ids: Sequence[str],
    as_of: pd.Timestamp,
    window_days: int = WINDOW_DAYS,
    batch_size: int = 512,
) -> np.ndarray:
    """Sum over recently active users of P(next item = i), for each of `item_ids`: (N,).

    Items the model does not know get 0.
    """
    ts = pd.to_datetime(events[s.TS], utc=True)
    cut = pd.Timestamp(as_of).tz_localize("UTC") if pd.Timestamp(as_of).tzinfo is None else pd.Timestamp(as_of)
    past = events[ts < cut]
    recent = set(past.loc[ts[ts < cut] >= cut - pd.Timedelta(days=window_days), s.USER_ID])
    histories = model_histories(recommender, past[past[s.USER_ID].isin(recent)])
    mass = np.zeros(len(recommender.item_ids))  # (I,)
    for _, probabilities in probability_batches(recommender, list(histories), batch_size):  # (B, I)
        mass += probabilities.sum(axis=0)  # (I,)
    lookup = dict(zip(recommender.item_ids, mass))
    return np.array([lookup.get(str(i), 0.0) for i in item_ids])  # (N,)

