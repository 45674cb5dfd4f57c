"""Precision, lift, heuristics and lift curves of the audiences' offline check, on hand-built cases."""

from __future__ import annotations

import pandas as pd
import pytest

from shopseq import schema as s
from shopseq.downstream.audience_evaluation import (
    compare_audience,
    heuristic_scores,
    lift,
    lift_curve,
    precision,
    rank_users,
    summarise,
)

DAY0 = pd.Timestamp("2026-06-01", tz="UTC")


def test_precision_and_lift_by_hand() -> None:
    assert precision(["a", "b", "c", "d"], {"a", "c", "x"}) == 0.5
    assert precision([], {"a"}) == 0.0
    assert lift(0.5, 0.2) == pytest.approx(2.5)
    assert lift(0.5, 0.0) is None


def test_ranking_breaks_ties_by_user_id() -> None:
    assert rank_users(pd.Series({"u3": 0.5, "u1": 0.9, "u2": 0.5})) == ["u1", "u2", "u3"]


def test_compare_audience_against_heuristics_and_random() -> None:
    pool = ["a", "b", "c", "d", "e"]
    hits = {"a", "b", "e"}
    row = compare_audience(["a", "b", "c", "d", "e"], {"recent_viewers": ["c", "a", "b"]}, hits, pool, k=2)
    # model top 2 {a, b}: 2/2; heuristic top 2 {c, a}: 1/2; random: 3 hits in a pool of 5
    assert row["k"] == 2 and row["pool"] == 5 and row["hits_in_pool"] == 3
    assert row["precision"] == pytest.approx({"model": 1.0, "recent_viewers": 0.5, "random": 0.6})


def test_summary_takes_the_better_heuristic() -> None:
    rows = [
        {"precision": {"model": 0.6, "recent_viewers": 0.5, "recent_buyers": 0.3, "random": 0.1}},
        {"precision": {"model": 0.8, "recent_viewers": 0.3, "recent_buyers": 0.4, "random": 0.3}},
    ]
    summary = summarise(rows)
    # means: model .7, viewers .4, buyers .35, random .2
    assert summary["best_heuristic"] == "recent_viewers"
    assert summary["lift_over_heuristic"] == pytest.approx(0.7 / 0.4, abs=1e-4)
    assert summary["lift_over_random"] == pytest.approx(3.5)


def test_lift_curve_points_by_hand() -> None:
    ranked = [f"u{i}" for i in range(10)]
    hits = {"u0", "u1", "u5"}
    curve = lift_curve(ranked, hits, base_rate=0.3, shares=(0.2, 0.5, 1.0))
    assert curve == [
        {"k": 2, "share": 0.2, "precision": 1.0, "lift_over_random": pytest.approx(1 / 0.3, abs=1e-4)},
        {"k": 5, "share": 0.5, "precision": 0.4, "lift_over_random": pytest.approx(0.4 / 0.3, abs=1e-4)},
        {"k": 10, "share": 1.0, "precision": 0.3, "lift_over_random": pytest.approx(1.0)},
    ]


def test_heuristics_rank_by_recent_count_then_all_time_and_see_nothing_after_the_cut() -> None:
    rows = [
        ("old_fan", "i1", 1, s.VIEW), ("old_fan", "i1", 2, s.VIEW), ("old_fan", "i1", 3, s.PURCHASE),
        ("recent", "i1", 18, s.VIEW),
        ("recent_buyer", "i1", 19, s.PURCHASE),
        ("other", "i9", 19, s.VIEW),
        ("future", "i1", 25, s.PURCHASE),  # after the cut: must not count
    ]
    events = pd.DataFrame({
        s.USER_ID: [r[0] for r in rows], s.ITEM_ID: [r[1] for r in rows],
        s.TS: [DAY0 + pd.Timedelta(days=r[2]) for r in rows], s.EVENT_TYPE: [r[3] for r in rows],
    })
    pool = ["future", "old_fan", "other", "recent", "recent_buyer"]
    scores = heuristic_scores(events, {"i1"}, pool, DAY0 + pd.Timedelta(days=20), recent_days=7)
    assert rank_users(scores["recent_viewers"])[:3] == ["recent", "recent_buyer", "old_fan"]
    assert rank_users(scores["recent_buyers"])[:2] == ["recent_buyer", "old_fan"]
    assert scores["recent_buyers"]["future"] == 0.0
