"""Churn risk: will a user do nothing at all in the next N days?

The label is built point in time: as of a cut date, a user with history before the cut churns
when they have no event in [cut, cut + N days). A gradient-boosting model on the behaviour
features learns it on an earlier cut and is judged on a later one (a temporal split: the test
labels lie after every training label), against the rule a CRM team would use without a model:
days since the last event. Both are probabilities (the rule through a one-feature logistic fit
on the same training cut), so their calibration compares too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from shopseq import schema as s
from shopseq.config import Profiles
from shopseq.profiles.features import CATEGORY_SHARE_PREFIX, utc_timestamp

log = logging.getLogger(__name__)

DAY = pd.Timedelta(days=1)
RECENCY = "days_since_last_event"
RELIABILITY_BINS = 10
# Named features a user has at any cut; per-category shares and the top category change columns
# from one cut to the next, so they stay out of the churn model.
EXCLUDED_PREFIXES = (CATEGORY_SHARE_PREFIX, "top_category")

FeatureBuilder = Callable[[pd.Timestamp], pd.DataFrame]  # as_of -> features indexed by user id


@dataclass(frozen=True)
class ChurnModel:
    """A fitted churn classifier and the feature columns it expects, in order."""

    model: object
    columns: list[str]

    def predict(self, features: pd.DataFrame) -> pd.Series:
        """Churn probability per user (the index of `features`)."""
        matrix = features.reindex(columns=self.columns).to_numpy(dtype=np.float64)  # (U, F)
        return pd.Series(self.model.predict_proba(matrix)[:, 1], index=features.index, name="churn_risk")


def churn_labels(events: pd.DataFrame, cut: str | pd.Timestamp, days: int) -> pd.Series:
    """1 for users with an event before `cut` and none in [cut, cut + days), else 0.

    Users whose first event is at or after `cut` are not labelled: as of the cut they do not exist.

    Raises:
        ValueError: `days` < 1, or the events end before cut + days (the label would be unknown).
    """
    cut = utc_timestamp(cut)
    check_label_window(None if events.empty else events[s.TS].max(), cut, days)
    return user_labels(events, cut, days)


def user_labels(events: pd.DataFrame, cut: pd.Timestamp, days: int) -> pd.Series:
    """`churn_labels` of the users in `events`, without checking that the data reaches cut + days.

    Each user's label reads only that user's events, so a bucket of whole users gets the labels
    the whole table gives them (the caller checks the table's end once, `check_label_window`).
    """
    before = events.loc[events[s.TS] < cut, s.USER_ID].unique()
    window = events[(events[s.TS] >= cut) & (events[s.TS] < cut + days * DAY)]
    came_back = set(window[s.USER_ID].unique())
    users = pd.Index(sorted(before), name=s.USER_ID)
    return pd.Series([0 if u in came_back else 1 for u in users], index=users, name="churned", dtype="int64")


def check_label_window(last_event: pd.Timestamp | None, cut: pd.Timestamp, days: int) -> None:
    """Raise ValueError unless `days` >= 1 and the data (last event `last_event`) reaches cut + days."""
    if days < 1:
        raise ValueError(f"churn label horizon must be >= 1 day, got {days}")
    if last_event is None or last_event < cut + (days - 1) * DAY:
        last = "none" if last_event is None else last_event.isoformat()
        raise ValueError(
            f"churn labels as of {cut.isoformat()} need events until {(cut + days * DAY).isoformat()}; "
            f"the last event is {last}"
        )


def churn_feature_columns(features: pd.DataFrame) -> list[str]:
    """The numeric feature columns the churn model uses (stable across cuts)."""
    return [
        c for c in features.columns
        if not c.startswith(EXCLUDED_PREFIXES) and pd.api.types.is_numeric_dtype(features[c])
    ]


def fit_churn_model(features: pd.DataFrame, labels: pd.Series, seed: int = 0) -> ChurnModel:
    """Gradient boosting (it takes NaN ratios as they are) on the users that have a label.

    Raises:
        ValueError: the labels hold a single class (nothing to learn from).
    """
    from sklearn.ensemble import HistGradientBoostingClassifier

    columns = churn_feature_columns(features)
    joined = features[columns].join(labels, how="inner")
    # A column with no value at all (no prices in the data: every price ratio is NaN) carries
    # nothing, and gradient boosting's binning fails on it.
    columns = [c for c in columns if joined[c].notna().any()]
    if joined["churned"].nunique() < 2:
        raise ValueError(f"churn labels hold one class only ({len(joined)} users): nothing to learn")
    # Small trees and few rounds: a cut holds a few thousand users, and deeper trees overfit
    # them into overconfident probabilities (worse Brier score than the recency rule).
    model = HistGradientBoostingClassifier(max_iter=100, learning_rate=0.05, max_leaf_nodes=7,
                                           min_samples_leaf=40, l2_regularization=1.0, random_state=seed)
    model.fit(joined[columns].to_numpy(dtype=np.float64), joined["churned"].to_numpy())
    return ChurnModel(model=model, columns=columns)


def fit_recency_rule(features: pd.DataFrame, labels: pd.Series) -> ChurnModel:
    """Days since the last event as a probability: a one-feature logistic fit on the same cut."""
    from sklearn.linear_model import LogisticRegression

    joined = features[[RECENCY]].join(labels, how="inner")
    model = LogisticRegression().fit(joined[[RECENCY]].to_numpy(dtype=np.float64), joined["churned"].to_numpy())
    return ChurnModel(model=model, columns=[RECENCY])


def reliability(probabilities: np.ndarray, outcomes: np.ndarray, bins: int = RELIABILITY_BINS) -> list[dict]:
    """Equal-width probability bins: how many users, mean predicted and observed churn rate in each.

    Empty bins are left out. A calibrated model has `predicted` close to `observed` in every bin.
    """
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(probabilities, edges[1:-1]), 0, bins - 1)  # (U,)
    rows = []
    for b in range(bins):
        inside = which == b
        if inside.any():
            rows.append({
                "low": round(float(edges[b]), 2),
                "high": round(float(edges[b + 1]), 2),
                "n": int(inside.sum()),
                "predicted": round(float(probabilities[inside].mean()), 4),
                "observed": round(float(outcomes[inside].mean()), 4),
            })
    return rows


def score_metrics(probabilities: np.ndarray, outcomes: np.ndarray) -> dict:
    """AUC, Brier score and reliability bins of churn probabilities against 0/1 outcomes."""
    from sklearn.metrics import brier_score_loss, roc_auc_score

    auc = float(roc_auc_score(outcomes, probabilities)) if len(np.unique(outcomes)) == 2 else None
    return {
        "auc": None if auc is None else round(auc, 4),
        "brier": round(float(brier_score_loss(outcomes, probabilities)), 4),
        "reliability": reliability(probabilities, outcomes),
    }


def churn_cuts(end: pd.Timestamp, days: int) -> tuple[pd.Timestamp, pd.Timestamp]:
    """(train cut, test cut): the test labels fill the last `days` days, the training labels the `days` before."""
    return end - 2 * days * DAY, end - days * DAY


def evaluate_churn(
    events: pd.DataFrame, build_features: FeatureBuilder, end: pd.Timestamp, days: int, seed: int = 0
) -> tuple[dict, ChurnModel]:
    """Train on the earlier cut, test on the later one; return the metrics and a model refitted on the later cut.

    The refitted model has seen the most recent complete labels, so it is the one that scores
    users as of `end` (whose labels are still in the future).

    Args:
        events: all events up to `end`.
        build_features: features of every user as of a cut (only events before it).
        end: the end of the data (exclusive).
        days: the label horizon N.

    Raises:
        ValueError: the data is too short for two cuts with history before the first.
    """
    return evaluate_churn_on(ChurnData.of_events(events, build_features, days), end, days, seed)


@dataclass(frozen=True)
class ChurnData:
    """What the churn model reads, without the events in memory (the bucketed build gives it so).

    Attributes:
        first_event: the earliest event's time (is there history before the first cut?).
        features: features of every user as of a cut.
        labels: `churn_labels` as of a cut.
    """

    first_event: pd.Timestamp
    features: FeatureBuilder
    labels: Callable[[pd.Timestamp], pd.Series]

    @classmethod
    def of_events(cls, events: pd.DataFrame, features: FeatureBuilder, days: int) -> ChurnData:
        """The churn inputs of a table held in memory: its first event, `features`, labels over `days` days."""
        return cls(events[s.TS].min(), features, lambda cut: churn_labels(events, cut, days))


def evaluate_churn_on(data: ChurnData, end: pd.Timestamp, days: int, seed: int = 0) -> tuple[dict, ChurnModel]:
    """`evaluate_churn` from `data`: the bucketed build (`profiles.scale`) reads it from its parts."""
    train_cut, test_cut = churn_cuts(end, days)
    check_churn_span(data.first_event, end, days)
    train_x, test_x = data.features(train_cut), data.features(test_cut)
    train_y, test_y = data.labels(train_cut), data.labels(test_cut)
    model, rule = fit_churn_model(train_x, train_y, seed), fit_recency_rule(train_x, train_y)
    test = test_x.join(test_y, how="inner")
    outcomes = test["churned"].to_numpy()
    metrics = {
        "horizon_days": days,
        "train_cut": train_cut.isoformat(),
        "test_cut": test_cut.isoformat(),
        "n_train": len(train_x.join(train_y, how="inner")),
        "n_test": len(test),
        "base_rate_train": round(float(train_y.mean()), 4),
        "base_rate_test": round(float(outcomes.mean()), 4),
        "model": score_metrics(model.predict(test).to_numpy(), outcomes),
        "recency_rule": score_metrics(rule.predict(test).to_numpy(), outcomes),
    }
    log.info(
        "churn: AUC %s (recency rule %s), Brier %s (rule %s) on %d users as of %s",
        metrics["model"]["auc"], metrics["recency_rule"]["auc"], metrics["model"]["brier"],
        metrics["recency_rule"]["brier"], len(test), test_cut.date(),
    )
    return metrics, fit_churn_model(test_x, test_y, seed)


def check_churn_span(first_event: pd.Timestamp, end: pd.Timestamp, days: int) -> None:
    """Raise ValueError when the data is too short for two cuts with history before the first."""
    train_cut, _ = churn_cuts(end, days)
    if first_event >= train_cut - days * DAY:
        span = (end - first_event) / DAY
        raise ValueError(
            f"churn evaluation needs at least {3 * days} days of events (history, a training and a test "
            f"window of {days} days each); the data spans {span:.1f} days"
        )


def churn_risk(
    events: pd.DataFrame, items: pd.DataFrame, end: pd.Timestamp, params: Profiles, seed: int = 0
) -> tuple[pd.Series | None, dict]:
    """Churn risk of every user as of `end`, and the temporal evaluation behind it.

    Returns:
        (churn probability per user id, or None when the data cannot support a model; the
        metrics, or {"skipped": why}).
    """
    from shopseq.profiles.build import behaviour_features

    def build(as_of: pd.Timestamp) -> pd.DataFrame:
        return behaviour_features(events, items, as_of, params)[0]

    return churn_risk_from(ChurnData.of_events(events, build, params.churn_days), end, params, seed)


def churn_risk_from(data: ChurnData, end: pd.Timestamp, params: Profiles, seed: int = 0) -> tuple[pd.Series | None, dict]:
    """`churn_risk` from `data` (features and labels as of a cut) rather than the events."""
    try:
        metrics, model = evaluate_churn_on(data, end, params.churn_days, seed)
    except ValueError as error:
        log.warning("churn risk skipped: %s", error)
        return None, {"horizon_days": params.churn_days, "skipped": str(error)}
    return model.predict(data.features(end)), metrics


def truth_auc(risk: pd.Series, truth: pd.DataFrame) -> tuple[float | None, int]:
    """AUC of churn risk against the synthetic generator's `churned` flag, and users compared."""
    from sklearn.metrics import roc_auc_score

    flags = truth.astype({s.USER_ID: "string"}).set_index(s.USER_ID)["churned"].astype(bool)
    joined = pd.concat([risk.rename("risk"), flags.rename("churned")], axis=1, join="inner").dropna()
    if joined["churned"].nunique() < 2:
        return None, len(joined)
    return float(roc_auc_score(joined["churned"], joined["risk"])), len(joined)
