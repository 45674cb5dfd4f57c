"""Stage `sequences`: per-user item sequences and the train/valid/test split.

Runs on `base.engine` (`shopseq.sequences.scale`): user buckets on DuckDB, or Spark, so the
events never need to fit in memory at once.
"""

from __future__ import annotations

import logging
from pathlib import Path

from shopseq.config import Params
from shopseq.io import atomic_dir, write_json

log = logging.getLogger(__name__)


def run(params: Params) -> None:
    from shopseq.sequences.scale import build_sequence_files

    events = Path(params.paths.validated) / "events.parquet"
    if not events.exists():
        raise FileNotFoundError(f"{events} not found: run the stage that writes it first (dvc repro)")
    with atomic_dir(params.paths.sequences) as out:
        metrics = build_sequence_files(events, out, params.sequences, params.base)
    write_json(Path(params.paths.reports) / "sequences" / "metrics.json", metrics)
    log.info("sequences: %s", metrics)
