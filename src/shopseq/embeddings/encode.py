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
from shopseq.progress import wants_bars

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


# Texts tokenised (for lengths) and sorted together: bounds memory on a 1,000,000-text input,
# large enough that sorting still groups similar lengths into the same batch.
CHUNK_TEXTS = 16_384


def token_lengths(encoder: Encoder, texts: Sequence[str], chunk: int = CHUNK_TEXTS) -> np.ndarray:
    """Token count of each text after truncation, special tokens included: (n,).

    Tokenises `chunk` texts at a time, so only their token ids are ever held at once.
    """
    lengths = np.empty(len(texts), dtype=np.int64)
    for start in range(0, len(texts), chunk):
        part = list(texts[start : start + chunk])
        encoded = encoder.tokenizer(part, truncation=True, max_length=encoder.max_tokens, add_special_tokens=True)
        lengths[start : start + len(part)] = [len(ids) for ids in encoded["input_ids"]]
    return lengths


def length_batches(order: np.ndarray, lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Split texts sorted longest first into batches of at most `batch_size`.

    A batch also ends before a text shorter than half its longest one: such a text would be
    mostly padding. On a full run that almost never triggers (neighbours in sorted order have
    similar lengths); on a small incremental set of mixed lengths it keeps a 10-token text from
    being padded to 256.
    """
    batches: list[np.ndarray] = []
    start = 0
    for position in range(1, len(order) + 1):
        full = position - start == batch_size
        if position == len(order) or full or 2 * lengths[order[position]] < lengths[order[start]]:
            batches.append(order[start:position])
            start = position
    return batches


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
    chunk_texts: int = CHUNK_TEXTS,
) -> np.ndarray:
    """Encode every text (no cache): float32 (len(texts), dim), rows in input order.

    Texts stream through in chunks of `chunk_texts`: each chunk is tokenised for its lengths,
    sorted longest first and encoded in batches, so a million texts never sit tokenised in
    memory at once. Under logs mode each chunk ends with one log line (texts/s so far).

    Args:
        encoder: from `load_encoder`.
        texts: the texts; empty strings are allowed (they encode to [CLS][SEP]).
        batch_size: texts per forward pass (`embed.batch_size`).
        progress_mode: `base.progress`.
        chunk_texts: texts tokenised and sorted together.
    """
    if batch_size < 1:
        raise ValueError(f"embed.batch_size must be >= 1; got {batch_size}")
    if chunk_texts < 1:
        raise ValueError(f"chunk_texts must be >= 1; got {chunk_texts}")
    out = np.empty((len(texts), encoder.dim), dtype=np.float32)  # (N, H)
    if not texts:
        return out
    start_time = time.perf_counter()
    n_chunks = -(-len(texts) // chunk_texts)
    bars = wants_bars(progress_mode)
    bar = None
    if bars:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(texts), desc="embed", unit="texts")
    try:
        for number, chunk_start in enumerate(range(0, len(texts), chunk_texts), start=1):
            chunk = texts[chunk_start : chunk_start + chunk_texts]
            # Longest first: a batch that does not fit in memory fails at once, not at the end.
            lengths = token_lengths(encoder, chunk)
            order = np.argsort(-lengths, kind="stable")
            for batch in length_batches(order, lengths, batch_size):
                out[chunk_start + batch] = encode_batch(encoder, [chunk[i] for i in batch])
                if bar is not None:
                    bar.update(len(batch))
            if not bars:
                done = chunk_start + len(chunk)
                elapsed = max(time.perf_counter() - start_time, 1e-9)
                log.info("embed: chunk %d/%d, %d/%d texts (%.1f texts/s)", number, n_chunks, done, len(texts),
                         done / elapsed)
    finally:
        if bar is not None:
            bar.close()
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
