"""`shopseq check-data` on canonical CSV files: a good set, a table failure, a missing column."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from shopseq.cli import UserError, app
from shopseq.config import load_params
from shopseq.io import read_json
from shopseq.validation.check import check_data


def _write_shop(directory: Path, n_events: int = 8, drop: str | None = None) -> Path:
    """Canonical CSVs: `n_events` clean views plus one unknown event type; `drop` an events column."""
    directory.mkdir(parents=True)
    events = pd.DataFrame(
        {
            "user_id": [f"u{k}" for k in range(n_events)] + ["u-odd"],
            "item_id": [f"i{k % 2}" for k in range(n_events)] + ["i0"],
            "event_type": ["view"] * n_events + ["teleport"],
            "ts": [f"2024-03-01T10:{k:02d}:00Z" for k in range(n_events + 1)],
            "price": [9.5] * (n_events + 1),
        }
    )
    items = pd.DataFrame(
        {
            "item_id": ["i0", "i1"],
            "title": ["Lamp", "Desk"],
            "description": ["bright", "sturdy"],
            "category": ["home", "home"],
        }
    )
    reviews = pd.DataFrame(
        {
            "user_id": ["u1"],
            "item_id": ["i1"],
            "ts": ["2024-03-02T00:00:00Z"],
            "text": ["solid"],
            "rating": [4],
        }
    )
    (events.drop(columns=[drop]) if drop else events).to_csv(directory / "events.csv", index=False)
    items.to_csv(directory / "items.csv", index=False)
    reviews.to_csv(directory / "reviews.csv", index=False)
    return directory


@pytest.fixture
def params_file(tmp_path: Path) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text("validate:\n  min_rows: 5\n  max_quarantine_share: 0.3\n")
    return path


def _args(params: Path, shop: Path, out: Path) -> list[str]:
    return [
        "--params",
        str(params),
        "check-data",
        "--source",
        "canonical",
        "--path",
        str(shop),
        "--out",
        str(out),
    ]


def test_good_files_pass_with_quarantine_and_docs(tmp_path: Path, params_file: Path) -> None:
    shop, out = _write_shop(tmp_path / "shop"), tmp_path / "out"
    result = CliRunner().invoke(app, _args(params_file, shop, out))
    assert result.exit_code == 0, result.output
    summary = read_json(out / "summary.json")
    assert summary["passed"] is True
    assert (summary["rows_in"], summary["rows_quarantined"]) == (12, 1)
    assert summary["quarantine_reasons"] == {"unknown_event_type": 1}
    quarantined = pd.read_parquet(out / "quarantine" / "events.parquet")
    assert quarantined[["user_id", "reason", "source_row"]].values.tolist() == [
        ["u-odd", "unknown_event_type", 8]
    ]
    assert sorted(p.name for p in (out / "quarantine").iterdir()) == [
        "events.parquet",
        "items.parquet",
        "reviews.parquet",
    ]
    assert (out / "docs" / "index.html").exists()


def test_table_failure_is_reported_not_raised(tmp_path: Path, params_file: Path) -> None:
    shop, out = _write_shop(tmp_path / "shop", n_events=3), tmp_path / "out"
    params = load_params(params_file)
    summary = check_data("canonical", shop, out, params.ingest, params.validate, params.base.seed)
    assert summary["passed"] is False
    # Each error line names the data it is about, so it can be read alone (e.g. in a CI log).
    assert read_json(out / "summary.json")["tables"]["events"]["errors"][0].startswith(
        f"{shop}: events: min_rows: 4 rows"
    )

    result = CliRunner().invoke(app, _args(params_file, shop, tmp_path / "out2"))
    assert result.exit_code == 1
    assert isinstance(result.exception, UserError)
    assert str(result.exception) == f"{shop}: events: min_rows: 4 rows, need at least 5 (validate.min_rows)"


def test_missing_column_exits_1_with_one_readable_line(tmp_path: Path, params_file: Path) -> None:
    shop, out = _write_shop(tmp_path / "shop", drop="event_type"), tmp_path / "out"
    command = [sys.executable, "-m", "shopseq.cli", "--no-verbose", *_args(params_file, shop, out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr
    assert "events" in errors[0] and "event_type" in errors[0]
    assert "Traceback" not in done.stderr


def test_item_rows_built_from_events_are_counted_apart(tmp_path: Path, params_file: Path) -> None:
    """Taobao has no item file: the item rows validation checks are counted as built, not read."""
    lines = [f"{user},{item},7,pv,{1511544070 + k}" for k, (user, item) in enumerate(
        [(1, 10), (1, 11), (2, 10), (2, 12), (3, 11), (3, 12), (4, 10), (4, 13)]
    )]
    data = tmp_path / "UserBehavior.csv"
    data.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    args = ["--params", str(params_file), "check-data", "--source", "taobao", "--path", str(data), "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = read_json(out / "summary.json")
    assert summary["tables"]["events"]["rows_in"] == 8 and summary["tables"]["items"]["rows_in"] == 4
    assert (summary["rows_in"], summary["rows_read"], summary["rows_derived"]) == (12, 8, 4)
    assert summary["tables"]["items"]["rows_derived"] == 4 and summary["tables"]["events"]["rows_derived"] == 0
    assert "items 4 (built from the events' item ids: taobao has no item file), events 8" in result.output
