"""The paired bootstrap of a metric difference, on cases small enough to check by hand."""

from __future__ import annotations

import numpy as np
import pytest

from shopseq.training.bootstrap import ndcg_per_target, paired_bootstrap
from shopseq.training.metrics import ranking_metrics


def test_identical_models_differ_by_exactly_zero():
    a = np.array([0.0, 0.5, 1.0, 0.3])
    result = paired_bootstrap(a, a.copy())
    assert (result.diff, result.ci95_low, result.ci95_high) == (0.0, 0.0, 0.0)
    assert not result.excludes_zero


def test_a_constant_gap_on_every_target_is_certain():
    b = np.array([0.1, 0.2, 0.0, 0.6])
    result = paired_bootstrap(b + 0.25, b)
    assert result.diff == pytest.approx(0.25)
    assert result.ci95_low == pytest.approx(0.25) and result.ci95_high == pytest.approx(0.25)
    assert result.excludes_zero


def test_two_targets_one_win_one_tie():
    """Differences (1, 0): a resample's mean is 0, 0.5 or 1 with chances 1/4, 1/2, 1/4, so the 95% interval is [0, 1]."""
    result = paired_bootstrap(np.array([1.0, 0.0]), np.array([0.0, 0.0]), resamples=4000, seed=3)
    assert result.diff == 0.5
    assert (result.ci95_low, result.ci95_high) == (0.0, 1.0)
    assert not result.excludes_zero  # one lucky target is no evidence


def test_the_interval_is_about_two_standard_errors_wide():
    rng = np.random.default_rng(0)
    differences = rng.choice([-1.0, 0.0, 1.0], size=2000, p=[0.2, 0.5, 0.3])
    result = paired_bootstrap(differences, np.zeros_like(differences), seed=1)
    se = differences.std() / np.sqrt(len(differences))
    assert result.diff == pytest.approx(differences.mean())
    assert result.ci95_low == pytest.approx(differences.mean() - 1.96 * se, abs=0.4 * se)
    assert result.ci95_high == pytest.approx(differences.mean() + 1.96 * se, abs=0.4 * se)
    assert result.excludes_zero  # mean 0.1, standard error ~0.016


def test_the_same_seed_gives_the_same_interval():
    a, b = np.array([0.2, 0.9, 0.1, 0.4, 0.0]), np.array([0.3, 0.1, 0.1, 0.5, 0.2])
    assert paired_bootstrap(a, b, seed=5) == paired_bootstrap(a, b, seed=5)


@pytest.mark.parametrize(("a", "b", "message"), [
    ([1.0, 0.0], [1.0], "same targets"),
    ([], [], "at least one target"),
])
def test_bad_input_is_a_clear_error(a, b, message):
    with pytest.raises(ValueError, match=message):
        paired_bootstrap(np.array(a), np.array(b))


def test_per_target_ndcg_averages_to_the_reported_metric():
    ranks = np.array([0, 1, 9, 10, 57])
    values = ndcg_per_target(ranks)
    assert values.tolist() == pytest.approx([1.0, 1 / np.log2(3), 1 / np.log2(11), 0.0, 0.0])
    assert values.mean() == pytest.approx(ranking_metrics(ranks, [10])["ndcg@10"])
