"""The files the embed stage writes and later stages read: `items.npz` and `reviews.npz`.

items.npz:   ids (str, (I,)), vectors (float32, (I, H))
reviews.npz: user_ids (str, (R,)), item_ids (str, (R,)), ts (datetime64[ns], UTC, (R,)),
             vectors (float32, (R, H))
Every array is a plain NumPy type, so readers load with `allow_pickle=False`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from shopseq.io import atomic_path

ITEMS_FILE = "items.npz"
REVIEWS_FILE = "reviews.npz"


@dataclass(frozen=True)
class ItemVectors:
    """One unit vector per item.

    Attributes:
        ids: (I,) item ids (str).
        vectors: (I, H) float32.
    """

    ids: np.ndarray
    vectors: np.ndarray

    def __post_init__(self) -> None:
        if self.vectors.ndim != 2 or len(self.ids) != len(self.vectors):
            raise ValueError(f"item vectors: {len(self.ids)} ids for vectors of shape {self.vectors.shape}")

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def rows(self, item_ids: pd.Series | np.ndarray) -> np.ndarray:
        """Row of each id in `vectors`, -1 for ids without a vector: (n,) int64."""
        index = pd.Index(self.ids.astype(str))
        return index.get_indexer(np.asarray(item_ids, dtype=object).astype(str))


@dataclass(frozen=True)
class ReviewVectors:
    """One unit vector per review.

    Attributes:
        user_ids: (R,) author of each review (str).
        item_ids: (R,) reviewed item (str).
        ts: (R,) datetime64[ns] in UTC (naive).
        vectors: (R, H) float32.
    """

    user_ids: np.ndarray
    item_ids: np.ndarray
    ts: np.ndarray
    vectors: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.vectors)
        if self.vectors.ndim != 2 or not len(self.user_ids) == len(self.item_ids) == len(self.ts) == n:
            raise ValueError(
                f"review vectors: lengths user_ids {len(self.user_ids)}, item_ids {len(self.item_ids)}, "
                f"ts {len(self.ts)} do not match vectors {self.vectors.shape}"
            )


def save_item_vectors(path: str | Path, vectors: ItemVectors) -> None:
    """Write items.npz atomically."""
    _save(path, ids=vectors.ids.astype(str), vectors=vectors.vectors.astype(np.float32))


def save_review_vectors(path: str | Path, vectors: ReviewVectors) -> None:
    """Write reviews.npz atomically."""
    _save(
        path,
        user_ids=vectors.user_ids.astype(str),
        item_ids=vectors.item_ids.astype(str),
        ts=vectors.ts.astype("datetime64[ns]"),
        vectors=vectors.vectors.astype(np.float32),
    )


def load_item_vectors(path: str | Path) -> ItemVectors:
    """Read items.npz written by the embed stage."""
    with _open(path) as data:
        return ItemVectors(ids=data["ids"], vectors=data["vectors"])


def load_review_vectors(path: str | Path) -> ReviewVectors:
    """Read reviews.npz written by the embed stage."""
    with _open(path) as data:
        return ReviewVectors(
            user_ids=data["user_ids"], item_ids=data["item_ids"], ts=data["ts"], vectors=data["vectors"]
        )


def utc_naive(ts: pd.Series) -> np.ndarray:
    """tz-aware UTC timestamps -> datetime64[ns] without a zone (NumPy has none): (n,)."""
    return pd.to_datetime(ts, utc=True).dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[ns]")


def _save(path: str | Path, **arrays: np.ndarray) -> None:
    with atomic_path(path) as tmp, tmp.open("wb") as handle:
        np.savez(handle, **arrays)


def _open(path: str | Path):
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run the embed stage first (shopseq run embed)")
    return np.load(path, allow_pickle=False)
