"""What the service knows about users: their histories and the recent-popularity fallback.

Both come from the validated events, which the pipeline replaces whenever new data is validated.
`UserHistories` is one immutable snapshot of them; `UsersHolder` swaps a whole new snapshot in
with one assignment (as `champion.ModelHolder` does for the model), so a request reads the old
or the new snapshot, never a mix; `watcher.UserHistoriesWatcher` reloads when the file changes.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from shopseq.io import read_parquet
from shopseq.sequences.scoring import build_histories
from shopseq.serving.fallback import recent_popularity
from shopseq.serving.holder import Holder

log = logging.getLogger(__name__)

EVENTS_FILE = "events.parquet"


@dataclass(frozen=True)
class UserHistories:
    """Each known user's item ids in time order, and the fallback ranking for everyone else."""

    histories: dict[str, list[str]]
    fallback: pd.Series  # item id -> recent-popularity share, most popular first
    source: tuple[int, int, int] | None = None  # `events_signature` of the file they were read from
    loaded_at: datetime | None = None


def events_signature(validated_dir: str | Path) -> tuple[int, int, int]:
    """(inode, size, modification time in ns) of the validated events: changes whenever the file is replaced.

    Writers replace the file by renaming a new one onto it (a new inode), and `dvc checkout`
    relinks it, so a changed signature means new events even where the clock's resolution is coarse.

    Raises:
        FileNotFoundError: the validated events are missing.
    """
    stat = os.stat(Path(validated_dir) / EVENTS_FILE)
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


def load_user_histories(validated_dir: str | Path, recent_days: int) -> UserHistories:
    """Read the validated events once: user histories (consecutive repeats dropped) and the fallback.

    Raises:
        FileNotFoundError: the validated events are missing (run the pipeline first).
    """
    path = Path(validated_dir) / EVENTS_FILE
    # Signature first: if the file is replaced while it is read, the next check sees a newer one.
    source = events_signature(validated_dir) if path.exists() else None
    events = read_parquet(path)
    histories = {str(user): [str(i) for i in items] for user, items in build_histories(events).items()}
    fallback = recent_popularity(events, recent_days)
    log.info("serving data: %d users, %d items in the fallback ranking", len(histories), len(fallback))
    return UserHistories(histories, fallback, source, datetime.now(UTC))


UsersHolder = Holder[UserHistories]  # the served histories, swapped whole on new data


