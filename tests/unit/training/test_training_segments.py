"""Segments of the test targets: new vs returning users, cold vs warm target items."""

from __future__ import annotations

import pandas as pd

from shopseq.training.segments import label_segments, segment_metrics


def targets() -> pd.DataFrame:
    return pd.DataFrame({
        "user_id": ["u1", "u1", "u2", "u3"],
        "history": [["a"], ["a", "b"], ["c"], []],
        "target": ["b", "rare", "a", "unseen"],
    })


def test_users_without_training_sequences_are_new_and_rare_items_cold():
    vocabulary = pd.DataFrame({"item_id": ["a", "b", "rare"], "count": [10, 5, 4]})
    labels = label_segments(targets(), pd.Series(["u1", "u2"]), vocabulary, cold_max_count=5)
    assert labels["user"].tolist() == ["returning", "returning", "returning", "new"]
    assert labels["item"].tolist() == ["warm", "cold", "warm", "cold"]  # 5 is warm, 4 and never-seen are cold


def test_each_segment_is_evaluated_on_its_own_rows_and_empty_ones_are_none():
    vocabulary = pd.DataFrame({"item_id": ["a", "b"], "count": [10, 10]})
    frame = targets().iloc[:3]  # every user returning
    labels = label_segments(frame, pd.Series(["u1", "u2"]), vocabulary)
    out = segment_metrics(lambda rows: {"n_targets": len(rows), "targets": rows["target"].tolist()}, frame, labels)
    assert out["user:new"] is None
    assert out["user:returning"]["n_targets"] == 3
    assert out["item:cold"]["targets"] == ["rare"]
    assert out["item:warm"]["targets"] == ["b", "a"]
