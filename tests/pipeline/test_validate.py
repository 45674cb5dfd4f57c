"""The `validate` stage end to end on a tiny raw data set in a temporary project."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from shopseq import schema as s
from shopseq.config import load_params
from shopseq.io import read_json, write_parquet
from shopseq.stages import validate
from shopseq.validation import DataValidationError


def _raw_tables(n_events: int) -> dict[str, pd.DataFrame]:
    """Clean events over two items plus one bad price and one dangling item id."""
    rows = [
        (f"u{k}", f"i{k % 2}", "view", pd.Timestamp("2024-03-01", tz="UTC") + pd.Timedelta(minutes=k), 9.5)
        for k in range(n_events)
    ]
    rows += [("u-bad", "i0", "view", pd.Timestamp("2024-03-02", tz="UTC"), -1.0)]
    rows += [("u-lost", "i999", "cart", pd.Timestamp("2024-03-02", tz="UTC"), 5.0)]
    events = pd.DataFrame(rows, columns=[s.USER_ID, s.ITEM_ID, s.EVENT_TYPE, s.TS, s.PRICE])
    items = pd.DataFrame(
        {
            s.ITEM_ID: ["i0", "i1"],
            s.TITLE: ["Lamp", "Desk"],
            s.DESCRIPTION: ["bright", "sturdy"],
            s.CATEGORY: ["home", "home"],
        }
    )
    reviews = pd.DataFrame(
        {
            s.USER_ID: ["u1"],
            s.ITEM_ID: ["i1"],
            s.TS: [pd.Timestamp("2024-03-03", tz="UTC")],
            s.TEXT: ["solid"],
            s.RATING: [4.0],
        }
    )
    return {
        "events": s.conform(events, s.EVENTS),
        "items": s.conform(items, s.ITEMS),
        "reviews": s.conform(reviews, s.REVIEWS),
    }


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project directory with data/raw written by `ingest`, as cwd."""
    for name, frame in _raw_tables(n_events=10).items():
        write_parquet(frame, tmp_path / "data" / "raw" / f"{name}.parquet")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _write_params(root: Path, min_rows: int) -> None:
    (root / "params.yaml").write_text(f"validate:\n  min_rows: {min_rows}\n  max_quarantine_share: 0.3\n")


def test_stage_writes_validated_quarantine_and_report(project: Path) -> None:
    _write_params(project, min_rows=5)
    validate.run(load_params())

    summary = read_json(project / "reports/validation/summary.json")
    assert summary["passed"] is True
    assert summary["tables"]["events"] == {
        "passed": True,
        "rows_in": 12,
        "rows_accepted": 10,
        "rows_quarantined": 2,
        "quarantine_reasons": {"price_out_of_range": 1, "item_not_in_catalogue": 1},
        "errors": [],
    }
    assert summary["rows_in"] == summary["rows_accepted"] + summary["rows_quarantined"] == 15

    validated = pd.read_parquet(project / "data/validated/events.parquet")
    assert len(validated) == 10 and "u-bad" not in set(validated[s.USER_ID])
    raw = pd.read_parquet(project / "data/raw/events.parquet")
    assert validated.dtypes.to_dict() == raw.dtypes.to_dict()
    quarantined = pd.read_parquet(project / "data/quarantine/events.parquet")
    assert quarantined[[s.USER_ID, s.REASON, s.SOURCE_ROW]].values.tolist() == [
        ["u-bad", "price_out_of_range", 10],
        ["u-lost", "item_not_in_catalogue", 11],
    ]
    assert len(pd.read_parquet(project / "data/quarantine/items.parquet")) == 0
    assert (project / "reports/validation/docs/index.html").exists()
    assert not (project / "gx").exists() and not (project / "great_expectations").exists()


def test_same_data_same_version(project: Path) -> None:
    _write_params(project, min_rows=5)
    validate.run(load_params())
    first = read_json(project / "reports/validation/summary.json")["data_version"]
    validate.run(load_params())
    assert read_json(project / "reports/validation/summary.json")["data_version"] == first
    assert first.startswith("dv-")


def test_table_level_failure_reports_then_stops(project: Path) -> None:
    _write_params(project, min_rows=50)
    with pytest.raises(
        DataValidationError, match=r"^data validation failed: events: min_rows: 12 rows, need at least 50"
    ):
        validate.run(load_params())

    summary = read_json(project / "reports/validation/summary.json")
    assert summary["passed"] is False
    assert summary["errors"] == ["events: min_rows: 12 rows, need at least 50 (validate.min_rows)"]
    assert (project / "reports/validation/docs/index.html").exists()
    assert (project / "data/quarantine/events.parquet").exists()
    assert not (project / "data/validated").exists()
