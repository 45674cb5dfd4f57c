"""Offline evaluation of audiences: precision and lift on a held-out later period.

An audience is a ranked list of users; its precision at k is the share of its first k users who
did the thing the campaign wants (a hit) in the held-out days. It is compared with

- random targeting: the expected precision of k users drawn from the same eligible pool, which
  is the pool's hit rate;
- the best simple heuristic a marketer would use instead: recent viewers of the target or
  recent buyers of it (ranked by recent count, then all-time count, then user id), whichever
  is better on the data at hand.

lift over X = precision(audience) / precision(X) at the same k.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from shopseq import schema as s

HEURISTICS = ("recent_viewers", "recent_buyers")
CURVE_SHARES = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0)  # lift curve points, as shares of the pool


def rank_users(scores: pd.Series) -> list[str]:
    """User ids by score, highest first; ties go to the smaller user id (deterministic)."""
    frame = pd.DataFrame({"user": scores.index.astype(str), "score": scores.to_numpy(dtype=np.float64)})
    return list(frame.sort_values(["score", "user"], ascending=[False, True], kind="stable")["user"])


def precision(users: Sequence[str], hits: set[str]) -> float:
    """Share of `users` in `hits`; 0 for an empty audience."""
    return sum(u in hits for u in users) / len(users) if len(users) else 0.0


def lift(numerator: float, denominator: float) -> float | None:
    """numerator / denominator, None when the denominator is 0 (no lift can be stated)."""
    return numerator / denominator if denominator > 0 else None


def heuristic_scores(
    events: pd.DataFrame, target_items: set[str], pool: Iterable[str], as_of: pd.Timestamp, recent_days: int
) -> dict[str, pd.Series]:
    """Recent-viewers and recent-buyers scores of each pool user for one target, from events before `as_of`.

    A score orders users by recent count first and all-time count second (all-time count over
    one more than its maximum stays below 1, so it only breaks ties of the recent count).
    """
    pool = pd.Index(sorted(set(pool)), name=s.USER_ID)
    past = events[(events[s.TS] < as_of) & events[s.ITEM_ID].isin(target_items)]
    recent = past[s.TS] >= as_of - pd.Timedelta(days=recent_days)
    out = {}
    for name, kinds in (("recent_viewers", None), ("recent_buyers", (s.PURCHASE,))):
        chosen = past if kinds is None else past[past[s.EVENT_TYPE].isin(kinds)]
        chosen_recent = recent[chosen.index]
        recent_count = chosen[chosen_recent].groupby(s.USER_ID).size().reindex(pool, fill_value=0)
        all_count = chosen.groupby(s.USER_ID).size().reindex(pool, fill_value=0)
        out[name] = recent_count + all_count / (all_count.max() + 1.0)
    return out


def lift_curve(ranked: Sequence[str], hits: set[str], base_rate: float, shares: Sequence[float] = CURVE_SHARES) -> list[dict]:
    """Precision and lift over random of the first k users, for k at each share of the ranking."""
    flags = np.array([u in hits for u in ranked], dtype=np.float64)  # (N,)
    cumulative = np.cumsum(flags)
    rows = []
    for share in shares:
        k = max(1, round(share * len(ranked)))
        if k > len(ranked) or any(r["k"] == k for r in rows):
            continue
        p = float(cumulative[k - 1] / k)
        rows.append({"k": k, "share": share, "precision": round(p, 4), "lift_over_random": _round(lift(p, base_rate))})
    return rows


def compare_audience(
    ranked: Sequence[str], heuristics: dict[str, Sequence[str]], hits: set[str], pool: Sequence[str], k: int
) -> dict:
    """Precision at k of an audience, of each heuristic and of random targeting from `pool`.

    Returns:
        k, pool size, hits in the pool, precision per method ("model", each heuristic, "random").
    """
    k = min(k, len(pool))
    base = precision(pool, hits)
    row = {"k": k, "pool": len(pool), "hits_in_pool": int(sum(u in hits for u in pool)),
           "precision": {"model": precision(ranked[:k], hits), "random": base}}
    for name, users in heuristics.items():
        row["precision"][name] = precision(list(users)[:k], hits)
    return row


def summarise(rows: list[dict], heuristics: Sequence[str] = HEURISTICS) -> dict:
    """Mean precision per method over audiences, the better heuristic and the two lifts."""
    methods = ["model", *heuristics, "random"]
    means = {m: float(np.mean([r["precision"][m] for r in rows if m in r["precision"]])) if rows else 0.0
             for m in methods}
    present = [h for h in heuristics if any(h in r["precision"] for r in rows)]
    best = max(present, key=lambda h: means[h]) if present else None
    return {
        "precision": {m: round(v, 4) for m, v in means.items()},
        "best_heuristic": best,
        "lift_over_heuristic": _round(lift(means["model"], means[best])) if best else None,
        "lift_over_random": _round(lift(means["model"], means["random"])),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
