"""Stage `score`: top-K items and category propensities for every known user, from the champion.

Until a champion is promoted the candidate scores (logged, and named in the metrics' `scored_by`).
A model that uses item text scores with the vectors fused with every review (production reads the
whole past; training and evaluation read only reviews before their cuts), named in the metrics'
`text_vectors`.
Writes data/scores/recommendations.parquet, data/scores/propensity.parquet,
data/scores/manifest.json (the model, the number of users and the last event the scores come from,
which the audiences stage checks before trusting them) and reports/score/metrics.json.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from shopseq import schema as s
from shopseq.config import Params
from shopseq.downstream.audiences import choose_model
from shopseq.io import atomic_dir, read_parquet, write_json

log = logging.getLogger(__name__)


def run(params: Params) -> None:
    """Score every user of the validated events and write both tables and the metrics."""
    from shopseq.sequences.recommender import (
        load_recommender,  # torch: import only when run
    )
    from shopseq.sequences.text_vectors import use_production_text_vectors
    from shopseq.serving.batch import MANIFEST, score_users, scores_manifest

    paths, config = params.paths, params.score
    started = time.monotonic()
    events = read_parquet(Path(paths.validated) / "events.parquet")
    items = read_parquet(Path(paths.validated) / "items.parquet")
    model_dir, scored_by = choose_model(paths.champion, paths.candidate)
    recommender = load_recommender(model_dir)
    text_vectors = use_production_text_vectors(recommender, paths.embeddings, params.embed.review_weight)
    scores = score_users(
        recommender, events, items, config.k, config.batch_size, config.recent_days,
        mode=params.base.progress,
    )
    with atomic_dir(paths.scores) as out:  # readers see the old set or the new one, never a mix
        scores.recommendations.to_parquet(out / "recommendations.parquet", index=False)
        scores.propensity.to_parquet(out / "propensity.parquet", index=False)
        write_json(out / MANIFEST, scores_manifest(scored_by, events, scores.n_model_users + scores.n_fallback_users))
    metrics = {
        "scored_by": scored_by,
        "text_vectors": text_vectors,
        "k": config.k,
        "n_users": scores.n_model_users + scores.n_fallback_users,
        "n_model_users": scores.n_model_users,
        "n_fallback_users": scores.n_fallback_users,
        "n_categories": int(scores.propensity[s.CATEGORY].nunique()),
        "n_recommendation_rows": len(scores.recommendations),
        "seconds": round(time.monotonic() - started, 2),
    }
    write_json(Path(paths.reports) / "score" / "metrics.json", metrics)
    log.info(
        "score: %d users (%d by %s, %d by recent popularity), top %d each",
        metrics["n_users"], scores.n_model_users, scored_by, scores.n_fallback_users, config.k,
    )
