"""Chunked catalogue scoring: the same top-K (ties included), probabilities, mass and ranks as whole rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.special import logsumexp

from shopseq.sequences.models import ModelConfig, NextItemModel
from shopseq.sequences.recommender import Blend, Recommender
from shopseq.sequences.split import HISTORY, TARGET
from shopseq.sequences.streaming import dense_chunks, summarise, top_k_columns
from shopseq.serving.recommend import top_k
from shopseq.training.evaluate import evaluate_recommender
from shopseq.training.metrics import ranking_metrics, target_ranks


@pytest.mark.parametrize("chunk", [1, 3, 64, 999, 1000, 5000])
def test_chunked_top_k_equals_whole_row_top_k_with_ties(chunk):
    rng = np.random.default_rng(0)
    scores = rng.integers(-3, 3, size=(40, 1000)).astype(np.float32)  # every row full of ties
    scores[:, 7] = -np.inf
    scores[5] = -np.inf  # a row with nothing recommendable
    scores[6] = 0.0  # a row of one value: the lowest columns win
    expected = top_k(scores, 25)  # stable sort of whole rows
    assert np.array_equal(top_k_columns(scores, 25, chunk), expected)
    assert top_k_columns(scores, 25, chunk)[6].tolist() == list(range(25))


def test_running_normaliser_mass_and_target_ranks_match_whole_rows():
    rng = np.random.default_rng(1)
    scores = (rng.normal(size=(6, 3000)) * 4).astype(np.float32)
    groups = np.eye(5)[rng.integers(0, 5, 3000)]  # (I, G) one-hot categories
    targets = np.array([0, 17, -1, 2999, 1500, 3])
    summary = summarise(dense_chunks(scores, 128), 6, 11, groups, targets)
    whole = logsumexp(scores.astype(np.float64), axis=1)
    probabilities = np.exp(scores - whole[:, None])
    np.testing.assert_allclose(summary.log_normaliser, whole, rtol=1e-12)
    np.testing.assert_allclose(summary.mass, probabilities @ groups, rtol=1e-9)
    np.testing.assert_allclose(summary.top_probabilities(), np.take_along_axis(probabilities, summary.top_columns, 1))
    exact = target_ranks(scores, targets)
    assert np.array_equal(summary.target_ranks(3000), np.where(exact < 10, exact, np.where(targets < 0, 3000, 10)))


def recommender(n_items: int, blend: bool) -> Recommender:
    torch.manual_seed(0)
    config = ModelConfig(family="gru", n_items=n_items, hidden=8, text_dim=3, repeat=True, dropout=0.0, max_len=6)
    model = NextItemModel(config, torch.randn(n_items + 1, 3))
    with torch.no_grad():
        model.repeat_by_distance.copy_(torch.linspace(2.0, 0.5, 6))
    item_ids = [f"i{j}" for j in range(n_items)]
    mix = None
    if blend:
        rng = np.random.default_rng(2)
        sequences = [[item_ids[j] for j in rng.integers(0, n_items, 6)] for _ in range(200)]
        mix = Blend("markov", 0.4, sequences)
    return Recommender(model, item_ids, blend=mix)


@pytest.mark.parametrize("blend", [False, True])
def test_a_catalogue_larger_than_one_chunk_scores_slice_by_slice_like_whole_rows(blend):
    model = recommender(2000, blend)
    rng = np.random.default_rng(3)
    histories = [[f"i{j}" for j in rng.integers(0, 2000, n)] for n in (1, 3, 6, 2, 5)]
    slices = list(model.score_chunks(histories, chunk=300))
    assert len(slices) == 7 and all(scores.shape == (5, min(300, 2000 - start)) for start, scores in slices)
    whole = model.score(histories)  # (5, 2000)
    np.testing.assert_allclose(np.concatenate([s for _, s in slices], axis=1), whole, rtol=1e-5, atol=1e-6)
    summary = summarise(model.score_chunks(histories, chunk=300), 5, 20)
    assert np.array_equal(summary.top_columns, top_k(whole, 20))


def test_evaluation_in_slices_gives_the_whole_row_metrics():
    model = recommender(500, blend=False)
    rng = np.random.default_rng(4)
    rows = pd.DataFrame({HISTORY: [[f"i{j}" for j in rng.integers(0, 500, 4)] for _ in range(300)],
                         TARGET: [f"i{j}" for j in rng.integers(0, 500, 300)]})
    rows.loc[0, TARGET] = "unknown"
    whole = model.score(rows[HISTORY].tolist())
    columns = np.array([int(t[1:]) if t != "unknown" else -1 for t in rows[TARGET]])
    expected = ranking_metrics(target_ranks(whole, columns), [10, 20])
    got = evaluate_recommender(model, rows, [10, 20])
    assert {k: got[k] for k in expected} == pytest.approx(expected)
