"""Audiences: histories, propensity maths, ranking, reasons, model choice and the offline check."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from shopseq import schema as s
from shopseq.config import Audiences
from shopseq.downstream.audiences import (
    Propensity,
    build_audiences,
    category_mass,
    check_audiences,
    choose_model,
    explain,
    recent_counts,
    score_propensity,
    select_audiences,
)
from shopseq.sequences.scoring import build_histories, item_categories
from shopseq.io import write_json

DAY0 = pd.Timestamp("2026-06-01", tz="UTC")


class RepeatRecommender:
    """Test double for the trained next-item model (built elsewhere, in shopseq.sequences).

    Implements the two members audiences rely on: `item_ids` and `score(histories)`. Its score
    for an item is how often the item occurs in the history, so a user's propensity follows
    what they interacted with, which makes the expected audiences easy to work out by hand.
    """

    def __init__(self, item_ids: list[str]) -> None:
        self.item_ids = list(item_ids)
        self.calls: list[int] = []

    def score(self, histories: list[list[str]]) -> np.ndarray:
        self.calls.append(len(histories))
        index = {item: i for i, item in enumerate(self.item_ids)}
        scores = np.zeros((len(histories), len(self.item_ids)))
        for row, history in enumerate(histories):
            for item in history:
                scores[row, index[item]] += 1.0  # raises KeyError on an item the model lacks
        return scores


def _items() -> pd.DataFrame:
    return pd.DataFrame(
        {
            s.ITEM_ID: ["a1", "a2", "b1", "b2"],
            s.CATEGORY: ["apparel", "apparel", "books", "books"],
        }
    )


def _events(rows: list[tuple[str, str, float, str]]) -> pd.DataFrame:
    """Rows of (user, item, day offset, event type)."""
    return pd.DataFrame(
        {
            s.USER_ID: [r[0] for r in rows],
            s.ITEM_ID: [r[1] for r in rows],
            s.TS: [DAY0 + pd.Timedelta(days=r[2]) for r in rows],
            s.EVENT_TYPE: [r[3] for r in rows],
        }
    )


def test_histories_are_in_time_order_without_consecutive_duplicates() -> None:
    events = _events(
        [
            ("u2", "b1", 3, "view"),
            ("u1", "a2", 2, "view"),
            ("u1", "a1", 0, "view"),
            ("u1", "a1", 1, "cart"),  # same item again right after: one step of the sequence
            ("u1", "a1", 3, "purchase"),  # after a2: a new step
        ]
    )

    histories = build_histories(events)

    assert list(histories.index) == ["u1", "u2"]
    assert histories["u1"] == ["a1", "a2", "a1"]
    assert histories["u2"] == ["b1"]


def test_category_mass_is_the_softmax_summed_per_category() -> None:
    scores = np.log(np.array([[1.0, 2.0, 3.0], [5.0, 5.0, 5.0]]))  # softmax: [1, 2, 3] / 6, uniform
    onehot = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # items 0, 1 -> category 0; item 2 -> 1

    mass = category_mass(scores, onehot)

    np.testing.assert_allclose(mass, [[0.5, 0.5], [2 / 3, 1 / 3]])


def test_category_mass_survives_huge_scores() -> None:
    mass = category_mass(np.array([[1000.0, 0.0]]), np.eye(2))

    np.testing.assert_allclose(mass, [[1.0, 0.0]])


def test_propensity_is_the_softmax_mass_per_category_of_each_users_history() -> None:
    events = _events(
        [("u1", "a1", 0, "view")] * 3
        + [("u1", "b1", 1, "view")]
        + [("u2", "a1", 0, "view"), ("u2", "b1", 1, "view"), ("u2", "b2", 2, "view")]
        + [("u3", "b2", 0, "view")] * 2
    )
    recommender = RepeatRecommender(["a1", "a2", "b1", "b2"])

    audiences = select_audiences(score_propensity(recommender, build_histories(events), _items(), mode="logs"), 2)

    apparel = audiences[audiences[s.CATEGORY] == "apparel"]
    books = audiences[audiences[s.CATEGORY] == "books"]
    # deduplicated histories: u1 a1 b1, u2 a1 b1 b2, u3 b2; softmax of item counts, summed:
    # apparel u1 (e+1)/(2e+2) = .50 > u2 (e+1)/(3e+1) = .41 > u3 2/(e+3) = .35
    # books   u3 (e+1)/(e+3) = .65 > u2 2e/(3e+1) = .59 > u1 .50
    assert list(apparel[s.USER_ID]) == ["u1", "u2"]
    assert list(books[s.USER_ID]) == ["u3", "u2"]
    assert list(books["rank"]) == [1, 2]
    e = math.e
    np.testing.assert_allclose(books["score"], [(e + 1) / (e + 3), 2 * e / (3 * e + 1)])


def test_audiences_rank_by_the_blended_score_and_cut_at_top_users() -> None:
    events = _events(
        [("u1", "a1", d, "view") for d in (0, 1, 2)]
        + [("u2", "a1", 9, "view"), ("u2", "a2", 9.5, "purchase")]
        + [("u3", "b1", 9, "view")]
    )
    recommender = RepeatRecommender(["a1", "a2", "b1", "b2"])

    audiences, n_scored = build_audiences(recommender, events, _items(), Audiences(top_users=2), mode="logs")

    assert n_scored == 3
    assert list(audiences.columns) == [s.CATEGORY, s.USER_ID, "score", "rank", "reason"]
    apparel = audiences[audiences[s.CATEGORY] == "apparel"]
    # u2 bought apparel yesterday; u1 viewed it a week ago; u3 never touched it
    assert list(apparel[s.USER_ID]) == ["u2", "u1"]
    assert list(apparel["rank"]) == [1, 2]
    assert audiences["score"].between(0, 1).all()
    assert apparel["reason"].str.startswith("top ").all()


def test_ties_go_to_the_smaller_user_id() -> None:
    propensity = Propensity(
        user_ids=["u9", "u1", "u5"],
        categories=["books"],
        values=np.array([[0.5], [0.5], [0.7]]),
    )

    audiences = select_audiences(propensity, top_users=3)

    assert list(audiences[s.USER_ID]) == ["u5", "u1", "u9"]
    assert list(audiences["rank"]) == [1, 2, 3]


def test_unknown_items_are_dropped_and_users_without_known_items_skipped() -> None:
    histories = pd.Series({"u1": ["a1", "zz", "a1", "b1"], "u2": ["zz"]})
    recommender = RepeatRecommender(["a1", "a2", "b1", "b2"])

    propensity = score_propensity(recommender, histories, _items(), mode="logs")

    assert propensity.user_ids == ["u1"]
    # a1 zz a1 b1 -> a1 a1 b1 -> a1 b1: scores [1, 0, 1, 0]
    e = math.e
    np.testing.assert_allclose(propensity.values, [[(e + 1) / (2 * e + 2), (e + 1) / (2 * e + 2)]])


@pytest.mark.parametrize("batch_size", [1, 2, 100])
def test_scoring_in_chunks_gives_the_same_propensities(batch_size: int) -> None:
    histories = pd.Series({f"u{i}": ["a1", "b1", "b2"][: i % 3 + 1] for i in range(5)})
    recommender = RepeatRecommender(["a1", "a2", "b1", "b2"])

    chunked = score_propensity(recommender, histories, _items(), batch_size=batch_size, mode="logs")
    whole = score_propensity(RepeatRecommender(["a1", "a2", "b1", "b2"]), histories, _items(), batch_size=5, mode="logs")

    assert max(recommender.calls) <= batch_size
    assert sum(recommender.calls) == 5
    np.testing.assert_allclose(chunked.values, whole.values)


def test_reason_names_percentile_and_recent_activity() -> None:
    events = _events(
        [
            ("u1", "b1", 0, "view"),  # older than the 14-day window: not counted
            ("u1", "b1", 10, "view"),
            ("u1", "b2", 11, "view"),
            ("u1", "b2", 12, "purchase"),
        ]
    )
    audiences = pd.DataFrame({s.CATEGORY: ["books", "books"], s.USER_ID: ["u1", "u2"], "score": [0.9, 0.8], "rank": [1, 2]})
    counts = recent_counts(events, _items(), as_of=events[s.TS].max(), days=7)

    explained = explain(audiences, counts, n_scored=40, days=7)

    assert list(explained["reason"]) == [
        "top 3% propensity for books; viewed it twice, bought it once in the last 7 days",
        "top 5% propensity for books; no views in the last 7 days",
    ]


def test_reason_without_any_activity_in_the_window() -> None:
    events = _events([("u1", "b1", 0, "view")])
    audiences = pd.DataFrame({s.CATEGORY: ["books"], s.USER_ID: ["u1"], "score": [0.9], "rank": [1]})
    counts = recent_counts(events, _items(), as_of=DAY0 + pd.Timedelta(days=30), days=14)

    explained = explain(audiences, counts, n_scored=1000, days=14)

    assert list(explained["reason"]) == ["top 1% propensity for books; no views in the last 14 days"]


def test_model_items_missing_from_the_catalogue_get_no_category() -> None:
    np.testing.assert_array_equal(item_categories(_items(), ["b2", "zz", "a1"]), ["books", "unknown", "apparel"])


def test_champion_is_used_when_one_is_promoted(tmp_path) -> None:
    write_json(tmp_path / "champion" / "champion.json", {"version": "3"})
    (tmp_path / "candidate").mkdir()

    model_dir, scored_by = choose_model(tmp_path / "champion", tmp_path / "candidate")

    assert (model_dir, scored_by) == (tmp_path / "champion", "champion v3")


def test_candidate_is_used_until_a_champion_exists(tmp_path) -> None:
    write_json(tmp_path / "champion" / "champion.json", {"version": None})
    (tmp_path / "candidate").mkdir()

    model_dir, scored_by = choose_model(tmp_path / "champion", tmp_path / "candidate")

    assert (model_dir, scored_by) == (tmp_path / "candidate", "candidate")


def test_no_model_at_all_says_what_to_run(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="shopseq run train"):
        choose_model(tmp_path / "champion", tmp_path / "candidate")


def test_offline_check_precision_against_heuristics_and_random() -> None:
    """Hand-worked case: last event day 20, so the end is day 21 and the cutoff day 14; 5-day heuristics."""
    events = _events(
        [("u1", "a1", d, "view") for d in (0, 1, 2, 3, 4)]  # long-standing apparel interest
        + [("u2", "a1", 12, "view")]  # one recent apparel view
        + [("u3", "b1", d, "view") for d in (0, 1, 2)]  # long-standing books interest
        + [("u4", "b1", 11, "view")]  # one recent books view
        # held out (day >= 14): u1 returns to apparel, u3 and u4 to books
        + [("u1", "a2", 15, "view"), ("u3", "b2", 16, "view"), ("u4", "b2", 18, "view"), ("u4", "b2", 20, "cart")]
    )
    recommender = RepeatRecommender(["a1", "a2", "b1", "b2"])

    check = check_audiences(recommender, events, _items(), Audiences(top_users=1, recent_days=5, holdout_days=7), mode="logs")

    # Nobody before day 7 came back in days 7-13 (u2, u4 are new), so no blend can be learnt and
    # the score is decayed activity + propensity: u1's five old views outweigh u2's one recent
    # view, u3's three books views u4's one -> model apparel {u1} hit, books {u3} hit: 1.0.
    # recent viewers: apparel {u2} miss, books {u4} hit: 0.5; recent buyers (nobody bought, ties
    # by id): apparel {u1} hit, books {u1} miss: 0.5; propensity alone: ties by id, u1 and u3: 1.0.
    # random (base rate over 4 users): apparel 1/4, books 2/4 -> 0.375
    assert check["n_users"] == 4
    assert check["cutoff"] == (DAY0 + pd.Timedelta(days=14)).isoformat()
    assert check["precision"] == pytest.approx(
        {"model": 1.0, "recent_viewers": 0.5, "recent_buyers": 0.5, "propensity_only": 1.0, "random": 0.375}
    )
    assert check["best_heuristic"] in ("recent_viewers", "recent_buyers")
    assert check["lift_over_heuristic"] == pytest.approx(2.0)
    assert check["lift_over_random"] == pytest.approx(1.0 / 0.375, abs=1e-4)
    assert [row[s.CATEGORY] for row in check["per_category"]] == ["apparel", "books"]
