"""Committed results name no path of this machine: the shared data is `$DATA`, the repository's paths are relative."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
BENCHMARKS = ROOT / "benchmarks"


def machine_paths_in(folder: Path, machine_paths: list[str]) -> list[str]:
    """'file: path' for every written file under `folder` that names one of `machine_paths`."""
    return [f"{file.relative_to(folder)}: {path}" for file in sorted(folder.rglob("*")) if file.is_file()
            for path in machine_paths if path in file.read_text(errors="replace")]


def tiny_taobao(path: Path) -> None:
    """Three days of views by 40 users over 30 items, in Taobao's UserBehavior layout (a temporal split fits)."""
    start, lines = 1511539200, []
    for user in range(1, 41):
        for step in range(10):
            item = (user * 7 + step * 3) % 30 + 1
            lines.append(f"{user},{item},{item % 5},pv,{start + user * 1800 + step * 21600}")
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.slow  # runs the real `shopseq benchmark quality` (baselines only): ~20 s, mostly imports
def test_quality_results_name_the_data_as_DATA_and_the_repository_relatively(script, tmp_path, monkeypatch):
    """The real benchmark records the --path it was given; the files quality.py leaves must not."""
    data, results = tmp_path / "shared-data", tmp_path / "results"
    data.mkdir()
    tiny_taobao(data / "tiny.csv")
    monkeypatch.setattr(script, "DATASETS", {"tiny": ("taobao", "tiny.csv", ["--valid-days", "1", "--test-days", "1"])})
    monkeypatch.setattr(sys, "argv", ["quality.py", "--data", str(data), "--out", str(results), "--only", "tiny",
                                      "--families", "", "--seeds", "1", "--timeout", "300"])

    script.main()

    report = json.loads((results / "quality" / "tiny" / "quality.json").read_text())
    assert report["path"] == "$DATA/tiny.csv"
    assert "--path $DATA/tiny.csv" in (results / "quality" / "tiny" / "command.txt").read_text()
    assert "--params params.yaml" in (results / "quality" / "tiny" / "command.txt").read_text()
    assert machine_paths_in(results, [str(data), str(ROOT), sys.prefix]) == []


def test_a_failed_runs_reasons_are_rewritten_too(script, tmp_path):
    """A skip or peer failure quotes what the process said, paths included; the rewrite covers every file it leaves."""
    data = tmp_path / "shared-data"
    (tmp_path / "skipped.txt").write_text(f"cannot read {data}/absent.csv\n")
    (tmp_path / "peer_error.txt").write_text(f"FileNotFoundError: {ROOT}/benchmarks/results/quality/x/split\n")
    (tmp_path / "quality.json").write_text(json.dumps({"path": str(data / "x"), "peer": {"command": f"{ROOT}/a.py"}}))

    script.make_portable(tmp_path, data)

    assert (tmp_path / "skipped.txt").read_text() == "cannot read $DATA/absent.csv\n"
    assert (tmp_path / "peer_error.txt").read_text() == "FileNotFoundError: benchmarks/results/quality/x/split\n"
    assert json.loads((tmp_path / "quality.json").read_text()) == {"path": "$DATA/x", "peer": {"command": "a.py"}}


def test_the_peer_command_quality_records_is_relative_to_the_repository(script, tmp_path):
    """quality.py calls recbole_peer.py by its absolute path; command.txt must not keep it."""
    fake_python = tmp_path / "python"  # RecBole's venv is absent here: a stand-in python that accepts any command
    fake_python.write_text("#!/bin/sh\nexit 0\n")
    fake_python.chmod(0o755)
    (tmp_path / "quality.json").write_text(json.dumps({"dataset": "d", "rows": []}))
    (tmp_path / "command.txt").write_text("shopseq benchmark quality --source synthetic\n")
    args = argparse.Namespace(peer=str(fake_python), peer_epochs=None, timeout=60.0, peer_lrs="0.001",
                              peer_models="recbole_gru4rec")

    script.run_peer(args, tmp_path)

    line = (tmp_path / "command.txt").read_text().splitlines()[-1]
    assert line.startswith("$RECBOLE_PYTHON benchmarks/recbole_peer.py --out ")
    assert str(ROOT) not in line and str(fake_python) not in line


def write_split_with_a_trained_grid_point(out: Path) -> None:
    """A benchmark folder whose split already holds RecBole's result at lr 0.001 (as a one-rate run leaves it)."""
    split = out / "split"
    split.mkdir(parents=True)
    (split / "items.json").write_text('["a", "b"]')
    (split / "train.jsonl").write_text('{"items": ["a", "b"]}\n')
    (split / "valid.jsonl").write_text('{"history": ["a"], "target": "b"}\n')
    (split / "test.jsonl").write_text('{"history": ["a"], "target": "b"}\n')
    (out / "quality.json").write_text(json.dumps({"dataset": "d", "epochs": 30, "hyperparameters": {"patience": 5},
                                                  "rows": []}))
    trained = {"model": "recbole_sasrec", "ndcg@10": 1.0, "lr": 0.001, "valid_ndcg@10": 1.0, "best_epoch": 2,
               "epochs_trained": 7, "train_seconds": 3.0, "per_target": [1.0]}
    (split / "peer_recbole_sasrec_lr0.001_epochs30_patience5.json").write_text(json.dumps(trained))


def test_the_peer_records_its_command_as_a_reader_reruns_it(peer, tmp_path, monkeypatch):
    out = tmp_path / "rees46"
    write_split_with_a_trained_grid_point(out)
    monkeypatch.setattr(peer, "_version", lambda: "1.2.1")  # RecBole itself is not installed in shopseq's venv
    monkeypatch.setattr(sys, "argv", [str(BENCHMARKS / "recbole_peer.py"), "--out", str(out), "--models", "recbole_sasrec",
                                      "--lrs", "0.001"])

    peer.main()  # the grid point is read back, not trained

    report = json.loads((out / "quality.json").read_text())
    assert report["peer"]["command"] == f"$RECBOLE_PYTHON benchmarks/recbole_peer.py --out {out} --models recbole_sasrec --lrs 0.001"
    assert machine_paths_in(out, [str(ROOT), sys.executable]) == []


@pytest.mark.parametrize("argv_out", ["--out", "--out="])
def test_an_out_folder_inside_the_repository_is_recorded_relative_to_its_root(peer, monkeypatch, argv_out):
    monkeypatch.chdir(BENCHMARKS)  # called from benchmarks/ with a path relative to it
    out = Path("results/quality/rees46")
    argv = [f"--out={out}"] if argv_out == "--out=" else ["--out", str(out)]

    command = peer.recorded_command([*argv, "--lrs", "0.003"], out)

    expected_out = "--out=benchmarks/results/quality/rees46" if argv_out == "--out=" else "--out benchmarks/results/quality/rees46"
    assert command == f"$RECBOLE_PYTHON benchmarks/recbole_peer.py {expected_out} --lrs 0.003"
