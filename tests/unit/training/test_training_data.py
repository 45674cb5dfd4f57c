"""Item text vectors line up with the vocabulary: padding row 0, zeros for items without text."""

from __future__ import annotations

import numpy as np

from shopseq.sequences.text_vectors import vocabulary_rows


def test_text_vectors_follow_the_vocabulary_order():
    vectors = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0], [5.0, 5.0]], dtype=np.float32)
    ids = np.array(["b", "a", "x", "a"])  # "a" twice: its last vector counts
    table = vocabulary_rows(ids, vectors, ["a", "b", "c"]).numpy()
    assert table.shape == (4, 2)
    assert table.tolist() == [[0.0, 0.0], [5.0, 5.0], [1.0, 0.0], [0.0, 0.0]]  # padding, a, b, c (no text)
