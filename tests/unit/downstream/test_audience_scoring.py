"""The audience score's inputs are point in time, its outcomes are counted by hand, and the blend learns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shopseq import schema as s
from shopseq.downstream.audience_scoring import (
    FEATURES,
    Window,
    engagement_scores,
    outcomes,
    pair_features,
    top_categories,
)

DAY0 = pd.Timestamp("2026-06-01", tz="UTC")
AS_OF = DAY0 + pd.Timedelta(days=14)
TARGETS = {"apparel": {"a1", "a2"}, "books": {"b1"}}
WINDOW = Window(half_life_days=7.0, recent_days=7, window_days=7)


def _events(rows) -> pd.DataFrame:
    return pd.DataFrame({
        s.USER_ID: [r[0] for r in rows], s.ITEM_ID: [r[1] for r in rows],
        s.TS: [DAY0 + pd.Timedelta(days=r[2]) for r in rows], s.EVENT_TYPE: [r[3] for r in rows],
    })


def _past() -> pd.DataFrame:
    return _events([
        ("u1", "a1", 0, s.VIEW), ("u1", "a1", 7, s.VIEW), ("u1", "a2", 13, s.PURCHASE),
        ("u2", "b1", 12, s.VIEW),
    ])


def test_pair_features_by_hand() -> None:
    frame = pair_features(_past(), TARGETS, AS_OF, WINDOW, propensity=None).set_index([s.USER_ID, "target"])

    u1 = frame.loc[("u1", "apparel")]
    assert u1["target_views"] == pytest.approx(0.25 + 0.5)  # 14 and 7 days old, half-life 7
    assert u1["target_purchases"] == pytest.approx(0.5 ** (1 / 7))
    assert u1["recent_target_views"] == 1 and u1["recent_target_purchases"] == 1  # day 7 is inside the window
    assert u1["days_since_last_event"] == pytest.approx(1.0)
    assert u1["target_share"] == pytest.approx(1.0)
    assert u1["active_days_per_week"] == pytest.approx(3 / 14 * 7)
    assert u1["target_active_days"] == 3 and u1["days_since_target"] == pytest.approx(1.0)
    assert frame.loc[("u1", "books"), "target_share"] == 0.0
    assert frame.loc[("u1", "books"), "days_since_target"] == 70.0  # never: ten half-lives ago
    assert frame.loc[("u2", "books"), "recent_active_days"] == 1
    assert list(frame.columns) == FEATURES


def test_events_at_or_after_as_of_change_no_feature() -> None:
    future = _events([("u1", "b1", 14, s.PURCHASE), ("u2", "a1", 15, s.VIEW), ("u9", "a1", 16, s.VIEW)])
    before = pair_features(_past(), TARGETS, AS_OF, WINDOW, propensity=None)
    after = pair_features(pd.concat([_past(), future], ignore_index=True), TARGETS, AS_OF, WINDOW, propensity=None)
    pd.testing.assert_frame_equal(before, after)


def test_outcomes_count_the_window_only() -> None:
    events = pd.concat([_past(), _events([
        ("u1", "b1", 14, s.VIEW), ("u2", "a1", 20.9, s.PURCHASE), ("u2", "b1", 21, s.VIEW),  # day 21: outside
    ])], ignore_index=True)
    assert outcomes(events, TARGETS, AS_OF, 7, "interaction") == {("u1", "books"), ("u2", "apparel")}
    assert outcomes(events, TARGETS, AS_OF, 7, "purchase") == {("u2", "apparel")}
    with pytest.raises(ValueError, match="interaction, purchase"):
        outcomes(events, TARGETS, AS_OF, 7, "click")


def test_top_categories_are_those_with_most_users() -> None:
    items = pd.DataFrame({s.ITEM_ID: ["a1", "a2", "b1"], s.CATEGORY: ["apparel", "apparel", "books"]})
    events = pd.concat([_past(), _events([("u3", "b1", 1, s.VIEW)])], ignore_index=True)
    assert top_categories(events, items, 1) == ["books"]  # u2, u3 against u1
    assert top_categories(events, items, 5) == ["books", "apparel"]


def test_the_blend_learns_who_comes_back() -> None:
    """Regular users of a category keep coming; one-off visitors do not: the blend must rank them first."""
    rng = np.random.default_rng(0)
    rows = []
    for u in range(60):
        regular = u % 2 == 0
        days = np.arange(0, 28, 2) if regular else rng.uniform(0, 28, 1)
        rows += [(f"u{u:02d}", "a1" if u % 4 < 2 else "b1", float(d) + rng.uniform(0, 0.5), s.VIEW) for d in days]
    events = _events(rows)
    as_of = DAY0 + pd.Timedelta(days=21)

    scores = engagement_scores(events, TARGETS, as_of, WINDOW)

    apparel = scores[scores["target"] == "apparel"].set_index(s.USER_ID)["score"]
    regulars = [f"u{u:02d}" for u in range(0, 60, 4)]
    assert set(apparel.nlargest(len(regulars)).index) == set(regulars)
    assert scores["score"].between(0, 1).all()


class CountRecommender:
    """A stand-in next-item model: an item's score is how often it occurs in the history."""

    def __init__(self) -> None:
        self.item_ids = ["a1", "a2", "b1"]
        self.scored: list[list[str]] = []

    def score(self, histories: list[list[str]]) -> np.ndarray:
        self.scored += histories
        return np.array([[float(h.count(i)) for i in self.item_ids] for h in histories])  # (B, I)


def _regulars_and_visitors() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    rows = []
    for u in range(40):
        days = np.arange(0, 28, 3) if u % 2 == 0 else rng.uniform(0, 28, 2)
        rows += [(f"u{u:02d}", ["a1", "a2", "b1"][(u + int(d)) % 3], float(d) + rng.uniform(0, 0.5), s.VIEW) for d in days]
    rows.append(("u_new", "zz", 27.5, s.VIEW))  # an item the model never saw: batch gives recent popularity
    return _events(rows)


def test_production_scores_from_the_batch_scores_equal_scoring_in_process() -> None:
    """The audiences may read the score stage's propensities instead of running the model: same numbers."""
    from shopseq.downstream.audiences import propensity_from_scores
    from shopseq.serving.batch import score_users

    events = _regulars_and_visitors()
    items = pd.DataFrame({s.ITEM_ID: ["a1", "a2", "b1", "zz"], s.CATEGORY: ["apparel", "apparel", "books", "books"]})
    as_of = events[s.TS].max().floor("D") + pd.Timedelta(days=1)  # the end of the data: every event counts
    batch = score_users(CountRecommender(), events, items, k=2, mode="logs")
    assert "recent_popularity" in set(batch.propensity["source"])  # u_new: must count as no opinion (0)

    whole = Window(half_life_days=7.0, recent_days=7, window_days=60)  # no earlier cut: no blend to fit (fast)
    in_process = engagement_scores(events, TARGETS, as_of, whole, CountRecommender())
    from_scores = engagement_scores(events, TARGETS, as_of, whole, CountRecommender(),
                                    propensity_now=propensity_from_scores(batch.propensity, {t: t for t in TARGETS}))

    pd.testing.assert_frame_equal(from_scores, in_process, check_exact=False, rtol=1e-9)
    assert in_process.loc[in_process[s.USER_ID] == "u_new", "propensity"].eq(0.0).all()


def test_given_propensity_feeds_only_the_as_of_features_never_the_training_cuts() -> None:
    """Scores computed from whole histories must not reach the cuts the blend learns from (they saw the outcomes)."""
    events = _regulars_and_visitors()
    as_of = DAY0 + pd.Timedelta(days=21)
    model = CountRecommender()
    users = sorted(events.loc[events[s.TS] < as_of, s.USER_ID].unique())
    tampered = pd.DataFrame({"apparel": 1.0, "books": 0.0}, index=pd.Index(users, dtype="string"))

    # Every event is a view, so no purchase outcome: the cut's features are built, no blend is fitted (fast).
    scores = engagement_scores(events, TARGETS, as_of, Window(7.0, 7, 7, outcome="purchase"), model,
                               propensity_now=tampered)

    assert scores.set_index([s.USER_ID, "target"])["propensity"].unstack()["apparel"].eq(1.0).all()
    # The model still scored histories point in time for the training cut (7 days before as_of):
    # no history it saw is longer than what any user had before that cut.
    assert model.scored, "the training cuts were not scored with the model"
    longest = max(len(h) for h in model.scored)
    before_first_cut = events[events[s.TS] < as_of - pd.Timedelta(days=7)].groupby(s.USER_ID).size().max()
    assert longest <= before_first_cut


def test_the_production_model_scores_only_the_as_of_features() -> None:
    """`recommender_now` (production: item vectors fused with every review) scores as of `as_of`; the cuts keep `recommender`."""
    events = _regulars_and_visitors()
    as_of = DAY0 + pd.Timedelta(days=21)
    trained, production = CountRecommender(), CountRecommender()

    engagement_scores(events, TARGETS, as_of, Window(7.0, 7, 7, outcome="purchase"), trained, recommender_now=production)

    # production scored each user once, as of `as_of`; the model as trained scored the training cut
    users_before = events.loc[events[s.TS] < as_of, s.USER_ID].nunique()
    assert len(production.scored) == users_before
    before_cut = events[events[s.TS] < as_of - pd.Timedelta(days=7)]
    assert trained.scored and max(len(h) for h in trained.scored) <= before_cut.groupby(s.USER_ID).size().max()
    assert len(trained.scored) <= before_cut[s.USER_ID].nunique()
