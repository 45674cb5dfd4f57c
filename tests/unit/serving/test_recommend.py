"""One history -> top-K: model probabilities when it knows an item, recent popularity otherwise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shopseq.sequences.scoring import next_item_probabilities
from shopseq.serving.recommend import FALLBACK, MODEL, recommend, top_k

FALLBACK_RANKING = pd.Series([0.5, 0.3, 0.2], index=["p", "q", "r"])


class LastItemScorer:
    """A hand-checkable next-item scorer: item j scores (j + last item's index) mod 4."""

    item_ids = ["a", "b", "c", "d"]

    def __init__(self) -> None:
        self.seen: list[list[str]] = []

    def score(self, histories: list[list[str]]) -> np.ndarray:
        self.seen.extend(histories)
        last = [self.item_ids.index(h[-1]) for h in histories]
        return np.array([[(j + i) % 4 for j in range(4)] for i in last], dtype=np.float32)


def test_probabilities_are_a_softmax_over_the_catalogue():
    probabilities = next_item_probabilities(np.array([[0.0, np.log(3.0)], [1000.0, 1000.0]]))
    np.testing.assert_allclose(probabilities, [[0.25, 0.75], [0.5, 0.5]])


def test_top_k_breaks_ties_by_the_lower_index_and_stops_at_the_catalogue():
    assert top_k(np.array([[0.2, 0.5, 0.2, 0.1]]), 3).tolist() == [[1, 0, 2]]
    assert top_k(np.array([[0.6, 0.4]]), 10).tolist() == [[0, 1]]


def test_a_known_history_is_ranked_by_the_model_with_probabilities():
    answer = recommend(LastItemScorer(), ["a", "b"], k=2, fallback=FALLBACK_RANKING)
    # last item b (index 1): scores [1, 2, 3, 0] -> c then b
    assert (answer.source, answer.fallback_reason, answer.item_ids) == (MODEL, None, ["c", "b"])
    weights = np.exp([1.0, 2.0, 3.0, 0.0])
    assert answer.scores == pytest.approx([weights[2] / weights.sum(), weights[1] / weights.sum()])


def test_unknown_items_are_ignored_and_reported_once():
    scorer = LastItemScorer()
    answer = recommend(scorer, ["x", "a", "x", "y"], k=1, fallback=FALLBACK_RANKING)
    assert scorer.seen == [["a"]]
    assert answer.source == MODEL and answer.unknown_items == ["x", "y"]


@pytest.mark.parametrize(
    "history, reason",
    [([], "empty history"), (["x", "y"], "no item of the sequence is known to the model")],
)
def test_nothing_known_gets_the_fallback_with_the_reason(history, reason):
    answer = recommend(LastItemScorer(), history, k=2, fallback=FALLBACK_RANKING)
    assert (answer.source, answer.fallback_reason) == (FALLBACK, reason)
    assert answer.item_ids == ["p", "q"] and answer.scores == [0.5, 0.3]


def test_a_reason_given_by_the_caller_forces_the_fallback():
    scorer = LastItemScorer()
    answer = recommend(scorer, [], k=5, fallback=FALLBACK_RANKING, fallback_reason="unknown user")
    assert (answer.source, answer.fallback_reason, answer.item_ids) == (FALLBACK, "unknown user", ["p", "q", "r"])
    assert scorer.seen == []


def test_a_request_by_user_id_is_scored_with_that_users_profile():
    import torch

    from shopseq.profiles.inputs import UserProfiles
    from shopseq.sequences.models import ModelConfig, NextItemModel
    from shopseq.sequences.recommender import Recommender

    torch.manual_seed(0)
    model = NextItemModel(ModelConfig(family="gru", n_items=4, hidden=8, max_len=5, profile_dim=2))
    torch.nn.init.normal_(model.profile_projection.weight, std=3.0)
    profiles = UserProfiles(["u1", "u2"], np.array([[2.0, -2.0], [-2.0, 2.0]], np.float32), ["x", "y"])
    scorer = Recommender(model, ["a", "b", "c", "d"], profiles=profiles)
    first, second = (recommend(scorer, ["a", "b"], 4, FALLBACK_RANKING, user_id=u) for u in ("u1", "u2"))
    anonymous = recommend(scorer, ["a", "b"], 4, FALLBACK_RANKING)
    newcomer = recommend(scorer, ["a", "b"], 4, FALLBACK_RANKING, user_id="not-in-the-table")
    assert first.source == second.source == MODEL
    assert first.scores != second.scores  # same items, different users
    assert newcomer.scores == pytest.approx(anonymous.scores)  # no profile: the zero (average) profile
