"""RecBole's SASRec and GRU4Rec on exactly the split `shopseq benchmark quality` scored (the peer rows).

Runs in RecBole's own environment (see STACK.md; it pins numpy 1.23 and pandas 2.0, which shopseq
does not), so it imports nothing from shopseq. It reads `<out>/split/` (written by the benchmark),
turns it into RecBole benchmark files with one row per prefix, trains each model, ranks the same
test rows over the full catalogue, and adds `recbole_sasrec` / `recbole_gru4rec` rows to
`<out>/quality.json`:

    benchmarks/recbole/make_venv.sh /work/recbole-venv      # once: RecBole's pinned environment
    /work/recbole-venv/bin/python benchmarks/recbole_peer.py --out benchmarks/results/quality/synthetic

Trained as fairly as shopseq's models: the same maximum epochs and early-stopping patience as the
benchmark gave them (`epochs` and `hyperparameters.patience` in quality.json, unless overridden),
early stopping on NDCG@10 of the same validation rows (`split/valid.jsonl`), and the learning
rate chosen on validation NDCG@10 from a small grid (`--lrs`). Each row records those settings
(`settings`), every grid point's validation score and epochs (`lr_grid`), the best epoch, and
both the training time to the best epoch (`train_seconds_to_best`) and in total (`train_seconds`).

Each model trains in its own process, so `peak_mb` (its peak resident memory above the process's
level before training) is not muddled by the other. Test rows whose whole history is outside the
training catalogue cannot be fed to RecBole; they count as misses (shopseq's models see an empty
history there), and `ndcg@10_known_history` is NDCG@10 on the rows it scored, the subset the
benchmark also reports for every shopseq row. Every test row gets its own session id, so RecBole
masks no "already seen" items. `peer.split_sha256` names the split the rows hold for: rerunning
the benchmark on an unchanged split keeps them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODELS = {"recbole_sasrec": "SASRec", "recbole_gru4rec": "GRU4Rec"}
MAX_LEN = 50
LR_GRID = (0.0003, 0.001, 0.003)  # RecBole's default 0.001 and one step of about 3x either side
SPLIT_FILES = ("items.json", "train.jsonl", "valid.jsonl", "test.jsonl")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="a benchmark quality output folder")
    parser.add_argument("--epochs", type=int, default=None, help="maximum epochs (default: the benchmark's, quality.json `epochs`)")
    parser.add_argument("--patience", type=int, default=None,
                        help="epochs without a better validation NDCG@10 before stopping (default: the benchmark's)")
    parser.add_argument("--lrs", default=",".join(str(lr) for lr in LR_GRID), help="learning rates tried, chosen on validation")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)  # internal: train one model here
    parser.add_argument("--lr", type=float, default=None, help=argparse.SUPPRESS)  # internal: with --one
    args = parser.parse_args()
    if args.one:
        print(json.dumps(train_one(args.out, args.one, args.epochs, args.patience, args.lr)))
        return
    report_file = args.out / "quality.json"
    report = json.loads(report_file.read_text())
    epochs, patience = fair_budget(report, args.epochs, args.patience)
    lrs = [float(lr) for lr in args.lrs.split(",") if lr]
    for name in args.models.split(","):
        tried = [_train_in_process(args.out, name, epochs, patience, lr) for lr in lrs]
        row = choose_on_validation(tried)
        row["settings"] = {"max_epochs": epochs, "patience": patience, "lr": row.pop("lr"), "lr_grid": lrs,
                           "valid_metric": "ndcg@10", "valid_rows": "split/valid.jsonl (the benchmark's validation targets)"}
        print(json.dumps(row), flush=True)
        report["rows"] = [r for r in report["rows"] if r["model"] != name] + [row]
    report["peer"] = {"library": "recbole", "version": _version(), "epochs": epochs, "patience": patience, "lr_grid": lrs,
                      "split_sha256": split_digest(args.out / "split"),
                      "command": " ".join([Path(sys.executable).name, *sys.argv])}
    report_file.write_text(json.dumps(report, indent=2, default=str))


def fair_budget(report: dict, epochs: int | None, patience: int | None) -> tuple[int, int]:
    """The maximum epochs and patience shopseq's models got in this benchmark, unless overridden."""
    epochs = epochs or report.get("epochs")
    if patience is None:
        patience = report.get("hyperparameters", {}).get("patience")
    if not epochs or patience is None:
        raise SystemExit("quality.json names no `epochs` / `hyperparameters.patience`: pass --epochs and --patience")
    return int(epochs), int(patience) if patience > 0 else int(epochs)  # patience 0: never stop early


def choose_on_validation(tried: list[dict]) -> dict:
    """The grid point with the best validation NDCG@10 (the first on ties); the others under `lr_grid`."""
    best = max(tried, key=lambda row: (row["valid_ndcg@10"], -tried.index(row)))
    grid = [{k: row[k] for k in ("lr", "valid_ndcg@10", "best_epoch", "epochs_trained", "train_seconds")} for row in tried]
    return {**best, "lr_grid": grid}


def _train_in_process(out: Path, name: str, epochs: int, patience: int, lr: float) -> dict:
    """One model at one learning rate in a fresh process (so `peak_mb` is its own)."""
    command = [sys.executable, __file__, "--out", str(out), "--epochs", str(epochs), "--patience", str(patience),
               "--one", name, "--lr", str(lr)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        print(done.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"{name} at lr {lr} failed (exit {done.returncode})")
    row = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"{name} lr {lr}: valid NDCG@10 {row['valid_ndcg@10']:.4f}, best epoch {row['best_epoch']} "
          f"of {row['epochs_trained']}, {row['train_seconds']:.0f} s", file=sys.stderr, flush=True)
    return row


def train_one(out: Path, name: str, epochs: int, patience: int, lr: float) -> dict:
    """Train RecBole model `name` on `out/split`, evaluate on its test rows; one table row."""
    work = Path(tempfile.mkdtemp(prefix="recbole-"))  # RecBole's files and checkpoints: large, not results
    try:
        return _train_one(out, name, epochs, patience, lr, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _train_one(out: Path, name: str, epochs: int, patience: int, lr: float, work: Path) -> dict:
    import torch
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.utils import get_model, get_trainer, init_seed

    items = json.loads((out / "split" / "items.json").read_text())
    token = {item: f"i{n}" for n, item in enumerate(items)}  # RecBole splits token_seq on spaces
    unscorable = write_benchmark_files(out / "split", work / "shopseq", token)
    config = Config(model=MODELS[name], config_dict=recbole_config(work, epochs, patience, lr))
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    start_rss = _rss_mb()
    started = time.perf_counter()
    model = get_model(config["model"])(config, train_data._dataset).to(config["device"])
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    validated: list[tuple[float, float]] = []  # (seconds since start, valid NDCG@10) per epoch

    def after_epoch(epoch: int, valid_score: float) -> None:
        validated.append((time.perf_counter() - started, float(valid_score)))

    trainer.fit(train_data, valid_data, saved=True, show_progress=False, callback_fn=after_epoch)
    train_seconds = time.perf_counter() - started
    best_epoch = max(range(len(validated)), key=lambda k: (validated[k][1], -k))  # RecBole keeps the first best
    # RecBole's own reload calls torch.load without weights_only=False, which torch >= 2.6 refuses.
    checkpoint = torch.load(trainer.saved_model_file, map_location="cpu", weights_only=False)
    model.load_state_dict(checkpoint["state_dict"])
    started = time.perf_counter()
    result = trainer.evaluate(test_data, load_best_model=False, show_progress=False)
    eval_seconds = time.perf_counter() - started
    scored = sum(1 for _ in open(work / "shopseq" / "shopseq.test.inter")) - 1
    share = scored / (scored + unscorable)  # unscorable rows are misses
    return {
        "model": name,
        "ndcg@10": round(float(result["ndcg@10"]) * share, 4),
        "hr@10": round(float(result["hit@10"]) * share, 4),
        "mrr@20": round(float(result["mrr@20"]) * share, 4),
        "recall@20": round(float(result["recall@20"]) * share, 4),
        "train_seconds": round(train_seconds, 2),
        "train_seconds_to_best": round(validated[best_epoch][0], 2),
        "best_epoch": best_epoch + 1,
        "epochs_trained": len(validated),
        "valid_ndcg@10": round(validated[best_epoch][1], 4),
        "lr": lr,
        "peak_mb": round(max(_rss_mb() - start_rss, 0.0), 1),
        "eval_seconds": round(eval_seconds, 2),
        "ndcg@10_rare": None,
        "ndcg@10_known_history": round(float(result["ndcg@10"]), 4),  # the rows RecBole could score
        "n_targets": scored + unscorable,
        "unscorable_targets": unscorable,
    }


def split_digest(split: Path) -> str:
    """SHA-256 over the split's files: the peer rows hold for exactly this split (same as the benchmark's)."""
    digest = hashlib.sha256()
    for name in SPLIT_FILES:
        digest.update((split / name).read_bytes())
    return digest.hexdigest()


def write_benchmark_files(split: Path, directory: Path, token: dict[str, str]) -> int:
    """`shopseq.{train,valid,test}.inter`, one row per prefix; returns the test rows left out."""
    directory.mkdir(parents=True, exist_ok=True)
    header = "session_id:token\titem_id_list:token_seq\titem_id:token\ttimestamp:float\n"
    row_id = 0

    def line(history: list[str], target: str) -> str:
        nonlocal row_id
        row_id += 1
        return f"s{row_id}\t{' '.join(history[-MAX_LEN:])}\t{target}\t{row_id}\n"

    with open(directory / "shopseq.train.inter", "w") as handle:
        handle.write(header)
        for raw in open(split / "train.jsonl"):
            seq = [token[i] for i in json.loads(raw)["items"] if i in token]
            for t in range(1, len(seq)):
                handle.write(line(seq[:t], seq[t]))
    left_out = 0
    for phase in ("valid", "test"):
        with open(directory / f"shopseq.{phase}.inter", "w") as handle:
            handle.write(header)
            for raw in open(split / f"{phase}.jsonl"):
                row = json.loads(raw)
                history = [token[i] for i in row["history"] if i in token]
                if not history or row["target"] not in token:
                    left_out += phase == "test"
                    continue
                handle.write(line(history, token[row["target"]]))
    return left_out


def recbole_config(work: Path, epochs: int, patience: int, lr: float) -> dict:
    """RecBole settings: its model defaults but the given epochs, patience and learning rate;
    full-softmax CE, full ranking, the files as the split, validation every epoch."""
    return {
        "data_path": str(work),
        "dataset": "shopseq",
        "benchmark_filename": ["train", "valid", "test"],
        "USER_ID_FIELD": "session_id",
        "ITEM_ID_FIELD": "item_id",
        "TIME_FIELD": "timestamp",
        "load_col": {"inter": ["session_id", "item_id_list", "item_id", "timestamp"]},
        "alias_of_item_id": ["item_id_list"],
        "MAX_ITEM_LIST_LENGTH": MAX_LEN,
        "train_neg_sample_args": None,
        "loss_type": "CE",
        "epochs": epochs,
        "train_batch_size": 256,
        "eval_batch_size": 256,
        "eval_args": {"order": "TO", "mode": "full"},
        "metrics": ["NDCG", "Hit", "MRR", "Recall"],
        "topk": [10, 20],
        "valid_metric": "NDCG@10",
        "eval_step": 1,
        "stopping_step": patience,
        "learning_rate": lr,
        "device": "cpu",
        "use_gpu": False,
        "show_progress": False,
        "seed": 42,
        "reproducibility": True,
        "checkpoint_dir": str(work / "saved"),
        "log_wandb": False,
    }


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _version() -> str:
    import recbole

    return getattr(recbole, "__version__", "unknown")


if __name__ == "__main__":
    main()
