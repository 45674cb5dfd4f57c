"""The out-of-core sequences split writes exactly the files the in-memory split writes.

Bucket sizes are set small so that users are spread over many DuckDB buckets: the per-user
function, the global time cuts and the SQL finish must together give the same rows, in the same
order, with the same dtypes, as `split_sequences` on the whole table.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from shopseq import schema as s
from shopseq.config import Base, Ingest, Sequences, Synthetic
from shopseq.data.sources import read_source
from shopseq.data.synthetic import generate_shop
from shopseq.io import write_parquet
from shopseq.sequences.scale import FILES, build_sequence_files
from shopseq.sequences.split import Split, split_sequences

from shared_samples import sample
from split_files import read_split_file


def _in_memory_split(events: pd.DataFrame, config: Sequences, out: Path) -> Split:
    split = split_sequences(events, config)
    for name in FILES:
        write_parquet(getattr(split, name), out / f"{name}.parquet")
    return split


def _assert_same_split(events: pd.DataFrame, config: Sequences, tmp_path: Path, bucket_events: int) -> dict:
    events_file = tmp_path / "events.parquet"
    write_parquet(events, events_file)
    split = _in_memory_split(events, config, tmp_path / "memory")
    metrics = build_sequence_files(events_file, tmp_path / "engine", config, Base(bucket_events=bucket_events))
    for name in FILES:
        pd.testing.assert_frame_equal(read_split_file(tmp_path / "memory" / f"{name}.parquet"), read_split_file(tmp_path / "engine" / f"{name}.parquet"))
    assert metrics["cold_targets"] == split.cold_targets
    assert (metrics["valid_start"], metrics["test_start"]) == (split.valid_start, split.test_start)
    return metrics


@pytest.fixture(scope="module")
def synthetic_events() -> pd.DataFrame:
    return generate_shop(Synthetic(n_users=300, n_items=200, days=35), 3).events


@pytest.mark.parametrize(
    "config",
    [Sequences(valid_days=5, test_days=5), Sequences(split="leave_last_out"), Sequences(max_len=3, min_train_items=4)],
    ids=["temporal", "leave_last_out", "short_histories"],
)
@pytest.mark.parametrize("bucket_events", [500, 10_000_000], ids=["many_buckets", "one_bucket"])
def test_engine_split_equals_in_memory_split_on_synthetic_data(synthetic_events, config, bucket_events, tmp_path):
    metrics = _assert_same_split(synthetic_events, config, tmp_path, bucket_events)
    assert metrics["train_users"] > 0 and metrics["valid_targets"] > 0 and metrics["test_targets"] > 0


def test_ties_on_one_timestamp_keep_the_source_order_across_buckets(tmp_path):
    # Same user, same second, different items: only the source row order says which came first.
    rows = [(f"u{u}", f"i{(u * 7 + k) % 5}", s.VIEW, "2026-06-01T10:00:00Z") for u in range(40) for k in range(4)]
    rows += [(f"u{u}", f"i{u % 3}", s.VIEW, f"2026-06-{10 + u % 5:02d}T10:00:00Z") for u in range(40)]
    frame = pd.DataFrame(rows, columns=[s.USER_ID, s.ITEM_ID, s.EVENT_TYPE, s.TS])
    _assert_same_split(s.conform(frame, s.EVENTS), Sequences(valid_days=2, test_days=2), tmp_path, 20)


def test_no_events_is_a_clear_error(tmp_path):
    empty = s.conform(pd.DataFrame(columns=list(s.EVENTS.required)), s.EVENTS)
    write_parquet(empty, tmp_path / "events.parquet")
    with pytest.raises(ValueError, match="no events to build sequences from"):
        build_sequence_files(tmp_path / "events.parquet", tmp_path / "out", Sequences(), Base())


REAL_SAMPLES = [
    ("taobao", "taobao_userbehavior/UserBehavior_head_users.csv.gz"),
    ("rees46", "rees46_multi_category_store"),
    ("diginetica", "diginetica"),
    ("amazon", "amazon_reviews_2018_5core"),
    ("amazon", "amazon_video_games_2018_sequences"),
    ("online_retail", "online_retail"),
]


@pytest.mark.parametrize("source,relative", REAL_SAMPLES, ids=[r for _, r in REAL_SAMPLES])
def test_engine_split_equals_in_memory_split_on_every_real_sample(source, relative, tmp_path):
    path = sample(relative)
    events = read_source(source, path, Ingest(source=source, path=str(path))).tables[0]
    events = s.conform(events.dropna(subset=[s.USER_ID, s.ITEM_ID, s.TS]), s.EVENTS)
    bucket_events = max(1_000, len(events) // 7)  # about seven buckets
    # Leave-last-out gives every sample targets; the temporal split (with one-day windows) is
    # checked too, though a few out-of-range timestamps that `validate` would quarantine can leave
    # it without targets on some samples.
    metrics = _assert_same_split(events, Sequences(split="leave_last_out"), tmp_path / "last", bucket_events)
    assert metrics["valid_targets"] > 0 and metrics["test_targets"] > 0 and metrics["train_users"] > 0
    _assert_same_split(events, Sequences(valid_days=1, test_days=1), tmp_path / "temporal", bucket_events)
