"""Stage `profiles` end to end: the embed stage's real outputs in, profiles and metrics out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from shopseq import schema as s
from shopseq.config import load_params
from shopseq.io import read_json, write_parquet

USERS = ["u1", "u2", "u3", "u4", "u5"]
ITEMS = [  # item_id, title, description, category, price
    ("i1", "Budget earbuds", "Plain earbuds.", "audio", 15.0),
    ("i2", "Studio headphones", "Hi-fi headphones.", "audio", 240.0),
    ("i3", "House coffee", "Medium roast.", "coffee", 8.0),
    ("i4", "Single-origin beans", "Fair-trade, organic.", "coffee", 32.0),
    ("i5", "Yoga mat", "Non-slip.", "fitness", 25.0),
]
AS_OF = pd.Timestamp("2026-07-01", tz="UTC")  # the midnight after the last event below


def write_tiny_shop(root) -> None:
    """Validated tables (a few dozen events, three reviews) and the synthetic truth under `root`."""
    rng = np.random.default_rng(7)
    validated = root / "data" / "validated"
    items = pd.DataFrame(ITEMS, columns=[s.ITEM_ID, s.TITLE, s.DESCRIPTION, s.CATEGORY, s.PRICE])
    write_parquet(s.conform(items, s.ITEMS), validated / "items.parquet")
    n = 40
    events = pd.DataFrame(
        {
            s.USER_ID: rng.choice(USERS, n),
            s.ITEM_ID: rng.choice(items[s.ITEM_ID], n),
            s.EVENT_TYPE: rng.choice(["view", "view", "cart", "purchase"], n),
            s.TS: AS_OF - pd.to_timedelta(rng.uniform(0.05, 30, n), unit="D"),
            s.SESSION_ID: [f"s{x}" for x in rng.integers(0, 12, n)],
        }
    )
    last = events[s.TS].idxmax()
    events.loc[last, s.TS] = AS_OF - pd.Timedelta(minutes=5)
    write_parquet(s.conform(events, s.EVENTS), validated / "events.parquet")
    reviews = pd.DataFrame(
        {
            s.USER_ID: ["u1", "u1", "u2"],
            s.ITEM_ID: ["i1", "i3", "i2"],
            s.TS: [AS_OF - pd.Timedelta(days=d) for d in (9, 4, 2)],
            s.TEXT: ["Fine for the price.", "Cheap and cheerful.", "Worth every cent."],
        }
    )
    write_parquet(s.conform(reviews, s.REVIEWS), validated / "reviews.parquet")
    truth = pd.DataFrame({s.USER_ID: USERS, "price_sensitivity": rng.uniform(0, 1, len(USERS)), "churned": False})
    write_parquet(truth, root / "data" / "raw" / "users_truth.parquet")


@pytest.fixture()
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    write_tiny_shop(tmp_path)
    params = {
        "base": {"progress": "logs"},
        "embed": {"batch_size": 4, "max_tokens": 32},
        "profiles": {"pca_components": 16, "text_half_life_days": 7.0},
    }
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    return tmp_path


def test_profiles_stage_writes_one_row_per_user_with_features_and_components(project):
    from shopseq.stages import embed, profiles

    params = load_params()
    embed.run(params)
    profiles.run(params)

    frame = pd.read_parquet("data/profiles/profiles.parquet")
    metrics = read_json("reports/profiles/metrics.json")
    events = pd.read_parquet("data/validated/events.parquet")
    assert sorted(frame[s.USER_ID]) == sorted(events[s.USER_ID].unique())
    n_users = len(frame)
    pcs = [c for c in frame.columns if c.startswith("pc_")]
    assert pcs == [f"pc_{i}" for i in range(n_users - 1)]  # 16 asked, users - 1 possible
    for column in ("days_since_last_event", "n_sessions", "spend", "cart_per_view", "top_category",
                   "price_sensitivity", "activity_trend", "n_reviews", "category_share__audio"):
        assert column in frame.columns, column
    assert frame.set_index(s.USER_ID).loc["u1", "n_reviews"] == 2
    assert frame["days_since_last_event"].min() == pytest.approx(5 / (24 * 60))

    assert metrics["n_users"] == n_users
    assert metrics["n_features"] == frame.shape[1] - 2 - len(pcs)  # not user_id, not the churn model's output
    assert len(metrics["explained_variance"]) == len(pcs)
    assert 0 < sum(metrics["explained_variance"]) <= 1 + len(pcs) * 5e-7  # each share rounded to 6 places
    assert metrics["as_of"] == AS_OF.isoformat()
    assert -1 <= metrics["price_sensitivity_spearman"] <= 1
    assert metrics["price_sensitivity_users"] == n_users
    # 30 days of events cannot hold history plus a training and a test window of 14 days each
    assert "at least 42 days" in metrics["churn"]["skipped"]
    assert frame["churn_risk"].isna().all()


def test_profiles_stage_asks_for_the_embed_stage_when_vectors_are_missing(project):
    from shopseq.stages import profiles

    with pytest.raises(FileNotFoundError, match="run the embed stage first"):
        profiles.run(load_params())
