"""Build the embedding benchmark's texts and run `shopseq benchmark embed` on them.

    python benchmarks/embed.py                     # texts (if missing) + benchmark, 2 threads
    python benchmarks/embed.py --make-texts-only
    python benchmarks/embed.py --threads 2 --out benchmarks/results/embed

The texts file `benchmarks/data/embed_texts.jsonl` mixes what the `embed` stage sees: the synthetic
shop's item texts and review texts (params.yaml's seed), and real product reviews from the Amazon
2018 5-core sample in the shared data (All_Beauty), so lengths range from a few words to past the
256-token limit. Writes `<out>/embed.json`, `<out>/embed.md` and `<out>/command.txt`.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

TEXTS = ROOT / "benchmarks" / "data" / "embed_texts.jsonl"
# The shared data samples sit beside the checkout; they are read, never copied into the repo.
AMAZON = ROOT.parent / "shared" / "data" / "amazon_reviews_2018_5core" / "All_Beauty_5.json.gz"


def make_texts(path: Path, n_items: int = 1000, n_reviews: int = 500, n_amazon: int = 500) -> int:
    """Write synthetic item + review texts and Amazon review texts, one JSON object per line."""
    import numpy as np

    from shopseq.config import load_params
    from shopseq.data.synthetic import generate_shop
    from shopseq.embeddings.text import item_texts, review_texts

    params = load_params(ROOT / "params.yaml")
    shop = generate_shop(params.ingest.synthetic, params.base.seed)
    rng = np.random.default_rng(params.base.seed)
    items = item_texts(shop.items)[:n_items]
    reviews = review_texts(shop.reviews)
    reviews = [reviews[i] for i in rng.permutation(len(reviews))[:n_reviews]]
    amazon: list[str] = []
    if AMAZON.is_file():
        with gzip.open(AMAZON, "rt", encoding="utf-8") as handle:
            for line in handle:
                text = json.loads(line).get("reviewText", "").strip()
                if text:
                    amazon.append(text)
        amazon = [amazon[i] for i in rng.permutation(len(amazon))[:n_amazon]]
    rows = [("synthetic_item", t) for t in items] + [("synthetic_review", t) for t in reviews]
    rows += [("amazon_all_beauty_review", t) for t in amazon]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"source": s, "text": t}, ensure_ascii=False) + "\n" for s, t in rows))
    return len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=Path, default=TEXTS)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "embed")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--make-texts-only", action="store_true")
    parser.add_argument("--remake-texts", action="store_true")
    args = parser.parse_args()
    if args.remake_texts or not args.texts.is_file():
        print(f"wrote {make_texts(args.texts)} texts to {args.texts}")
    if args.make_texts_only:
        return
    command = [
        sys.executable, "-m", "shopseq.cli", "benchmark", "embed",
        "--texts", str(args.texts.relative_to(ROOT) if args.texts.is_relative_to(ROOT) else args.texts),
        "--out", str(args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out),
        "--threads", str(args.threads),
    ]
    # torch and the tokenizers' Rust pool both honour these: pin every path to the same cores
    env = {"OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads),
           "TOKENIZERS_PARALLELISM": "true", "RAYON_NUM_THREADS": str(args.threads)}
    import os

    start = time.time()
    subprocess.run(command, cwd=ROOT, env={**os.environ, **env}, check=True)
    args.out.mkdir(parents=True, exist_ok=True)
    shown = " ".join(f"{k}={v}" for k, v in env.items()) + " shopseq " + shlex.join(command[3:])
    (args.out / "command.txt").write_text(
        f"{shown}\n# via: python benchmarks/embed.py --threads {args.threads}\n"
        f"# wall {time.time() - start:.0f} s, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n"
    )


if __name__ == "__main__":
    main()
