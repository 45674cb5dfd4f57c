"""Churn labels built by hand, the calibration maths, and the temporal evaluation on a small synthetic shop."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shopseq import schema as s
from shopseq.config import Profiles, Synthetic
from shopseq.profiles.build import behaviour_features
from shopseq.profiles.churn import (
    churn_labels,
    churn_risk,
    evaluate_churn,
    reliability,
    score_metrics,
)
from shopseq.profiles.features import end_of_data

CUT = pd.Timestamp("2026-06-15", tz="UTC")


def _events(rows: list[tuple[str, str]]) -> pd.DataFrame:
    """Rows of (user, timestamp) views of one item."""
    return pd.DataFrame(
        {
            s.USER_ID: [u for u, _ in rows],
            s.ITEM_ID: "i1",
            s.EVENT_TYPE: s.VIEW,
            s.TS: [pd.Timestamp(t, tz="UTC") for _, t in rows],
        }
    )


def test_churn_label_is_no_event_in_the_next_n_days_among_users_seen_before_the_cut() -> None:
    events = _events(
        [
            ("stays", "2026-06-01"), ("stays", "2026-06-20"),  # back within 7 days: 0
            ("leaves", "2026-06-14 23:59"),  # never back: 1
            ("late", "2026-06-10"), ("late", "2026-06-22"),  # back exactly at cut + 7 days: outside, 1
            ("edge", "2026-06-12"), ("edge", "2026-06-15"),  # back exactly at the cut: inside, 0
            ("newcomer", "2026-06-16"),  # first seen after the cut: no label
            ("filler", "2026-06-25"),
        ]
    )

    labels = churn_labels(events, CUT, 7)

    assert labels.to_dict() == {"edge": 0, "late": 1, "leaves": 1, "stays": 0}


def test_churn_labels_refuse_a_window_the_data_does_not_cover() -> None:
    events = _events([("a", "2026-06-01"), ("a", "2026-06-18")])
    with pytest.raises(ValueError, match="need events until"):
        churn_labels(events, CUT, 14)
    with pytest.raises(ValueError, match=">= 1 day"):
        churn_labels(events, CUT, 0)


def test_reliability_bins_hold_mean_prediction_and_observed_rate() -> None:
    probabilities = np.array([0.05, 0.15, 0.12, 0.95])
    outcomes = np.array([0, 1, 0, 1])

    bins = reliability(probabilities, outcomes, bins=10)

    assert bins == [
        {"low": 0.0, "high": 0.1, "n": 1, "predicted": 0.05, "observed": 0.0},
        {"low": 0.1, "high": 0.2, "n": 2, "predicted": 0.135, "observed": 0.5},
        {"low": 0.9, "high": 1.0, "n": 1, "predicted": 0.95, "observed": 1.0},
    ]


def test_score_metrics_auc_and_brier_by_hand() -> None:
    metrics = score_metrics(np.array([0.2, 0.4, 0.6, 0.9]), np.array([0, 1, 0, 1]))
    # pairs (pos, neg): (0.4, 0.2) yes, (0.4, 0.6) no, (0.9, 0.2) yes, (0.9, 0.6) yes -> 3/4
    assert metrics["auc"] == pytest.approx(0.75)
    assert metrics["brier"] == pytest.approx((0.04 + 0.36 + 0.36 + 0.01) / 4, abs=1e-4)


@pytest.fixture(scope="module")
def small_shop():
    from shopseq.data.synthetic import generate_shop

    shop = generate_shop(Synthetic(n_users=400, n_items=80, n_categories=4, days=60, churn_rate=0.4), seed=3)
    return s.conform(shop.events, s.EVENTS), s.conform(shop.items, s.ITEMS), shop.users_truth


def test_churn_model_is_trained_before_and_tested_after_and_beats_a_coin(small_shop) -> None:
    events, items, _ = small_shop
    end = end_of_data(events)
    seen_cuts = []

    def build(as_of):
        seen_cuts.append(as_of)
        return behaviour_features(events, items, as_of, Profiles())[0]

    metrics, model = evaluate_churn(events, build, end, 14)

    assert seen_cuts == [end - pd.Timedelta(days=28), end - pd.Timedelta(days=14)]
    assert metrics["train_cut"] < metrics["test_cut"]
    assert metrics["model"]["auc"] > 0.6 and metrics["recency_rule"]["auc"] > 0.6
    assert 0 <= metrics["model"]["brier"] <= 0.25
    assert sum(b["n"] for b in metrics["model"]["reliability"]) == metrics["n_test"]
    assert "days_since_last_event" in model.columns
    assert not any(c.startswith("category_share__") for c in model.columns)


def test_churn_risk_is_a_probability_per_user_and_is_skipped_on_too_short_data(small_shop) -> None:
    events, items, _ = small_shop
    risk, metrics = churn_risk(events, items, end_of_data(events), Profiles(churn_days=14))
    assert risk is not None and risk.between(0, 1).all()
    assert set(risk.index) == set(events[s.USER_ID].unique())
    assert metrics["model"]["auc"] is not None

    short = events[events[s.TS] >= events[s.TS].max() - pd.Timedelta(days=20)]
    risk, metrics = churn_risk(short, items, end_of_data(short), Profiles(churn_days=14))
    assert risk is None and "at least 42 days" in metrics["skipped"]


def test_churn_model_ignores_features_that_are_never_known() -> None:
    from shopseq.profiles.churn import fit_churn_model

    rng = np.random.default_rng(0)
    features = pd.DataFrame({"days_since_last_event": rng.uniform(0, 30, 200), "price_paid_ratio": np.nan},
                            index=pd.Index([f"u{i}" for i in range(200)], name=s.USER_ID))
    labels = (features["days_since_last_event"] > 15).astype("int64").rename("churned")

    model = fit_churn_model(features, labels)

    assert model.columns == ["days_since_last_event"]
    assert model.predict(features).between(0, 1).all()
