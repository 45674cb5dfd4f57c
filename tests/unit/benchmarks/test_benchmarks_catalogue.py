"""The catalogue benchmark on tiny sizes: the contract's keys, per-row subprocesses, out of memory as a status."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from shopseq.benchmarks.catalogue import CatalogueBenchOptions, synthetic_sequences
from shopseq.cli import app

ROW_KEYS = {"n_items", "loss", "step_seconds", "train_peak_mb", "score_seconds_per_1000_users", "serve_p99_ms",
            "serve_peak_mb", "status"}


def test_tiny_catalogues_write_the_contract_and_a_size_too_big_is_out_of_memory(tmp_path):
    # 1,200 MB holds the interpreter, torch and a 300-item model; 200,000 items of full-softmax logits
    # for 64 x 50 positions (2.6 GB) do not fit, so that row must say so instead of crashing the run.
    done = CliRunner().invoke(app, [
        "benchmark", "catalogue", "--sizes", "300,200000", "--loss", "full,sampled", "--out", str(tmp_path),
        "--steps", "1", "--serve-seconds", "0.5", "--score-users", "20", "--memory-limit-mb", "1200",
    ])
    assert done.exit_code == 0, done.output
    report = json.loads((tmp_path / "catalogue.json").read_text())
    rows = {(row["n_items"], row["loss"]): row for row in report["rows"]}
    assert list(rows) == [(300, "full"), (300, "sampled"), (200000, "full"), (200000, "sampled")]
    assert all(ROW_KEYS <= set(row) for row in rows.values())
    for key in [(300, "full"), (300, "sampled"), (200000, "sampled")]:
        row = rows[key]
        assert row["status"] == "ok", row
        assert row["step_seconds"] > 0 and row["train_peak_mb"] > 0 and row["serve_p99_ms"] > 0
        assert row["score_seconds_per_1000_users"] > 0 and row["serve_peak_mb"] > 0
    assert rows[(200000, "full")]["status"] == "out_of_memory"
    assert rows[(200000, "full")]["step_seconds"] is None
    assert rows[(200000, "full")]["serve_p99_ms"] is not None  # serving that size still ran
    assert report["machine"]["cores"] >= 1 and report["machine"]["memory_mb"] > 0
    assert (tmp_path / "catalogue.md").read_text().count("\n| ") == 5  # header + 4 rows


def test_serving_through_the_index_reports_its_recall_build_time_and_memory(tmp_path):
    done = CliRunner().invoke(app, [
        "benchmark", "catalogue", "--sizes", "3000", "--loss", "sampled", "--out", str(tmp_path), "--steps", "2",
        "--serve-seconds", "0.5", "--score-users", "20", "--serve-index", "approximate",
    ])
    assert done.exit_code == 0, done.output
    [row] = json.loads((tmp_path / "catalogue.json").read_text())["rows"]
    assert row["status"] == "ok" and row["serve_index"] == "approximate" and row["timed_steps"] == 2
    assert 0.0 < row["recall_at_k_vs_exact"] <= 1.0
    assert row["index_build_seconds"] >= 0 and row["index_mb"] >= 0 and row["index_lists"] == 219  # 4 x sqrt(3000)
    assert "| approximate |" in (tmp_path / "catalogue.md").read_text()


@pytest.mark.parametrize("kwargs, message", [
    ({"losses": ("full", "hinge")}, "unknown loss"),
    ({"sizes": (1,)}, "sizes must be"),
    ({"serve_index": "hnsw"}, "serve index 'hnsw'"),
])
def test_options_name_what_is_wrong(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CatalogueBenchOptions(**kwargs)


def test_a_bad_loss_on_the_command_line_is_one_line(tmp_path):
    done = CliRunner().invoke(app, ["benchmark", "catalogue", "--loss", "hinge", "--out", str(tmp_path)])
    assert done.exit_code != 0 and "unknown loss(es) ['hinge']" in str(done.exception)  # main() prints it as one line


def test_synthetic_sequences_cover_the_catalogue_with_a_long_tail():
    sequences = synthetic_sequences(1000, 200, 50, seed=0)
    items = [item for seq in sequences for item in seq]
    assert min(items) >= 1 and max(items) <= 1000
    assert items.count(1) > 10 * max(items.count(900), 1)  # popular head, long tail
