"""`validate` bucket by bucket (events larger than one bucket) writes what it writes in memory.

Each case runs the real `ingest` and `validate` stages twice on one data set: once with every
event in one bucket (the in-memory run) and once with buckets of a quarter of the events, so the
Great Expectations suite runs per bucket of users and the accepted events are put back in raw
order on disk. Validated tables, quarantine files and the summary (data version included) must
be equal.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from shopseq.config import Params, from_dict
from shopseq.io import read_json
from shopseq.stages import ingest, validate
from tests.shared_samples import sample

BUCKETS = 4  # buckets of the bucketed run (about: users are hashed): each costs a GE run


def _run(tmp: Path, source: str, path: Path, bucket_events: int, validate_params: dict) -> Path:
    """Run ingest and validate with `bucket_events`; the run's directory."""
    raw = {
        "paths": {name: str(tmp / name) for name in ("raw", "validated", "quarantine", "reports")},
        "ingest": {"source": source, "path": str(path)},
        "validate": validate_params,
        "base": {"bucket_events": bucket_events},
    }
    params = from_dict(Params, raw)
    ingest.run(params)
    try:
        validate.run(params)
    except ValueError:
        pass  # a table-level failure: the summary and quarantine are still compared
    return tmp


def _assert_same_outputs(tmp_path: Path, source: str, path: Path, validate_params: dict | None = None) -> dict:
    """Both runs' outputs are equal; the bucketed run's summary."""
    validate_params = {"min_rows": 10, **(validate_params or {})}
    whole = _run(tmp_path / "whole", source, path, 10**9, validate_params)
    events = len(pd.read_parquet(whole / "raw" / "events.parquet", columns=["user_id"]))
    buckets = _run(tmp_path / "buckets", source, path, max(1, events // BUCKETS), validate_params)
    summary = read_json(buckets / "reports" / "validation" / "summary.json")
    assert read_json(whole / "reports" / "validation" / "summary.json") == summary
    for folder in ("quarantine", "validated"):
        names = sorted(p.name for p in (whole / folder).glob("*.parquet")) if (whole / folder).exists() else []
        assert names == (sorted(p.name for p in (buckets / folder).glob("*.parquet")) if names else names)
        for name in names:
            pd.testing.assert_frame_equal(
                pd.read_parquet(buckets / folder / name), pd.read_parquet(whole / folder / name), obj=f"{folder}/{name}"
            )
    return summary


@pytest.mark.parametrize(
    ("source", "relative"),
    [
        ("taobao", "taobao_userbehavior/UserBehavior_head_users.csv.gz"),
        ("rees46", "rees46_multi_category_store"),
        ("diginetica", "diginetica"),
        ("online_retail", "online_retail/online_retail_non_uk_2010-12_2011-12.csv.gz"),
    ],
)
def test_validate_in_buckets_equals_validate_in_memory_on_real_samples(tmp_path: Path, source: str, relative: str) -> None:
    summary = _assert_same_outputs(tmp_path, source, sample(relative))
    assert summary["rows_in"] == summary["rows_accepted"] + summary["rows_quarantined"]


def test_rows_failing_row_rules_are_quarantined_alike_in_buckets(tmp_path: Path) -> None:
    """A Taobao sample cut to 3,000 rows with bad rows added: every row rule that can fire does."""
    rows = pd.read_csv(sample("taobao_userbehavior/UserBehavior_head_users.csv.gz"), header=None, dtype=str, nrows=3000)
    bad = pd.DataFrame(
        [
            ["900001", "1", "1", "like", "1511544070"],  # unknown behaviour
            ["900002", "2", "1", "pv", "100"],  # 1970: before validate.earliest_ts
            [rows.iloc[5, 0], rows.iloc[5, 1], rows.iloc[5, 2], rows.iloc[5, 3], rows.iloc[5, 4]],  # exact copy
            ["", "3", "1", "pv", "1511544070"],  # no user
        ]
    )
    messy = pd.concat([rows.iloc[:1500], bad, rows.iloc[1500:], bad.iloc[[0]]], ignore_index=True)
    path = tmp_path / "UserBehavior.csv"
    messy.to_csv(path, header=False, index=False)
    summary = _assert_same_outputs(tmp_path, "taobao", path)
    reasons = summary["tables"]["events"]["quarantine_reasons"]
    # The copy of the first bad row at the end is an exact copy: ingest takes it out as `duplicate`.
    assert reasons == {"null_required": 1, "unknown_event_type": 1, "ts_out_of_range": 1, "duplicate": 2}
    assert summary["rows_in"] == summary["rows_accepted"] + summary["rows_quarantined"]


def test_a_table_failure_in_buckets_reports_like_in_memory(tmp_path: Path) -> None:
    """Too much quarantined (every event after 2017 is out of range): the same errors, nothing validated."""
    summary = _assert_same_outputs(
        tmp_path, "taobao", sample("taobao_userbehavior/UserBehavior_head_users.csv.gz"), {"earliest_ts": "2017-11-30"}
    )
    assert not summary["passed"] and any("quarantine_share" in error for error in summary["errors"])
