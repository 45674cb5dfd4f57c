"""RecBole's SASRec and GRU4Rec on exactly the split `shopseq benchmark quality` scored (the peer rows).

Runs in RecBole's own environment (see STACK.md; it pins numpy 1.23 and pandas 2.0, which shopseq
does not), so it imports nothing from shopseq, only its stdlib-only sibling `results_paths.py`. It
reads `<out>/split/` (written by the benchmark), turns it into RecBole benchmark files with one row
per prefix, trains each model, ranks the same test rows over the full catalogue, and adds
`recbole_sasrec` / `recbole_gru4rec` rows to `<out>/quality.json`:

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

Each row also leaves `<out>/per_target/<model>.json` ({"metric": "ndcg@10", "values": [...]}, one
value per row of `split/test.jsonl`, in that order, 0 for a row it could not score): the file the
benchmark writes for its own rows, so the paired bootstrap compares `shopseq` with each peer on
the same targets (`python benchmarks/quality.py --only NAME --peer-only ...` refreshes the
comparisons).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results_paths import portable_text, repository_relative  # a stdlib-only sibling: runs in RecBole's venv

MODELS = {"recbole_sasrec": "SASRec", "recbole_gru4rec": "GRU4Rec"}
MAX_LEN = 50
LR_GRID = (0.0003, 0.001, 0.003)  # RecBole's default 0.001 and one step of about 3x either side
SPLIT_FILES = ("items.json", "train.jsonl", "valid.jsonl", "test.jsonl")
PER_TARGET_DIR, PER_TARGET_METRIC = "per_target", "ndcg@10"  # shopseq.benchmarks.quality_choice's layout


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
        tried = [trained_or_cached(args.out, name, epochs, patience, lr) for lr in lrs]
        row = choose_on_validation(tried)
        write_per_target(args.out, name, row.pop("per_target"))
        row["settings"] = {"max_epochs": epochs, "patience": patience, "lr": row.pop("lr"), "lr_grid": lrs,
                           "valid_metric": "ndcg@10", "valid_rows": "split/valid.jsonl (the benchmark's validation targets)"}
        print(json.dumps(row), flush=True)
        report["rows"] = [r for r in report["rows"] if r["model"] != name] + [row]
    report["peer"] = {"library": "recbole", "version": _version(), "epochs": epochs, "patience": patience, "lr_grid": lrs,
                      "split_sha256": split_digest(args.out / "split"),
                      "command": recorded_command(sys.argv[1:], args.out)}
    report_file.write_text(json.dumps(report, indent=2, default=str))


def recorded_command(argv: list[str], out: Path) -> str:
    """This run's command line as anyone reruns it from the repository root, naming no path of this machine.

    `$RECBOLE_PYTHON` stands for RecBole's venv python and `--out` is written relative to the
    repository, whatever the current folder and however the script was called (quality.py passes
    absolute paths).
    """
    words = list(argv)
    for k, word in enumerate(words):
        if word.startswith("--out="):
            words[k] = "--out=" + repository_relative(out)
        elif k and words[k - 1] == "--out":
            words[k] = repository_relative(out)
    return "$RECBOLE_PYTHON benchmarks/recbole_peer.py " + portable_text(shlex.join(words))


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


def write_per_target(out: Path, name: str, values: list[float]) -> None:
    """`out/per_target/<name>.json`: NDCG@10 of each test row in `split/test.jsonl` order, for paired comparisons."""
    expected = sum(1 for _ in open(out / "split" / "test.jsonl"))
    if len(values) != expected:
        raise SystemExit(f"{name}: {len(values)} per-target values for {expected} rows of {out / 'split' / 'test.jsonl'}")
    directory = out / PER_TARGET_DIR
    directory.mkdir(parents=True, exist_ok=True)
    payload = {"metric": PER_TARGET_METRIC, "values": [round(float(v), 6) for v in values]}
    (directory / f"{name}.json").write_text(json.dumps(payload))


def in_test_order(test_sessions: list[str | None], scored: dict[str, float]) -> list[float]:
    """Per-target NDCG@10 in `split/test.jsonl` order from RecBole's {session token: NDCG@10}; unscorable rows 0.

    Raises SystemExit when a written test row got no score or RecBole scored a row that was not written.
    """
    written = {session for session in test_sessions if session is not None}
    if missing := written - scored.keys():
        raise SystemExit(f"RecBole scored no value for {len(missing)} test rows (e.g. {sorted(missing)[:3]})")
    if extra := scored.keys() - written:
        raise SystemExit(f"RecBole scored {len(extra)} sessions that are not test rows (e.g. {sorted(extra)[:3]})")
    return [0.0 if session is None else scored[session] for session in test_sessions]


def trained_or_cached(out: Path, name: str, epochs: int, patience: int, lr: float) -> dict:
    """One grid point's row: trained now, or read back from an earlier run on this very split.

    Each grid point is saved in `split/` (rewritten, so emptied, whenever the benchmark writes a new
    split), so the grid can be trained one point at a time (`--lrs 0.003`, then `--lrs 0.001`) and a
    later run over the whole grid chooses among them without training any twice.
    """
    cache = out / "split" / f"peer_{name}_lr{lr}_epochs{epochs}_patience{patience}.json"
    if cache.exists():
        print(f"{name} lr {lr}: trained earlier on this split ({cache.name})", file=sys.stderr, flush=True)
        return json.loads(cache.read_text())
    row = _train_in_process(out, name, epochs, patience, lr)
    cache.write_text(json.dumps(row))
    return row


def _train_in_process(out: Path, name: str, epochs: int, patience: int, lr: float) -> dict:
    """One model at one learning rate in a fresh process (so `peak_mb` is its own)."""
    command = [sys.executable, __file__, "--out", str(out), "--epochs", str(epochs), "--patience", str(patience),
               "--one", name, "--lr", str(lr)]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True)  # its stderr (epoch lines, errors) shows as it runs
    if done.returncode != 0:
        raise SystemExit(f"{name} at lr {lr} failed (exit {done.returncode}; its error is above)")
    row = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"{name} lr {lr}: valid NDCG@10 {row['valid_ndcg@10']:.4f}, best epoch {row['best_epoch']} "
          f"of {row['epochs_trained']}, {row['train_seconds']:.0f} s", file=sys.stderr, flush=True)
    return row


def train_one(out: Path, name: str, epochs: int, patience: int, lr: float) -> dict:
    """Train RecBole model `name` on `out/split`, evaluate on its test rows; one table row."""
    work = Path(tempfile.mkdtemp(prefix="recbole-"))  # RecBole's files and checkpoints: large, not results
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a stopped run still removes `work` (finally below)
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
    test_sessions = write_benchmark_files(out / "split", work / "shopseq", token)
    unscorable = test_sessions.count(None)
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
        print(f"{name} lr {lr}: epoch {len(validated)} of at most {epochs}, valid NDCG@10 {float(valid_score):.4f}, "
              f"{validated[-1][0]:.0f} s", file=sys.stderr, flush=True)  # progress: an epoch takes minutes

    trainer.fit(train_data, valid_data, saved=True, show_progress=False, callback_fn=after_epoch)
    train_seconds = time.perf_counter() - started
    best_epoch = max(range(len(validated)), key=lambda k: (validated[k][1], -k))  # RecBole keeps the first best
    # RecBole's own reload calls torch.load without weights_only=False, which torch >= 2.6 refuses.
    checkpoint = torch.load(trainer.saved_model_file, map_location="cpu", weights_only=False)
    model.load_state_dict(checkpoint["state_dict"])
    started = time.perf_counter()
    result = trainer.evaluate(test_data, load_best_model=False, show_progress=False)
    eval_seconds = time.perf_counter() - started
    per_target = in_test_order(test_sessions, ndcg_by_session(trainer, test_data, dataset))
    scored = len(test_sessions) - unscorable
    share = scored / (scored + unscorable)  # unscorable rows are misses
    if abs(sum(per_target) / len(per_target) - float(result["ndcg@10"]) * share) > 1e-3:  # tied scores rank apart
        raise SystemExit(f"{name}: per-target NDCG@10 averages {sum(per_target) / len(per_target):.4f}, "
                         f"RecBole's own figure {float(result['ndcg@10']) * share:.4f}")
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
        "per_target": per_target,  # main() writes the chosen learning rate's to per_target/<model>.json
    }


def ndcg_by_session(trainer, test_data, dataset) -> dict[str, float]:
    """NDCG@10 of each scored test row, keyed by its session token: RecBole's full-sort scores, ranked here.

    The rank of the target is the number of items scoring strictly higher (padding item 0 excluded,
    as RecBole's evaluation does), so a row scores 1 / log2(rank + 2) when rank < 10.
    """
    import torch

    session_field = trainer.config["USER_ID_FIELD"]
    values: dict[str, float] = {}
    trainer.model.eval()
    with torch.no_grad():
        for batch in test_data:
            interaction, scores, positive_u, positive_i = trainer._full_sort_batch_eval(batch)
            target_scores = scores[positive_u, positive_i]  # (b,)
            ranks = (scores[positive_u] > target_scores.unsqueeze(1)).sum(dim=1)  # (b,)
            ndcg = torch.where(ranks < 10, 1.0 / torch.log2(ranks.double() + 2.0), torch.zeros_like(ranks, dtype=torch.float64))
            sessions = dataset.id2token(session_field, interaction[session_field][positive_u].cpu().numpy())
            values.update(zip((str(s) for s in sessions), ndcg.tolist()))
    return values


def split_digest(split: Path) -> str:
    """SHA-256 over the split's files: the peer rows hold for exactly this split (same as the benchmark's)."""
    digest = hashlib.sha256()
    for name in SPLIT_FILES:
        digest.update((split / name).read_bytes())
    return digest.hexdigest()


def write_benchmark_files(split: Path, directory: Path, token: dict[str, str]) -> list[str | None]:
    """`shopseq.{train,valid,test}.inter`, one row per prefix.

    Returns, for each row of `split/test.jsonl` in order, the session token it was written under,
    or None for a row left out (no history item or target in the training catalogue).
    """
    directory.mkdir(parents=True, exist_ok=True)
    header = "session_id:token\titem_id_list:token_seq\titem_id:token\ttimestamp:float\n"
    row_id = 0

    def line(history: list[str], target: str) -> str:
        nonlocal row_id
        row_id += 1
        return f"s{row_id}\t{' '.join(history[-MAX_LEN:])}\t{target}\t{row_id}\n"

    test_sessions: list[str | None] = []

    with open(directory / "shopseq.train.inter", "w") as handle:
        handle.write(header)
        for raw in open(split / "train.jsonl"):
            seq = [token[i] for i in json.loads(raw)["items"] if i in token]
            for t in range(1, len(seq)):
                handle.write(line(seq[:t], seq[t]))
    for phase in ("valid", "test"):
        with open(directory / f"shopseq.{phase}.inter", "w") as handle:
            handle.write(header)
            for raw in open(split / f"{phase}.jsonl"):
                row = json.loads(raw)
                history = [token[i] for i in row["history"] if i in token]
                written = bool(history) and row["target"] in token
                if written:
                    handle.write(line(history, token[row["target"]]))
                if phase == "test":
                    test_sessions.append(f"s{row_id}" if written else None)
    return test_sessions


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
