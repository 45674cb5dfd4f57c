"""Time the training loop and full-ranking evaluation on one device, on the pipeline's own data.

Run after `dvc repro sequences embed` (it reads data/sequences and data/embeddings):

    python benchmarks/train_device.py --device cpu --out benchmarks/results/train_cpu.json
    python benchmarks/train_device.py --device cuda --out benchmarks/results/train_cuda.json

For each model family it trains `--epochs` epochs with the project's params (text side
information on) and reports seconds per epoch, validation NDCG@10 and peak memory.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import torch  # noqa: E402

from shopseq.config import load_params  # noqa: E402
from shopseq.seed import set_seed  # noqa: E402
from shopseq.sequences.recommender import Recommender  # noqa: E402
from shopseq.training.data import load_training_data  # noqa: E402
from shopseq.training.evaluate import evaluate_recommender  # noqa: E402
from shopseq.training.fit import fit, resolve_device  # noqa: E402
from shopseq.training.tune import build_model  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--families", default="gru,lstm,transformer")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    params = load_params()
    device = resolve_device(args.device)
    data = load_training_data(params.paths, params.train, params.sequences, params.profiles,
                              params.embed.review_weight, params.base.seed)
    rows = []
    for family in args.families.split(","):
        set_seed(params.base.seed)
        hp = {**params.train.defaults_for(family), "model": family, "hidden": args.hidden, "layers": 2}
        model = build_model(hp, len(data.item_ids), params.train.max_len, data.text_vectors).to(device)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
            torch.cuda.synchronize()
        started = time.perf_counter()
        losses = fit(model, data.windows, args.epochs, params.train.batch_size, float(hp["lr"]), 0.0,
                     params.base.seed, progress_mode="logs")
        if device.type == "cuda":
            torch.cuda.synchronize()
        train_s = time.perf_counter() - started
        started = time.perf_counter()
        metrics = evaluate_recommender(Recommender(model, data.item_ids), data.valid, params.evaluate.ks)
        eval_s = time.perf_counter() - started
        rows.append({
            "model": family,
            "seconds_per_epoch": round(train_s / args.epochs, 3),
            "eval_seconds": round(eval_s, 3),
            "valid_targets": metrics["n_targets"],
            "valid_ndcg@10": round(metrics["ndcg@10"], 4),
            "final_train_loss": round(losses[-1], 4),
            "peak_gpu_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1) if device.type == "cuda" else None,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        })
        print(json.dumps(rows[-1]), flush=True)
    report = {
        "device": str(device),
        "device_name": torch.cuda.get_device_name() if device.type == "cuda" else platform.processor() or "cpu",
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "windows": len(data.windows),
        "items": len(data.item_ids),
        "epochs": args.epochs,
        "hidden": args.hidden,
        "batch_size": params.train.batch_size,
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
