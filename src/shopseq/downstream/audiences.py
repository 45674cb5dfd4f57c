"""Category-propensity ad audiences from the next-item model, with an offline check.

A user's propensity for a category is the probability mass the model puts on the category's
items as the user's next item: softmax over the model's next-item scores, summed per category.
Each category's audience is its `top_users` users by that propensity. Every row carries a reason
a marketer can read ("top 3% propensity for coffee; viewed it 4 times in the last 14 days").

The offline check replays the decision a week earlier: histories before the last `holdout_days`
are scored, and each audience's precision (share of its users who touched the category in the
held-out days) is compared with a "recent viewers of the category" heuristic and with random
targeting of the same users.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np
import pandas as pd

from shopseq import schema as s
from shopseq.config import Audiences
from shopseq.io import read_json
from shopseq.progress import progress

log = logging.getLogger(__name__)

SCORE, RANK, REASON = "score", "rank", "reason"
AUDIENCE_COLUMNS = [s.CATEGORY, s.USER_ID, SCORE, RANK, REASON]
UNKNOWN_CATEGORY = "unknown"
METHODS = ("model", "recent_viewers", "random")  # the offline check's targeting methods


class Recommender(Protocol):
    """What audiences need from a next-item model (see `shopseq.sequences.recommender`)."""

    item_ids: list[str]

    def score(self, histories: list[list[str]]) -> np.ndarray:
        """Next-item scores of shape (n_histories, n_items); higher = more likely next."""
        ...


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


def build_histories(events: pd.DataFrame) -> pd.Series:
    """Each user's item ids in time order with consecutive duplicates removed.

    Returns:
        A Series indexed by user id (sorted) whose values are lists of item ids.
    """
    ordered = events[[s.USER_ID, s.ITEM_ID, s.TS]].sort_values([s.USER_ID, s.TS], kind="stable")
    users = ordered[s.USER_ID].to_numpy()
    items = ordered[s.ITEM_ID].to_numpy()
    keep = np.ones(len(ordered), dtype=bool)
    keep[1:] = (users[1:] != users[:-1]) | (items[1:] != items[:-1])
    kept = ordered[keep]
    return kept.groupby(s.USER_ID, sort=True)[s.ITEM_ID].agg(list)


def item_categories(items: pd.DataFrame, item_ids: Sequence[str]) -> np.ndarray:
    """The category of each of the model's items, `UNKNOWN_CATEGORY` where the catalogue lacks it."""
    lookup = items.drop_duplicates(s.ITEM_ID).set_index(s.ITEM_ID)[s.CATEGORY]
    found = lookup.reindex(list(item_ids))
    return found.astype("object").where(found.notna(), UNKNOWN_CATEGORY).to_numpy()  # (I,)


def category_mass(scores: np.ndarray, onehot: np.ndarray) -> np.ndarray:
    """Softmax the next-item scores and sum the probabilities per category.

    Args:
        scores: (U, I) next-item scores.
        onehot: (I, C) 1 where item i belongs to category c.

    Returns:
        (U, C) probability of the next item falling in each category.
    """
    shifted = scores - scores.max(axis=1, keepdims=True)  # (U, I) stable softmax
    weights = np.exp(shifted)  # (U, I)
    probs = weights / weights.sum(axis=1, keepdims=True)  # (U, I)
    return probs @ onehot  # (U, C)


def score_propensity(
    recommender: Recommender,
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
    cleaned = histories.map(lambda h: _dedupe([i for i in h if i in known]))
    cleaned = cleaned[cleaned.map(len) > 0]
    if dropped := len(histories) - len(cleaned):
        log.info("skipped %d users whose history has no item the model knows", dropped)
    item_cats = item_categories(items, recommender.item_ids)  # (I,)
    categories = sorted(set(items[s.CATEGORY].dropna().astype(str)))
    onehot = (item_cats[:, None] == np.array(categories, dtype=object)[None, :]).astype(np.float64)  # (I, C)
    user_ids = list(cleaned.index)
    lists = list(cleaned)
    chunks = range(0, len(lists), batch_size)
    parts = []
    for start in progress(chunks, desc="audiences: scoring users", unit="batch", mode=mode):
        scores = np.asarray(recommender.score(lists[start : start + batch_size]), dtype=np.float64)  # (B, I)
        parts.append(category_mass(scores, onehot))  # (B, C)
    values = np.concatenate(parts) if parts else np.zeros((0, len(categories)))  # (U, C)
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


def build_audiences(
    recommender: Recommender,
    events: pd.DataFrame,
    items: pd.DataFrame,
    config: Audiences,
    users: Sequence[str] | None = None,
    mode: str = "auto",
) -> tuple[pd.DataFrame, int]:
    """Score all users (or just `users`) and return the audiences with reasons.

    Returns:
        The audiences (columns `AUDIENCE_COLUMNS`) and how many users were scored.
    """
    histories = build_histories(events)
    if users is not None:
        histories = histories[histories.index.isin(list(users))]
    propensity = score_propensity(recommender, histories, items, config.batch_size, mode)
    audiences = select_audiences(propensity, config.top_users)
    counts = recent_counts(events, items, events[s.TS].max(), config.recent_days)
    return explain(audiences, counts, len(propensity.user_ids), config.recent_days), len(propensity.user_ids)


def check_audiences(
    recommender: Recommender,
    events: pd.DataFrame,
    items: pd.DataFrame,
    config: Audiences,
    mode: str = "auto",
) -> dict:
    """Offline check: audiences chosen before the last `holdout_days` vs what users did in them.

    Precision of an audience = share of its users who interacted with the category in the
    held-out days. The same-size "recent viewers" heuristic ranks users by interactions with
    the category in the `recent_days` before the cut (then all-time, then user id). Random
    targeting is reported by its expected precision: the category's base rate among the users
    that could be scored. Lifts are ratios of precisions averaged over categories.

    Returns:
        holdout_days, cutoff, n_users, per-method mean precision, the two lifts, per_category rows.
    """
    cutoff = events[s.TS].max() - pd.Timedelta(days=config.holdout_days)
    before, after = events[events[s.TS] < cutoff], events[events[s.TS] >= cutoff]
    propensity = score_propensity(recommender, build_histories(before), items, config.batch_size, mode)
    eligible = pd.Index(propensity.user_ids)
    top = min(config.top_users, len(eligible))
    model = select_audiences(propensity, top)
    truth = _user_categories(after, items)
    heuristic = _recent_viewers(
        before, items, eligible, propensity.categories, cutoff, config.recent_days, top
    )
    rows = []
    for category in propensity.categories:
        buyers = truth.get(category, set())
        rows.append(
            {
                s.CATEGORY: category,
                "model": _precision(model.loc[model[s.CATEGORY] == category, s.USER_ID], buyers),
                "recent_viewers": _precision(heuristic.get(category, []), buyers),
                "random": _precision(eligible, buyers),
            }
        )
    per_category = pd.DataFrame(rows, columns=[s.CATEGORY, *METHODS])
    means = {name: float(per_category[name].mean()) if len(per_category) else 0.0 for name in METHODS}
    return {
        "holdout_days": config.holdout_days,
        "cutoff": cutoff.isoformat(),
        "n_users": len(eligible),
        "audience_size": top,
        "precision": means,
        "lift_over_heuristic": _ratio(means["model"], means["recent_viewers"]),
        "lift_over_random": _ratio(means["model"], means["random"]),
        "per_category": per_category.to_dict("records"),
    }


def _recent_viewers(
    events: pd.DataFrame,
    items: pd.DataFrame,
    eligible: pd.Index,
    categories: list[str],
    as_of: pd.Timestamp,
    days: int,
    top: int,
) -> dict[str, list[str]]:
    """The heuristic audience: users who touched the category most recently-and-often."""
    tagged = events.merge(items[[s.ITEM_ID, s.CATEGORY]].drop_duplicates(s.ITEM_ID), on=s.ITEM_ID)
    tagged = tagged[tagged[s.USER_ID].isin(eligible)]
    recent = tagged[tagged[s.TS] >= as_of - pd.Timedelta(days=days)]
    audiences = {}
    for category in categories:
        counts = pd.DataFrame(index=eligible.sort_values())
        counts["recent"] = recent[recent[s.CATEGORY] == category].groupby(s.USER_ID).size()
        counts["all"] = tagged[tagged[s.CATEGORY] == category].groupby(s.USER_ID).size()
        counts = counts.fillna(0).rename_axis(s.USER_ID).reset_index()
        ranked = counts.sort_values(
            ["recent", "all", s.USER_ID], ascending=[False, False, True], kind="stable"
        )
        audiences[category] = list(ranked[s.USER_ID].head(top))
    return audiences


def _user_categories(events: pd.DataFrame, items: pd.DataFrame) -> dict[str, set[str]]:
    """For each category, the users who interacted with it in `events`."""
    tagged = events.merge(items[[s.ITEM_ID, s.CATEGORY]].drop_duplicates(s.ITEM_ID), on=s.ITEM_ID)
    return {str(c): set(group[s.USER_ID]) for c, group in tagged.groupby(s.CATEGORY)}


def _precision(users: Sequence[str] | pd.Index | pd.Series, hits: set[str]) -> float:
    users = list(users)
    return sum(u in hits for u in users) / len(users) if users else 0.0


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator > 0 else None


def _dedupe(history: list[str]) -> list[str]:
    """Drop consecutive duplicates (removing unknown items can create new ones)."""
    return [item for i, item in enumerate(history) if i == 0 or item != history[i - 1]]


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
