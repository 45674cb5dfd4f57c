"""Stage `audiences`: category audiences, campaign audiences and lookalikes from the champion (or the candidate).

Reads validated events and items, the batch scores (`data/scores/`, stage `score`: the model's
category propensity for every user, which the production audiences rank by), the user profiles
when present (they name the users to target and carry churn risk, price sensitivity and the PCA
vectors lookalikes need), and the model itself, which still scores histories point in time for
the offline check and the audience score's training cuts (the batch scores saw the days those
predict; see `shopseq.downstream.audiences.plan_audiences`); what it scores for production
(campaigns of item lists) it scores, like the `score` stage, with item vectors fused with every
review. Writes data/audiences/
(audiences.parquet, campaigns/<name>.parquet, lookalikes/<name>.parquet),
reports/audiences/metrics.json and reports/audiences/report.html.
"""

from __future__ import annotations

import logging
from pathlib import Path

from shopseq import schema as s
from shopseq.config import Params
from shopseq.downstream.audience_report import write_report
from shopseq.downstream.audiences import choose_model, plan_audiences
from shopseq.io import atomic_dir, read_json, read_parquet, write_json

log = logging.getLogger(__name__)


def run(params: Params) -> None:
    """Score every user, build every audience, check each offline, write them with a report."""
    from shopseq.sequences.recommender import (
        load_recommender,  # torch: import only when run
    )
    from shopseq.sequences.text_vectors import use_production_text_vectors

    paths, config = params.paths, params.audiences
    events = s.conform(read_parquet(Path(paths.validated) / "events.parquet"), s.EVENTS)
    items = s.conform(read_parquet(Path(paths.validated) / "items.parquet"), s.ITEMS)
    profiles_file = Path(paths.profiles) / "profiles.parquet"
    profiles = read_parquet(profiles_file) if profiles_file.exists() else None
    model_dir, scored_by = choose_model(paths.champion, paths.candidate)
    scores = _batch_propensity(Path(paths.scores), scored_by, events)
    recommender = load_recommender(model_dir)
    production = load_recommender(model_dir)  # as the score stage scores: item vectors fused with every review
    use_production_text_vectors(production, paths.embeddings, params.embed.review_weight)
    cutoff_profiles = _cutoff_profiles(params, events, items) if any(c.lookalike for c in config.campaigns) else None

    result = plan_audiences(recommender, events, items, config, params.profiles, profiles=profiles,
                            cutoff_profiles=cutoff_profiles, seed=params.base.seed, scores=scores,
                            production=production)
    with atomic_dir(paths.audiences) as out:
        result.audiences.to_parquet(out / "audiences.parquet", index=False)
        for folder, audiences in (("campaigns", result.campaigns), ("lookalikes", result.lookalikes)):
            (out / folder).mkdir()
            for name, audience in audiences.items():
                audience.to_parquet(out / folder / f"{name}.parquet", index=False)
    metrics = {**result.metrics, "scored_by": scored_by}
    reports = Path(paths.reports) / "audiences"
    write_json(reports / "metrics.json", metrics)
    write_report(reports / "report.html", metrics, result.score_samples)
    check = metrics["offline_check"]
    log.info(
        "audiences: %d category audiences, %d campaigns, scored by %s; lift %s over %s, %s over random",
        metrics["n_audiences"], len(result.campaigns), scored_by,
        _fmt(check["lift_over_heuristic"]), check["best_heuristic"], _fmt(check["lift_over_random"]),
    )


def _batch_propensity(directory: Path, scored_by: str, events):
    """The score stage's propensity table, once its manifest shows it is this model's view of these events."""
    from shopseq.serving.batch import MANIFEST, stale_scores

    manifest_file = directory / MANIFEST
    if not manifest_file.exists():
        raise FileNotFoundError(f"{manifest_file} not found: run the score stage first (`dvc repro score`)")
    why = stale_scores(read_json(manifest_file), scored_by, events)
    if why is not None:
        raise ValueError(f"the batch scores in {directory} do not match the model and data of this run: {why}; "
                         "re-run the score stage first (`dvc repro score`)")
    return read_parquet(directory / "propensity.parquet")


def _cutoff_profiles(params: Params, events, items):
    """Profiles as of the holdout start, for the lookalikes' offline check; None without embeddings."""
    import pandas as pd

    from shopseq.embeddings import load_item_vectors_as_of
    from shopseq.embeddings.vectors import ITEM_TEXT_FILE
    from shopseq.profiles import build_profiles, end_of_data

    embeddings = Path(params.paths.embeddings)
    if not (embeddings / ITEM_TEXT_FILE).exists():
        log.info("no item vectors at %s: lookalikes are not checked offline", embeddings / ITEM_TEXT_FILE)
        return None
    cutoff = end_of_data(events) - pd.Timedelta(days=params.audiences.holdout_days)
    # Item vectors as of the cutoff too: a review from the holdout would describe what was bought in it.
    vectors = load_item_vectors_as_of(embeddings, cutoff, params.embed.review_weight)
    table = build_profiles(events, items, vectors, cutoff, params.profiles, seed=params.base.seed)
    return table.frame


def _fmt(lift: float | None) -> str:
    return "n/a" if lift is None else f"{lift:.2f}x"
