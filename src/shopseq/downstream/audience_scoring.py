"""Who will engage with a target (a category or a list of items) in the coming days?

The next-item model answers "if this user acts next, what will it be?", not "will this user
act at all?". Ranked by that alone, an audience fills with users whose last clicks point at the
category but who are not coming back, and a plain "recent viewers" list beats it. So the
audience score blends, per (user, target), the champion's propensity for the target with the
user's recency-weighted activity on the target and overall:

- `propensity`: the model's next-item probability mass on the target's items;
- decayed views / carts / purchases of the target (half-life `half_life_days`);
- decayed events of any kind, days since the last event, recent views and purchases of the target;
- how regularly the user comes (active days per week since the first event, active days in the
  recent window), the target's share of all the user's events, on how many days the user touched
  the target and how long ago the last time was.

Gradient boosting learns the blend point in time (it finds the interaction a linear blend
misses: a category share only pays off for users who come back): features as of `as_of - window` and
outcomes in [as_of - window, as_of), then scores features as of `as_of`. It never sees a day
at or after `as_of`, so the same function serves the offline check (as_of = the holdout start)
and production (as_of = the end of the data).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from shopseq import schema as s
from shopseq.sequences.scoring import Scorer, model_histories, target_mass

log = logging.getLogger(__name__)

DAY = pd.Timedelta(days=1)
TARGET = "target"
OUTCOMES = ("interaction", "purchase")
PROPENSITY = "propensity"
FEATURES = [
    PROPENSITY,
    "target_views",
    "target_carts",
    "target_purchases",
    "user_events",
    "days_since_last_event",
    "recent_target_views",
    "recent_target_purchases",
    "active_days_per_week",
    "recent_active_days",
    "target_share",
    "target_active_days",
    "days_since_target",
]


@dataclass(frozen=True)
class Window:
    """How far back activity counts and how far ahead the outcome looks."""

    half_life_days: float
    recent_days: int
    window_days: int  # outcome window, and the gap between the training and the scoring cut
    outcome: str = "interaction"
    batch_size: int = 512
    train_windows: int = 1  # earlier cuts the blend learns from


def category_targets(items: pd.DataFrame, categories: Sequence[str]) -> dict[str, set[str]]:
    """Each category's item ids: the target of a category audience."""
    known = items.dropna(subset=[s.CATEGORY]).astype({s.CATEGORY: "string"})
    groups = known.groupby(s.CATEGORY)[s.ITEM_ID].agg(lambda ids: set(ids.astype(str)))
    return {str(c): groups.get(c, set()) for c in categories}


def top_categories(events: pd.DataFrame, items: pd.DataFrame, n: int) -> list[str]:
    """The `n` categories with the most users (ties by name): the ones worth an audience."""
    tagged = events[[s.USER_ID, s.ITEM_ID]].merge(
        items[[s.ITEM_ID, s.CATEGORY]].drop_duplicates(s.ITEM_ID), on=s.ITEM_ID
    ).dropna(subset=[s.CATEGORY])
    users = tagged.groupby(tagged[s.CATEGORY].astype(str))[s.USER_ID].nunique()
    ranked = users.reset_index().sort_values([s.USER_ID, s.CATEGORY], ascending=[False, True], kind="stable")
    return list(ranked[s.CATEGORY].head(n))


def target_events(events: pd.DataFrame, targets: dict[str, set[str]]) -> pd.DataFrame:
    """Events on each target's items, tagged with the target's name (one row per event and target)."""
    pairs = pd.DataFrame(
        [(name, item) for name, ids in targets.items() for item in ids], columns=[TARGET, s.ITEM_ID]
    ).astype({s.ITEM_ID: events[s.ITEM_ID].dtype if len(events) else "string"})
    return events.merge(pairs, on=s.ITEM_ID)


def point_in_time_propensity(
    recommender: Scorer,
    events: pd.DataFrame,
    targets: dict[str, set[str]],
    users: pd.Index,
    batch_size: int = 512,
) -> pd.DataFrame:
    """The model's next-item probability mass on each target, scoring each user's history in `events`.

    The caller cuts `events` at the day the decision is replayed at. This is the one place
    audiences still run the model themselves, and only for what the batch scores
    (`data/scores/`, stage `score`) cannot answer: the scores come from whole histories, so at
    the blend's training cuts and at the offline check's holdout start they would carry the very
    days whose outcomes are being predicted (leakage). History reading and softmax are the batch
    scores' own (`shopseq.sequences.scoring`), so a propensity here and one read from the scores
    agree for the same history. Users without a history the model can read get 0 (the model has
    no opinion on them).

    Returns:
        (U, T) frame indexed by user id, one column per target.
    """
    histories = model_histories(recommender, events)
    histories = histories[histories.index.isin(users)]
    onehot = np.array(
        [[item in ids for ids in targets.values()] for item in recommender.item_ids], dtype=np.float64
    )  # (I, T)
    values = target_mass(recommender, list(histories), onehot, batch_size)  # (U', T)
    mass = pd.DataFrame(values, index=histories.index, columns=list(targets))
    return mass.reindex(users, fill_value=0.0)


def pair_features(
    events: pd.DataFrame,
    targets: dict[str, set[str]],
    as_of: pd.Timestamp,
    window: Window,
    propensity: pd.DataFrame | None,
) -> pd.DataFrame:
    """One row per (user with history before `as_of`, target): the blend's inputs, from events before `as_of`.

    Returns:
        Columns user_id, target, then `FEATURES` (propensity 0 when no model is given).
    """
    past = events[events[s.TS] < as_of]
    users = pd.Index(sorted(past[s.USER_ID].unique()), name=s.USER_ID)
    weight = np.power(0.5, ((as_of - past[s.TS]) / DAY).to_numpy(np.float64) / window.half_life_days)
    by_user = past.groupby(s.USER_ID)
    day = past[s.TS].dt.floor("D")
    recent_days = past[s.TS] >= as_of - window.recent_days * DAY
    per_user = pd.DataFrame({
        "user_events": pd.Series(weight, index=past.index).groupby(past[s.USER_ID]).sum(),
        "days_since_last_event": (as_of - by_user[s.TS].max()) / DAY,
        "active_days_per_week": day.groupby(past[s.USER_ID]).nunique()
        / np.maximum((as_of - by_user[s.TS].min()) / DAY, 1.0) * 7.0,
        "recent_active_days": day[recent_days].groupby(past.loc[recent_days, s.USER_ID]).nunique(),
        "n_events": by_user.size().astype("float64"),
    }).reindex(users).fillna({"recent_active_days": 0.0})
    grid = pd.MultiIndex.from_product([users, list(targets)], names=[s.USER_ID, TARGET])
    tagged = target_events(past, targets)
    tagged = tagged.assign(
        weight=np.power(0.5, ((as_of - tagged[s.TS]) / DAY).to_numpy(np.float64) / window.half_life_days),
        recent=(tagged[s.TS] >= as_of - window.recent_days * DAY).astype("float64"),
    )
    frame = pd.DataFrame(index=grid)
    for kind, name in ((s.VIEW, "target_views"), (s.CART, "target_carts"), (s.PURCHASE, "target_purchases")):
        of_kind = tagged[tagged[s.EVENT_TYPE] == kind]
        frame[name] = of_kind.groupby([s.USER_ID, TARGET])["weight"].sum()
        if name in ("target_views", "target_purchases"):
            frame[f"recent_{name}"] = of_kind.groupby([s.USER_ID, TARGET])["recent"].sum()
    frame["target_share"] = tagged.groupby([s.USER_ID, TARGET]).size()
    frame["target_active_days"] = tagged[s.TS].dt.floor("D").groupby([tagged[s.USER_ID], tagged[TARGET]]).nunique()
    frame["days_since_target"] = (as_of - tagged.groupby([s.USER_ID, TARGET])[s.TS].max()) / DAY
    never = frame["days_since_target"].isna()
    frame = frame.fillna(0.0)
    frame.loc[never, "days_since_target"] = 10 * window.half_life_days  # never touched: long ago
    frame = frame.reset_index()
    frame = frame.join(per_user, on=s.USER_ID)
    frame["target_share"] = frame["target_share"] / frame["n_events"]
    if propensity is None:
        frame[PROPENSITY] = 0.0
    else:
        long = propensity.reindex(users, fill_value=0.0).rename_axis(s.USER_ID).rename_axis(TARGET, axis=1).stack()
        frame[PROPENSITY] = frame.set_index([s.USER_ID, TARGET]).index.map(long.to_dict()).astype("float64")
    return frame[[s.USER_ID, TARGET, *FEATURES]]


def outcomes(events: pd.DataFrame, targets: dict[str, set[str]], start: pd.Timestamp, days: int, kind: str) -> set:
    """(user, target) pairs with an interaction (or a purchase) on the target in [start, start + days)."""
    if kind not in OUTCOMES:
        raise ValueError(f"audience outcome must be one of {', '.join(OUTCOMES)}; got {kind!r}")
    window = events[(events[s.TS] >= start) & (events[s.TS] < start + days * DAY)]
    if kind == "purchase":
        window = window[window[s.EVENT_TYPE] == s.PURCHASE]
    tagged = target_events(window, targets)
    return set(zip(tagged[s.USER_ID], tagged[TARGET]))


def design(frame: pd.DataFrame) -> np.ndarray:
    """The blend's input matrix: log1p of counts and propensity x 100, so effects are roughly additive."""
    values = frame[FEATURES].to_numpy(dtype=np.float64).copy()  # (N, F)
    values[:, 0] *= 100.0  # propensity: a probability, often 0.01-0.3
    return np.log1p(np.clip(values, 0.0, None))  # (N, F)


def engagement_scores(
    events: pd.DataFrame,
    targets: dict[str, set[str]],
    as_of: pd.Timestamp,
    window: Window,
    recommender: Scorer | None = None,
    seed: int = 0,
    propensity_now: pd.DataFrame | None = None,
    recommender_now: Scorer | None = None,
) -> pd.DataFrame:
    """Blend propensity and activity into P(engages with the target in the next window) as of `as_of`.

    Trains on up to `window.train_windows` earlier cuts (as_of - window_days, as_of - 2 x
    window_days, ...), each with its features as of the cut and its outcomes in the window after
    it, all before `as_of`. When no cut has history before it and outcomes of both kinds (too
    little data), the score falls back to the decayed activity on the target plus the propensity.

    Args:
        propensity_now: the model's propensity as of `as_of` already computed (users x targets,
            e.g. read from the batch scores); targets it lacks are scored with `recommender`.
            The training cuts always score point in time (`point_in_time_propensity`).
        recommender_now: scores the targets `propensity_now` lacks as of `as_of` instead of
            `recommender` (production: the same model with item vectors fused with every review).

    Returns:
        Columns user_id, target, score, then `FEATURES`; one row per (user with history, target).
    """
    current = _features(events, targets, as_of, window, recommender_now or recommender, propensity_now)
    past = events[events[s.TS] < as_of]
    frames, labels = [], []
    for n in range(1, window.train_windows + 1):
        cut = as_of - n * window.window_days * DAY
        if past.empty or past[s.TS].min() >= cut:
            break
        train = _features(events, targets, cut, window, recommender)
        hits = outcomes(past, targets, cut, window.window_days, window.outcome)
        frames.append(design(train))
        labels.append(np.array([(u, t) in hits for u, t in zip(train[s.USER_ID], train[TARGET])]))
    y = np.concatenate(labels) if labels else np.zeros(0, dtype=bool)
    if 0 < y.sum() < len(y):
        from sklearn.ensemble import HistGradientBoostingClassifier

        # Leaves of ~1% of the pairs (5 to 50): big enough not to chase noise on a large shop,
        # small enough that a small one still gets splits.
        leaf = int(np.clip(len(y) // 100, 5, 50))
        blend = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, max_leaf_nodes=15,
                                               min_samples_leaf=leaf, random_state=seed)
        blend.fit(np.vstack(frames), y)
        log.info("audience blend: fitted on %d (user, target) pairs from %d cut(s) before %s, %.1f%% positive",
                 len(y), len(frames), as_of.isoformat(), 100 * y.mean())
        return current.assign(score=blend.predict_proba(design(current))[:, 1])[_columns()]
    log.warning("audience blend: no training window with outcomes before %s; scoring by activity + propensity",
                as_of.isoformat())
    fallback = current["target_views"] + current["target_carts"] + current["target_purchases"] + current[PROPENSITY]
    return current.assign(score=fallback / (1.0 + fallback))[_columns()]


def _features(events, targets, as_of, window, recommender, given=None) -> pd.DataFrame:
    """`pair_features` as of `as_of`, the propensity taken from `given` where it has the target, else scored."""
    past = events[events[s.TS] < as_of]
    users = pd.Index(sorted(past[s.USER_ID].unique()), name=s.USER_ID)
    have = [] if given is None else [t for t in targets if t in given.columns]
    missing = {t: ids for t, ids in targets.items() if t not in have}
    if recommender is None and (not have or missing):
        if have:
            raise ValueError(f"no propensity for targets {sorted(missing)} and no model to score them with")
        return pair_features(events, targets, as_of, window, None)
    parts = [given[have].reindex(users, fill_value=0.0)] if have else []
    if missing:
        parts.append(point_in_time_propensity(recommender, past, missing, users, window.batch_size))
    propensity = pd.concat(parts, axis=1)[list(targets)]
    return pair_features(events, targets, as_of, window, propensity)


def _columns() -> list[str]:
    return [s.USER_ID, TARGET, "score", *FEATURES]
