"""`shopseq benchmark catalogue`: training, scoring and serving cost as the catalogue grows.

Synthetic sequences over catalogues of the given sizes, the same events per training step
(`batch` windows of `max_len` positions) whatever the size, a GRU of hidden 64 with the repeat
head (no item text: text vectors at 4M items would be 6 GB on their own). One row per size and
loss. Every measurement runs in its own subprocess, so each row's peak RSS is its own, and under
a data-size limit (`memory_limit_mb`, RLIMIT_DATA), so a size that does not fit is a row with
`status: out_of_memory` instead of a machine driven into swap or a crashed benchmark.

- training (`step_seconds`, `train_peak_mb`): `fit`, the project's training loop, on one batch
  per epoch, for `warmup_steps` untimed then `steps` timed steps; `step_seconds` is the median
  timed step (a shared machine's noise hits single steps, the median less than a mean).
- scoring (`score_seconds_per_1000_users`): the batch-scoring pass (`serving.batch.summary_batches`:
  top-K, normaliser and category mass over catalogue slices) for `score_users` histories.
- serving (`serve_p50_ms`, `serve_p99_ms`, `serve_peak_mb`): a process that loads the saved model
  directory and answers `serving.recommend.recommend` (what `POST /recommend` runs) at `serve_rps`
  requests/s on an open-loop schedule for `serve_seconds`, one torch thread, latency from each
  request's scheduled time (queueing included); no HTTP layer (`shopseq benchmark serve` measures
  that on the real service). Scoring and serving do not depend on the loss the model was trained
  with, so they run once per size, on the model of the first loss that trained, and both rows
  show them.
- serving through the approximate index (`serve_index`: `exact` or `approximate`, chosen by the
  `serve.index*` settings as the service chooses; `serving.index`): `index_build_seconds`,
  `index_mb` (the index's own memory; `serve_peak_mb` includes it) and `recall_at_k_vs_exact`,
  the mean share of the exact top-`k` the approximate top-`k` returns over `recall_histories`
  of the benchmark's histories.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shopseq.config import SERVE_INDEXES
from shopseq.io import atomic_path

log = logging.getLogger(__name__)

LOSSES = ("full", "sampled")
OUT_OF_MEMORY = "out_of_memory"


@dataclass(frozen=True)
class CatalogueBenchOptions:
    """What `shopseq benchmark catalogue` measures (see the module docstring)."""

    sizes: tuple[int, ...] = (50_000, 200_000, 1_000_000, 4_000_000)
    losses: tuple[str, ...] = LOSSES
    steps: int = 10  # timed training steps; step_seconds is their median
    warmup_steps: int = 3  # untimed steps first (allocations, optimizer state)
    batch: int = 64
    max_len: int = 50
    hidden: int = 64
    negatives: int = 2048
    score_users: int = 1000
    serve_rps: float = 50.0
    serve_seconds: float = 10.0
    k: int = 20
    serve_index: str = "auto"  # serve.index: exact | approximate | auto
    index_above: int = 500_000  # serve.index_above
    index_lists: int = 0  # serve.index_lists
    index_probes: int = 128  # serve.index_probes
    index_candidates: int = 200  # serve.index_candidates
    index_tail_sample: int = 4096  # serve.index_tail_sample
    recall_histories: int = 200  # histories whose approximate top-k is checked against exact
    memory_limit_mb: int = 12_000  # per measuring process; above it a size is out_of_memory
    timeout_s: float = 1800.0  # per measuring process
    seed: int = 0

    def __post_init__(self) -> None:
        if unknown := [loss for loss in self.losses if loss not in LOSSES]:
            raise ValueError(f"unknown loss(es) {unknown}; use {' or '.join(LOSSES)}")
        if self.serve_index not in SERVE_INDEXES:
            raise ValueError(f"serve index {self.serve_index!r}: use {', '.join(SERVE_INDEXES)}")
        if not self.sizes or min(self.sizes) < 2:
            raise ValueError(f"catalogue sizes must be >= 2 items; got {list(self.sizes)}")


def run_catalogue_benchmark(out: Path, options: CatalogueBenchOptions) -> dict[str, Any]:
    """Measure every size and loss, write out/catalogue.json and out/catalogue.md; return the report."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory(prefix="shopseq-catalogue-") as scratch:
        for n_items in options.sizes:
            size_rows, model_dir = [], None
            for loss in options.losses:
                directory = Path(scratch) / f"model-{n_items}-{loss}"
                log.info("catalogue %d items, %s loss: training", n_items, loss)
                trained = _measure("train", options, n_items=n_items, loss=loss, model_dir=directory)
                size_rows.append({"n_items": n_items, "loss": loss, **trained})
                if trained["status"] == "ok" and model_dir is None:
                    model_dir = directory
            log.info("catalogue %d items: scoring and serving", n_items)
            served = _measure("serve", options, n_items=n_items, loss="", model_dir=model_dir)
            for row in size_rows:
                row.update({key: served.get(key) for key in SERVE_KEYS})
                if served["status"] != "ok" and row["status"] == "ok":
                    row["status"] = f"serving: {served['status']}"
                rows.append(_ordered(row))
            _remove_models(scratch)
    report = {
        "rows": rows,
        "machine": machine(load_before),
        "options": asdict(options),
        "model": f"gru, hidden {options.hidden}, repeat head, no item text; batch {options.batch} x "
                 f"{options.max_len} positions per step; sampled loss: {options.negatives} popularity "
                 "negatives + in-batch, log-Q corrected",
    }
    with atomic_path(out / "catalogue.json") as tmp:
        tmp.write_text(json.dumps(report, indent=2) + "\n")
    with atomic_path(out / "catalogue.md") as tmp:
        tmp.write_text(markdown_table(report))
    return report


TRAIN_KEYS = ("step_seconds", "train_peak_mb")
SERVE_KEYS = ("score_seconds_per_1000_users", "serve_p50_ms", "serve_p99_ms", "serve_peak_mb", "serve_achieved_rps",
              "serve_index", "recall_at_k_vs_exact", "index_build_seconds", "index_mb", "index_lists", "index_probes")
ROW_KEYS = ("n_items", "loss", *TRAIN_KEYS, "score_seconds_per_1000_users", "serve_p50_ms", "serve_p99_ms",
            "serve_peak_mb", "status")


INDEX_COLUMNS = ("serve_index", "recall_at_k_vs_exact", "index_build_seconds", "index_mb")


def _ordered(row: dict[str, Any]) -> dict[str, Any]:
    """The contract's keys first (None where a phase could not run), then any extra figures."""
    return {**{key: row.get(key) for key in ROW_KEYS}, **{k: v for k, v in row.items() if k not in ROW_KEYS}}


def _remove_models(scratch: str) -> None:
    """Delete one size's saved models (a 4M-item model is a gigabyte) before the next size."""
    import shutil

    for path in Path(scratch).glob("model-*"):
        shutil.rmtree(path, ignore_errors=True)


def _measure(phase: str, options: CatalogueBenchOptions, n_items: int, loss: str, model_dir: Path | None) -> dict:
    """Run one phase in a fresh subprocess under the memory limit; its JSON result, or why there is none."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        result_file = Path(handle.name)
    command = [sys.executable, "-m", "shopseq.benchmarks.catalogue", phase, json.dumps(asdict(options)),
               str(n_items), loss, str(model_dir or ""), str(result_file)]
    try:
        completed = subprocess.run(command, timeout=options.timeout_s, env=os.environ.copy(),
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        text = result_file.read_text() if result_file.stat().st_size else ""
        if text:
            return json.loads(text)
        tail = completed.stdout.strip().splitlines()[-3:]
        if completed.returncode < 0:
            return {"status": f"killed by signal {-completed.returncode}"}
        return {"status": f"failed (exit {completed.returncode}): {' | '.join(tail)[:300]}"}
    except subprocess.TimeoutExpired:
        return {"status": f"timeout after {options.timeout_s:.0f} s"}
    finally:
        result_file.unlink(missing_ok=True)


def worker(phase: str, options: CatalogueBenchOptions, n_items: int, loss: str, model_dir: str, result_file: Path) -> None:
    """The subprocess side: cap the data segment, run the phase, write its JSON (out_of_memory on an allocation failure)."""
    limit = options.memory_limit_mb << 20
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    try:
        result = train_phase(options, n_items, loss, Path(model_dir)) if phase == "train" else \
            serve_phase(options, n_items, Path(model_dir) if model_dir else None)
        result["status"] = "ok"
    except MemoryError:
        result = {"status": OUT_OF_MEMORY}
    except RuntimeError as error:  # torch's allocator: "DefaultCPUAllocator: can't allocate memory"
        if "allocate" not in str(error):
            raise
        result = {"status": OUT_OF_MEMORY}
    result_file.write_text(json.dumps(result))


def synthetic_sequences(n_items: int, n_sequences: int, length: int, seed: int) -> list[list[int]]:
    """Item-index sequences (1..n_items) with a long-tailed popularity, like a shop's: (n_sequences, length)."""
    rng = np.random.default_rng(seed)
    draws = np.floor(n_items * rng.random((n_sequences, length)) ** 3).astype(np.int64) + 1  # skewed to low indices
    return draws.tolist()


def train_phase(options: CatalogueBenchOptions, n_items: int, loss: str, model_dir: Path) -> dict[str, Any]:
    """Time `options.steps` training steps after as many warm-up steps; save the model for serving."""
    from shopseq.sequences.models import ModelConfig, NextItemModel
    from shopseq.sequences.recommender import Recommender, save_recommender
    from shopseq.training.fit import fit, negative_sampler

    windows = synthetic_sequences(n_items, options.batch, options.max_len + 1, options.seed)  # one batch an epoch
    config = ModelConfig("gru", n_items, hidden=options.hidden, max_len=options.max_len, repeat=True)
    model = NextItemModel(config)
    sampler = None
    if loss == "sampled":
        sampler = negative_sampler(windows, n_items, options.negatives, "popularity", True, options.seed)
    ends: list[float] = [time.perf_counter()]
    fit(model, windows, epochs=options.warmup_steps + options.steps, batch_size=options.batch, lr=0.01,
        weight_decay=0.0, seed=options.seed, on_epoch=lambda epoch, value: ends.append(time.perf_counter()),
        progress_mode="logs", sampler=sampler)
    peak = peak_rss_mb()
    save_recommender(Recommender(model, [f"i{j}" for j in range(n_items)]), model_dir)
    seconds = np.diff(ends)  # (warmup + steps,) one step each
    timed = seconds[options.warmup_steps :]
    return {
        "step_seconds": round(float(np.median(timed)), 3),
        "step_seconds_mean": round(float(np.mean(timed)), 3),
        "step_seconds_max": round(float(np.max(timed)), 3),
        "timed_steps": len(timed),
        "warmup_step_seconds": round(float(np.mean(seconds[: options.warmup_steps])), 3) if options.warmup_steps else None,
        "train_peak_mb": round(peak),
    }


def serve_phase(options: CatalogueBenchOptions, n_items: int, model_dir: Path | None) -> dict[str, Any]:
    """Serve from the saved model (open-loop, one thread), then batch-score `score_users` histories."""
    import pandas as pd
    import torch

    from shopseq.sequences.models import ModelConfig, NextItemModel
    from shopseq.sequences.recommender import Recommender, load_recommender
    from shopseq.sequences.scoring import summary_batches
    from shopseq.serving.index import recall_against_exact, with_index
    from shopseq.serving.recommend import recommend

    if model_dir is not None:
        model = load_recommender(model_dir)
    else:  # no loss trained at this size: the cost of scoring does not depend on the weights
        config = ModelConfig("gru", n_items, hidden=options.hidden, max_len=options.max_len, repeat=True)
        model = Recommender(NextItemModel(config), [f"i{j}" for j in range(n_items)])
    names = np.asarray(model.item_ids, dtype=object)
    rng = np.random.default_rng(options.seed + 1)
    histories = [list(names[np.asarray(seq[: int(rng.integers(1, options.max_len + 1))]) - 1])
                 for seq in synthetic_sequences(n_items, max(options.score_users, 200), options.max_len, options.seed + 1)]
    fallback = pd.Series([1.0], index=[model.item_ids[0]])
    model = with_index(model, serve_settings(options))  # the service's choice: an index above index_above items
    index = model.candidate_index

    torch.set_num_threads(1)  # as `serve.threads: 1`
    for history in histories[:20]:  # warm-up
        recommend(model, history, options.k, fallback)
    n = max(1, int(round(options.serve_rps * options.serve_seconds)))
    latencies = []
    start = time.perf_counter()
    for i in range(n):
        scheduled = start + i / options.serve_rps
        time.sleep(max(0.0, scheduled - time.perf_counter()))
        recommend(model, histories[i % len(histories)], options.k, fallback)
        latencies.append((time.perf_counter() - scheduled) * 1000.0)
    achieved = n / (time.perf_counter() - start)
    serve_peak = peak_rss_mb()

    torch.set_num_threads(os.cpu_count() or 1)
    users = histories[: options.score_users]
    start = time.perf_counter()
    for _ in summary_batches(model, users, 512, options.k):  # batch scoring stays exact
        pass
    seconds = time.perf_counter() - start
    p50, p99 = np.percentile(latencies, [50, 99])
    result = {
        "score_seconds_per_1000_users": round(seconds * 1000 / len(users), 3),
        "serve_p50_ms": round(float(p50), 2),
        "serve_p99_ms": round(float(p99), 2),
        "serve_achieved_rps": round(achieved, 1),
        "serve_peak_mb": round(serve_peak),
        "serve_index": "exact" if index is None else "approximate",
    }
    if index is not None:
        result.update({
            "recall_at_k_vs_exact": round(recall_against_exact(model, index, histories[: options.recall_histories], options.k), 4),
            "index_build_seconds": round(index.build_seconds, 1),
            "index_mb": round(index.memory_mb()),
            "index_lists": index.lists,
            "index_probes": min(options.index_probes, index.lists),
        })
    return result


def serve_settings(options: CatalogueBenchOptions):
    """The `serve` params section the benchmark serves with: its index choice and settings."""
    from shopseq.config import Serve

    return Serve(index=options.serve_index, index_above=options.index_above, index_lists=options.index_lists,
                 index_probes=options.index_probes, index_candidates=options.index_candidates,
                 index_tail_sample=options.index_tail_sample)


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def machine(load_before: float) -> dict[str, Any]:
    """Cores, memory and load of the machine the rows were measured on."""
    import torch

    total_kb = next((int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                     if line.startswith("MemTotal:")), 0) if Path("/proc/meminfo").exists() else 0
    return {
        "cores": os.cpu_count(),
        "memory_mb": round(total_kb / 1024),
        "processor": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "load_average_1m": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
    }


def markdown_table(report: dict[str, Any]) -> str:
    """The rows as a markdown table with the machine they ran on."""
    m = report["machine"]
    lines = [
        f"{report['model']}; {m['cores']} cores, {m['memory_mb']} MB, 1-min load average "
        f"{m['load_average_1m']['before']} before, {m['load_average_1m']['after']} after",
        "",
        "| items | loss | s/step | train peak MB | score s/1000 users | serve p50 ms | serve p99 ms | serve peak MB | status "
        "| serve index | recall@k vs exact | index build s | index MB |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---|---|---:|---:|---:|",
    ]

    def cell(value: Any) -> str:
        return "-" if value is None else str(value)

    for row in report["rows"]:
        lines.append("| " + " | ".join(cell(row.get(key)) for key in (*ROW_KEYS, *INDEX_COLUMNS)) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    phase_name, options_json, size, loss_name, directory, result_path = sys.argv[1:7]
    worker(phase_name, CatalogueBenchOptions(**{k: tuple(v) if isinstance(v, list) else v
                                                for k, v in json.loads(options_json).items()}),
           int(size), loss_name, directory, Path(result_path))
