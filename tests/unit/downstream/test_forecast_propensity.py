"""The champion's expected purchases per item: point in time, recent users only, unknown items at 0."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shopseq import schema as s
from shopseq.downstream.forecast_propensity import expected_purchases

DAY0 = pd.Timestamp("2026-06-01", tz="UTC")


class LastItemRecommender:
    """Test double for the trained next-item model: all its mass on the history's last item.

    Expected purchases then count, per item, the scored users whose last known item it is, which
    is easy to work out by hand.
    """

    def __init__(self, item_ids: list[str]) -> None:
        self.item_ids = list(item_ids)

    def score(self, histories: list[list[str]]) -> np.ndarray:
        scores = np.zeros((len(histories), len(self.item_ids)))
        for row, history in enumerate(histories):
            scores[row, self.item_ids.index(history[-1])] = 50.0  # softmax ~ one-hot
        return scores


def _events(rows: list[tuple[str, str, int]]) -> pd.DataFrame:
    users, items, days = zip(*rows)
    return pd.DataFrame(
        {
            s.USER_ID: users,
            s.ITEM_ID: items,
            s.EVENT_TYPE: ["view"] * len(rows),
            s.TS: [DAY0 + pd.Timedelta(days=d, hours=1) for d in days],
        }
    )


def test_counts_where_recent_users_head_as_of_the_day() -> None:
    events = _events([
        ("u1", "a", 0), ("u1", "b", 1),  # last item before day 5: b
        ("u2", "a", 2),                  # a
        ("u3", "b", 3), ("u3", "a", 6),  # b as of day 5: the day-6 view is in the future
        ("u4", "zzz", 4),                # an item the model does not know: nothing to score
    ])

    mass = expected_purchases(LastItemRecommender(["a", "b", "c"]), events, ["a", "b", "c", "zzz"], DAY0 + pd.Timedelta(days=5))

    np.testing.assert_allclose(mass, [1.0, 2.0, 0.0, 0.0], atol=1e-9)


def test_future_events_do_not_change_the_feature() -> None:
    past = [("u1", "a", 0), ("u2", "b", 1)]
    as_of = DAY0 + pd.Timedelta(days=2)
    model = LastItemRecommender(["a", "b"])

    before = expected_purchases(model, _events(past), ["a", "b"], as_of)
    after = expected_purchases(model, _events(past + [("u1", "b", 2), ("u3", "a", 9)]), ["a", "b"], as_of)

    np.testing.assert_array_equal(before, after)


@pytest.mark.parametrize(("window", "expected"), [(28, [1.0, 1.0]), (5, [0.0, 1.0])])
def test_only_users_active_in_the_window_are_scored(window: int, expected: list[float]) -> None:
    events = _events([("old", "a", 0), ("new", "b", 9)])

    mass = expected_purchases(LastItemRecommender(["a", "b"]), events, ["a", "b"], DAY0 + pd.Timedelta(days=10), window_days=window)

    np.testing.assert_allclose(mass, expected, atol=1e-9)
