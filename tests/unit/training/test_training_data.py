"""Training inputs: text vectors line up with the vocabulary (padding row 0), windows index it, validation is sampled."""

from __future__ import annotations

import numpy as np
import pandas as pd

from shopseq import schema as s
from shopseq.config import Train
from shopseq.sequences.split import HISTORY, TARGET
from shopseq.sequences.text_vectors import vocabulary_rows
from shopseq.training.data import training_data


def test_text_vectors_follow_the_vocabulary_order():
    vectors = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0], [5.0, 5.0]], dtype=np.float32)
    ids = np.array(["b", "a", "x", "a"])  # "a" twice: its last vector counts
    table = vocabulary_rows(ids, vectors, ["a", "b", "c"]).numpy()
    assert table.shape == (4, 2)
    assert table.tolist() == [[0.0, 0.0], [5.0, 5.0], [1.0, 0.0], [0.0, 0.0]]  # padding, a, b, c (no text)


def test_training_data_indexes_the_vocabulary_and_samples_the_validation_targets():
    """The builder the train stage and the quality benchmark share: column i + 1 is item_ids[i]."""
    train = pd.DataFrame({s.USER_ID: ["u1", "u2"], "items": [["a", "b", "c", "a"], ["c", "a"]]})
    valid = pd.DataFrame({s.USER_ID: [f"u{i}" for i in range(5)], HISTORY: [["a"]] * 5, TARGET: list("abcab")})
    data = training_data(train, ["c", "a", "b"], valid, Train(max_len=2, valid_targets=3), seed=7)
    assert data.sequences == [["a", "b", "c", "a"], ["c", "a"]]
    # a=2, b=3, c=1; windows of max_len + 1 stepping back from each sequence's end by max_len
    assert data.windows == [[3, 1, 2], [2, 3], [1, 2]]
    assert len(data.valid) == 3 and data.valid.index.tolist() == valid.sample(n=3, random_state=7).sort_index().index.tolist()
    assert data.item_ids == ["c", "a", "b"]
    assert data.text_vectors is None and data.profiles is None and data.window_profiles is None
