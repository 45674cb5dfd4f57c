"""Stage `evaluate`: candidate, popularity and the current champion on the same test targets."""

from __future__ import annotations

import logging
from pathlib import Path

from shopseq.config import Params
from shopseq.io import read_json, read_parquet, write_json

log = logging.getLogger(__name__)


def run(params: Params) -> None:
    from shopseq.sequences.recommender import load_recommender
    from shopseq.training.evaluate import evaluate_popularity, evaluate_recommender, sample_targets

    ks = params.evaluate.ks
    sequences = Path(params.paths.sequences)
    test = sample_targets(read_parquet(sequences / "test.parquet"), params.evaluate.max_targets, params.base.seed)
    vocabulary = read_parquet(sequences / "vocabulary.parquet")
    champion_info = read_json(Path(params.paths.champion) / "champion.json")
    metrics = {
        "candidate": evaluate_recommender(load_recommender(params.paths.candidate), test, ks),
        "popularity": evaluate_popularity(vocabulary, test, ks),
        "champion": None,
        "champion_version": champion_info["version"],
        "n_targets": len(test),
    }
    if champion_info["version"] is not None:
        metrics["champion"] = evaluate_recommender(load_recommender(params.paths.champion), test, ks)
    write_json(Path(params.paths.reports) / "evaluate" / "metrics.json", metrics)
    for model in ("candidate", "popularity", "champion"):
        if metrics[model] is not None:
            log.info("%s: %s", model, {k: round(v, 4) for k, v in metrics[model].items() if "@10" in k})
