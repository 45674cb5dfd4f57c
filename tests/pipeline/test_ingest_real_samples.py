"""Real public-format data through the CLI and the ingest stage: counts add up and decisions are reported."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from shopseq.cli import app
from shopseq.config import from_dict, Params
from shopseq.io import read_json

from shared_samples import sample

REPO = Path(__file__).parents[2]
FIXTURES = REPO / "tests" / "unit" / "data" / "fixtures"
TAOBAO = "taobao_userbehavior/UserBehavior_head_users.csv.gz"


def _check_data(tmp_path: Path, source: str, path: Path, min_rows: int = 100) -> dict:
    params = tmp_path / "params.yaml"
    params.write_text(f"validate:\n  min_rows: {min_rows}\n")
    out = tmp_path / "out"
    args = ["--params", str(params), "check-data", "--source", source, "--path", str(path), "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return read_json(out / "summary.json")


def _assert_counts_add_up(summary: dict) -> None:
    assert summary["rows_in"] == summary["rows_accepted"] + summary["rows_quarantined"]
    for table in summary["tables"].values():
        assert table["rows_in"] == table["rows_accepted"] + table["rows_quarantined"]
    assert sum(summary["quarantine_reasons"].values()) == summary["rows_quarantined"]


def test_check_data_on_the_taobao_sample_accounts_for_every_row(tmp_path: Path) -> None:
    summary = _check_data(tmp_path, "taobao", sample(TAOBAO))
    _assert_counts_add_up(summary)
    assert summary["passed"] is True
    assert summary["tables"]["events"]["rows_in"] == 84_475
    assert summary["tables"]["items"]["rows_in"] == 55_368
    ingest = summary["ingest"]
    assert ingest["source"] == "taobao" and ingest["files"] == [str(sample(TAOBAO))]
    assert ingest["notes"]["items_without_metadata"] == 55_368
    assert ingest["notes"]["duplicate_rows_dropped"] == 0


@pytest.mark.parametrize("source", ["retailrocket", "yoochoose"])
def test_check_data_on_hand_written_fixtures_passes_every_row_rule(tmp_path: Path, source: str) -> None:
    summary = _check_data(tmp_path, source, FIXTURES / source, min_rows=5)
    _assert_counts_add_up(summary)
    # The fixture's one exact duplicate row is quarantined as `duplicate`, not dropped unseen.
    assert summary["passed"] is True and summary["quarantine_reasons"] == {"duplicate": 1}
    assert summary["ingest"]["notes"]["duplicate_rows_dropped"] == 1


def test_ingest_stage_writes_the_adapters_notes_into_its_metrics(tmp_path: Path) -> None:
    raw = {
        "paths": {"raw": str(tmp_path / "raw"), "reports": str(tmp_path / "reports")},
        "ingest": {"source": "yoochoose", "path": str(FIXTURES / "yoochoose")},
    }
    from shopseq.stages import ingest

    ingest.run(from_dict(Params, raw))
    metrics = read_json(tmp_path / "reports" / "ingest" / "metrics.json")
    assert (metrics["source"], metrics["events"]) == ("yoochoose", 20)
    assert metrics["notes"]["session_only_users"] == 8
    assert metrics["notes"]["unknown_price_set_null"] == 1
    assert (tmp_path / "raw" / "events.parquet").exists()


def test_rows_ingest_takes_out_reach_the_validation_report(tmp_path: Path) -> None:
    """The yoochoose fixture's exact duplicate goes ingest -> raw/events_rejected -> quarantine."""
    raw = {
        "paths": {
            "raw": str(tmp_path / "raw"),
            "reports": str(tmp_path / "reports"),
            "validated": str(tmp_path / "validated"),
            "quarantine": str(tmp_path / "quarantine"),
        },
        "ingest": {"source": "yoochoose", "path": str(FIXTURES / "yoochoose")},
        "validate": {"min_rows": 5},
    }
    from shopseq.stages import ingest, validate

    params = from_dict(Params, raw)
    ingest.run(params)
    validate.run(params)
    summary = read_json(tmp_path / "reports" / "validation" / "summary.json")
    _assert_counts_add_up(summary)
    events = summary["tables"]["events"]
    assert events["rows_in"] == 21 and events["quarantine_reasons"] == {"duplicate": 1}
    # What ingest decided on the data's behalf is counted in the validation report too.
    assert summary["ingest"]["notes"]["session_only_users"] == 8
    quarantined = pd.read_parquet(tmp_path / "quarantine" / "events.parquet")
    assert quarantined["reason"].tolist() == ["duplicate"]
    assert quarantined["detail"].str.contains("session_id=").all()
