"""RecBole's per-target values line up with the benchmark's own: one value per row of split/test.jsonl, in order."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from shopseq.benchmarks.quality_choice import add_choice_and_comparisons, read_per_target, write_per_target

ITEMS = ["a", "b", "c", "d", "e"]
TEST_ROWS = [  # (history, target); "x" is not in the training catalogue
    (["a", "b"], "c"),
    (["x"], "a"),  # no known history item: RecBole cannot take it, a miss
    (["b"], "e"),
    (["c", "x", "d"], "x"),  # target outside the catalogue: a miss for every model
    (["d"], "a"),
]


@pytest.fixture
def split(tmp_path) -> Path:
    """A tiny split in the layout `shopseq benchmark quality` exports (`export_split`)."""
    directory = tmp_path / "split"
    directory.mkdir()
    (directory / "items.json").write_text(json.dumps(ITEMS))
    (directory / "train.jsonl").write_text("".join(json.dumps({"items": seq}) + "\n" for seq in (["a", "b", "c"], ["d", "e"])))
    rows = "".join(json.dumps({"history": h, "target": t}) + "\n" for h, t in TEST_ROWS)
    (directory / "valid.jsonl").write_text(json.dumps({"history": ["a"], "target": "b"}) + "\n")
    (directory / "test.jsonl").write_text(rows)
    return directory


def rank_rule(target_index: int) -> float:
    """A content-dependent stand-in score: NDCG@10 of rank `target_index * 3`, so a misaligned row shows."""
    rank = target_index * 3
    return 1.0 / np.log2(rank + 2.0) if rank < 10 else 0.0


def test_each_test_row_gets_its_session_or_none_in_file_order(peer, split, tmp_path):
    token = {item: f"i{n}" for n, item in enumerate(ITEMS)}

    sessions = peer.write_benchmark_files(split, tmp_path / "files", token)

    assert len(sessions) == len(TEST_ROWS)
    assert [s is None for s in sessions] == [False, True, False, True, False]
    written = [line.split("\t") for line in (tmp_path / "files" / "shopseq.test.inter").read_text().splitlines()[1:]]
    assert [row[0] for row in written] == [s for s in sessions if s is not None]
    assert [row[2] for row in written] == [token[t] for h, t in TEST_ROWS if t in token and any(i in token for i in h)]


def test_per_target_file_lines_up_with_the_benchmarks_rows_on_the_same_targets(peer, split, tmp_path):
    token = {item: f"i{n}" for n, item in enumerate(ITEMS)}
    sessions = peer.write_benchmark_files(split, tmp_path / "files", token)
    # What RecBole scores: keyed by session, from the rows of the file it was given (any order).
    lines = [line.split("\t") for line in (tmp_path / "files" / "shopseq.test.inter").read_text().splitlines()[1:]]
    scored = {session: rank_rule(int(target[1:])) for session, _, target, _ in reversed(lines)}

    peer.write_per_target(tmp_path, "recbole_sasrec", peer.in_test_order(sessions, scored))

    # The benchmark's side: the same rule on split/test.jsonl, row by row; misses are 0.
    ours = [rank_rule(ITEMS.index(t)) if t in ITEMS and any(i in ITEMS for i in h) else 0.0 for h, t in TEST_ROWS]
    theirs = read_per_target(tmp_path, "recbole_sasrec")  # shopseq's reader accepts the peer's file
    np.testing.assert_allclose(theirs, ours, atol=1e-6)
    assert theirs[1] == 0.0 and theirs[3] == 0.0


def test_the_peer_file_gives_the_shopseq_comparison(peer, split, tmp_path):
    values = [1.0, 0.0, 0.5, 0.0, 0.0]
    write_per_target(tmp_path, "gru", np.array([1.0, 1.0, 0.5, 0.0, 1.0]))
    peer.write_per_target(tmp_path, "recbole_gru4rec", values)
    rows = [{"model": "gru", "ndcg@10": 0.7, "valid_ndcg@10": 0.3, "family": "gru"},
            {"model": "recbole_gru4rec", "ndcg@10": 0.3, "valid_ndcg@10": 0.2}]

    report = add_choice_and_comparisons({"rows": rows}, tmp_path, ("markov",), seed=0)

    [comparison] = report["comparisons"]
    assert (comparison["a"], comparison["b"], comparison["b_is"]) == ("shopseq", "recbole_gru4rec", "peer")
    assert comparison["diff"] == 0.4


def test_values_for_another_split_are_refused(peer, split, tmp_path):
    with pytest.raises(SystemExit, match="4 per-target values for 5 rows"):
        peer.write_per_target(tmp_path, "recbole_sasrec", [0.0] * 4)


def test_a_written_row_without_a_score_or_a_stray_score_is_an_error(peer):
    with pytest.raises(SystemExit, match="no value for 1 test rows"):
        peer.in_test_order(["s1", None, "s2"], {"s1": 1.0})
    with pytest.raises(SystemExit, match="1 sessions that are not test rows"):
        peer.in_test_order(["s1"], {"s1": 1.0, "s9": 0.5})
    assert peer.in_test_order(["s2", None, "s1"], {"s1": 1.0, "s2": 0.5}) == [0.5, 0.0, 1.0]


def test_a_grid_point_trained_earlier_on_this_split_is_read_back_not_retrained(peer, split, tmp_path, monkeypatch):
    trained = []

    def train(out, name, epochs, patience, lr):
        trained.append(lr)
        return {"model": name, "lr": lr, "valid_ndcg@10": lr * 10}

    monkeypatch.setattr(peer, "_train_in_process", train)  # RecBole itself is not installed in shopseq's venv
    digest = peer.split_digest(split)
    first = peer.trained_or_cached(tmp_path, "recbole_sasrec", 30, 5, 0.003)
    again = peer.trained_or_cached(tmp_path, "recbole_sasrec", 30, 5, 0.003)
    other_budget = peer.trained_or_cached(tmp_path, "recbole_sasrec", 6, 5, 0.003)

    assert first == again and trained == [0.003, 0.003]  # the second call read the first back; 6 epochs trained anew
    assert other_budget["lr"] == 0.003
    assert peer.split_digest(split) == digest  # saved grid points do not change the split's digest
