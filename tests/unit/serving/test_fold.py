"""Folding the text vectors into the item table changes no score."""

from __future__ import annotations

import numpy as np
import pytest

import torch  # noqa: E402  (a hard dependency: never skipped)

from shopseq.sequences.models import ModelConfig, NextItemModel  # noqa: E402
from shopseq.sequences.recommender import Recommender  # noqa: E402
from shopseq.serving.fold import fold_text_vectors  # noqa: E402

ITEMS = [f"i{i}" for i in range(9)]


@pytest.mark.parametrize("family", ["gru", "lstm", "transformer"])
def test_folded_models_score_exactly_like_the_original(family):
    torch.manual_seed(0)
    text = torch.randn(len(ITEMS) + 1, 6)
    text[0] = 0.0  # padding row
    model = NextItemModel(ModelConfig(family=family, n_items=len(ITEMS), hidden=8, max_len=5, text_dim=6), text_vectors=text)
    torch.nn.init.normal_(model.text_projection.weight)  # make the text branch matter
    original = Recommender(model, ITEMS)
    folded = fold_text_vectors(original)
    histories = [["i1"], ["i2", "i3", "i4"], ["i8", "i0", "i1", "i2", "i3", "i4", "i5"]]
    assert folded.model.config.text_dim == 0 and not hasattr(folded.model, "text_projection")
    np.testing.assert_allclose(folded.score(histories), original.score(histories), rtol=1e-5, atol=1e-6)


def test_a_model_without_text_is_returned_as_is():
    recommender = Recommender(NextItemModel(ModelConfig(family="gru", n_items=3, hidden=4)), ITEMS[:3])
    assert fold_text_vectors(recommender) is recommender


def test_folding_keeps_the_profile_input_and_its_table():
    from shopseq.profiles.inputs import UserProfiles

    torch.manual_seed(0)
    config = ModelConfig(family="gru", n_items=len(ITEMS), hidden=8, max_len=5, text_dim=6, profile_dim=2)
    model = NextItemModel(config, text_vectors=torch.randn(len(ITEMS) + 1, 6))
    torch.nn.init.normal_(model.profile_projection.weight)
    profiles = UserProfiles(["u1"], np.array([[1.5, -2.0]], np.float32), ["a", "b"])
    original = Recommender(model, ITEMS, profiles=profiles)
    folded = fold_text_vectors(original)
    vectors = folded.profile_vectors(["u1"])
    np.testing.assert_allclose(folded.score([["i1", "i2"]], profiles=vectors),
                               original.score([["i1", "i2"]], profiles=vectors), rtol=1e-5, atol=1e-6)
