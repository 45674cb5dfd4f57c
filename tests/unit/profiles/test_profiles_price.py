"""Price sensitivity from carts and choices together, checked on simulated users with a known sensitivity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from shopseq import schema as s
from shopseq.profiles.price import (
    choice_evidence,
    conversion_slopes,
    sensitivity_scores,
)


def simulated(n_users: int = 300, n_views: int = 40, seed: int = 0) -> tuple[pd.Series, pd.DataFrame, pd.DataFrame]:
    """Users with sensitivity θ: carts with P = sigmoid(-2 - θ x), and free choices tilted by 0.7 (θ - 1).

    Returns:
        (θ per user, views (user_id, x, carted), choices (user_id, category, x)).
    """
    rng = np.random.default_rng(seed)
    theta = pd.Series(rng.uniform(0.0, 2.0, n_users), index=[f"u{i:03d}" for i in range(n_users)])
    views, choices = [], []
    catalogue = rng.normal(0.0, 0.45, 200)  # log relative prices of one category's items
    for user, t in theta.items():
        x = rng.normal(0.0, 0.45, n_views)
        carted = rng.random(n_views) < 1.0 / (1.0 + np.exp(2.0 + t * x))
        views.append(pd.DataFrame({s.USER_ID: user, "x": x, "carted": carted.astype(float)}))
        weights = np.exp(-0.7 * (t - 1.0) * catalogue)
        picked = rng.choice(catalogue, size=n_views // 2, p=weights / weights.sum())
        choices.append(pd.DataFrame({s.USER_ID: user, s.CATEGORY: "a", "x": picked}))
    return theta, pd.concat(views, ignore_index=True), pd.concat(choices, ignore_index=True)


def rank_correlation(estimate: pd.Series, truth: pd.Series) -> float:
    return float(spearmanr(estimate.reindex(truth.index), truth).statistic)


def test_choice_evidence_is_the_centred_sum_and_the_summed_category_variance():
    choices = pd.DataFrame({s.USER_ID: ["u", "u", "v", "w"], s.CATEGORY: ["a", "a", "a", "b"], "x": [0.0, -1.0, 1.0, 5.0]})
    evidence = choice_evidence(choices)
    # category a: mean 0, sample variance 1; b has one view, so no variance and no residual
    assert evidence.loc["u"].tolist() == pytest.approx([1.0, 2.0])
    assert evidence.loc["v"].tolist() == pytest.approx([-1.0, 1.0])
    assert evidence.loc["w"].tolist() == pytest.approx([0.0, 0.0])


def test_carts_and_choices_together_rank_users_better_than_carts_alone():
    theta, views, choices = simulated()
    combined = sensitivity_scores(views, choice_evidence(choices))
    carts_only = conversion_slopes(views)
    assert rank_correlation(combined, theta) > rank_correlation(carts_only, theta) + 0.05
    assert rank_correlation(combined, theta) > 0.65


def test_choices_alone_still_rank_users_when_nothing_was_carted():
    theta, views, choices = simulated(seed=1)
    score = sensitivity_scores(views.assign(carted=0.0), choice_evidence(choices))
    assert rank_correlation(score, theta) > 0.4
    assert abs(float(score.mean())) < 0.5  # centred on the population


def test_no_priced_evidence_gives_no_scores():
    empty_views = pd.DataFrame({s.USER_ID: [], "x": [], "carted": []})
    empty_choices = pd.DataFrame({s.USER_ID: [], s.CATEGORY: [], "x": []})
    assert sensitivity_scores(empty_views, choice_evidence(empty_choices)).empty
