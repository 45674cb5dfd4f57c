"""The approximate candidate index: exact answers with exhaustive settings, recall measured, memory of float16 codes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from shopseq.config import Serve
from shopseq.sequences.models import ModelConfig, NextItemModel
from shopseq.sequences.recommender import Blend, Recommender
from shopseq.serving.index import (
    IndexSettings,
    approximate_top_k,
    build_index,
    exact_top_k,
    recall_against_exact,
    uses_index,
    with_index,
)
from shopseq.serving.recommend import MODEL, recommend

N_ITEMS = 600


def recommender(blend: bool) -> Recommender:
    """A GRU with text side information and a repeat head whose item vectors spread scores widely."""
    torch.manual_seed(0)
    config = ModelConfig(family="gru", n_items=N_ITEMS, hidden=8, text_dim=3, repeat=True, dropout=0.0, max_len=6)
    model = NextItemModel(config, torch.randn(N_ITEMS + 1, 3))
    with torch.no_grad():
        model.item_embedding.weight.normal_(std=1.0)
        model.repeat_by_distance.copy_(torch.linspace(3.0, 0.5, 6))
    item_ids = [f"i{j}" for j in range(N_ITEMS)]
    mix = None
    if blend:
        rng = np.random.default_rng(2)
        mix = Blend("markov", 0.4, [[item_ids[j] for j in rng.integers(0, N_ITEMS, 6)] for _ in range(300)])
    return Recommender(model, item_ids, blend=mix)


def histories(n: int, seed: int = 3) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    return [[f"i{j}" for j in rng.integers(0, N_ITEMS, int(rng.integers(1, 7)))] for _ in range(n)]


EXHAUSTIVE = IndexSettings(lists=8, probes=8, candidates=N_ITEMS, tail_sample=64)


@pytest.mark.parametrize("blend", [False, True])
def test_exhaustive_settings_give_the_exact_top_k_and_probabilities(blend):
    model = recommender(blend)
    index = build_index(model, EXHAUSTIVE)
    asked = histories(12)
    columns, probabilities = approximate_top_k(model, index, asked, 20)
    assert np.array_equal(columns, exact_top_k(model, asked, 20))
    exact = np.exp(model.score(asked).astype(np.float64))  # softmax of `score` = next-item probabilities
    exact /= exact.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(probabilities, np.take_along_axis(exact, columns, 1), rtol=1e-4)


def test_all_lists_probed_with_few_candidates_still_rank_exactly_and_estimate_the_normaliser():
    model = recommender(blend=False)
    index = build_index(model, IndexSettings(lists=8, probes=8, candidates=20, tail_sample=200))
    asked = histories(12)
    columns, probabilities = approximate_top_k(model, index, asked, 10)
    assert np.array_equal(columns, exact_top_k(model, asked, 10))  # the history items join the 20 nearest
    exact = np.exp(model.score(asked).astype(np.float64))
    exact /= exact.sum(axis=1, keepdims=True)
    # The mass outside the candidates comes from 200 sampled items: close, not equal.
    np.testing.assert_allclose(probabilities, np.take_along_axis(exact, columns, 1), rtol=0.25)


def test_recall_is_one_when_exhaustive_and_measurably_lower_with_one_list_of_many():
    model = recommender(blend=False)
    asked = histories(40)
    assert recall_against_exact(model, build_index(model, EXHAUSTIVE), asked, 10) == 1.0
    narrow = build_index(model, IndexSettings(lists=60, probes=1, candidates=10, tail_sample=64))
    recall = recall_against_exact(model, narrow, asked, 10)
    assert 0.0 < recall < 1.0


def test_the_service_answers_with_the_index_as_it_does_exactly():
    model = recommender(blend=True)
    fallback = pd.Series([1.0], index=["i0"])
    asked = histories(5, seed=7)
    exact = [recommend(model, h, 15, fallback) for h in asked]
    served = with_index(model, Serve(index="approximate", index_lists=8, index_probes=8, index_candidates=N_ITEMS))
    assert served.candidate_index is not None
    for history, expected in zip(asked, exact):
        answer = recommend(served, history, 15, fallback)
        assert answer.source == MODEL and answer.item_ids == expected.item_ids
        np.testing.assert_allclose(answer.scores, expected.scores, rtol=1e-4)


def test_auto_uses_the_index_from_the_size_threshold_on_and_exact_below():
    assert not uses_index(Serve(index="auto", index_above=1000), 999)
    assert uses_index(Serve(index="auto", index_above=1000), 1000)
    assert uses_index(Serve(index="approximate"), 10) and not uses_index(Serve(index="exact"), 10**7)
    assert with_index(recommender(blend=False), Serve(index="auto", index_above=10**6)).candidate_index is None


def test_the_index_keeps_float16_codes_about_half_the_float32_item_table():
    model = recommender(blend=False)
    index = build_index(model, IndexSettings(lists=8, probes=2, candidates=50))
    import faiss

    stored_mb = len(faiss.serialize_index(index._index)) / 2**20  # what FAISS actually holds
    assert index.memory_mb() == pytest.approx(stored_mb, rel=0.1)
    table_mb = N_ITEMS * model.model.config.hidden * 4 / 2**20  # the float32 item table
    assert stored_mb < 0.9 * table_mb  # codes at 2 bytes a number, plus 8-byte ids (hidden 8: 24 vs 32 bytes an item)
    assert index.search(np.zeros((2, 8), np.float32), 50).shape == (2, 50)
