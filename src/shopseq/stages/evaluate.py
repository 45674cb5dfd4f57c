"""Stage `evaluate`: candidate, champion and every baseline on the same test targets.

Baselines (`evaluate.baselines`) are fitted on the split's training data only; recent popularity
also reads the validated events' timestamps, through the split's own phase rule. Models that use
item text are scored with item vectors that fuse only the reviews written before the test start.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from shopseq.config import Params
from shopseq.io import read_json, read_parquet, write_json

log = logging.getLogger(__name__)


def run(params: Params) -> None:
    from shopseq.sequences.recommender import load_recommender
    from shopseq.sequences.split import leaky_split, split_cuts
    from shopseq.sequences.text_vectors import use_text_vectors_as_of
    from shopseq.training.evaluate import evaluate_popularity, evaluate_recommender, sample_targets

    ks = params.evaluate.ks
    events = read_parquet(Path(params.paths.validated) / "events.parquet")
    _, test_start = split_cuts(events, params.sequences)
    sequences = Path(params.paths.sequences)
    test = sample_targets(read_parquet(sequences / "test.parquet"), params.evaluate.max_targets, params.base.seed)
    vocabulary = read_parquet(sequences / "vocabulary.parquet")
    champion_info = read_json(Path(params.paths.champion) / "champion.json")
    candidate = load_recommender(params.paths.candidate)
    champion = None if champion_info["version"] is None else load_recommender(params.paths.champion)
    for model in (candidate, champion):
        if model is not None:
            use_text_vectors_as_of(model, params.paths.embeddings, params.embed.review_weight, test_start)
    metrics = {
        "candidate": evaluate_recommender(candidate, test, ks),
        "popularity": evaluate_popularity(vocabulary, test, ks),
        "champion": None,
        "champion_version": champion_info["version"],
        "n_targets": len(test),
        "leaky_split": leaky_split(params.sequences),
    }
    if champion is not None:
        metrics["champion"] = evaluate_recommender(champion, test, ks)
    metrics.update(evaluate_baselines(params, test, vocabulary, events))
    metrics["segments"] = evaluate_segments(params, test, vocabulary, {"candidate": candidate, "champion": champion})
    write_json(Path(params.paths.reports) / "evaluate" / "metrics.json", metrics)
    write_json(Path(params.paths.reports) / "evaluate" / "models.json", model_rows(metrics))
    for model in ("candidate", "popularity", "champion", *params.evaluate.baselines):
        if metrics[model] is not None:
            log.info("%s: %s", model, {k: round(v, 4) for k, v in metrics[model].items() if "@10" in k})


def model_rows(metrics: dict) -> list[dict]:
    """One record per evaluated model (`model` + its metrics): the shape `dvc plots` draws and diffs."""
    skip = {"champion_version", "n_targets", "segments", "leaky_split"}
    return [{"model": name, **values} for name, values in metrics.items() if name not in skip and isinstance(values, dict)]


def evaluate_segments(params: Params, test: pd.DataFrame, vocabulary: pd.DataFrame, models: dict) -> dict:
    """Candidate, champion and popularity per segment: new/returning users, cold/warm target items."""
    from shopseq import schema as s
    from shopseq.training.evaluate import evaluate_popularity, evaluate_recommender
    from shopseq.training.segments import COLD_MAX_COUNT, label_segments, segment_metrics

    ks = params.evaluate.ks
    train_users = read_parquet(Path(params.paths.sequences) / "train.parquet")[s.USER_ID]
    labels = label_segments(test, train_users, vocabulary)
    out: dict = {"cold_max_count": COLD_MAX_COUNT}
    for name, recommender in models.items():
        if recommender is not None:
            out[name] = segment_metrics(lambda rows, r=recommender: evaluate_recommender(r, rows, ks), test, labels)
    out["popularity"] = segment_metrics(lambda rows: evaluate_popularity(vocabulary, rows, ks), test, labels)
    return out


def evaluate_baselines(params: Params, test: pd.DataFrame, vocabulary: pd.DataFrame,
                       events: pd.DataFrame) -> dict[str, dict]:
    """Metrics of each baseline in `evaluate.baselines`, fitted on the training split only."""
    from shopseq.sequences.baselines import BaselineSettings, fit_split_baselines
    from shopseq.sequences.split import ITEMS
    from shopseq.training.evaluate import evaluate_baseline

    config = params.evaluate
    if not config.baselines:
        return {}
    train = read_parquet(Path(params.paths.sequences) / "train.parquet")
    fitted = fit_split_baselines(config.baselines, train[ITEMS].tolist(), vocabulary, events, params.sequences,
                                 BaselineSettings.from_params(config))
    return {name: evaluate_baseline(baseline, test, config.ks) for name, baseline in fitted.items()}
