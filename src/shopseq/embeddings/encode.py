"""Texts -> L2-normalised float32 vectors: length-sorted batches, dynamic padding, a cache.

Sorting texts by token count before batching means each batch pads only to its own longest
text (`padding=True`), not to `max_tokens`: on short product texts that is the difference
between ~7 and ~100 texts/s on two CPU cores (STACK.md). Mean pooling over the attention mask
makes the padding invisible, so a text's vector does not depend on its batch-mates.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from shopseq.embeddings.cache import VectorCache
from shopseq.embeddings.model import Encoder
from shopseq.embeddings.precision import autocast_context
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
    if encoder.runtime is not None:
        return _encode_batch_onnx(encoder, texts)
    import torch

    from shopseq.embeddings.pooling import pool

    features = encoder.tokenizer(
        list(texts),
        padding=True,
        truncation=True,
        max_length=encoder.max_tokens,
        return_tensors="pt",
    ).to(encoder.device)  # each (B, T)
    with torch.inference_mode(), autocast_context(encoder.device, encoder.precision):
        hidden = encoder.model(**features).last_hidden_state  # (B, T, H)
        vectors = pool(hidden, features["attention_mask"], encoder.pooling)  # (B, H) fp32
    return vectors.cpu().numpy().astype(np.float32, copy=False)


def _encode_batch_onnx(encoder: Encoder, texts: Sequence[str]) -> np.ndarray:
    """The ONNX Runtime twin of `encode_batch`: float32 (len(texts), dim)."""
    from shopseq.embeddings.onnx_runtime import pool_numpy

    features = encoder.tokenizer(
        list(texts), padding=True, truncation=True, max_length=encoder.max_tokens, return_tensors="np",
    )  # each (B, T)
    hidden = encoder.runtime.hidden_states(features)  # (B, T, H)
    return pool_numpy(hidden, features["attention_mask"], encoder.pooling)  # (B, H)


def encode_texts(
    encoder: Encoder,
    texts: Sequence[str],
    batch_size: int = 64,
    progress_mode: str = "auto",
    chunk_texts: int = CHUNK_TEXTS,
) -> np.ndarray:
    """Encode every text (no cache): float32 (len(texts), dim), rows in input order.

    Args:
        encoder: from `load_encoder`.
        texts: the texts; empty strings are allowed (they encode to [CLS][SEP]).
        batch_size: texts per forward pass (`embed.batch_size`).
        progress_mode: `base.progress`.
        chunk_texts: texts tokenised and sorted together (see `iter_encoded`).
    """
    out = np.empty((len(texts), encoder.dim), dtype=np.float32)  # (N, H)
    for start, vectors in iter_encoded(encoder, texts, batch_size, progress_mode, chunk_texts):
        out[start : start + len(vectors)] = vectors
    return out


def iter_encoded(
    encoder: Encoder,
    texts: Sequence[str],
    batch_size: int = 64,
    progress_mode: str = "auto",
    chunk_texts: int = CHUNK_TEXTS,
) -> Iterator[tuple[int, np.ndarray]]:
    """Encode `texts` chunk by chunk: yields (first row, float32 (chunk, dim)) in input order.

    Each chunk of `chunk_texts` texts is tokenised for its lengths, sorted longest first and
    encoded in batches, so a million texts never sit tokenised (or encoded) in memory at once:
    the caller writes each chunk where it belongs and drops it. Under logs mode each chunk ends
    with one log line (texts/s so far).
    """
    if batch_size < 1:
        raise ValueError(f"embed.batch_size must be >= 1; got {batch_size}")
    if chunk_texts < 1:
        raise ValueError(f"chunk_texts must be >= 1; got {chunk_texts}")
    if not texts:
        return
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
            out = np.empty((len(chunk), encoder.dim), dtype=np.float32)  # (C, H)
            # Longest first: a batch that does not fit in memory fails at once, not at the end.
            lengths = token_lengths(encoder, chunk)
            order = np.argsort(-lengths, kind="stable")
            for batch in length_batches(order, lengths, batch_size):
                out[batch] = encode_batch(encoder, [chunk[i] for i in batch])
                if bar is not None:
                    bar.update(len(batch))
            if not bars:
                done = chunk_start + len(chunk)
                elapsed = max(time.perf_counter() - start_time, 1e-9)
                log.info("embed: chunk %d/%d, %d/%d texts (%.1f texts/s)", number, n_chunks, done, len(texts),
                         done / elapsed)
            yield chunk_start, out
    finally:
        if bar is not None:
            bar.close()


def embed_texts(
    texts: Sequence[str],
    encoder: Encoder,
    cache: VectorCache | None,
    batch_size: int = 64,
    progress_mode: str = "auto",
    out: np.ndarray | None = None,
) -> EmbedResult:
    """Vectors for `texts`, encoding only distinct texts the cache does not hold yet.

    Duplicate texts are encoded once. Cached vectors are copied into `out` one cache segment at a
    time and fresh ones one encoded chunk at a time (each chunk also goes to the cache as its own
    atomic segment), so with `out` on disk (an `np.memmap`, see `vectors.open_vector_file`) the
    vectors of all texts are never in memory together.

    Args:
        out: (len(texts), dim) array to fill, float32 or float16; None allocates a float32 one.
    """
    unique = list(dict.fromkeys(texts))
    position = {text: i for i, text in enumerate(unique)}
    rows = _RowsOfUnique(np.fromiter((position[t] for t in texts), dtype=np.int64, count=len(texts)), len(unique))
    del position
    if out is None:
        out = np.empty((len(texts), encoder.dim), dtype=np.float32)  # (N, H)
    elif out.shape != (len(texts), encoder.dim):
        raise ValueError(f"embed_texts: out has shape {out.shape}; expected {(len(texts), encoder.dim)}")
    keys = [_key(encoder, cache, text) for text in unique]
    found = np.zeros(len(unique), dtype=bool)
    if cache is not None:
        for hit, vectors in cache.iter_found(keys):  # per segment: (k,) unique indices, (k, H)
            rows.write(out, hit, vectors)
            found[hit] = True
    missing = np.flatnonzero(~found)  # (M,) unique indices to encode
    log.info(
        "embed: %d texts, %d distinct, %d cached, %d to encode",
        len(texts), len(unique), len(unique) - len(missing), len(missing),
    )

    start = time.perf_counter()
    for chunk_start, fresh in iter_encoded(encoder, [unique[i] for i in missing], batch_size, progress_mode):
        encoded = missing[chunk_start : chunk_start + len(fresh)]  # (C,) unique indices
        if cache is not None:
            cache.put_many([keys[i] for i in encoded], fresh)
        rows.write(out, encoded, fresh)
    seconds = time.perf_counter() - start
    return EmbedResult(
        vectors=out,
        n_unique=len(unique),
        n_encoded=len(missing),
        cache_hits=len(unique) - len(missing),
        encode_seconds=seconds,
    )


class _RowsOfUnique:
    """Where each distinct text's vector goes in the output: every row that holds that text.

    Args:
        inverse: (N,) index into the distinct texts of each input row.
        n_unique: number of distinct texts.
    """

    def __init__(self, inverse: np.ndarray, n_unique: int) -> None:
        self.order = np.argsort(inverse, kind="stable")  # (N,) rows grouped by distinct text
        self.bounds = np.searchsorted(inverse[self.order], np.arange(n_unique + 1))  # (U + 1,)

    def write(self, out: np.ndarray, unique_ids: np.ndarray, vectors: np.ndarray) -> None:
        """out[every row of text u] = vectors[j] for each j, u in enumerate(unique_ids)."""
        unique_ids = np.asarray(unique_ids, dtype=np.int64)
        starts, ends = self.bounds[unique_ids], self.bounds[unique_ids + 1]  # (k,), (k,)
        counts = ends - starts
        if len(unique_ids) == 0:
            return
        flat = np.repeat(ends - counts.cumsum(), counts) + np.arange(counts.sum())  # positions in order
        target = self.order[flat]  # (sum counts,) output rows
        source = np.repeat(np.arange(len(unique_ids)), counts)  # (sum counts,) row of `vectors`
        sort = np.argsort(target, kind="stable")  # ascending rows: sequential writes into a memmap
        out[target[sort]] = vectors[source[sort]]


def _key(encoder: Encoder, cache: VectorCache | None, text: str) -> str:
    if cache is None:
        return text  # no cache: distinct texts are told apart by themselves
    return cache.key(text)
