"""Stage `audiences` end to end in tmp_path with a real (small, untrained) next-item model.

The model is the project's own `Recommender` saved with `save_recommender`, exactly what the
train stage writes to models/candidate; training it is the train stage's business, so it is left
at its seeded initial weights here: the test is about the stage's wiring, not audience quality.
The score stage runs first, as in dvc.yaml: the production audiences read its propensities.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import shopseq.sequences.recommender as recommender_module
from shopseq import schema as s
from shopseq.config import load_params
from shopseq.io import read_json, write_json, write_parquet
from shopseq.stages import audiences as stage
from shopseq.stages import score as score_stage
from serving_shop import CATEGORIES, write_shop



def _write_shop(root) -> list[str]:
    """Users who mostly browse one favourite category for four weeks (a fifth of events are
    purchases); returns the item ids."""
    return write_shop(root, view_share=0.8, new_user=False)


def _save_model(directory, item_ids: list[str], seed: int) -> None:
    import torch

    from shopseq.sequences.models import ModelConfig, NextItemModel

    torch.manual_seed(seed)
    model = NextItemModel(ModelConfig(family="gru", n_items=len(item_ids), hidden=8, max_len=20))
    recommender_module.save_recommender(recommender_module.Recommender(model, item_ids), directory)


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(
        "base:\n  progress: logs\n"
        "audiences:\n  top_users: 5\n  batch_size: 8\n  recent_days: 14\n  holdout_days: 7\n"
    )
    item_ids = _write_shop(tmp_path)
    _save_model(tmp_path / "models/candidate", item_ids, seed=0)
    write_json(tmp_path / "models/champion/champion.json", {"model_name": "shopseq-next-item", "version": None})
    score_stage.run(load_params())
    return tmp_path


def test_audiences_stage_scores_with_the_candidate_until_a_champion_exists(project) -> None:
    stage.run(load_params())

    audiences = pd.read_parquet(project / "data/audiences/audiences.parquet")
    assert list(audiences.columns) == [s.CATEGORY, s.USER_ID, "score", "rank", "reason"]
    assert sorted(audiences[s.CATEGORY].unique()) == CATEGORIES
    for category, audience in audiences.groupby(s.CATEGORY):
        assert list(audience["rank"]) == [1, 2, 3, 4, 5]
        assert audience[s.USER_ID].is_unique
        assert (np.diff(audience["score"]) <= 0).all()
        assert audience["reason"].str.startswith("top ").all()
        assert audience["reason"].str.contains(f"propensity for {category}; ").all()
    assert audiences["score"].between(0, 1).all()

    metrics = read_json(project / "reports/audiences/metrics.json")
    assert metrics["scored_by"] == "candidate"
    assert metrics["n_audiences"] == 3
    assert metrics["n_users"] == audiences[s.USER_ID].nunique()
    assert metrics["n_scored_users"] == 30
    check = metrics["offline_check"]
    assert set(check["precision"]) == {"model", "recent_viewers", "recent_buyers", "propensity_only", "random"}
    assert all(0 <= p <= 1 for p in check["precision"].values())
    assert {"lift_over_heuristic", "lift_over_random", "best_heuristic", "lift_curve"} <= set(check)
    assert len(check["per_category"]) == 3
    assert metrics["campaigns"] == {} and metrics["lookalikes"] == {}
    assert "<svg" in (project / "reports/audiences/report.html").read_text()


def test_audiences_stage_uses_the_champion_once_promoted(project) -> None:
    item_ids = list(pd.read_parquet(project / "data/validated/items.parquet")[s.ITEM_ID])
    _save_model(project / "models/champion", item_ids, seed=1)
    write_json(project / "models/champion/champion.json", {"model_name": "shopseq-next-item", "version": "2"})

    with pytest.raises(ValueError, match=r"scored_by 'candidate' \(expected 'champion v2'\).*dvc repro score"):
        stage.run(load_params())  # the batch scores are still the candidate's
    score_stage.run(load_params())
    stage.run(load_params())

    assert read_json(project / "reports/audiences/metrics.json")["scored_by"] == "champion v2"


def test_production_audiences_read_the_batch_scores_and_the_offline_check_never_does(project) -> None:
    """Swap the score stage's propensities for others: what marketers get follows them, the check (as of the
    holdout start, where those scores would leak the held-out days) does not move."""
    with open(project / "params.yaml", "a") as handle:
        handle.write("  campaigns:\n    - {name: coffee_new, objective: acquisition, category: coffee, size: 30}\n")
    stage.run(load_params())
    metrics = read_json(project / "reports/audiences/metrics.json")
    assert metrics["propensity_from"] == "batch scores"

    scores_file = project / "data/scores/propensity.parquet"
    scores = pd.read_parquet(scores_file)
    users = sorted(scores[s.USER_ID].unique())
    made_up = {u: (i + 1) / 100 for i, u in enumerate(users)}  # 0.010, 0.020, ... for coffee, 0 elsewhere
    scores["propensity"] = np.where(scores[s.CATEGORY] == "coffee", scores[s.USER_ID].map(made_up), 0.0)
    write_parquet(scores, scores_file)
    stage.run(load_params())

    coffee = pd.read_parquet(project / "data/audiences/campaigns/coffee_new.parquet")
    assert len(coffee) == 30
    for user, reason in zip(coffee[s.USER_ID], coffee["reason"]):
        assert f"model propensity {made_up[user]:.3f}" in reason, reason
    after = read_json(project / "reports/audiences/metrics.json")
    assert after["offline_check"] == metrics["offline_check"]
    assert after["campaigns"]["coffee_new"]["offline_check"] == metrics["campaigns"]["coffee_new"]["offline_check"]


def test_audiences_refuse_batch_scores_of_other_data(project) -> None:
    events = pd.read_parquet(project / "data/validated/events.parquet")
    late = events.iloc[[0]].assign(**{s.USER_ID: "u_late", s.TS: events[s.TS].max() + pd.Timedelta(hours=1)})
    write_parquet(pd.concat([events, late], ignore_index=True), project / "data/validated/events.parquet")

    with pytest.raises(ValueError, match=r"n_users 30 \(expected 31\)"):
        stage.run(load_params())


def test_audiences_target_only_profiled_users_when_profiles_exist(project) -> None:
    profiled = [f"u{u:02d}" for u in range(0, 30, 2)]
    write_parquet(pd.DataFrame({s.USER_ID: profiled, "recency_days": 1.0}), project / "data/profiles/profiles.parquet")

    stage.run(load_params())

    audiences = pd.read_parquet(project / "data/audiences/audiences.parquet")
    assert set(audiences[s.USER_ID]) <= set(profiled)
    metrics = read_json(project / "reports/audiences/metrics.json")
    assert (metrics["users_from"], metrics["n_scored_users"]) == ("profiles", 15)


CAMPAIGNS = """
  campaigns:
    - {name: coffee_new, objective: acquisition, category: coffee, size: 6, lookalike: true}
    - {name: garden_keep, objective: retention, category: garden, size: 4}
    - {name: toys_deal, objective: discount, category: toys, min_score: 0.0}
    - {name: books_new, objective: acquisition, category: books, size: 5}
  lookalikes: {seed_top: 3, size: 5, neighbours: 2}
"""


def test_campaigns_write_one_audience_each_with_lookalikes_and_a_report(project) -> None:
    rng = np.random.default_rng(0)
    users = [f"u{u:02d}" for u in range(30)]
    profiles = pd.DataFrame({
        s.USER_ID: users, "days_since_last_event": rng.uniform(0, 20, 30), "price_sensitivity": rng.normal(size=30),
        "churn_risk": rng.uniform(0, 1, 30), "pc_0": rng.normal(size=30), "pc_1": rng.normal(size=30),
    })
    write_parquet(profiles, project / "data/profiles/profiles.parquet")
    with open(project / "params.yaml", "a") as handle:
        handle.write(CAMPAIGNS)

    stage.run(load_params())

    folder = project / "data/audiences"
    coffee = pd.read_parquet(folder / "campaigns/coffee_new.parquet")
    assert list(coffee.columns) == [s.USER_ID, "score", "rank", "reason"]
    assert len(coffee) == 6 and coffee["score"].is_monotonic_decreasing
    assert coffee["reason"].str.contains("chance to engage with coffee").all()
    garden = pd.read_parquet(folder / "campaigns/garden_keep.parquet")
    assert len(garden) <= 4
    assert set(garden["score"]) <= set(profiles["churn_risk"])  # ranked by the profiles' churn risk
    toys = pd.read_parquet(folder / "campaigns/toys_deal.parquet")
    assert toys["reason"].str.startswith("more price-sensitive than").all()
    lookalike = pd.read_parquet(folder / "lookalikes/coffee_new.parquet")
    assert len(lookalike) == 5 and not set(lookalike[s.USER_ID]) & set(coffee[s.USER_ID].head(3))

    metrics = read_json(project / "reports/audiences/metrics.json")
    assert metrics["campaigns"]["books_new"] == {"objective": "acquisition",
                                                 "skipped": "category 'books' is not in the catalogue"}
    coffee_check = metrics["campaigns"]["coffee_new"]["offline_check"]
    assert coffee_check["objective"] == "acquisition" and coffee_check["k"] == 6
    assert set(coffee_check["precision"]) == {"model", "recent_viewers", "recent_buyers", "random"}
    garden_check = metrics["campaigns"]["garden_keep"]["offline_check"]
    assert "skipped" in garden_check or garden_check["best_heuristic"] == "recency_rule"
    assert "no prices" in metrics["campaigns"]["toys_deal"]["offline_check"]["skipped"]
    assert metrics["lookalikes"]["coffee_new"]["n_seeds"] == 3
    report = (project / "reports/audiences/report.html").read_text()
    assert "coffee_new" in report and report.count("<svg") >= 2
