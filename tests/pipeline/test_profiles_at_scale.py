"""`profiles` bucket by bucket (events larger than one bucket) writes what it writes in memory.

Each case runs the real `profiles` stage twice on the same validated tables and item vectors:
once with every event in one bucket (the in-memory build) and once with buckets of about a
quarter of the events, so features, item text, price scores and the churn model's cuts are
built per bucket of users against population statistics computed once. The profiles (every
column, every user, in order) and the metrics must be equal up to float rounding.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from shopseq.config import Params, from_dict
from shopseq.io import read_json
from shopseq.stages import embed, ingest, profiles, validate
from shared_samples import sample
from tiny import rounded_floats, write_item_vectors

BUCKETS = 4  # about: users are hashed to buckets


def _params(root: Path, source: str, path: Path | None, bucket_events: int, **sections) -> Params:
    raw = {
        "paths": {name: str(root / name) for name in ("raw", "validated", "quarantine", "embeddings", "profiles", "reports")},
        "ingest": {"source": source, "path": None if path is None else str(path), **sections.pop("ingest", {})},
        "validate": {"min_rows": 10, "earliest_ts": "2000-01-01"},
        "base": {"bucket_events": bucket_events, "progress": "logs"},
        **sections,
    }
    raw["paths"]["embed_cache"] = str(root / "cache")
    return from_dict(Params, raw)


def _assert_same_profiles(whole: Params, buckets: Params) -> dict:
    """Both runs' profiles and metrics are equal (floats to 1e-6 relative); the bucketed metrics."""
    profiles.run(whole)
    profiles.run(buckets)
    left = pd.read_parquet(Path(whole.paths.profiles) / "profiles.parquet")
    right = pd.read_parquet(Path(buckets.paths.profiles) / "profiles.parquet")
    pd.testing.assert_frame_equal(right, left, check_exact=False, rtol=1e-6, atol=1e-6)
    metrics = read_json(Path(buckets.paths.reports) / "profiles" / "metrics.json")
    expected = read_json(Path(whole.paths.reports) / "profiles" / "metrics.json")
    assert rounded_floats(metrics) == rounded_floats(expected)
    return metrics


def _prepared(tmp_path: Path, source: str, path: Path | None, real_embed: bool, **sections) -> tuple[Params, Params]:
    """Ingest, validate and item vectors once; params of the whole and the bucketed profiles runs."""
    first = _params(tmp_path / "whole", source, path, 10**9, **sections)
    ingest.run(first)
    validate.run(first)
    embed.run(first) if real_embed else write_item_vectors(tmp_path / "whole")
    shutil.copytree(tmp_path / "whole", tmp_path / "buckets")
    events = len(pd.read_parquet(tmp_path / "whole" / "validated" / "events.parquet", columns=["user_id"]))
    return first, _params(tmp_path / "buckets", source, path, max(1, events // BUCKETS), **sections)


def test_synthetic_profiles_in_buckets_equal_the_in_memory_build_with_prices_reviews_and_churn(tmp_path: Path) -> None:
    # 63 days: history, a training and a test window of 14 days each, so the churn model runs.
    synthetic = {"n_users": 300, "n_items": 80, "n_categories": 6, "days": 63, "sessions_per_week": 2.0}
    whole, buckets = _prepared(tmp_path, "synthetic", None, True, ingest={"synthetic": synthetic},
                               embed={"batch_size": 32, "max_tokens": 32}, profiles={"pca_components": 8})
    metrics = _assert_same_profiles(whole, buckets)
    assert "skipped" not in metrics["churn"] and metrics["churn"]["n_test"] > 100
    assert metrics["price_sensitivity_users"] > 200


@pytest.mark.parametrize(
    ("source", "relative"),
    [
        ("taobao", "taobao_userbehavior/UserBehavior_head_users.csv.gz"),
        ("rees46", "rees46_multi_category_store"),  # prices: the price pass and fits run
        ("diginetica", "diginetica"),
        ("online_retail", "online_retail/online_retail_non_uk_2010-12_2011-12.csv.gz"),  # a year: the churn model runs
    ],
)
def test_real_sample_profiles_in_buckets_equal_the_in_memory_build(tmp_path: Path, source: str, relative: str) -> None:
    whole, buckets = _prepared(tmp_path, source, sample(relative), False)
    metrics = _assert_same_profiles(whole, buckets)
    assert metrics["n_users"] > 100
