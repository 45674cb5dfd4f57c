"""The champion's expected purchases per item, as of a day: a feature for the demand model.

Every user active in the `window_days` before the day is scored on their history up to that day;
the softmax of the next-item scores is the probability that the user's next item is each
catalogue item, and summing it over users gives the number of next interactions the model
expects per item: where the shop's current visitors are heading. Users' histories stop before
the day, so the feature never sees the forecast period. The model's weights were fitted on
events up to its own cut (`trained_on_events_before` in its meta.json); a backtest origin before
that cut would be scored by a model that has seen the days being forecast, so
`require_trained_before` refuses such a backtest and says how many origins would be clean.

Why the model and not the batch scores (`data/scores/`, stage `score`): those are as of the end
of the data, so at a backtest origin they would see the days being forecast, and they keep only
each user's top K items, while this sums every item's probability. The scoring itself is the
batch scores' (`shopseq.sequences.scoring`): same history reading, same softmax.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from shopseq import schema as s
from shopseq.sequences.scoring import Scorer, model_histories, probability_batches

log = logging.getLogger(__name__)

WINDOW_DAYS = 28  # users seen in this many days before the as-of day are the ones scored
TRAINED_BEFORE = "trained_on_events_before"  # the meta.json key the train stage writes


def require_trained_before(meta: Mapping, origins: Sequence[pd.Timestamp], model_name: str) -> None:
    """Refuse a backtest with an origin the propensity model was trained past.

    Args:
        meta: the model's meta.json; origins: the backtest's origin days (the first forecast day
            of each, oldest first, UTC); model_name: how messages name the model ("candidate").

    Raises:
        ValueError: the meta does not say which events the model read, or an origin comes before
            its cut; the message names the cut, the origins and what to change.
    """
    if meta.get(TRAINED_BEFORE) is None:
        raise ValueError(
            f"forecast.propensity: the {model_name}'s meta.json does not say which events it was trained on "
            f"(no {TRAINED_BEFORE!r}: it predates that record), so the backtest cannot show it saw nothing after "
            "each origin; retrain it (`shopseq run train`) or set forecast.propensity: false"
        )
    cut = _utc(meta[TRAINED_BEFORE])
    early = [day for day in origins if _utc(day) < cut]
    if early:
        clean = len(origins) - len(early)
        fix = (f"set forecast.backtest_origins to {clean} or fewer" if clean
               else "no origin of this backtest comes after it: set forecast.propensity: false")
        raise ValueError(
            f"forecast.propensity: the {model_name} was trained on events before {cut.isoformat()}, later than "
            f"backtest origin(s) {', '.join(_utc(day).date().isoformat() for day in early)}: its scores there "
            f"would know the demand being forecast; {fix}, or turn forecast.propensity off"
        )


def _utc(value) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


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
    cut = _utc(as_of)
    past = events[ts < cut]
    recent = set(past.loc[ts[ts < cut] >= cut - pd.Timedelta(days=window_days), s.USER_ID])
    histories = model_histories(recommender, past[past[s.USER_ID].isin(recent)])
    mass = np.zeros(len(recommender.item_ids))  # (I,)
    for _, probabilities in probability_batches(recommender, list(histories), batch_size):  # (B, I)
        mass += probabilities.sum(axis=0)  # (I,)
    lookup = dict(zip(recommender.item_ids, mass))
    return np.array([lookup.get(str(i), 0.0) for i in item_ids])  # (N,)

