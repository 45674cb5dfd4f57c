"""The files the embed stage writes and later stages read: `items.npz` and `reviews.npz`.

items.npz:   ids (str, (I,)), vectors (float32 or float16, (I, H)): own text fused with every review
items_text.npz: the same layout, the items' own text alone (fused as of a cut by `text.item_vectors_as_of`)
reviews.npz: user_ids (str, (R,)), item_ids (str, (R,)), ts (datetime64[ns], UTC, (R,)),
             vectors (float32 or float16, (R, H))
Row i of `vectors` belongs to row i of the id arrays: the ids are the index of the vectors.
Every array is a plain NumPy type, so readers load with `allow_pickle=False`; the readers here
widen float16 (`embed.dtype: float16`) back to float32.

Written incrementally: the stage fills an `.npy` memmap (`open_vector_file`) chunk by chunk,
and `np.savez` copies a memmap into the archive in 16 MiB pieces, uncompressed, so the
vectors of a million texts are never all in memory while the stage writes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from shopseq.io import atomic_path

ITEMS_FILE = "items.npz"
ITEM_TEXT_FILE = "items_text.npz"
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


VECTOR_DTYPES = ("float32", "float16")


def open_vector_file(path: str | Path, n: int, dim: int, dtype: str = "float32") -> np.memmap:
    """A new (n, dim) `.npy` file mapped into memory for writing row chunks (`embed.dtype`)."""
    _check_dtype(dtype)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=(n, dim))


def save_item_vectors(path: str | Path, vectors: ItemVectors, dtype: str = "float32") -> None:
    """Write items.npz atomically, vectors as `dtype` (float32 or float16)."""
    _save(path, ids=vectors.ids.astype(str), vectors=_as_dtype(vectors.vectors, dtype))


def save_review_vectors(path: str | Path, vectors: ReviewVectors, dtype: str = "float32") -> None:
    """Write reviews.npz atomically; a memmap of `dtype` is streamed, never loaded whole."""
    _save(
        path,
        user_ids=vectors.user_ids.astype(str),
        item_ids=vectors.item_ids.astype(str),
        ts=vectors.ts.astype("datetime64[ns]"),
        vectors=_as_dtype(vectors.vectors, dtype),
    )


def load_item_vectors(path: str | Path) -> ItemVectors:
    """Read items.npz written by the embed stage (vectors as float32)."""
    with _open(path) as data:
        return ItemVectors(ids=data["ids"], vectors=data["vectors"].astype(np.float32, copy=False))


def load_review_vectors(path: str | Path) -> ReviewVectors:
    """Read reviews.npz written by the embed stage (vectors as float32)."""
    with _open(path) as data:
        return ReviewVectors(
            user_ids=data["user_ids"], item_ids=data["item_ids"], ts=data["ts"],
            vectors=data["vectors"].astype(np.float32, copy=False),
        )


def _check_dtype(dtype: str) -> None:
    if dtype not in VECTOR_DTYPES:
        raise ValueError(f"embed.dtype must be one of {', '.join(VECTOR_DTYPES)}; got {dtype!r}")


def _as_dtype(vectors: np.ndarray, dtype: str) -> np.ndarray:
    """`vectors` as `dtype`, without a copy when it already is (a memmap stays a memmap)."""
    _check_dtype(dtype)
    return vectors if vectors.dtype == np.dtype(dtype) else vectors.astype(dtype)


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
