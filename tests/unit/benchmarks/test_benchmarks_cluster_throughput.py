"""The throughput benchmark's overlap figure: seconds during which both shops' tasks ran at once."""

from __future__ import annotations

import importlib.util
from datetime import datetime, timedelta, timezone
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "cluster_throughput.py"


def _script():
    spec = importlib.util.spec_from_file_location("cluster_throughput_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _span(dag_id: str, start_s: float, end_s: float) -> dict:
    zero = datetime(2026, 12, 3, tzinfo=timezone.utc)
    return {"dag_id": dag_id, "start": zero + timedelta(seconds=start_s), "end": zero + timedelta(seconds=end_s)}


def test_overlap_counts_only_time_both_shops_ran() -> None:
    overlap = _script().overlap_seconds
    a, b = "shopseq_retrain.shop_a", "shopseq_retrain.shop_b"
    # shop_a runs 0-10 and 20-30; shop_b runs 5-25: overlaps 5-10 and 20-25
    assert overlap([_span(a, 0, 10), _span(a, 20, 30), _span(b, 5, 25)]) == 10.0
    # one after another: nothing at once
    assert overlap([_span(a, 0, 10), _span(b, 10, 20)]) == 0.0
    # one shop alone
    assert overlap([_span(a, 0, 10), _span(a, 5, 15)]) == 0.0
