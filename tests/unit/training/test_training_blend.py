"""Blending a trained model with a neighbourhood baseline: the mix, the choice on validation, save/load."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from shopseq.sequences.baselines import BaselineSettings
from shopseq.sequences.models import ModelConfig, NextItemModel
from shopseq.sequences.recommender import Blend, Recommender, load_recommender, mix_scores, save_recommender
from shopseq.training.blend import fit_blend

ITEMS = [f"i{k}" for k in range(8)]
# Every shopper walks i0 -> i1 -> ... -> i7: a first-order Markov model knows the next item exactly.
SEQUENCES = [ITEMS[start:] for start in range(6)] * 5


def untrained_model() -> Recommender:
    torch.manual_seed(0)
    config = ModelConfig(family="gru", n_items=len(ITEMS), hidden=8, dropout=0.0, max_len=8)
    return Recommender(NextItemModel(config), ITEMS)


def test_mix_scores_by_hand():
    model = np.log(np.array([[0.5, 0.25, 0.25], [0.2, 0.3, 0.5]]))
    neighbours = np.array([[3.0, 1.0, -0.5], [-0.9, -0.2, -0.1]])  # the second row has no evidence
    mixed = mix_scores(model, neighbours, weight=0.4)
    assert np.allclose(mixed[0], 0.6 * np.array([0.5, 0.25, 0.25]) + 0.4 * np.array([0.75, 0.25, 0.0]))
    assert np.allclose(mixed[1], [0.2, 0.3, 0.5])  # no evidence: the model alone
    assert np.allclose(mix_scores(model, neighbours, 0.0).sum(axis=1), 1.0)


def test_fit_blend_picks_the_baseline_that_knows_the_data():
    valid = pd.DataFrame({"history": [ITEMS[:k] for k in range(1, 7)], "target": ITEMS[1:7]})
    blend, curves = fit_blend(untrained_model(), SEQUENCES, valid, ["markov", "session_knn"], BaselineSettings())
    assert blend is not None and blend.kind in ("markov", "session_knn")
    assert curves[blend.kind][str(blend.weight)] == 1.0  # every next item first
    assert curves["markov"]["0.0"] < 1.0  # the untrained model alone does not know them
    top = Recommender(untrained_model().model, ITEMS, blend=blend).score([["i2", "i3"]]).argmax(axis=1)
    assert ITEMS[int(top[0])] == "i4"


def test_fit_blend_keeps_a_model_that_needs_no_help():
    # Targets the baselines never saw follow the histories: only the model (here, made to know) is right.
    class Knows(Recommender):
        def model_scores(self, histories, batch_size=512, profiles=None):
            scores = np.zeros((len(histories), len(ITEMS)), dtype=np.float32)
            scores[:, ITEMS.index("i0")] = 20.0
            return scores

    valid = pd.DataFrame({"history": [["i3"], ["i5"]], "target": ["i0", "i0"]})
    blend, curves = fit_blend(Knows(untrained_model().model, ITEMS), SEQUENCES, valid, ["markov"], BaselineSettings())
    assert blend is None and curves["markov"]["0.0"] == 1.0


def test_a_blended_model_saves_and_loads_with_its_blend(tmp_path):
    blend = Blend("session_knn", 0.3, SEQUENCES, {"knn_sessions": 5})
    recommender = Recommender(untrained_model().model, ITEMS, blend=blend)
    save_recommender(recommender, tmp_path / "model")
    loaded = load_recommender(tmp_path / "model")
    assert (loaded.blend.kind, loaded.blend.weight, loaded.blend.settings) == ("session_knn", 0.3, {"knn_sessions": 5})
    histories = [["i1", "i2"], ["i6"], []]
    assert np.allclose(recommender.score(histories), loaded.score(histories))
    assert not np.allclose(loaded.score(histories), loaded.model_scores(histories))
    # Consumers take a softmax of the scores: it gives the blended probabilities exactly.
    probabilities = np.exp(loaded.score(histories))
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    neighbours = blend.scorer(ITEMS).score(histories)
    assert np.allclose(probabilities, mix_scores(loaded.model_scores(histories), neighbours, 0.3), atol=1e-6)
