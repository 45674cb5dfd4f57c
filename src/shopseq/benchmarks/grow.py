"""Grow a real data sample to N events in its published layout, for volume benchmarks.

Replica r of the sample is the sample with every user id shifted by r * (largest id + 1) (and
every session id suffixed with `-r`), so replicas are new users with real item ids, real
categories and real timestamps: the catalogue stays fixed while users grow, as in a shop whose
customer base grows. Rows are written replica by replica, so memory holds the sample once, not
the grown file. The last replica is cut at exactly N rows (its last user may be partial, as the
last user of a published head cut is).
"""

from __future__ import annotations

import gzip
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from shopseq.progress import progress

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Layout:
    """Where a source's CSV keeps its user (and session) ids."""

    columns: list[str] | None  # None: the file has a header row
    user: str  # numeric user id column, shifted per replica
    session: str | None = None  # session id column, suffixed per replica


LAYOUTS: dict[str, Layout] = {
    "taobao": Layout(columns=["user_id", "item_id", "category_id", "behavior_type", "timestamp"], user="user_id"),
    "rees46": Layout(columns=None, user="user_id", session="user_session"),
}


def grow_sample(source: str, sample: Path, events: int, out: Path) -> Path:
    """Write `out` (plain CSV, the source's layout) holding `events` rows grown from `sample`.

    Raises:
        ValueError: the source has no known layout to grow, the sample is empty, or a user id
            is not a whole number (the layout's user column is shifted arithmetically).
    """
    layout = LAYOUTS.get(source)
    if layout is None:
        raise ValueError(f"growing a sample is implemented for {sorted(LAYOUTS)}, not {source!r}")
    if events < 1:
        raise ValueError(f"events must be >= 1, got {events}")
    frame = _read_sample(sample, layout)
    if frame.empty:
        raise ValueError(f"{sample}: no rows to grow")
    users = pd.to_numeric(frame[layout.user], errors="coerce")
    if users.isna().any():
        row = int(users.isna().to_numpy().argmax())
        raise ValueError(f"{sample}: row {row} has user id {frame[layout.user].iloc[row]!r}, not a whole number")
    users = users.astype("int64")
    shift = int(users.max()) + 1
    replicas = math.ceil(events / len(frame))
    out.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with open(out, "w", newline="") as handle:
        for r in progress(range(replicas), desc=f"growing {sample.name} to {events:,} events", unit="replica"):
            replica = frame.copy()
            replica[layout.user] = (users + r * shift).astype(str)
            if layout.session is not None and r:
                replica[layout.session] = replica[layout.session] + f"-{r}"
            replica = replica.iloc[: events - written]
            replica.to_csv(handle, index=False, header=layout.columns is None and r == 0)
            written += len(replica)
    log.info("grew %s (%d rows) to %d rows in %d replicas: %s", sample, len(frame), written, replicas, out)
    return out


def _read_sample(sample: Path, layout: Layout) -> pd.DataFrame:
    """The sample as strings, exactly as published (gzip read transparently)."""
    opener = gzip.open if sample.suffix == ".gz" else open
    with opener(sample, "rt", newline="") as handle:
        if layout.columns is None:
            return pd.read_csv(handle, dtype=str, keep_default_na=False)
        return pd.read_csv(handle, header=None, names=layout.columns, dtype=str, keep_default_na=False)
