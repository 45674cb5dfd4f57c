"""Pooling and batched encoding with the real MiniLM model."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from shopseq.embeddings import encode_texts
from shopseq.embeddings.encode import encode_batch, token_lengths
from shopseq.embeddings.pooling import cls_pool, mean_pool, pool

TEXTS = [
    "Wireless noise-cancelling headphones with deep bass and long battery life.",
    "Mug.",
    "Dark-roast espresso beans, freshly roasted every week, notes of chocolate and caramel, rich crema.",
    "",
    "Great tent, survives rain and wind",
    "A bestselling illustrated cookbook with recipes for every season and maps and local tips.",
]


def test_mean_pool_ignores_whatever_sits_in_padded_positions():
    hidden = torch.randn(2, 5, 3)  # (B, T, H)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    pooled = mean_pool(hidden, mask)
    noisy = hidden.clone()
    noisy[0, 3:] = 1e6  # garbage in the padding of text 0
    torch.testing.assert_close(mean_pool(noisy, mask), pooled)
    torch.testing.assert_close(pooled[0], hidden[0, :3].mean(dim=0))
    torch.testing.assert_close(pooled[1], hidden[1].mean(dim=0))


def test_cls_pool_takes_the_first_token_and_pool_normalises():
    hidden = torch.randn(3, 4, 8)
    mask = torch.ones(3, 4, dtype=torch.long)
    torch.testing.assert_close(cls_pool(hidden, mask), hidden[:, 0])
    pooled = pool(hidden, mask, "mean")
    torch.testing.assert_close(pooled.norm(dim=1), torch.ones(3))


def test_batched_dynamic_padding_matches_each_text_encoded_alone(encoder):
    batched = encode_texts(encoder, TEXTS, batch_size=4, progress_mode="logs")  # (N, H)
    alone = np.vstack([encode_batch(encoder, [text]) for text in TEXTS])  # (N, H), no padding
    cosine = (batched * alone).sum(axis=1)
    assert cosine.min() > 0.999, cosine
    assert batched.dtype == np.float32 and batched.shape == (len(TEXTS), encoder.dim)
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)


def test_rows_follow_input_order_whatever_the_length_sort(encoder):
    forward = encode_texts(encoder, TEXTS, batch_size=2, progress_mode="logs")
    backward = encode_texts(encoder, TEXTS[::-1], batch_size=2, progress_mode="logs")
    np.testing.assert_allclose(forward, backward[::-1], atol=1e-5)
    # Different texts really get different vectors (so the order check above means something).
    assert (forward[0] @ forward[2]) < 0.9


def test_no_texts_gives_an_empty_matrix(encoder):
    assert encode_texts(encoder, [], progress_mode="logs").shape == (0, encoder.dim)


def test_bad_batch_size_is_rejected(encoder):
    with pytest.raises(ValueError, match="embed.batch_size"):
        encode_texts(encoder, TEXTS, batch_size=0)


def test_texts_are_truncated_at_max_tokens(encoder):
    short = replace(encoder, max_tokens=8)
    long_text = "word " * 200
    assert token_lengths(short, [long_text])[0] == 8
    truncated = encode_texts(short, [long_text, " ".join(["word"] * 6)], progress_mode="logs")
    # 8 tokens = [CLS] + 6 words + [SEP]: the long text truncated equals the 6-word text.
    assert truncated[0] @ truncated[1] > 0.999


def test_cls_pooling_gives_other_vectors_than_mean(encoder):
    cls = replace(encoder, pooling="cls")
    mean_vectors = encode_texts(encoder, TEXTS[:2], progress_mode="logs")
    cls_vectors = encode_texts(cls, TEXTS[:2], progress_mode="logs")
    assert ((mean_vectors * cls_vectors).sum(axis=1) < 0.999).all()
    np.testing.assert_allclose(np.linalg.norm(cls_vectors, axis=1), 1.0, atol=1e-5)


def test_streaming_in_small_chunks_gives_the_same_vectors(encoder, caplog):
    """Chunked streaming (for million-text inputs) changes memory use, never a vector or its row."""
    texts = [f"item {i} " + "word " * (i % 7) for i in range(11)]
    whole = encode_texts(encoder, texts, batch_size=4, progress_mode="logs")
    caplog.clear()  # the whole-input call above may have logged its one chunk already
    with caplog.at_level("INFO", logger="shopseq.embeddings.encode"):
        chunked = encode_texts(encoder, texts, batch_size=4, progress_mode="logs", chunk_texts=3)
    np.testing.assert_allclose(chunked, whole, atol=1e-5)
    chunk_lines = [r for r in caplog.records if "chunk" in r.getMessage()]
    assert len(chunk_lines) == 4  # ceil(11 / 3): one line per chunk


def test_token_lengths_in_chunks_match_one_call(encoder):
    texts = ["a", "two words", "", "a somewhat longer text with more tokens"] * 3
    assert token_lengths(encoder, texts, chunk=5).tolist() == token_lengths(encoder, texts, chunk=100).tolist()


def test_length_batches_cover_every_text_once_and_never_mix_very_different_lengths():
    from shopseq.embeddings.encode import length_batches

    lengths = np.array([5, 200, 7, 180, 6, 90, 100, 8])
    order = np.argsort(-lengths, kind="stable")
    batches = length_batches(order, lengths, batch_size=3)
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(lengths)))
    assert all(len(b) <= 3 for b in batches)
    for batch in batches:
        assert 2 * lengths[batch].min() >= lengths[batch].max()
