"""`shopseq benchmark index-recall`: the approximate serving index's recall against exact on real data.

The catalogue benchmark's models see a few synthetic steps, so their item vectors are close to
random, the hardest case for an inverted-file index. Here a GRU is trained on a real data set
(the quality benchmark's loading, validation, split and `train_model`), the candidate index is
built with the `serve.index_*` settings, and every test history (up to `max_histories`) is
answered both ways: `recall_at_k_vs_exact` is the mean share of the exact top-`k` that the
approximate top-`k` returns, with the latency of each way on one thread.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from shopseq.config import Params
from shopseq.io import atomic_path

log = logging.getLogger(__name__)


def run_index_recall(source: str, path: Path | None, out: Path, params: Params, epochs: int, k: int = 20,
                     max_histories: int = 1000) -> dict[str, Any]:
    """Train on `source` (split by `params.sequences`), index the model's items, write out/index_recall.json."""
    import torch

    from shopseq.benchmarks.quality import dataset_name, train_model, validated
    from shopseq.data.sources import load_source
    from shopseq.sequences.split import HISTORY, split_sequences
    from shopseq.serving.index import IndexSettings, approximate_top_k, build_index, exact_top_k

    events, items, reviews = load_source(source, path, params.ingest, params.base.seed)
    events, items, _ = validated(events, items, reviews, params)
    split = split_sequences(events, params.sequences)
    started = time.perf_counter()
    recommender = train_model("gru", split, None, epochs, params).recommender
    train_seconds = time.perf_counter() - started
    known = recommender.item_index
    histories = [list(h) for h in split.test[HISTORY] if any(item in known for item in h)][:max_histories]
    settings = IndexSettings.from_serve(params.serve)
    index = build_index(recommender, settings)

    torch.set_num_threads(1)  # as the service answers: serve.threads 1
    exact, exact_seconds = _timed(lambda: np.concatenate([exact_top_k(recommender, [h], k) for h in histories]))
    approximate, approximate_seconds = _timed(
        lambda: np.concatenate([approximate_top_k(recommender, index, [h], k)[0] for h in histories]))
    hits = [len(set(e) & set(a)) / len(e) for e, a in zip(exact.tolist(), approximate.tolist())]
    report = {
        "dataset": dataset_name(source, path),
        "n_items": len(recommender.item_ids),
        "histories": len(histories),
        "k": k,
        "model": f"gru, train.defaults, {epochs} epoch(s) at most, train.loss {params.train.loss}, no text",
        "train_seconds": round(train_seconds, 1),
        "serve_index": "approximate",
        "recall_at_k_vs_exact": round(float(np.mean(hits)), 4),
        "index_lists": index.lists,
        "index_probes": min(settings.probes, index.lists),
        "index_candidates": settings.candidates,
        "index_build_seconds": round(index.build_seconds, 2),
        "index_mb": round(index.memory_mb(), 1),
        "exact_ms_per_request": round(exact_seconds * 1000 / max(len(histories), 1), 2),
        "approximate_ms_per_request": round(approximate_seconds * 1000 / max(len(histories), 1), 2),
    }
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "index_recall.json") as tmp:
        tmp.write_text(json.dumps(report, indent=2) + "\n")
    return report


def _timed(work):
    """(result of `work()`, seconds it took)."""
    start = time.perf_counter()
    result = work()
    return result, time.perf_counter() - start
