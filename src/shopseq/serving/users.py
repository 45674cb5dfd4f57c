"""What the service knows about users: their histories and the recent-popularity fallback."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from shopseq.downstream.audiences import build_histories
from shopseq.io import read_parquet
from shopseq.serving.fallback import recent_popularity

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UserHistories:
    """Each known user's item ids in time order, and the fallback ranking for everyone else."""

    histories: dict[str, list[str]]
    fallback: pd.Series  # item id -> recent-popularity share, most popular first


def load_user_histories(validated_dir: str | Path, recent_days: int) -> UserHistories:
    """Read the validated events once: user histories (consecutive repeats dropped) and the fallback.

    Raises:
        FileNotFoundError: the validated events are missing (run the pipeline first).
    """
    events = read_parquet(Path(validated_dir) / "events.parquet")
    histories = {str(user): [str(i) for i in items] for user, items in build_histories(events).items()}
    fallback = recent_popularity(events, recent_days)
    log.info("serving data: %d users, %d items in the fallback ranking", len(histories), len(fallback))
    return UserHistories(histories, fallback)
