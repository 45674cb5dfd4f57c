"""A content-addressed cache of text vectors that survives pipeline runs.

A text's key is the sha256 of (model id, max_tokens, pooling, text), where the model id is the
encoder's `cache_model_id` (the weights' fingerprint, plus the int8 backend or bf16 precision when
they are used): the same text under the same encoder settings always maps to the same key, and
any change of model weights, arithmetic, truncation or pooling maps to new keys, so a stale
vector is never served and fp32 and bf16 vectors never mix.

Layout: `<root>/<namespace>/segment-<uuid>.npz`, one segment per write, where the namespace is a
hash of (model id, max_tokens, pooling) so one encoder never reads another's segments. A segment
holds `keys` (S64 hex), `vectors` (float32, (n, d)) and `checksums` (S64 hex, sha256 of key +
vector bytes, per row). Segments are written under a temporary name and renamed into place, so a
reader never sees a half-written one. On read, a segment that cannot be opened is deleted and a
row whose checksum, shape or values are wrong is skipped: its text counts as a miss and is
encoded again. Many small segments are merged into one (`compact`) once they pile up; segments of full
encode chunks are left alone, so compacting stays bounded in memory.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from shopseq.io import atomic_path

if TYPE_CHECKING:
    from shopseq.embeddings.model import Encoder

log = logging.getLogger(__name__)

SEGMENT_GLOB = "segment-*.npz"
MAX_SEGMENTS = 32  # more small segments than this are merged on the next write
SMALL_SEGMENT_BYTES = 4 << 20  # ~2,700 vectors of 384 floats; a full encode chunk writes bigger ones
_NORM_TOLERANCE = 1e-3  # cached vectors are L2-normalised; anything else is corruption


def text_key(model_id: str, max_tokens: int, pooling: str, text: str) -> str:
    """The cache key of one text: sha256 hex of the encoder settings and the text."""
    payload = json.dumps([model_id, max_tokens, pooling, text], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def row_checksum(key: bytes, vector: np.ndarray) -> bytes:
    """sha256 hex of a key and its float32 vector bytes, stored next to the row to detect damage."""
    return hashlib.sha256(key + np.ascontiguousarray(vector, dtype=np.float32).tobytes()).hexdigest().encode()


class VectorCache:
    """Vectors of one encoder configuration, keyed by `text_key`.

    Args:
        root: `paths.embed_cache`; created on first write.
        model_id: identifies the model's weights (the encoder's `fingerprint`).
        max_tokens: truncation length used to encode.
        pooling: pooling used to encode.
        dim: vector length; rows of another length are treated as corrupt.
    """

    def __init__(self, root: str | Path, model_id: str, max_tokens: int, pooling: str, dim: int) -> None:
        self.model_id = model_id
        self.max_tokens = max_tokens
        self.pooling = pooling
        self.dim = dim
        namespace = hashlib.sha256(json.dumps([model_id, max_tokens, pooling]).encode()).hexdigest()[:16]
        self.directory = Path(root) / namespace

    @classmethod
    def for_encoder(cls, root: str | Path, encoder: Encoder) -> VectorCache:
        """The cache of `encoder`'s weights (and int8 backend or bf16 precision), max_tokens, pooling and dim under `root`."""
        return cls(root, encoder.cache_model_id, encoder.max_tokens, encoder.pooling, encoder.dim)

    def key(self, text: str) -> str:
        """The cache key of `text` under this cache's encoder settings."""
        return text_key(self.model_id, self.max_tokens, self.pooling, text)

    def segments(self) -> list[Path]:
        """Segment files currently in the cache, oldest name order (stable)."""
        if not self.directory.is_dir():
            return []
        return sorted(self.directory.glob(SEGMENT_GLOB))

    def get_many(self, keys: Iterable[str]) -> dict[str, np.ndarray]:
        """Vectors found for `keys` (hex strings); keys that are missing or damaged are absent."""
        wanted = {k.encode("ascii") for k in keys}
        found: dict[str, np.ndarray] = {}
        if not wanted:
            return found
        for segment in self.segments():
            for key, vector in self._read_segment(segment):
                if key in wanted:
                    found[key.decode("ascii")] = vector
        return found

    def iter_found(self, keys: Sequence[str]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Per segment, the vectors found for `keys`: (positions in `keys` (k,), float32 (k, dim)).

        Reads one segment at a time, so memory holds one segment's rows, not every hit. A key
        stored in two segments is yielded twice (same vector); damaged rows are never yielded.
        """
        wanted = {k.encode("ascii"): i for i, k in enumerate(keys)}
        if not wanted:
            return
        for segment in self.segments():
            positions, vectors = [], []
            for key, vector in self._read_segment(segment):
                position = wanted.get(key)
                if position is not None:
                    positions.append(position)
                    vectors.append(vector)
            if positions:
                yield np.asarray(positions, dtype=np.int64), np.stack(vectors)

    def put_many(self, keys: Sequence[str], vectors: np.ndarray) -> Path | None:
        """Store `vectors` (float32, (n, dim)) under `keys` as one new segment, atomically."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if len(keys) != len(vectors):
            raise ValueError(f"put_many: {len(keys)} keys but {len(vectors)} vectors")
        if len(keys) == 0:
            return None
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise ValueError(f"put_many: vectors must be (n, {self.dim}); got {vectors.shape}")
        path = self._write_segment([k.encode("ascii") for k in keys], vectors)
        if len(self._small_segments()) > MAX_SEGMENTS:
            self.compact()
        return path

    def compact(self) -> Path | None:
        """Merge the readable rows of every small segment into one and delete those segments.

        Only segments under `SMALL_SEGMENT_BYTES` are merged (incremental runs leave many of
        those); a large run's chunk-sized segments stay as they are, so compacting never loads
        a whole catalogue's vectors at once.
        """
        old = self._small_segments()
        rows = {key: vector for segment in old for key, vector in self._read_segment(segment)}
        merged = None
        if rows:
            merged = self._write_segment(list(rows), np.stack(list(rows.values())))
        for segment in old:
            if segment != merged:
                segment.unlink(missing_ok=True)
        log.info(
            "embedding cache %s: compacted %d segments into one (%d vectors)", self.directory, len(old), len(rows)
        )
        return merged

    def _small_segments(self) -> list[Path]:
        small = []
        for segment in self.segments():
            try:
                if segment.stat().st_size < SMALL_SEGMENT_BYTES:
                    small.append(segment)
            except FileNotFoundError:  # merged away by a concurrent compaction
                continue
        return small

    def _write_segment(self, keys: list[bytes], vectors: np.ndarray) -> Path:
        checksums = [row_checksum(k, v) for k, v in zip(keys, vectors)]
        path = self.directory / f"segment-{uuid.uuid4().hex}.npz"
        with atomic_path(path) as tmp, tmp.open("wb") as handle:
            np.savez(
                handle,
                keys=np.array(keys, dtype="S64"),
                vectors=vectors,  # (n, d) float32
                checksums=np.array(checksums, dtype="S64"),
            )
        return path

    def _read_segment(self, segment: Path) -> Iterable[tuple[bytes, np.ndarray]]:
        """Yield the sound rows of one segment; delete a segment that cannot be read at all."""
        try:
            with np.load(segment, allow_pickle=False) as data:
                keys, vectors, checksums = data["keys"], data["vectors"], data["checksums"]
        except FileNotFoundError:  # merged away by a concurrent compaction
            return
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
            log.warning(
                "embedding cache: segment %s is unreadable (%s); deleting it, its texts will be re-encoded",
                segment, error,
            )
            segment.unlink(missing_ok=True)
            return
        if vectors.ndim != 2 or vectors.shape[1] != self.dim or not len(keys) == len(vectors) == len(checksums):
            log.warning(
                "embedding cache: segment %s has shape keys %s vectors %s (expected d=%d); deleting it",
                segment, keys.shape, vectors.shape, self.dim,
            )
            segment.unlink(missing_ok=True)
            return
        damaged = 0
        for key, vector, checksum in zip(keys, vectors, checksums):
            if row_checksum(key, vector) != checksum or not _is_unit(vector):
                damaged += 1
                continue
            yield key, vector.astype(np.float32, copy=False)
        if damaged:
            log.warning(
                "embedding cache: %d damaged row(s) in %s skipped; they will be re-encoded", damaged, segment
            )


def _is_unit(vector: np.ndarray) -> bool:
    return bool(np.all(np.isfinite(vector))) and abs(float(np.linalg.norm(vector)) - 1.0) < _NORM_TOLERANCE
