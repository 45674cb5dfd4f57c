"""Stage `profiles`: validated events + embeddings -> `data/profiles/profiles.parquet`.

Profiles describe every user as of the end of the data (the midnight after the last event),
with a churn risk from a model trained and checked on earlier cuts. Events that outnumber one
user bucket (`base.bucket_events`) are profiled bucket by bucket (`profiles.scale`). With the synthetic source,
the price sensitivity score and the churn risk are checked against the generator's truth.
"""

from __future__ import annotations

import logging
from pathlib import Path

from shopseq import schema as s
from shopseq.config import Params
from shopseq.io import atomic_dir, read_parquet, write_json

log = logging.getLogger(__name__)

PROFILES_FILE = "profiles.parquet"
TRUTH_FILE = "users_truth.parquet"
CHURN_RISK = "churn_risk"


def run(params: Params) -> None:
    from shopseq.embeddings import load_item_vectors, load_review_vectors
    from shopseq.embeddings.vectors import ITEMS_FILE, REVIEWS_FILE
    from shopseq.engine.embedded import count_rows
    from shopseq.profiles import build_profiles, end_of_data, price_sensitivity_spearman
    from shopseq.profiles.churn import churn_risk, truth_auc

    validated, embeddings = Path(params.paths.validated), Path(params.paths.embeddings)
    items = s.conform(read_parquet(validated / "items.parquet"), s.ITEMS)
    item_vectors = load_item_vectors(embeddings / ITEMS_FILE)
    reviews = load_review_vectors(embeddings / REVIEWS_FILE)
    if count_rows(validated / "events.parquet") > params.base.bucket_events:  # out of core, per user bucket
        from shopseq.profiles.scale import build_profiles_in_buckets

        table, risk, churn_metrics = build_profiles_in_buckets(
            validated / "events.parquet", items, item_vectors, params.profiles, params.base,
            Path(params.paths.profiles).parent / ".profiles.work", reviews, params.base.seed,
        )
    else:
        events = s.conform(read_parquet(validated / "events.parquet"), s.EVENTS)
        end = end_of_data(events)
        table = build_profiles(events, items, item_vectors, end, params.profiles, reviews=reviews, seed=params.base.seed)
        risk, churn_metrics = churn_risk(events, items, end, params.profiles, params.base.seed)
    frame = table.frame
    frame[CHURN_RISK] = frame[s.USER_ID].map(risk) if risk is not None else float("nan")
    frame[CHURN_RISK] = frame[CHURN_RISK].astype("float64")
    with atomic_dir(params.paths.profiles) as out:
        frame.to_parquet(out / PROFILES_FILE, index=False)

    metrics = {
        "n_users": len(frame),
        "n_features": len(table.feature_names),
        "n_components": len(table.explained_variance),
        "explained_variance": [round(float(v), 6) for v in table.explained_variance],
        "explained_variance_total": round(float(table.explained_variance.sum()), 6),
        "as_of": table.as_of.isoformat(),
        "churn": churn_metrics,
    }
    truth_path = Path(params.paths.raw) / TRUTH_FILE
    if truth_path.exists():
        truth = read_parquet(truth_path)
        rho, n = price_sensitivity_spearman(frame, truth)
        metrics["price_sensitivity_spearman"] = None if rho is None else round(rho, 4)
        metrics["price_sensitivity_users"] = n
        if risk is not None and "churned" in truth:
            auc, n = truth_auc(risk, truth)
            metrics["churn"]["truth_auc"] = None if auc is None else round(auc, 4)
            metrics["churn"]["truth_users"] = n
    write_json(Path(params.paths.reports) / "profiles" / "metrics.json", metrics)
    log.info("profiles: %d users, %d features; price sensitivity vs truth %s; churn AUC %s (recency rule %s)",
             metrics["n_users"], metrics["n_features"], metrics.get("price_sensitivity_spearman"),
             churn_metrics.get("model", {}).get("auc"), churn_metrics.get("recency_rule", {}).get("auc"))
