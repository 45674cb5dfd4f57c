"""Batch scoring on a tiny frame with a real (untrained, seeded) next-item model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shopseq import schema as s
from shopseq.downstream.audiences import category_mass
from shopseq.sequences.scoring import build_histories, item_categories
from shopseq.serving.batch import score_users

torch = pytest.importorskip("torch")

from shopseq.sequences.models import ModelConfig, NextItemModel  # noqa: E402
from shopseq.sequences.recommender import Recommender  # noqa: E402

T0 = pd.Timestamp("2026-06-01", tz="UTC")
MODEL_ITEMS = ["a", "b", "c", "d", "e"]


@pytest.fixture
def model():
    torch.manual_seed(0)
    return Recommender(NextItemModel(ModelConfig(family="gru", n_items=5, hidden=8, max_len=10)), MODEL_ITEMS)


@pytest.fixture
def shop():
    rows = [("u1", "a", 0), ("u1", "b", 1), ("u1", "b", 2), ("u2", "c", 0), ("u2", "zz", 1),
            ("u3", "zz", 0), ("u4", "e", 5), ("u4", "d", 6)]
    events = pd.DataFrame(
        {s.USER_ID: [r[0] for r in rows], s.ITEM_ID: [r[1] for r in rows],
         s.TS: [T0 + pd.Timedelta(days=r[2]) for r in rows]}
    )
    items = pd.DataFrame({s.ITEM_ID: MODEL_ITEMS + ["zz"], s.CATEGORY: ["x", "x", "y", "y", "z", "z"]})
    return events, items


def test_model_users_get_the_models_top_k_and_its_category_mass(model, shop):
    events, items = shop
    scores = score_users(model, events, items, k=3, batch_size=2, recent_days=7, mode="logs")
    assert (scores.n_model_users, scores.n_fallback_users) == (3, 1)

    histories = build_histories(events)
    for user in ("u1", "u2", "u4"):
        known = [i for i in histories[user] if i in MODEL_ITEMS]
        raw = model.score([known])  # (1, 5)
        mine = scores.recommendations[scores.recommendations[s.USER_ID] == user]
        assert list(mine[s.ITEM_ID]) == [MODEL_ITEMS[i] for i in np.argsort(-raw[0], kind="stable")[:3]]
        assert set(mine["source"]) == {"model"} and list(mine["rank"]) == [1, 2, 3]
        onehot = (item_categories(items, MODEL_ITEMS)[:, None] == np.array(["x", "y", "z"])[None, :]).astype(float)
        expected = category_mass(raw.astype(np.float64), onehot)[0]  # the audiences' definition
        got = scores.propensity[scores.propensity[s.USER_ID] == user].sort_values(s.CATEGORY)["propensity"]
        np.testing.assert_allclose(got.to_numpy(), expected, rtol=1e-6)


def test_a_user_with_no_item_the_model_knows_gets_recent_popularity(model, shop):
    events, items = shop
    scores = score_users(model, events, items, k=2, recent_days=3, mode="logs")
    mine = scores.recommendations[scores.recommendations[s.USER_ID] == "u3"]
    # newest event day 6; window days 3..6 holds e and d once each; all-time both once -> id order
    assert list(mine[s.ITEM_ID]) == ["d", "e"] and list(mine["score"]) == [0.5, 0.5]
    assert set(mine["source"]) == {"recent_popularity"}
    propensity = scores.propensity[scores.propensity[s.USER_ID] == "u3"].set_index(s.CATEGORY)["propensity"]
    assert propensity.to_dict() == {"x": 0.0, "y": 0.5, "z": 0.5}


def test_every_user_appears_once_per_rank_and_category(model, shop):
    events, items = shop
    scores = score_users(model, events, items, k=10, mode="logs")
    users = sorted(events[s.USER_ID].unique())
    assert sorted(scores.recommendations[s.USER_ID].unique()) == users
    counts = scores.recommendations.groupby(s.USER_ID).size()
    assert (counts[["u1", "u2", "u4"]] == 5).all()  # K caps at the model's catalogue
    assert len(scores.propensity) == len(users) * 3


def test_batch_and_online_read_a_history_the_same_way(model, shop):
    """An unknown item between two equal ones leaves one step, as in training sequences, in both paths."""
    from shopseq.serving.fallback import recent_popularity
    from shopseq.sequences.scoring import readable_history
    from shopseq.serving.recommend import recommend

    events, items = shop
    extra = pd.DataFrame({s.USER_ID: ["u5"] * 3, s.ITEM_ID: ["a", "zz", "a"],
                          s.TS: [T0 + pd.Timedelta(days=d) for d in (0, 1, 2)]})
    events = pd.concat([events, extra], ignore_index=True)
    assert readable_history(["a", "zz", "a", "b"], set(MODEL_ITEMS)) == ["a", "b"]

    scores = score_users(model, events, items, k=3, mode="logs")
    batch = scores.recommendations[scores.recommendations[s.USER_ID] == "u5"]
    online = recommend(model, ["a", "zz", "a"], 3, recent_popularity(events, 7))
    assert list(batch[s.ITEM_ID]) == online.item_ids
    np.testing.assert_allclose(batch["score"].to_numpy(), online.scores, rtol=1e-9)
    expected = np.sort(np.exp(model.score([["a"]])[0]) / np.exp(model.score([["a"]])[0]).sum())[::-1][:3]
    np.testing.assert_allclose(online.scores, expected, rtol=1e-6)


def test_stale_scores_say_what_no_longer_matches(model, shop):
    from shopseq.serving.batch import scores_manifest, stale_scores

    events, _ = shop
    manifest = scores_manifest("champion v3", events, events[s.USER_ID].nunique())
    assert stale_scores(manifest, "champion v3", events) is None
    newer = pd.concat([events, pd.DataFrame({s.USER_ID: ["u9"], s.ITEM_ID: ["a"], s.TS: [T0 + pd.Timedelta(days=9)]})],
                      ignore_index=True)
    why = stale_scores(manifest, "champion v4", newer)
    assert "scored_by 'champion v3' (expected 'champion v4')" in why
    assert "last_event" in why and "n_users 4 (expected 5)" in why
    assert "scored_by None" in stale_scores({}, "champion v3", events)  # a manifest without keys is stale
