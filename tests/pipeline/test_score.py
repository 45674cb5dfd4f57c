"""Stage `score` end to end in tmp_path: every known user gets top-K and category propensities."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shopseq import schema as s
from shopseq.config import load_params
from shopseq.io import read_json, write_json
from shopseq.sequences.recommender import save_recommender
from shopseq.stages import score as stage

from serving_shop import CATEGORIES, NEW_ITEM, NEW_USER, favourite_category, train_model, write_shop

K = 5


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(f"base:\n  progress: logs\nscore:\n  k: {K}\n  batch_size: 7\n  recent_days: 7\n")
    item_ids = write_shop(tmp_path)
    save_recommender(train_model(tmp_path, item_ids, seed=0), tmp_path / "models/candidate")
    write_json(tmp_path / "models/champion/champion.json", {"model_name": "shopseq-next-item", "version": None})
    return tmp_path


def test_every_known_user_gets_top_k_and_propensities_from_the_candidate(project):
    stage.run(load_params())

    recs = pd.read_parquet(project / "data/scores/recommendations.parquet")
    propensity = pd.read_parquet(project / "data/scores/propensity.parquet")
    users = sorted({f"u{u:02d}" for u in range(30)} | {NEW_USER})
    assert list(recs.columns) == [s.USER_ID, "rank", s.ITEM_ID, "score", "source"]
    assert list(propensity.columns) == [s.USER_ID, s.CATEGORY, "propensity", "source"]
    assert sorted(recs[s.USER_ID].unique()) == users
    for user, rows in recs.groupby(s.USER_ID):
        assert list(rows["rank"]) == list(range(1, K + 1))
        assert rows[s.ITEM_ID].is_unique
        assert (np.diff(rows["score"].to_numpy()) <= 0).all()
    assert len(propensity) == len(users) * len(CATEGORIES)
    totals = propensity.groupby(s.USER_ID)["propensity"].sum()
    np.testing.assert_allclose(totals.to_numpy(), 1.0, atol=1e-6)  # every item has a category

    model_rows = recs[recs["source"] == "model"]
    assert set(model_rows[s.USER_ID]) == set(users) - {NEW_USER}
    assert NEW_ITEM not in set(model_rows[s.ITEM_ID])  # the model cannot rank what it never saw

    # The trained model learned the shop's structure: most users' top category is their favourite.
    scored = propensity[propensity["source"] == "model"]
    top = scored.loc[scored.groupby(s.USER_ID)["propensity"].idxmax()]
    hits = sum(favourite_category(u) == c for u, c in zip(top[s.USER_ID], top[s.CATEGORY]))
    assert hits >= 0.7 * len(top)

    metrics = read_json(project / "reports/score/metrics.json")
    assert metrics["scored_by"] == "candidate"
    assert (metrics["n_users"], metrics["n_model_users"], metrics["n_fallback_users"]) == (31, 30, 1)
    assert metrics["n_recommendation_rows"] == 31 * K and metrics["k"] == K


def test_a_user_the_model_knows_nothing_of_gets_recent_popularity(project):
    stage.run(load_params())

    recs = pd.read_parquet(project / "data/scores/recommendations.parquet")
    mine = recs[recs[s.USER_ID] == NEW_USER]
    assert set(mine["source"]) == {"recent_popularity"}
    events = pd.read_parquet(project / "data/validated/events.parquet")
    recent = events[events[s.TS] >= events[s.TS].max() - pd.Timedelta(days=7)]
    # Ranked by events in the last 7 days, ties by all-time events, then by item id.
    ranking = pd.DataFrame({"recent": recent[s.ITEM_ID].value_counts(), "total": events[s.ITEM_ID].value_counts()})
    ranking = ranking.fillna(0).rename_axis("item").reset_index()
    ranking = ranking.sort_values(["recent", "total", "item"], ascending=[False, False, True])
    assert list(mine[s.ITEM_ID]) == list(ranking["item"][:K])
    assert list(mine["score"]) == pytest.approx(list(ranking["recent"][:K] / len(recent)))


def test_the_champion_scores_once_promoted(project):
    item_ids = list(pd.read_parquet(project / "data/validated/items.parquet")[s.ITEM_ID])[:12]
    save_recommender(train_model(project, item_ids, seed=1), project / "models/champion")
    write_json(project / "models/champion/champion.json", {"model_name": "shopseq-next-item", "version": "4"})

    stage.run(load_params())

    assert read_json(project / "reports/score/metrics.json")["scored_by"] == "champion v4"
