"""Campaign audiences declared in params: who to reach for acquisition, retention and discounts.

Each campaign names a target (a category or a list of items), an objective and a size and/or a
score threshold. The objective decides the pool of users and what ranks them:

| objective | pool | ranked by | a hit in the offline check |
|---|---|---|---|
| acquisition | every user with history | the champion's propensity for the target blended with activity (`audience_scoring`) | engages with the target (`audiences.outcome`) |
| retention | users who bought the target | churn risk (`profiles.churn`) | no activity at all in the held-out days |
| discount | users who touched the target in the last `recent_days` | price sensitivity percentile x chance to engage with the target | buys the target below its category's median price |

The heuristics each is checked against are what a marketer would do without a model: recent
viewers or recent buyers of the target (acquisition, discount), and the longest-inactive buyers
(retention: the recency rule).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from shopseq import schema as s
from shopseq.config import Campaign

log = logging.getLogger(__name__)

DAY = pd.Timedelta(days=1)
CAMPAIGN_COLUMNS = [s.USER_ID, "score", "rank", "reason"]


@dataclass(frozen=True)
class Signals:
    """Per-user scores as of one point in time (indexed by user id)."""

    engagement: pd.DataFrame  # user_id, target, score, features (audience_scoring.engagement_scores)
    churn_risk: pd.Series  # probability of no activity in the coming days
    price_sensitivity: pd.Series  # higher = more drawn to the cheap end of a category
    days_since_last_event: pd.Series


def campaign_target(campaign: Campaign, items: pd.DataFrame) -> tuple[set[str], str | None]:
    """The campaign's target item ids, and why it cannot run (None when it can)."""
    if campaign.category is not None:
        ids = set(items.loc[items[s.CATEGORY].astype("string") == campaign.category, s.ITEM_ID].astype(str))
        why = None if ids else f"category {campaign.category!r} is not in the catalogue"
        return ids, why
    known = set(items[s.ITEM_ID].astype(str))
    ids = {str(i) for i in campaign.items or []} & known
    missing = len(set(campaign.items or [])) - len(ids)
    if missing:
        log.warning("campaign %s: %d of its items are not in the catalogue", campaign.name, missing)
    return ids, None if ids else "none of its items is in the catalogue"


def campaign_key(campaign: Campaign) -> str:
    """The campaign's name among the scored targets (kept apart from category names)."""
    return f"campaign:{campaign.name}"


def target_label(campaign: Campaign) -> str:
    """How reasons name the target: the category, or 'its N items'."""
    return campaign.category if campaign.category is not None else f"its {len(campaign.items or [])} items"


def rank_campaign(
    campaign: Campaign,
    target_items: set[str],
    events: pd.DataFrame,
    as_of: pd.Timestamp,
    signals: Signals,
    recent_days: int,
) -> pd.DataFrame:
    """Every user of the objective's pool, best first, with score, rank and a readable reason."""
    past = events[(events[s.TS] < as_of) & events[s.ITEM_ID].isin(target_items)]
    recent = past[past[s.TS] >= as_of - recent_days * DAY]
    label = target_label(campaign)
    activity = _activity_reasons(recent, recent_days)
    if campaign.objective == "acquisition":
        engaged = signals.engagement[signals.engagement["target"] == campaign_key(campaign)].set_index(s.USER_ID)
        score = engaged["score"]
        reasons = {
            u: f"{p:.0%} chance to engage with {label} in the coming days; model propensity {m:.3f}; "
            + _activity(activity, u, recent_days)
            for u, p, m in zip(engaged.index, engaged["score"], engaged["propensity"])
        }
    elif campaign.objective == "retention":
        buyers = sorted(set(past.loc[past[s.EVENT_TYPE] == s.PURCHASE, s.USER_ID]))
        score = signals.churn_risk.reindex(buyers).dropna()
        bought = past[past[s.EVENT_TYPE] == s.PURCHASE].groupby(s.USER_ID).size()
        reasons = {
            u: f"churn risk {r:.0%}; last active {signals.days_since_last_event.get(u, float('nan')):.0f} days ago; "
            f"bought {label} {_times(int(bought.get(u, 0)))}"
            for u, r in score.items()
        }
    elif campaign.objective == "discount":
        # A discount only pays where the user is in the market for the target at all: the price
        # sensitivity percentile is weighted by the chance to engage with the target.
        interested = sorted(set(recent[s.USER_ID]))
        percentile = signals.price_sensitivity.rank(pct=True).reindex(interested).dropna()
        engaged = signals.engagement[signals.engagement["target"] == campaign_key(campaign)]
        chance = engaged.set_index(s.USER_ID)["score"].reindex(percentile.index).fillna(1.0)
        score = percentile * chance
        reasons = {
            u: f"more price-sensitive than {percentile[u]:.0%} of users; {chance[u]:.0%} chance to engage with "
            f"{label}; " + _activity(activity, u, recent_days)
            for u in score.index
        }
    else:  # the config rejects other objectives; this guards direct callers
        raise ValueError(f"campaign {campaign.name}: unknown objective {campaign.objective!r}")
    frame = pd.DataFrame({s.USER_ID: score.index.astype(str), "score": score.to_numpy(dtype=np.float64)})
    frame = frame.sort_values(["score", s.USER_ID], ascending=[False, True], kind="stable").reset_index(drop=True)
    frame["rank"] = np.arange(1, len(frame) + 1)
    frame["reason"] = frame[s.USER_ID].map(reasons)
    return frame[CAMPAIGN_COLUMNS]


def cut_audience(ranked: pd.DataFrame, campaign: Campaign) -> pd.DataFrame:
    """The audience itself: users at or above `min_score`, at most `size` of them."""
    kept = ranked if campaign.min_score is None else ranked[ranked["score"] >= campaign.min_score]
    return kept.head(campaign.size) if campaign.size is not None else kept


def campaign_hits(
    campaign: Campaign,
    target_items: set[str],
    events: pd.DataFrame,
    items: pd.DataFrame,
    start: pd.Timestamp,
    days: int,
    outcome: str,
) -> tuple[set[str], str | None]:
    """Users who did what the campaign wants in [start, start + days), and why that cannot be judged (or None)."""
    window = events[(events[s.TS] >= start) & (events[s.TS] < start + days * DAY)]
    if campaign.objective == "retention":
        active = set(window[s.USER_ID])
        return {u for u in events.loc[events[s.TS] < start, s.USER_ID].unique() if u not in active}, None
    on_target = window[window[s.ITEM_ID].isin(target_items)]
    if campaign.objective == "acquisition":
        if outcome == "purchase":
            on_target = on_target[on_target[s.EVENT_TYPE] == s.PURCHASE]
        return set(on_target[s.USER_ID]), None
    bought = on_target[on_target[s.EVENT_TYPE] == s.PURCHASE]
    medians = items.dropna(subset=[s.PRICE, s.CATEGORY]).groupby(s.CATEGORY)[s.PRICE].median()
    category = bought[s.ITEM_ID].map(items.drop_duplicates(s.ITEM_ID).set_index(s.ITEM_ID)[s.CATEGORY])
    median = category.map(medians).astype("float64")
    if bought[s.PRICE].notna().sum() == 0 or median.notna().sum() == 0:
        return set(), "the data has no prices, so a purchase below the category median cannot be seen"
    return set(bought.loc[bought[s.PRICE].astype("float64") < median, s.USER_ID]), None


def campaign_heuristics(
    campaign: Campaign,
    target_items: set[str],
    events: pd.DataFrame,
    pool: list[str],
    as_of: pd.Timestamp,
    recent_days: int,
    days_since_last_event: pd.Series,
) -> dict[str, list[str]]:
    """The simple rules a campaign is checked against, each as a ranking of the pool."""
    from shopseq.downstream.audience_evaluation import heuristic_scores, rank_users

    if campaign.objective == "retention":
        return {"recency_rule": rank_users(days_since_last_event.reindex(pool).fillna(0.0))}
    scores = heuristic_scores(events, target_items, pool, as_of, recent_days)
    return {name: rank_users(values) for name, values in scores.items()}


def _activity_reasons(recent: pd.DataFrame, days: int) -> dict[str, str]:
    """'viewed it 4 times, bought it once in the last 14 days' for each user with recent events."""
    counts = recent.groupby([s.USER_ID, s.EVENT_TYPE]).size().unstack(fill_value=0)
    verbs = ((s.VIEW, "viewed"), (s.CART, "carted"), (s.PURCHASE, "bought"))
    out = {}
    for user, row in counts.iterrows():
        parts = [f"{verb} it {_times(int(row[kind]))}" for kind, verb in verbs if row.get(kind, 0)]
        out[str(user)] = f"{', '.join(parts) or 'touched it'} in the last {days} days"
    return out


def _activity(reasons: dict[str, str], user: str, days: int) -> str:
    return reasons.get(str(user), f"no activity on it in the last {days} days")


def _times(n: int) -> str:
    return {1: "once", 2: "twice"}.get(n, f"{n} times")


def user_signals(
    events: pd.DataFrame,
    items: pd.DataFrame,
    as_of: pd.Timestamp,
    engagement: pd.DataFrame,
    profiles_config,
    horizon_days: int,
    seed: int = 0,
) -> Signals:
    """Churn risk, price sensitivity and recency of every user as of `as_of`, from events before it.

    The churn model is fitted point in time too: features as of `as_of - horizon_days`, labels
    in the `horizon_days` up to `as_of`. Too little data for it leaves churn risk NaN (retention
    campaigns then have no audience and say so).
    """
    from shopseq.profiles.build import behaviour_features
    from shopseq.profiles.churn import churn_labels, fit_churn_model

    features = behaviour_features(events, items, as_of, profiles_config)[0]
    churn = pd.Series(np.nan, index=features.index)
    train_cut = as_of - horizon_days * DAY
    past = events[events[s.TS] < as_of]
    if past[s.TS].min() < train_cut:
        try:
            model = fit_churn_model(
                behaviour_features(events, items, train_cut, profiles_config)[0],
                churn_labels(past, train_cut, horizon_days),
                seed,
            )
            churn = model.predict(features)
        except ValueError as error:
            log.warning("churn risk as of %s skipped: %s", as_of.isoformat(), error)
    return Signals(
        engagement=engagement,
        churn_risk=churn.rename(index=str),
        price_sensitivity=features["price_sensitivity"].rename(index=str),
        days_since_last_event=features["days_since_last_event"].rename(index=str),
    )


def signals_from_profiles(profiles: pd.DataFrame, engagement: pd.DataFrame) -> Signals:
    """The same signals read from the profiles stage's output (its churn risk, price sensitivity, recency)."""
    indexed = profiles.set_index(profiles[s.USER_ID].astype(str))
    churn = indexed["churn_risk"] if "churn_risk" in indexed else pd.Series(np.nan, index=indexed.index)
    return Signals(
        engagement=engagement,
        churn_risk=churn.astype("float64"),
        price_sensitivity=indexed["price_sensitivity"].astype("float64"),
        days_since_last_event=indexed["days_since_last_event"].astype("float64"),
    )


def check_campaign(
    campaign: Campaign,
    target_items: set[str],
    events: pd.DataFrame,
    items: pd.DataFrame,
    cutoff: pd.Timestamp,
    signals: Signals,
    days: int,
    recent_days: int,
    outcome: str,
) -> dict:
    """The campaign chosen as of `cutoff`, judged on the `days` after it: precision, lifts and lift curve."""
    from shopseq.downstream.audience_evaluation import (
        compare_audience,
        lift_curve,
        summarise,
    )

    ranked = rank_campaign(campaign, target_items, events, cutoff, signals, recent_days)
    hits, why = campaign_hits(campaign, target_items, events, items, cutoff, days, outcome)
    if why is not None:
        return {"skipped": why}
    pool = list(ranked[s.USER_ID])
    if not pool:
        return {"skipped": f"no user in the {campaign.objective} pool as of {cutoff.date()}"}
    size = len(cut_audience(ranked, campaign))
    heuristics = campaign_heuristics(campaign, target_items, events, pool, cutoff, recent_days,
                                     signals.days_since_last_event)
    row = compare_audience(pool, heuristics, hits, pool, max(size, 1))
    summary = summarise([row], list(heuristics))
    return {
        "objective": campaign.objective,
        "k": row["k"],
        "pool": row["pool"],
        "hits_in_pool": row["hits_in_pool"],
        **summary,
        "lift_curve": lift_curve(pool, hits, row["precision"]["random"]),
        "heuristic_curves": {name: lift_curve(users, hits, row["precision"]["random"])
                             for name, users in heuristics.items()},
    }
