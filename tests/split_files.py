"""Read a sequences split file for comparison: list columns as plain lists (Parquet gives arrays)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from shopseq.sequences.split import HISTORY, ITEMS


def read_split_file(path: Path) -> pd.DataFrame:
    """One of train/valid/test/vocabulary.parquet, with `items` and `history` as Python lists."""
    frame = pd.read_parquet(path)
    for column in (ITEMS, HISTORY):
        if column in frame:
            frame[column] = frame[column].map(list)
    return frame
