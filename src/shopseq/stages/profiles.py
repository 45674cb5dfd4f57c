"""Stage `profiles`: validated events + embeddings -> `data/profiles/profiles.parquet`.

Profiles describe every user as of the end of the data (the midnight after the last event).
With the synthetic source, the price sensitivity score is checked against the generator's truth.
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


def run(params: Params) -> None:
    from shopseq.embeddings import load_item_vectors, load_review_vectors
    from shopseq.embeddings.vectors import ITEMS_FILE, REVIEWS_FILE
    from shopseq.profiles import build_profiles, end_of_data, price_sensitivity_spearman

    validated, embeddings = Path(params.paths.validated), Path(params.paths.embeddings)
    events = s.conform(read_parquet(validated / "events.parquet"), s.EVENTS)
    items = s.conform(read_parquet(validated / "items.parquet"), s.ITEMS)
    table = build_profiles(
        events,
        items,
        load_item_vectors(embeddings / ITEMS_FILE),
        end_of_data(events),
        params.profiles,
        reviews=load_review_vectors(embeddings / REVIEWS_FILE),
        seed=params.base.seed,
    )
    with atomic_dir(params.paths.profiles) as out:
        table.frame.to_parquet(out / PROFILES_FILE, index=False)

    metrics = {
        "n_users": len(table.frame),
        "n_features": len(table.feature_names),
        "n_components": len(table.explained_variance),
        "explained_variance": [round(float(v), 6) for v in table.explained_variance],
        "explained_variance_total": round(float(table.explained_variance.sum()), 6),
        "as_of": table.as_of.isoformat(),
    }
    truth_path = Path(params.paths.raw) / TRUTH_FILE
    if truth_path.exists():
        rho, n = price_sensitivity_spearman(table.frame, read_parquet(truth_path))
        metrics["price_sensitivity_spearman"] = None if rho is None else round(rho, 4)
        metrics["price_sensitivity_users"] = n
    write_json(Path(params.paths.reports) / "profiles" / "metrics.json", metrics)
    log.info("profiles: %s", metrics)
