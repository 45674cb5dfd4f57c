"""Ad audiences: per-category audiences, campaign audiences and lookalikes, each checked offline.

A user's propensity for a category is the probability mass the next-item model puts on the
category's items as the user's next item (softmax over the model's scores, summed per category).
Propensity alone says what a user would do next, not whether they will come back at all, so the
audience score blends it with recency-weighted activity (`audience_scoring`): each category's
audience is its `top_users` users by that blended score. Campaigns declared in params rank their
own pools by objective (`audience_campaigns`); lookalikes extend a campaign to the users nearest
its seeds in profile space (`audience_lookalikes`). Every row carries a reason a marketer can
read ("top 3% propensity for coffee; viewed it 4 times in the last 14 days").

The offline check replays each decision `holdout_days` earlier, from events before that cut
only, and judges it on the held-out days against random targeting and the best simple
heuristic (`audience_evaluation`). In production the propensity as of the end of the data is
read from the batch scores (stage `score`); the check, and the blend's training cuts, score
histories point in time with the model instead, since the batch scores saw the held-out days
(`plan_audiences` says which is used where).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from shopseq import schema as s
from shopseq.config import Audiences, Profiles
from shopseq.downstream.audience_campaigns import (
    campaign_heuristics,
    campaign_hits,
    campaign_key,
    campaign_target,
    check_campaign,
    cut_audience,
    rank_campaign,
    signals_from_profiles,
    target_label,
    user_signals,
)
from shopseq.downstream.audience_evaluation import (
    HEURISTICS,
    compare_audience,
    heuristic_scores,
    lift_curve,
    rank_users,
    summarise,
)
from shopseq.downstream.audience_scoring import (
    PROPENSITY,
    TARGET,
    Window,
    category_targets,
    engagement_scores,
    outcomes,
    top_categories,
)
from shopseq.io import read_json
from shopseq.profiles.features import end_of_data
from shopseq.sequences.scoring import (
    RANK,
    SCORE,
    Scorer,
    category_onehot,
    item_categories,
    next_item_probabilities,
    readable_history,
    target_mass,
)

log = logging.getLogger(__name__)

REASON = "reason"
AUDIENCE_COLUMNS = [s.CATEGORY, s.USER_ID, SCORE, RANK, REASON]


@dataclass(frozen=True)
class Propensity:
    """Category propensities of the users that could be scored."""

    user_ids: list[str]  # (U,) sorted, so ties in propensity break by user id
    categories: list[str]  # (C,) sorted
    values: np.ndarray  # (U, C) probability mass on each category's items, rows sum to <= 1


def choose_model(champion_dir: str | Path, candidate_dir: str | Path) -> tuple[Path, str]:
    """Pick the model to score with: the champion when one is promoted, else the candidate.

    Returns:
        The model directory and how metrics name it: "champion v<N>" or "candidate".

    Raises:
        FileNotFoundError: neither a champion nor a candidate exists.
    """
    champion_dir, candidate_dir = Path(champion_dir), Path(candidate_dir)
    marker = champion_dir / "champion.json"
    version = read_json(marker).get("version") if marker.exists() else None
    if version is not None:
        return champion_dir, f"champion v{version}"
    if not candidate_dir.exists():
        raise FileNotFoundError(
            f"no model to score with: {marker} names no champion and {candidate_dir} does not exist; "
            "run `shopseq run train` first"
        )
    log.info("no champion promoted yet: scoring with the candidate in %s", candidate_dir)
    return candidate_dir, "candidate"


def category_mass(scores: np.ndarray, onehot: np.ndarray) -> np.ndarray:
    """Softmax the next-item scores and sum the probabilities per category.

    Args:
        scores: (U, I) next-item scores.
        onehot: (I, C) 1 where item i belongs to category c.

    Returns:
        (U, C) probability of the next item falling in each category.
    """
    return next_item_probabilities(scores) @ onehot  # (U, C)


def score_propensity(
    recommender: Scorer,
    histories: pd.Series,
    items: pd.DataFrame,
    batch_size: int = 512,
    mode: str = "auto",
) -> Propensity:
    """Score every user's history with the model, in chunks, and reduce to category propensity.

    Items the model does not know are dropped from histories; users left with nothing are skipped
    (the model has nothing to go on for them).
    """
    known = set(recommender.item_ids)
    cleaned = histories.map(lambda h: readable_history(h, known))
    cleaned = cleaned[cleaned.map(len) > 0]
    if dropped := len(histories) - len(cleaned):
        log.info("skipped %d users whose history has no item the model knows", dropped)
    item_cats = item_categories(items, recommender.item_ids)  # (I,)
    categories = sorted(set(items[s.CATEGORY].dropna().astype(str)))
    onehot = category_onehot(item_cats, categories)  # (I, C)
    user_ids = list(cleaned.index)
    values = target_mass(recommender, list(cleaned), onehot, batch_size, "audiences: scoring users", mode)  # (U, C)
    return Propensity(user_ids=user_ids, categories=categories, values=values)


def select_audiences(propensity: Propensity, top_users: int) -> pd.DataFrame:
    """The `top_users` users of each category by propensity; ties go to the smaller user id.

    Returns:
        Columns category, user_id, score, rank (1 = highest propensity in the category).
    """
    user_ids = np.array(propensity.user_ids, dtype=object)
    tiebreak = np.argsort(user_ids, kind="stable")  # so a stable sort by score breaks ties by id
    frames = []
    for c, category in enumerate(propensity.categories):
        column = propensity.values[tiebreak, c]  # (U,)
        order = tiebreak[np.argsort(-column, kind="stable")][:top_users]
        frames.append(
            pd.DataFrame(
                {
                    s.CATEGORY: category,
                    s.USER_ID: user_ids[order],
                    SCORE: propensity.values[order, c],
                    RANK: np.arange(1, len(order) + 1),
                }
            )
        )
    if not frames:
        return pd.DataFrame({s.CATEGORY: [], s.USER_ID: [], SCORE: [], RANK: []})
    return pd.concat(frames, ignore_index=True)


def recent_counts(events: pd.DataFrame, items: pd.DataFrame, as_of: pd.Timestamp, days: int) -> pd.DataFrame:
    """How often each user viewed, carted and bought each category in the `days` before `as_of`.

    Returns:
        Columns user_id, category, then one count column per event type present.
    """
    window = events[(events[s.TS] >= as_of - pd.Timedelta(days=days)) & (events[s.TS] <= as_of)]
    tagged = window.merge(items[[s.ITEM_ID, s.CATEGORY]].drop_duplicates(s.ITEM_ID), on=s.ITEM_ID)
    counts = tagged.groupby([s.USER_ID, s.CATEGORY, s.EVENT_TYPE]).size().unstack(fill_value=0)
    return counts.reset_index()


def explain(audiences: pd.DataFrame, counts: pd.DataFrame, n_scored: int, days: int) -> pd.DataFrame:
    """Add a readable reason to every audience row: its propensity percentile and recent activity."""
    merged = audiences.merge(counts, on=[s.USER_ID, s.CATEGORY], how="left")
    reasons = [
        f"top {_percent(rank, n_scored)}% propensity for {category}; "
        + _activity(row, days)
        for rank, category, row in zip(merged[RANK], merged[s.CATEGORY], merged.to_dict("records"))
    ]
    return audiences.assign(**{REASON: reasons})[AUDIENCE_COLUMNS]


@dataclass(frozen=True)
class AudienceRun:
    """Everything the audiences stage writes: the audiences, their offline check, score samples for plots."""

    audiences: pd.DataFrame  # per-category audiences, AUDIENCE_COLUMNS
    campaigns: dict[str, pd.DataFrame]  # campaign name -> audience (user_id, score, rank, reason)
    lookalikes: dict[str, pd.DataFrame]  # campaign name -> lookalike audience
    metrics: dict
    score_samples: dict[str, np.ndarray] = field(default_factory=dict)  # pool scores per audience


def audience_window(config: Audiences) -> Window:
    """The scoring window of the `audiences` params: outcome horizon = the held-out days."""
    return Window(half_life_days=config.half_life_days, recent_days=config.recent_days,
                  window_days=config.holdout_days, outcome=config.outcome, batch_size=config.batch_size,
                  train_windows=config.train_windows)


def category_audiences(
    engagement: pd.DataFrame, events: pd.DataFrame, items: pd.DataFrame, categories: Sequence[str],
    top_users: int, recent_days: int, users: Sequence[str] | None = None,
) -> tuple[pd.DataFrame, int]:
    """The `top_users` users of each category by engagement score, with reasons; and users scored."""
    scored = engagement[engagement[TARGET].isin(list(categories))]
    if users is not None:
        scored = scored[scored[s.USER_ID].isin(list(users))]
    n_scored = int(scored[s.USER_ID].nunique())
    frames = []
    for category in categories:
        ranked = rank_users(scored.loc[scored[TARGET] == category].set_index(s.USER_ID)["score"])[:top_users]
        column = scored.loc[scored[TARGET] == category].set_index(s.USER_ID)["score"]
        frames.append(pd.DataFrame({
            s.CATEGORY: category, s.USER_ID: ranked, SCORE: column.reindex(ranked).to_numpy(),
            RANK: np.arange(1, len(ranked) + 1),
        }))
    audiences = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[s.CATEGORY, s.USER_ID, SCORE, RANK])
    counts = recent_counts(events, items, events[s.TS].max(), recent_days)
    return explain(audiences, counts, n_scored, recent_days), n_scored


def build_audiences(
    recommender: Scorer,
    events: pd.DataFrame,
    items: pd.DataFrame,
    config: Audiences,
    users: Sequence[str] | None = None,
    mode: str = "auto",
    seed: int = 0,
) -> tuple[pd.DataFrame, int]:
    """Per-category audiences as of the end of the data, ranked by the blended engagement score.

    Returns:
        The audiences (columns `AUDIENCE_COLUMNS`) and how many users were scored.
    """
    end = end_of_data(events)
    categories = top_categories(events, items, config.max_categories)
    engagement = engagement_scores(events, category_targets(items, categories), end, audience_window(config),
                                   recommender, seed)
    return category_audiences(engagement, events, items, categories, config.top_users, config.recent_days, users)


def check_audiences(
    recommender: Scorer,
    events: pd.DataFrame,
    items: pd.DataFrame,
    config: Audiences,
    mode: str = "auto",
    seed: int = 0,
    engagement: pd.DataFrame | None = None,
) -> dict:
    """Offline check: category audiences chosen as of the holdout start vs what users did after it.

    Audiences are scored exactly as in production but as of the cutoff (the midnight
    `holdout_days` before the end of the data), from events before it only. Precision of an
    audience = share of its users who engaged with the category (`config.outcome`) in the
    held-out days. Compared, at the same size and over the same users: recent viewers and recent
    buyers of the category (the better one is "the heuristic"), the model's raw propensity
    alone, and random targeting (the base rate). Lifts are ratios of precisions averaged over
    categories.

    Returns:
        holdout_days, cutoff, outcome, n_users, audience_size, per-method mean precision, the
        best heuristic, the lifts, lift curves, per_category rows.
    """
    cutoff = end_of_data(events) - pd.Timedelta(days=config.holdout_days)
    categories = top_categories(events[events[s.TS] < cutoff], items, config.max_categories)
    targets = category_targets(items, categories)
    if engagement is None:
        engagement = engagement_scores(events, targets, cutoff, audience_window(config), recommender, seed)
    hits = outcomes(events, targets, cutoff, config.holdout_days, config.outcome)
    eligible = sorted(engagement[s.USER_ID].unique())
    top = min(config.top_users, len(eligible))
    rows, curves, heuristic_curves = [], [], []
    for category in categories:
        scored = engagement[engagement[TARGET] == category].set_index(s.USER_ID)
        category_hits = {u for u, t in hits if t == category}
        heuristics = {name: rank_users(v) for name, v in
                      heuristic_scores(events, targets[category], eligible, cutoff, config.recent_days).items()}
        ranked = rank_users(scored["score"])
        row = compare_audience(ranked, {**heuristics, "propensity_only": rank_users(scored[PROPENSITY])},
                               category_hits, eligible, top)
        rows.append({s.CATEGORY: category, **row})
        curves.append(lift_curve(ranked, category_hits, row["precision"]["random"]))
        best = max(heuristics, key=lambda h: row["precision"][h])
        heuristic_curves.append(lift_curve(heuristics[best], category_hits, row["precision"]["random"]))
    summary = summarise(rows, (*HEURISTICS, "propensity_only"))
    heuristic_means = {h: summary["precision"][h] for h in HEURISTICS}
    best = max(heuristic_means, key=heuristic_means.get) if rows else None
    return {
        "holdout_days": config.holdout_days,
        "cutoff": cutoff.isoformat(),
        "outcome": config.outcome,
        "n_users": len(eligible),
        "audience_size": top,
        "precision": summary["precision"],
        "best_heuristic": best,
        "lift_over_heuristic": _round(_ratio(summary["precision"]["model"], heuristic_means[best])) if best else None,
        "lift_over_random": summary["lift_over_random"],
        "lift_over_propensity_only": _round(_ratio(summary["precision"]["model"], summary["precision"]["propensity_only"])),
        "lift_curve": _mean_curve(curves),
        "heuristic_lift_curve": _mean_curve(heuristic_curves),
        "per_category": [
            {s.CATEGORY: r[s.CATEGORY], **{m: round(v, 4) for m, v in r["precision"].items()}} for r in rows
        ],
    }


def plan_audiences(
    recommender: Scorer,
    events: pd.DataFrame,
    items: pd.DataFrame,
    config: Audiences,
    profiles_config: Profiles,
    profiles: pd.DataFrame | None = None,
    cutoff_profiles: pd.DataFrame | None = None,
    seed: int = 0,
    scores: pd.DataFrame | None = None,
    production: Scorer | None = None,
) -> AudienceRun:
    """Category audiences, campaign audiences and lookalikes as of the end of the data, each checked offline.

    Where the model's propensity comes from:

    - production (the audiences marketers get, as of the end of the data): from `scores`, the
      batch scores of the same model over the same events (stage `score`, `data/scores/`), so
      the audiences rank by exactly the propensities ad platforms read there. Only a campaign
      whose target is a list of items is scored here: the batch scores hold categories only.
    - the offline check, and the blend's training cuts in production too: point in time, by
      `recommender` (`audience_scoring.point_in_time_propensity`). A decision replayed at the
      holdout start may only see events before it; the batch scores saw the held-out days, so
      using them there would grade the audiences on outcomes they already knew.

    Args:
        profiles: the profiles stage's output (users to target, churn risk, price sensitivity,
            PCA vectors for lookalikes); without it, the signals are computed from events.
        cutoff_profiles: profiles as of the holdout start, to check lookalikes offline (optional).
        scores: the batch scores' propensity table (`shopseq.serving.batch.PROPENSITY_COLUMNS`)
            computed by `recommender` from `events`; None scores production in-process too.
        production: the model that scores production in-process (campaigns of item lists):
            `recommender` with item vectors fused with every review; None: `recommender` itself.
    """
    end = end_of_data(events)
    cutoff = end - pd.Timedelta(days=config.holdout_days)
    window = audience_window(config)
    users = None if profiles is None else list(profiles[s.USER_ID].astype(str))
    categories = top_categories(events, items, config.max_categories)
    cut_categories = top_categories(events[events[s.TS] < cutoff], items, config.max_categories)
    campaign_targets, skipped = {}, {}
    for campaign in config.campaigns:
        ids, why = campaign_target(campaign, items)
        if why is None:
            campaign_targets[campaign.name] = ids
        else:
            log.warning("campaign %s skipped: %s", campaign.name, why)
            skipped[campaign.name] = why
    keyed = {campaign_key(c): campaign_targets[c.name] for c in config.campaigns if c.name in campaign_targets}
    now = None
    if scores is not None:
        target_category = {**{c: c for c in categories},
                           **{campaign_key(c): c.category for c in config.campaigns if c.name in campaign_targets}}
        now = propensity_from_scores(scores, target_category)
    engagement_end = engagement_scores(events, {**category_targets(items, categories), **keyed}, end, window,
                                       recommender, seed, propensity_now=now, recommender_now=production)
    engagement_cut = engagement_scores(events, {**category_targets(items, cut_categories), **keyed}, cutoff, window,
                                       recommender, seed)
    audiences, n_scored = category_audiences(engagement_end, events, items, categories, config.top_users,
                                             config.recent_days, users)
    check = check_audiences(recommender, events, items, config, seed=seed, engagement=engagement_cut)

    if profiles is not None and {"price_sensitivity", "days_since_last_event"} <= set(profiles.columns):
        signals_end = signals_from_profiles(profiles, engagement_end)
    else:
        signals_end = user_signals(events, items, end, engagement_end, profiles_config, profiles_config.churn_days, seed)
    signals_cut = None
    campaigns, lookalike_audiences, campaign_metrics, lookalike_metrics = {}, {}, {}, {}
    samples = {"categories": engagement_end.loc[engagement_end[TARGET].isin(categories), "score"].to_numpy()}
    for campaign in config.campaigns:
        if campaign.name in skipped:
            campaign_metrics[campaign.name] = {"objective": campaign.objective, "skipped": skipped[campaign.name]}
            continue
        target = campaign_targets[campaign.name]
        ranked = rank_campaign(campaign, target, events, end, signals_end, config.recent_days)
        if users is not None:
            ranked = ranked[ranked[s.USER_ID].isin(users)].assign(rank=lambda f: np.arange(1, len(f) + 1))
        audience = cut_audience(ranked, campaign).reset_index(drop=True)
        campaigns[campaign.name] = audience
        samples[campaign.name] = ranked["score"].to_numpy()
        if signals_cut is None:
            signals_cut = user_signals(events, items, cutoff, engagement_cut, profiles_config, config.holdout_days, seed)
        campaign_metrics[campaign.name] = {
            "objective": campaign.objective,
            "target": target_label(campaign),
            "n_users": len(audience),
            "pool": len(ranked),
            "offline_check": check_campaign(campaign, target, events, items, cutoff, signals_cut,
                                            config.holdout_days, config.recent_days, config.outcome),
        }
        if campaign.lookalike:
            found = _lookalike(campaign, target, audience, profiles, cutoff_profiles, events, items, cutoff,
                               signals_cut, config)
            if found is not None:
                lookalike_audiences[campaign.name], lookalike_metrics[campaign.name] = found
    metrics = {
        "propensity_from": "batch scores" if scores is not None else "model",
        "n_audiences": int(audiences[s.CATEGORY].nunique()),
        "n_users": int(audiences[s.USER_ID].nunique()),
        "n_rows": len(audiences),
        "n_scored_users": n_scored,
        "users_from": "profiles" if users is not None else "events",
        "top_users": config.top_users,
        "offline_check": check,
        "campaigns": campaign_metrics,
        "lookalikes": lookalike_metrics,
    }
    return AudienceRun(audiences, campaigns, lookalike_audiences, metrics, samples)


def propensity_from_scores(scores: pd.DataFrame, target_category: dict[str, str | None]) -> pd.DataFrame:
    """The batch scores' category propensity as a users x targets frame, for targets that are a category.

    `target_category` maps each target name to its category (None: not a category, left out).
    Rows the batch scores filled with recent popularity (users the model knows no item of) count
    as 0, as in point-in-time scoring: the model has no opinion on those users.
    """
    from shopseq.serving.batch import PROPENSITY, SOURCE
    from shopseq.serving.recommend import MODEL

    by_model = scores[scores[SOURCE] == MODEL]
    wide = by_model.pivot(index=s.USER_ID, columns=s.CATEGORY, values=PROPENSITY)  # (U, C)
    wide.index = wide.index.astype(str)
    columns = {name: wide[category] if category in wide.columns else pd.Series(0.0, index=wide.index)
               for name, category in target_category.items() if category is not None}
    return pd.DataFrame(columns, index=wide.index)


def _lookalike(campaign, target, audience, profiles, cutoff_profiles, events, items, cutoff, signals_cut, config):
    """The campaign's lookalike audience from the profiles, and its offline check when cutoff profiles are given."""
    from shopseq.downstream.audience_evaluation import compare_audience
    from shopseq.downstream.audience_lookalikes import (
        lookalikes,
        profile_vectors,
        read_seeds,
    )

    settings = config.lookalikes
    if profiles is None or not any(c.startswith("pc_") for c in profiles.columns):
        log.warning("campaign %s: lookalikes need the profiles stage's pc_* vectors; skipped", campaign.name)
        return None
    seeds = read_seeds(settings.seeds_file) if settings.seeds_file else list(audience[s.USER_ID].head(settings.seed_top))
    found = lookalikes(profile_vectors(profiles), seeds, settings.size, settings.neighbours)
    metrics = {"n_seeds": len(seeds), "seeds_from": settings.seeds_file or f"top {settings.seed_top} of the campaign",
               "n_users": len(found)}
    if cutoff_profiles is not None and not settings.seeds_file:
        ranked = rank_campaign(campaign, target, events, cutoff, signals_cut, config.recent_days)
        cut_seeds = list(cut_audience(ranked, campaign)[s.USER_ID].head(settings.seed_top))
        vectors = profile_vectors(cutoff_profiles)
        if any(seed in vectors.index for seed in cut_seeds):
            hits, why = campaign_hits(campaign, target, events, items, cutoff, config.holdout_days, config.outcome)
            if why is None:
                similar = lookalikes(vectors, cut_seeds, len(vectors), settings.neighbours)
                pool = list(similar[s.USER_ID])
                heuristics = campaign_heuristics(campaign, target, events, pool, cutoff, config.recent_days,
                                                 signals_cut.days_since_last_event)
                row = compare_audience(pool, heuristics, hits, pool, settings.size)
                metrics["offline_check"] = {**row, **summarise([row], list(heuristics))}
    return found, metrics


def _mean_curve(curves: list[list[dict]]) -> list[dict]:
    """Average precision and lift over random at each share of the ranking, across audiences."""
    by_share: dict[float, list[dict]] = {}
    for curve in curves:
        for point in curve:
            by_share.setdefault(point["share"], []).append(point)
    rows = []
    for share in sorted(by_share):
        points = by_share[share]
        lifts = [p["lift_over_random"] for p in points if p["lift_over_random"] is not None]
        rows.append({"share": share, "precision": round(float(np.mean([p["precision"] for p in points])), 4),
                     "lift_over_random": round(float(np.mean(lifts)), 4) if lifts else None})
    return rows


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator > 0 else None


def _percent(rank: int, n_scored: int) -> int:
    return max(1, math.ceil(100 * rank / max(n_scored, 1)))


def _activity(row: dict, days: int) -> str:
    """'viewed it 4 times, bought it once in the last 14 days', or that there was no activity."""
    verbs = ((s.VIEW, "viewed"), (s.CART, "carted"), (s.PURCHASE, "bought"))
    parts = [f"{verb} it {_times(_count(row.get(kind)))}" for kind, verb in verbs if _count(row.get(kind))]
    if not parts:
        return f"no views in the last {days} days"
    return f"{', '.join(parts)} in the last {days} days"


def _count(value: object) -> int:
    return 0 if value is None or pd.isna(value) else int(value)


def _times(n: int) -> str:
    return {1: "once", 2: "twice"}.get(n, f"{n} times")
