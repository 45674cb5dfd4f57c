"""Stage `sequences`: per-user item sequences and the train/valid/test split."""

from __future__ import annotations

import logging
from pathlib import Path

from shopseq.config import Params
from shopseq.io import read_parquet, write_json, write_parquet

log = logging.getLogger(__name__)


def run(params: Params) -> None:
    from shopseq.sequences.split import leaky_split, split_sequences

    events = read_parquet(Path(params.paths.validated) / "events.parquet")
    split = split_sequences(events, params.sequences)
    out = Path(params.paths.sequences)
    write_parquet(split.train, out / "train.parquet")
    write_parquet(split.valid, out / "valid.parquet")
    write_parquet(split.test, out / "test.parquet")
    write_parquet(split.vocabulary, out / "vocabulary.parquet")
    metrics = {
        "split": params.sequences.split,
        "train_users": len(split.train),
        "train_steps": int(split.train["items"].map(len).sum()),
        "valid_targets": len(split.valid),
        "test_targets": len(split.test),
        "cold_targets": split.cold_targets,
        "items": len(split.vocabulary),
        "valid_start": split.valid_start,
        "test_start": split.test_start,
        "leaky_split": leaky_split(params.sequences),
    }
    write_json(Path(params.paths.reports) / "sequences" / "metrics.json", metrics)
    log.info("sequences: %s", metrics)
