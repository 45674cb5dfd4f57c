"""Stage `audiences`: category-propensity ad audiences from the champion (or the candidate).

Reads validated events and items, the user profiles when present (they name the users to
target), and the model; writes data/audiences/audiences.parquet and reports/audiences/metrics.json.
"""

from __future__ import annotations

import logging
from pathlib import Path

from shopseq import schema as s
from shopseq.config import Params
from shopseq.downstream.audiences import build_audiences, check_audiences, choose_model
from shopseq.io import read_parquet, write_json, write_parquet

log = logging.getLogger(__name__)


def run(params: Params) -> None:
    """Score every user, pick each category's audience, check it offline, write both."""
    from shopseq.sequences.recommender import load_recommender  # torch: import only when run

    paths, config, mode = params.paths, params.audiences, params.base.progress
    events = read_parquet(Path(paths.validated) / "events.parquet")
    items = read_parquet(Path(paths.validated) / "items.parquet")
    profiles_file = Path(paths.profiles) / "profiles.parquet"
    users = list(read_parquet(profiles_file)[s.USER_ID]) if profiles_file.exists() else None
    model_dir, scored_by = choose_model(paths.champion, paths.candidate)
    recommender = load_recommender(model_dir)

    audiences, n_scored = build_audiences(recommender, events, items, config, users=users, mode=mode)
    check = check_audiences(recommender, events, items, config, mode=mode)
    write_parquet(audiences, Path(paths.audiences) / "audiences.parquet")
    metrics = {
        "n_audiences": int(audiences[s.CATEGORY].nunique()),
        "n_users": int(audiences[s.USER_ID].nunique()),
        "n_rows": len(audiences),
        "n_scored_users": n_scored,
        "users_from": "profiles" if users is not None else "events",
        "scored_by": scored_by,
        "top_users": config.top_users,
        "offline_check": check,
    }
    write_json(Path(paths.reports) / "audiences" / "metrics.json", metrics)
    log.info(
        "audiences: %d audiences, %d users, scored by %s; lift %s over recent viewers, %s over random",
        metrics["n_audiences"], metrics["n_users"], scored_by,
        _fmt(check["lift_over_heuristic"]), _fmt(check["lift_over_random"]),
    )


def _fmt(lift: float | None) -> str:
    return "n/a" if lift is None else f"{lift:.2f}x"
