"""Rerunning the quality benchmark keeps RecBole's rows only while the split they were scored on is unchanged."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest


def write_run(out: Path, rows: list[dict], commands: list[str], test_rows: str = '{"history": ["a"], "target": "b"}\n'):
    (out / "split").mkdir(parents=True, exist_ok=True)
    (out / "split" / "items.json").write_text('["a", "b"]')
    (out / "split" / "train.jsonl").write_text('{"items": ["a", "b"]}\n')
    (out / "split" / "valid.jsonl").write_text('{"history": ["a"], "target": "b"}\n')
    (out / "split" / "test.jsonl").write_text(test_rows)
    (out / "quality.json").write_text(json.dumps({"dataset": "d", "rows": rows}))
    (out / "command.txt").write_text("\n".join(commands) + "\n")


def row(model: str, ndcg: float) -> dict:
    return {"model": model, "ndcg@10": ndcg, "hr@10": 0.0, "mrr@20": 0.0, "recall@20": 0.0,
            "train_seconds": 1.0, "peak_mb": 1.0}


def test_peer_rows_survive_a_rerun_on_the_identical_split(script, tmp_path):
    write_run(tmp_path, [row("markov", 0.3), row("recbole_sasrec", 0.2)],
              ["shopseq benchmark quality --source synthetic", "$RECBOLE_PYTHON benchmarks/recbole_peer.py --epochs 6"])
    previous = script.previous_peer(tmp_path)
    write_run(tmp_path, [row("markov", 0.31)], ["shopseq benchmark quality --source synthetic"])  # the rerun

    script.keep_peer(tmp_path, previous)

    report = json.loads((tmp_path / "quality.json").read_text())
    assert [(r["model"], r["ndcg@10"]) for r in report["rows"]] == [("markov", 0.31), ("recbole_sasrec", 0.2)]
    assert report["peer"]["split_sha256"] == script.split_digest(tmp_path / "split")
    assert (tmp_path / "command.txt").read_text().splitlines()[-1].startswith("$RECBOLE_PYTHON")
    assert "recbole_sasrec" in (tmp_path / "quality.md").read_text()


def test_peer_rows_are_dropped_when_the_rerun_wrote_a_different_split(script, tmp_path, capsys):
    write_run(tmp_path, [row("markov", 0.3), row("recbole_sasrec", 0.2)], ["shopseq", "$RECBOLE_PYTHON benchmarks/recbole_peer.py --epochs 6"])
    previous = script.previous_peer(tmp_path)
    write_run(tmp_path, [row("markov", 0.31)], ["shopseq"], test_rows='{"history": ["b"], "target": "a"}\n')

    script.keep_peer(tmp_path, previous)

    report = json.loads((tmp_path / "quality.json").read_text())
    assert [r["model"] for r in report["rows"]] == ["markov"]
    assert "split changed" in capsys.readouterr().out


def test_a_fresh_clone_keeps_peer_rows_by_their_recorded_digest_without_the_split_folder(script, tmp_path):
    """split/ is not committed: a rerun in a fresh clone knows the peer's split only by its recorded digest."""
    import shutil

    write_run(tmp_path, [row("markov", 0.3), row("recbole_sasrec", 0.2)], ["shopseq", "$RECBOLE_PYTHON recbole_peer.py"])
    digest = script.split_digest(tmp_path / "split")
    report = json.loads((tmp_path / "quality.json").read_text())
    (tmp_path / "quality.json").write_text(json.dumps({**report, "peer": {"epochs": 6, "split_sha256": digest}}))
    shutil.rmtree(tmp_path / "split")  # a fresh clone
    previous = script.previous_peer(tmp_path)
    write_run(tmp_path, [row("markov", 0.31)], ["shopseq"])  # the rerun writes the identical split

    script.keep_peer(tmp_path, previous)

    assert [r["model"] for r in json.loads((tmp_path / "quality.json").read_text())["rows"]] == ["markov", "recbole_sasrec"]


def test_a_run_without_peer_rows_has_nothing_to_keep(script, tmp_path):
    write_run(tmp_path, [row("markov", 0.3)], ["shopseq"])
    assert script.previous_peer(tmp_path) is None


@pytest.fixture
def fake_python(tmp_path) -> Path:
    """RecBole lives in its own venv, absent here: a stand-in "python" records the command it was given."""
    path = tmp_path / "python"
    path.write_text(f'#!/bin/sh\necho "$@" > {tmp_path / "argv.txt"}\n')
    path.chmod(0o755)
    return path


def test_peer_models_choose_which_recbole_rows_train(script, tmp_path, fake_python):
    write_run(tmp_path, [row("markov", 0.3)], ["shopseq benchmark quality --source synthetic"])
    args = argparse.Namespace(peer=str(fake_python), peer_epochs=None, epochs=6, timeout=60.0, peer_lrs=None,
                              peer_models="recbole_sasrec")

    script.run_peer(args, tmp_path)

    argv = (tmp_path / "argv.txt").read_text().split()
    assert argv[-2:] == ["--models", "recbole_sasrec"]
    assert "--epochs" not in argv  # the peer reads the epochs and patience our models got from quality.json
    assert (tmp_path / "command.txt").read_text().splitlines()[-1].endswith("--models recbole_sasrec")


def test_peer_lrs_narrow_the_learning_rate_grid(script, tmp_path, fake_python):
    write_run(tmp_path, [row("markov", 0.3)], ["shopseq"])
    args = argparse.Namespace(peer=str(fake_python), peer_epochs=None, epochs=None, timeout=60.0, peer_lrs="0.001,0.003",
                              peer_models="recbole_sasrec,recbole_gru4rec")

    script.run_peer(args, tmp_path)

    argv = (tmp_path / "argv.txt").read_text().split()
    assert argv[argv.index("--lrs") + 1] == "0.001,0.003"
    assert (tmp_path / "command.txt").read_text().splitlines()[-1].endswith("--lrs 0.001,0.003")  # recorded for a rerun


def test_both_peer_models_by_default(script, tmp_path, fake_python):
    write_run(tmp_path, [row("markov", 0.3)], ["shopseq"])
    args = argparse.Namespace(peer=str(fake_python), peer_epochs=3, epochs=None, timeout=60.0, peer_lrs=None,
                              peer_models="recbole_sasrec,recbole_gru4rec")

    script.run_peer(args, tmp_path)

    argv = (tmp_path / "argv.txt").read_text().split()
    assert "--models" not in argv  # recbole_peer.py's own default: every model
    assert argv[argv.index("--epochs") + 1] == "3"


def test_a_peer_run_for_one_model_keeps_the_other_models_command(script, tmp_path, fake_python):
    sasrec = "$RECBOLE_PYTHON benchmarks/recbole_peer.py --out o --epochs 6 --models recbole_sasrec"
    write_run(tmp_path, [row("markov", 0.3), row("recbole_sasrec", 0.2)], ["shopseq", sasrec])
    args = argparse.Namespace(peer=str(fake_python), peer_epochs=6, epochs=None, timeout=60.0, peer_lrs=None,
                              peer_models="recbole_gru4rec")

    script.run_peer(args, tmp_path)

    commands = (tmp_path / "command.txt").read_text().splitlines()
    assert commands[:2] == ["shopseq", sasrec]
    assert commands[2].endswith("--models recbole_gru4rec")

    args.peer_models = "recbole_sasrec,recbole_gru4rec"  # a run of both replaces both lines
    script.run_peer(args, tmp_path)

    commands = (tmp_path / "command.txt").read_text().splitlines()
    assert len(commands) == 2 and "--models" not in commands[1]


def test_a_run_of_both_peers_is_dropped_once_each_has_been_rerun_alone(script, tmp_path, fake_python):
    both = "$RECBOLE_PYTHON benchmarks/recbole_peer.py --out o --epochs 6"
    sasrec = "$RECBOLE_PYTHON benchmarks/recbole_peer.py --out o --models recbole_sasrec --lrs 0.001,0.003"
    write_run(tmp_path, [row("markov", 0.3)], ["shopseq", both, sasrec])
    args = argparse.Namespace(peer=str(fake_python), peer_epochs=None, epochs=None, timeout=60.0, peer_lrs="0.001",
                              peer_models="recbole_gru4rec")

    script.run_peer(args, tmp_path)

    commands = (tmp_path / "command.txt").read_text().splitlines()
    assert commands[:2] == ["shopseq", sasrec]  # the 6-epoch run of both made no row that is still there
    assert commands[2].endswith("--models recbole_gru4rec --lrs 0.001") and len(commands) == 3

def test_the_page_names_each_fair_peer_rows_rate_grid_epochs_and_times(script):
    fair = {"model": "recbole_sasrec", "settings": {"lr": 0.003, "max_epochs": 30, "patience": 5}, "best_epoch": 7,
            "epochs_trained": 12, "train_seconds_to_best": 100.2, "train_seconds": 170.0,
            "lr_grid": [{"lr": 0.001, "valid_ndcg@10": 0.1, "epochs_trained": 30},
                        {"lr": 0.003, "valid_ndcg@10": 0.12, "epochs_trained": 12}]}
    old = row("recbole_gru4rec", 0.1)  # from before the fair rerun: no settings, said so

    line, older = script._peer_settings({"rows": [row("markov", 0.3), fair, old]})

    assert older.startswith("  - recbole_gru4rec: an older run from before the fair rules")
    assert line.startswith("  - recbole_sasrec: lr 0.003 chosen on validation")
    assert "0.001 → 0.1000 (30 epochs), 0.003 → 0.1200 (12 epochs)" in line
    assert "best epoch 7 of 12 (at most 30, patience 5); 100 s to the best epoch, 170 s in total" in line
