"""Stage `embed`: validated item and review text -> `data/embeddings/{items,reviews}.npz`.

Item vectors fuse the item's own text with the mean of its reviews (`embed.review_weight`):
`items.npz` with every review (production), `items_text.npz` the own text alone, which training
and evaluation fuse with the reviews before their own cut (`embeddings.text.item_vectors_as_of`).
Vectors are cached by content hash under `paths.embed_cache`, outside DVC's outputs, so a rerun
encodes only texts it has not seen. Vectors are written to disk chunk by chunk (`embed.dtype`),
so the stage never holds every text's vector in memory. Under bf16 (`embed.precision`) a sample
of the texts is first encoded in fp32 and bf16: bf16 stays only if every sampled vector keeps
cosine >= 0.99 with its fp32 vector.
"""

from __future__ import annotations

import logging
from pathlib import Path

from shopseq import schema as s
from shopseq.config import Params
from shopseq.io import atomic_dir, read_parquet, write_json

log = logging.getLogger(__name__)

SCRATCH_FILE = ".vectors.npy"  # every text's vector while the stage runs; deleted before the swap


def run(params: Params) -> None:
    from shopseq.embeddings import (
        ItemVectors,
        ReviewVectors,
        VectorCache,
        embed_texts,
        fuse_item_vectors,
        item_texts,
        review_texts,
        save_item_vectors,
        save_review_vectors,
    )
    from shopseq.embeddings.precision_check import load_checked_encoder
    from shopseq.embeddings.vectors import (
        ITEM_TEXT_FILE,
        ITEMS_FILE,
        REVIEWS_FILE,
        open_vector_file,
        utc_naive,
    )

    config = params.embed
    validated = Path(params.paths.validated)
    items = s.conform(read_parquet(validated / "items.parquet"), s.ITEMS)
    reviews = s.conform(read_parquet(validated / "reviews.parquet"), s.REVIEWS)
    texts_items, texts_reviews = item_texts(items), review_texts(reviews)

    encoder, precision_cosine = load_checked_encoder(config, params.base.device, params.paths.embed_cache,
                                                     texts_items + texts_reviews)
    cache = VectorCache.for_encoder(params.paths.embed_cache, encoder)
    n_items = len(texts_items)
    with atomic_dir(params.paths.embeddings) as out:
        # Every text's vector goes straight to disk, chunk by chunk, in embed.dtype.
        scratch = out / SCRATCH_FILE
        vectors = open_vector_file(scratch, n_items + len(texts_reviews), encoder.dim, config.dtype)  # (I + R, H)
        result = embed_texts(texts_items + texts_reviews, encoder, cache, config.batch_size, params.base.progress,
                             out=vectors)
        own, of_reviews = vectors[:n_items], vectors[n_items:]  # (I, H), (R, H) views of the file
        fused = fuse_item_vectors(items[s.ITEM_ID], own, reviews[s.ITEM_ID], of_reviews, config.review_weight)
        ids = items[s.ITEM_ID].to_numpy(str)
        save_item_vectors(out / ITEMS_FILE, ItemVectors(ids=ids, vectors=fused), config.dtype)
        save_item_vectors(out / ITEM_TEXT_FILE, ItemVectors(ids=ids, vectors=own), config.dtype)
        save_review_vectors(
            out / REVIEWS_FILE,
            ReviewVectors(
                user_ids=reviews[s.USER_ID].to_numpy(str),
                item_ids=reviews[s.ITEM_ID].to_numpy(str),
                ts=utc_naive(reviews[s.TS]),
                vectors=of_reviews,
            ),
            config.dtype,
        )
        del vectors, own, of_reviews
        scratch.unlink()
    metrics = {
        "n_item_texts": len(texts_items),
        "n_review_texts": len(texts_reviews),
        "n_unique_texts": result.n_unique,
        "n_encoded": result.n_encoded,
        "cache_hits": result.cache_hits,
        "texts_per_s": None if result.texts_per_s is None else round(result.texts_per_s, 2),
        "encode_seconds": round(result.encode_seconds, 3),
        "device": encoder.device,
        "backend": encoder.backend,
        "precision": encoder.precision,
        "precision_min_cosine": round(precision_cosine, 6),
        "dtype": config.dtype,
        "model": config.model,
        "model_id": encoder.model_id,
        "dim": encoder.dim,
    }
    write_json(Path(params.paths.reports) / "embed" / "metrics.json", metrics)
    log.info("embed: %s", metrics)
