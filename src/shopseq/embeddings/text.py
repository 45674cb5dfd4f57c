"""What gets encoded: one text per item and per review, and how reviews colour an item's vector.

A review is written at a time, and one written during a validation or test window signals a
purchase in that window: item vectors that a model trains or is scored with must fuse only the
reviews written before the cut they are used at (`item_vectors_as_of`). The embed stage writes
the items' own text vectors (`items_text.npz`) and the review vectors with their times, so every
consumer fuses as of its own cut without encoding anything again; `items.npz` fuses every review
(production: the present sees the whole past).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from shopseq import schema as s
from shopseq.embeddings.vectors import (
    ITEM_TEXT_FILE,
    REVIEWS_FILE,
    ItemVectors,
    ReviewVectors,
    load_item_vectors,
    load_review_vectors,
    utc_naive,
)

FUSE_BLOCK = 65_536  # review rows added per step when fusing item vectors


def item_texts(items: pd.DataFrame) -> list[str]:
    """One text per item row: "title. description. Brand: b. Category: c." (missing parts left out)."""
    _require_unique_ids(items, "items")
    columns = [s.TITLE, s.DESCRIPTION, s.BRAND, s.CATEGORY]
    prefixes = {s.TITLE: "", s.DESCRIPTION: "", s.BRAND: "Brand: ", s.CATEGORY: "Category: "}
    values = [_strings(items, column) for column in columns]
    texts = []
    for row in zip(*values):
        parts = [(prefixes[c] + v).rstrip(".") for c, v in zip(columns, row) if v]
        texts.append(". ".join(parts) + "." if parts else "")
    return texts


def review_texts(reviews: pd.DataFrame) -> list[str]:
    """The text of each review row (a missing text encodes as the empty string)."""
    return [text.strip() for text in _strings(reviews, s.TEXT)]


def fuse_item_vectors(
    item_ids: Sequence[str] | pd.Series,
    own: np.ndarray,
    review_item_ids: Sequence[str] | pd.Series,
    review_vectors: np.ndarray,
    review_weight: float,
) -> np.ndarray:
    """Blend each item's own text vector with the mean of its reviews' vectors, then re-normalise.

    item = (1 - w) * own + w * mean(reviews of the item), only for items with at least one review;
    reviews of items that are not in `item_ids` are ignored.

    Args:
        item_ids: (I,) unique item ids, row order of `own`.
        own: (I, H) unit vectors of the items' own texts.
        review_item_ids: (R,) item id of each review.
        review_vectors: (R, H) unit vectors of the review texts.
        review_weight: w in [0, 1] (`embed.review_weight`).

    Returns:
        (I, H) float32 unit vectors.
    """
    if not 0.0 <= review_weight <= 1.0:
        raise ValueError(f"embed.review_weight must be in [0, 1]; got {review_weight}")
    index = pd.Index(pd.array(item_ids, dtype="string"))
    codes = index.get_indexer(pd.array(review_item_ids, dtype="string"))  # (R,), -1 if unknown
    sums = np.zeros(own.shape, dtype=np.float64)  # (I, H)
    counts = np.zeros(len(index), dtype=np.int64)  # (I,)
    # Reviews in blocks: `review_vectors` may be a memmap of millions of rows (float16 or float32).
    for start in range(0, len(codes), FUSE_BLOCK):
        block = codes[start : start + FUSE_BLOCK]  # (b,)
        known = block >= 0
        np.add.at(sums, block[known], np.asarray(review_vectors[start : start + FUSE_BLOCK], dtype=np.float64)[known])
        counts += np.bincount(block[known], minlength=len(index))
    reviewed = counts > 0
    own = np.asarray(own, dtype=np.float64)
    fused = own.copy()  # (I, H)
    fused[reviewed] = (1.0 - review_weight) * own[reviewed] + review_weight * (
        sums[reviewed] / counts[reviewed, None]
    )
    return l2_normalize(fused)


def item_vectors_as_of(
    own: ItemVectors, reviews: ReviewVectors, cut: pd.Timestamp | None, review_weight: float
) -> ItemVectors:
    """Item vectors fused with only the reviews written strictly before `cut` (None: every review).

    Args:
        own: the items' own text vectors (`items_text.npz`).
        reviews: every review's vector and time (`reviews.npz`).
        cut: a tz-aware time, e.g. the split's validation start (training) or test start (test
            scoring); None for production, which may read every review.
        review_weight: `embed.review_weight`.
    """
    keep = np.ones(len(reviews.ts), dtype=bool)  # (R,)
    if cut is not None:
        keep = reviews.ts < utc_naive(pd.Series([cut]))[0]
    fused = fuse_item_vectors(own.ids, own.vectors, reviews.item_ids[keep], reviews.vectors[keep], review_weight)
    return ItemVectors(ids=own.ids, vectors=fused)


def load_item_vectors_as_of(directory: str | Path, cut: pd.Timestamp | None, review_weight: float) -> ItemVectors:
    """The embed stage's item vectors as of `cut` (see `item_vectors_as_of`), read from `directory`."""
    directory = Path(directory)
    own_path = directory / ITEM_TEXT_FILE
    if not own_path.exists():
        raise FileNotFoundError(
            f"{own_path} not found: these embeddings predate item vectors as of a cut; "
            "rerun the embed stage (shopseq run embed)"
        )
    return item_vectors_as_of(load_item_vectors(own_path), load_review_vectors(directory / REVIEWS_FILE), cut,
                              review_weight)


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (all-zero rows stay zero): float32, same shape."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)  # (N, 1)
    return (vectors / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def _strings(frame: pd.DataFrame, column: str) -> list[str]:
    if column not in frame.columns:
        return [""] * len(frame)
    return [v.strip() if isinstance(v, str) else "" for v in frame[column].astype("object").tolist()]


def _require_unique_ids(items: pd.DataFrame, table: str) -> None:
    if s.ITEM_ID not in items.columns:
        raise ValueError(f"{table}: no {s.ITEM_ID!r} column; found {list(items.columns)}")
    duplicated = items[s.ITEM_ID][items[s.ITEM_ID].duplicated()]
    if len(duplicated):
        raise ValueError(
            f"{table}: {len(duplicated)} duplicate {s.ITEM_ID} value(s), e.g. {duplicated.iloc[0]!r}; "
            "each item needs exactly one row"
        )
