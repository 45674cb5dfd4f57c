"""Full-ranking metrics against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from shopseq.training.metrics import coverage, ranking_metrics, target_ranks


def test_ranks_count_every_item_scored_at_least_as_high():
    scores = np.array([[0.9, 0.5, 0.1], [0.2, 0.2, 0.7], [0.1, 0.2, 0.3]])
    # row 0: target item 0 is best -> rank 0; row 1: item 1 ties with item 0 and trails item 2 -> 2
    # (ties count against the target); row 2: item 0 is last -> 2
    assert target_ranks(scores, np.array([0, 1, 0])).tolist() == [0, 2, 2]


def test_unknown_targets_and_unscorable_items_rank_last():
    scores = np.array([[0.3, -np.inf, 0.1], [0.3, 0.2, 0.1]])
    assert target_ranks(scores, np.array([1, -1])).tolist() == [3, 3]


def test_metrics_by_hand():
    ranks = np.array([0, 1, 4, 30])
    m = ranking_metrics(ranks, [2, 10])
    assert m["hr@2"] == pytest.approx(2 / 4)
    assert m["hr@10"] == pytest.approx(3 / 4)
    assert m["recall@10"] == m["hr@10"]
    assert m["ndcg@2"] == pytest.approx((1 + 1 / math.log2(3)) / 4)
    assert m["ndcg@10"] == pytest.approx((1 + 1 / math.log2(3) + 1 / math.log2(6)) / 4)
    assert m["mrr@10"] == pytest.approx((1 + 1 / 2 + 1 / 5) / 4)
    assert m["mrr@2"] == pytest.approx((1 + 1 / 2) / 4)


def test_empty_targets_are_an_error():
    with pytest.raises(ValueError, match="no evaluation targets"):
        ranking_metrics(np.array([]), [10])


def test_coverage_is_the_share_of_items_ever_recommended():
    assert coverage(np.array([[0, 1], [1, 2]]), 10) == pytest.approx(0.3)
