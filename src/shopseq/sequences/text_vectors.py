"""A model's item text vectors as of a cut: what training, test scoring and production each may read.

Item vectors fuse an item's own text with its reviews (`shopseq.embeddings.text`). A model trains
with the vectors as of its training cut (the validation start); test scoring swaps in those as of
the test start; production (the `score` stage, the HTTP service) swaps in those fused with every
review, since the present may read the whole past. Lives under `sequences` (not `training`) so
that scoring and serving use it without importing the training stack.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch

log = logging.getLogger(__name__)

ALL_REVIEWS, AS_TRAINED = "all reviews", "as trained"  # which text vectors a production model scores with


def load_text_vectors(
    embeddings: str | Path, review_weight: float, item_ids: list[str], cut: pd.Timestamp | None
) -> torch.Tensor:
    """(len(item_ids) + 1, D) text vectors as of `cut`, in vocabulary order; zeros for padding and items without text.

    `embeddings`: the embed stage's directory (`paths.embeddings`); `review_weight`:
    `embed.review_weight`; `cut`: only reviews written before it are fused in (None: every review,
    production).
    """
    from shopseq.embeddings.text import load_item_vectors_as_of

    directory = Path(embeddings)
    if not directory.exists():
        raise FileNotFoundError(f"{directory} not found: run the embed stage, or set train.use_text: false")
    stored = load_item_vectors_as_of(directory, cut, review_weight)
    return vocabulary_rows(stored.ids, stored.vectors, item_ids)


def vocabulary_rows(ids: np.ndarray, vectors: np.ndarray, item_ids: list[str]) -> torch.Tensor:
    """(len(item_ids) + 1, D) rows of `vectors` (one per id of `ids`) in `item_ids` order; row 0 and unknown ids zero."""
    vectors = np.asarray(vectors, dtype=np.float32)
    position = pd.Series(np.arange(len(vectors)), index=np.asarray(ids).astype(str))
    position = position[~position.index.duplicated(keep="last")]  # a repeated id: its last vector
    sources = position.reindex(pd.Index(item_ids, dtype=str)).fillna(-1).to_numpy(dtype=np.int64)  # (N,), -1: no text
    out = np.zeros((len(item_ids) + 1, vectors.shape[1]), dtype=np.float32)
    found = np.flatnonzero(sources >= 0)
    out[found + 1] = vectors[sources[found]]
    if missing := len(item_ids) - len(found):
        log.warning("%d of %d items have no text vector; they use a zero vector", missing, len(item_ids))
    return torch.from_numpy(out)


def use_text_vectors_as_of(
    recommender, embeddings: str | Path, review_weight: float, cut: pd.Timestamp | None
) -> bool:
    """Swap a text-using model's item text vectors for those as of `cut`, in place (evaluation and scoring).

    A model trains with the vectors as of its training cut; test scoring may read every review
    before the test start, production every review. A model without text is left as it is, and
    so is one whose vectors come from another encoder (a different width), with a warning.
    `embeddings`, `review_weight`: as `load_text_vectors` takes them.

    Returns:
        Whether the vectors were swapped.
    """
    model = recommender.model
    if not model.config.text_dim:
        return False
    table = load_text_vectors(embeddings, review_weight, recommender.item_ids, cut)  # (N+1, D)
    if tuple(table.shape) != tuple(model.text_vectors.shape):
        log.warning("text vectors as of %s have shape %s, the model's %s: keeping the model's own",
                    cut, tuple(table.shape), tuple(model.text_vectors.shape))
        return False
    with torch.no_grad():
        model.text_vectors.copy_(table.to(model.text_vectors.device))
    return True


def use_production_text_vectors(
    recommender, embeddings: str | Path, review_weight: float, required: bool = True
) -> str | None:
    """Give a model that is about to score for production the item vectors fused with every review.

    Args:
        embeddings, review_weight: `paths.embeddings` and `embed.review_weight`.
        required: raise when the embed stage's output is missing (the `score` stage, which runs
            after it); False keeps the trained vectors with a warning (a service on a host
            without the project's data).

    Returns:
        `ALL_REVIEWS` or `AS_TRAINED` (which vectors it will score with); None for a model without text.
    """
    if not recommender.model.config.text_dim:
        return None
    if not required and not Path(embeddings).exists():
        log.warning("no embeddings at %s: scoring with the text vectors the model was trained with "
                    "(reviews since its training cut do not reach it)", embeddings)
        return AS_TRAINED
    return ALL_REVIEWS if use_text_vectors_as_of(recommender, embeddings, review_weight, None) else AS_TRAINED
