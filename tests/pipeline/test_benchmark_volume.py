"""`shopseq benchmark volume`: every stage timed in its own process, and every row accounted for."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from shopseq.cli import app
from shopseq.io import read_json

from shared_samples import sample
from tiny import write_tiny_params

TAOBAO = "taobao_userbehavior/UserBehavior_head_users.csv.gz"
KEYS = {"events", "engine", "stage", "seconds", "peak_mb", "rows_in", "rows_accepted", "rows_quarantined"}


def test_volume_benchmark_grows_the_sample_and_counts_add_up_at_every_size(tmp_path: Path) -> None:
    # Events before the sample's week are quarantined: each copy of the sample brings its own.
    write_tiny_params(tmp_path, validate={"min_rows": 50, "earliest_ts": "2017-11-24"})
    out = tmp_path / "out"
    args = ["--params", str(tmp_path / "params.yaml"), "benchmark", "volume", "--source", "taobao",
            "--path", str(sample(TAOBAO)), "--events", "84475,168950", "--engine", "embedded", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = read_json(out / "volume.json")["rows"]
    assert [(r["events"], r["stage"]) for r in rows] == [
        (n, stage) for n in (84_475, 168_950) for stage in ("ingest", "validate", "sequences")
    ]
    for row in rows:
        assert set(row) == KEYS and row["engine"] == "embedded"
        assert row["rows_in"] == row["rows_accepted"] + row["rows_quarantined"]
        assert row["seconds"] > 0 and row["peak_mb"] > 50  # a Python process with pandas loaded
    ingest = [r for r in rows if r["stage"] == "ingest"]
    assert [r["rows_in"] for r in ingest] == [84_475, 168_950]
    validate = {r["events"]: r for r in rows if r["stage"] == "validate"}
    once, twice = validate[84_475]["rows_quarantined"], validate[168_950]["rows_quarantined"]
    assert once > 0 and twice == 2 * once  # the sample once, then twice (the catalogue is the same)
    assert not (out / "work").exists() or not any((out / "work").iterdir())  # grown data removed
