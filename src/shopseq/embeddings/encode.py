"""Texts -> L2-normalised float32 vectors: length-sorted batches, dynamic padding, a cache.

Sorting texts by token count before batching means each batch pads only to its own longest
text (`padding=True`), not to `max_tokens`: on short product texts that is the difference
between ~7 and ~100 texts/s on two CPU cores (STACK.md). Mean pooling over the attention mask
makes the padding invisible, so a text's vector does not depend on its batch-mates.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from shopseq.embeddings.cache import VectorCache
from shopseq.embeddings.model import Encoder, autocast_context
from shopseq.progress import progress

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmbedResult:
    """Vectors for a list of texts plus what it took to get them.

    Attributes:
        vectors: float32 (n_texts, dim), row i belongs to text i, unit length.
        n_unique: distinct texts among the inputs.
        n_encoded: distinct texts the model encoded (cache misses).
        cache_hits: distinct texts served from the cache.
        encode_seconds: wall time spent in the model (tokenising included).
    """

    vectors: np.ndarray
    n_unique: int
    n_encoded: int
    cache_hits: int
    encode_seconds: float

    @property
    def texts_per_s(self) -> float | None:
        """Encoding throughput, or None when nothing was encoded."""
        if self.n_encoded == 0 or self.encode_seconds <= 0:
            return None
        return self.n_encoded / self.encode_seconds


def token_lengths(encoder: Encoder, texts: Sequence[str]) -> np.ndarray:
    """Token count of each text after truncation, special tokens included: (n,)."""
    encoded = encoder.tokenizer(
        list(texts), truncation=True, max_length=encoder.max_tokens, add_special_tokens=True
    )
    return np.fromiter((len(ids) for ids in encoded["input_ids"]), dtype=np.int64, count=len(texts))


def encode_batch(encoder: Encoder, texts: Sequence[str]) -> np.ndarray:
    """Encode one batch, padded to its own longest text: float32 (len(texts), dim)."""
    import torch

    from shopseq.embeddings.pooling import pool

    features = encoder.tokenizer(
        list(texts),
        padding=True,
        truncation=True,
        max_length=encoder.max_tokens,
        return_tensors="pt",
    ).to(encoder.device)  # each (B, T)
    with torch.inference_mode(), autocast_context(encoder.device):
        hidden = encoder.model(**features).last_hidden_state  # (B, T, H)
        vectors = pool(hidden, features["attention_mask"], encoder.pooling)  # (B, H) fp32
    return vectors.cpu().numpy().astype(np.float32, copy=False)


def encode_texts(
    encoder: Encoder,
    texts: Sequence[str],
    batch_size: int = 64,
    progress_mode: str = "auto",
) -> np.ndarray:
    """Encode every text (no cache): float32 (len(texts), dim), rows in input order.

    Args:
        encoder: from `load_encoder`.
        texts: the texts; empty strings are allowed (they encode to [CLS][SEP]).
        batch_size: texts per forward pass (`embed.batch_size`).
        progress_mode: `base.progress`.
    """
    if batch_size < 1:
        raise ValueError(f"embed.batch_size must be >= 1; got {batch_size}")
    out = np.empty((len(texts), encoder.dim), dtype=np.float32)  # (N, H)
    if not texts:
        return out
    # Longest first: a batch that does not fit in memory fails at once, not at the end.
    order = np.argsort(-token_lengths(encoder, texts), kind="stable")
    batch: list[int] = []
    # Iterate texts (not batches) through the progress helper so it reports texts/s.
    for index in progress(order.tolist(), desc="embed", total=len(texts), unit="texts", mode=progress_mode):
        batch.append(index)
        if len(batch) == batch_size:
            out[batch] = encode_batch(encoder, [texts[i] for i in batch])
            batch = []
    if batch:
        out[batch] = encode_batch(encoder, [texts[i] for i in batch])
    return out


def embed_texts(
    texts: Sequence[str],
    encoder: Encoder,
    cache: VectorCache | None,
    batch_size: int = 64,
    progress_mode: str = "auto",
) -> EmbedResult:
    """Vectors for `texts`, encoding only distinct texts the cache does not hold yet.

    Duplicate texts are encoded once. New vectors are written back to the cache (one atomic
    segment) before returning.
    """
    unique = list(dict.fromkeys(texts))
    keys = [_key(encoder, cache, text) for text in unique]
    cached = cache.get_many(keys) if cache is not None else {}
    missing = [i for i, key in enumerate(keys) if key not in cached]
    log.info(
        "embed: %d texts, %d distinct, %d cached, %d to encode",
        len(texts), len(unique), len(unique) - len(missing), len(missing),
    )

    start = time.perf_counter()
    fresh = encode_texts(encoder, [unique[i] for i in missing], batch_size, progress_mode)  # (M, H)
    seconds = time.perf_counter() - start
    if cache is not None and missing:
        cache.put_many([keys[i] for i in missing], fresh)

    by_text = np.empty((len(unique), encoder.dim), dtype=np.float32)  # (U, H)
    for row, i in enumerate(missing):
        by_text[i] = fresh[row]
    for i, key in enumerate(keys):
        if key in cached:
            by_text[i] = cached[key]
    position = {text: i for i, text in enumerate(unique)}
    vectors = by_text[[position[text] for text in texts]] if texts else by_text  # (N, H)
    return EmbedResult(
        vectors=vectors,
        n_unique=len(unique),
        n_encoded=len(missing),
        cache_hits=len(unique) - len(missing),
        encode_seconds=seconds,
    )


def _key(encoder: Encoder, cache: VectorCache | None, text: str) -> str:
    if cache is None:
        return text  # no cache: distinct texts are told apart by themselves
    return cache.key(text)
