"""`shopseq benchmark quality`: every baseline and model family on one data set, one split, one target set.

The data goes through the pipeline's own steps (source adapter, Great Expectations validation, the
sequences split), then each baseline is fitted and each model family trained once with
`train.defaults` (with `train.family_defaults`) for up to a given number of epochs, stopping early
on validation NDCG@10 as a pipeline trial does (no Optuna: the benchmark compares families, not
search budgets); with `train.blend`, each trained model is also blended with the neighbourhood
baseline that helps it most on validation (`training.blend`), a row of its own when the blend wins.
Every row is scored with the same full-ranking metrics on the identical sample of test targets.
`train_seconds` is fitting only (embedding the item text once is reported separately as
`embed_seconds`, building the user profiles once as `profile_seconds`; a blended row
`<model>+<baseline>` counts the model's training plus choosing the blend on validation); `peak_mb`
is the process's peak resident memory while that row fitted and scored, above its level when the
row started. With `profile`, each family (and text variant) is trained a second time with the user
profile input, a `<model>+profile` row: profiles as of the training cut (`profiles.inputs`), the
same split and targets as the row without.

Every row also carries its validation NDCG@10 (`valid_ndcg@10`, on the validation targets the
models stop early on); a trained row also its `valid_curve` (per epoch of the first seed: validation
NDCG@10 and wall seconds since training began), so "time to reach a quality" is read, not guessed. With `seeds` > 1 each trained row is the mean over that many training
seeds, with `seeds` and `ndcg@10_std`. The `shopseq` row, the validation-chosen row, and the
paired-bootstrap `comparisons` are explained in `benchmarks.quality_choice`; `leaky_split` says
whether the split lets later events into training (leave-last-out).
"""

from __future__ import annotations

import gc
import json
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import partial
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shopseq import schema as s
from shopseq.config import MODEL_FAMILIES, Params
from shopseq.io import write_json

log = logging.getLogger(__name__)

BASELINE_ROWS = ("popularity", "recent_popularity", "markov", "item_knn", "session_knn")
COLUMNS = ("ndcg@10", "hr@10", "mrr@20", "recall@20")
RARE_COUNT = 5  # "rare" target items: at most this many training interactions
TEXT_MODES = ("auto", "on", "off")


@dataclass(frozen=True)
class QualityOptions:
    """What to run and how big; defaults come from params.yaml."""

    epochs: int | None = None  # None: train.epochs
    families: tuple[str, ...] = MODEL_FAMILIES
    baselines: tuple[str, ...] = BASELINE_ROWS
    text: str = "auto"  # auto: with and without text when the items have text; on; off
    profile: bool = False  # also train every family (and text variant) with the user profile input
    max_users: int | None = None  # sample this many users (seeded) before splitting
    max_targets: int | None = None  # None: evaluate.max_targets
    split: str | None = None  # None: sequences.split
    valid_days: int | None = None
    test_days: int | None = None
    seeds: int = 1  # training seeds per trained row: base.seed, base.seed + 1, ...

    def __post_init__(self) -> None:
        if self.seeds < 1:
            raise ValueError(f"seeds must be at least 1; got {self.seeds}")
        if unknown := [f for f in self.families if f not in MODEL_FAMILIES]:
            raise ValueError(f"unknown model family {unknown}; choose from {', '.join(MODEL_FAMILIES)}")
        if unknown := [b for b in self.baselines if b not in BASELINE_ROWS]:
            raise ValueError(f"unknown baseline(s) {unknown}; choose from {', '.join(BASELINE_ROWS)}")
        if self.text not in TEXT_MODES:
            raise ValueError(f"text must be one of {', '.join(TEXT_MODES)}; got {self.text!r}")


def run_quality(source: str, path: Path | None, out: Path, params: Params, options: QualityOptions) -> dict[str, Any]:
    """Run the benchmark and write `out/quality.json` and `out/quality.md`; return the report.

    Raises:
        ValueError: unknown source or option, data that fails validation, or no test targets.
        FileNotFoundError: `path` does not exist.
    """
    import shopseq.sequences.baselines  # noqa: F401
    import shopseq.sequences.recommender  # noqa: F401  (imports torch before any row's memory is measured)
    from shopseq.benchmarks.quality_choice import add_choice_and_comparisons, write_per_target
    from shopseq.data.sources import load_source
    from shopseq.sequences.split import leaky_split, split_sequences
    from shopseq.training.evaluate import sample_targets

    started = time.perf_counter()
    overrides = {"split": options.split, "valid_days": options.valid_days, "test_days": options.test_days}
    sequences_config = replace(params.sequences, **{k: v for k, v in overrides.items() if v is not None})
    events, items, reviews = load_source(source, path, params.ingest, params.base.seed)
    events, items, validation = validated(events, items, reviews, params)
    n_users = events[s.USER_ID].nunique()
    events = sample_users(events, options.max_users, params.base.seed)
    dataset = dataset_name(source, path)
    if events[s.USER_ID].nunique() < n_users:
        dataset += f" ({options.max_users} users)"
    split = split_sequences(events, sequences_config)
    test = sample_targets(split.test, options.max_targets or params.evaluate.max_targets, params.base.seed)
    if test.empty:
        raise ValueError(
            f"{source} {path}: no test targets on items seen in training with split {sequences_config.split!r}; "
            "try --split leave_last_out or a longer --test-days"
        )
    ks = sorted({*params.evaluate.ks, 10, 20})
    counts = dict(zip(split.vocabulary[s.ITEM_ID], split.vocabulary["count"]))
    subsets = target_subsets(test, counts)
    rare, known = subsets["rare"], subsets["known_history"]
    log.info("benchmark quality: %d training sequences, %d items, %d test targets (%d rare, %d with a known history)",
             len(split.train), len(split.vocabulary), len(test), len(rare), len(known))

    valid = sample_targets(split.valid, params.train.valid_targets, params.base.seed)  # what models stop early on
    rows, per_target = [], {}
    for name in options.baselines:
        row, values = measure(name, partial(run_baseline, name, split, events, sequences_config, params),
                              test, subsets, ks, valid)
        rows.append(row)
        per_target[name] = values

    text_vectors, embed_seconds = None, None
    wants_text = options.text == "on" or (options.text == "auto" and has_text(items))
    if options.families and wants_text:
        text_vectors, embed_seconds = embed_items(items, split.vocabulary[s.ITEM_ID].tolist(), params)
    if options.text == "on":
        variants = [True]
    else:
        variants = [False] + ([True] if text_vectors is not None else [])
    profiles, profile_seconds = None, None
    if options.families and options.profile:
        from shopseq.profiles.inputs import build_profile_inputs

        profile_started = time.perf_counter()
        profiles = build_profile_inputs(events, items, sequences_config, params.profiles)
        profile_seconds = round(time.perf_counter() - profile_started, 2)
    epochs = options.epochs or params.train.epochs
    profile_variants = [None] if profiles is None else [None, profiles]  # without, then with the profile input
    seeds = [params.base.seed + i for i in range(options.seeds)]
    for family in options.families:
        for use_text, user_profiles in product(variants, profile_variants):
            name = family + ("+text" if use_text else "") + ("+profile" if user_profiles is not None else "")
            facts = {"family": family, "text": use_text, "profile": user_profiles is not None,
                     "hyperparameters": {**params.train.defaults_for(family), "epochs": epochs,
                                         "patience": params.train.patience}}
            trained_rows = train_seeds(name, family, split, text_vectors if use_text else None, user_profiles,
                                       epochs, params, seeds, (test, subsets, ks, valid))
            for row, values in trained_rows:
                rows.append({**row, **facts})
                per_target[row["model"]] = values
    report = {
        "dataset": dataset,
        "source": source,
        "path": None if path is None else str(path),
        "split": {
            "kind": sequences_config.split,
            "valid_days": sequences_config.valid_days if sequences_config.split == "temporal" else None,
            "test_days": sequences_config.test_days if sequences_config.split == "temporal" else None,
            "valid_start": split.valid_start,
            "test_start": split.test_start,
            "train_sequences": len(split.train),
            "train_steps": int(split.train["items"].map(len).sum()),
            "items": len(split.vocabulary),
            "test_targets": len(split.test),
            "test_targets_evaluated": len(test),
            "rare_targets_evaluated": len(rare),
            "known_history_targets_evaluated": len(known),
            "cold_targets": split.cold_targets,
        },
        "validation": validation,
        "epochs": epochs,
        "hyperparameters": {**params.train.defaults, "batch_size": params.train.batch_size,
                            "max_len": params.train.max_len, "patience": params.train.patience,
                            "family_defaults": params.train.family_defaults},
        "max_users": options.max_users,
        "embed_seconds": embed_seconds,
        "profile_seconds": profile_seconds,
        "profile_features": None if profiles is None else profiles.final.feature_names,
        "profiles_as_of": None if profiles is None else profiles.final.as_of,
        "profile_snapshots": None if profiles is None else [snap.as_of for snap in profiles.snapshots],
        "rows": rows,
        "seeds": seeds,
        "leaky_split": leaky_split(sequences_config),
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    out = Path(out)
    export_split(split, sample_targets(split.valid, len(test), params.base.seed), test, out / "split")
    for name, values in per_target.items():
        write_per_target(out, name, values)
    add_choice_and_comparisons(report, out, BASELINE_ROWS, params.base.seed)
    write_json(out / "quality.json", report)
    (out / "quality.md").write_text(markdown_table([report]))
    return report


def export_split(split, valid: pd.DataFrame, test: pd.DataFrame, directory: Path) -> None:
    """Write the split as JSON lines, so a peer library in its own environment trains and ranks on it.

    `train.jsonl`: {"items": [...]} per training sequence; `valid.jsonl`, `test.jsonl`: {"history":
    [...], "target": ...} exactly the rows scored here; `items.json`: the catalogue, in column order.
    """
    from shopseq.io import atomic_dir
    from shopseq.sequences.split import HISTORY, ITEMS, TARGET

    with atomic_dir(directory) as tmp:
        (tmp / "items.json").write_text(json.dumps(split.vocabulary[s.ITEM_ID].astype(str).tolist()))
        lines = (json.dumps({"items": [str(i) for i in items]}) for items in split.train[ITEMS])
        (tmp / "train.jsonl").write_text("".join(line + "\n" for line in lines))
        for name, frame in (("valid", valid), ("test", test)):
            pairs = zip(frame[HISTORY], frame[TARGET])
            lines = (json.dumps({"history": [str(i) for i in h], "target": str(t)}) for h, t in pairs)
            (tmp / f"{name}.jsonl").write_text("".join(line + "\n" for line in lines))


def validated(events: pd.DataFrame, items: pd.DataFrame, reviews: pd.DataFrame, params: Params):
    """Accepted events and items after the validate stage's checks; a table-level failure raises."""
    from shopseq.validation import validate_tables

    outcome = validate_tables(events, items, reviews, params.validate, docs_dir=None)
    summary = outcome.summary
    if not outcome.passed:
        raise ValueError(f"data validation failed: {'; '.join(summary['errors']) or 'see check-data'}")
    keep = ("rows_in", "rows_accepted", "rows_quarantined", "quarantine_reasons")
    return (
        outcome.tables[s.EVENTS.name].accepted,
        outcome.tables[s.ITEMS.name].accepted,
        {k: summary[k] for k in keep if k in summary},
    )


def sample_users(events: pd.DataFrame, max_users: int | None, seed: int) -> pd.DataFrame:
    """All events of at most `max_users` users drawn at random (the same users for the same seed)."""
    users = events[s.USER_ID].drop_duplicates()
    if max_users is None or len(users) <= max_users:
        return events
    chosen = set(users.sample(n=max_users, random_state=seed))
    return events[events[s.USER_ID].isin(chosen)].reset_index(drop=True)


def has_text(items: pd.DataFrame) -> bool:
    """Whether any item has a title or description to embed."""
    columns = [c for c in (s.TITLE, s.DESCRIPTION) if c in items]
    return bool(columns) and bool(items[columns].fillna("").astype(str).apply(lambda c: c.str.strip().ne("")).any().any())


def embed_items(items: pd.DataFrame, item_ids: list[str], params: Params):
    """(len(item_ids) + 1, D) text vectors for the vocabulary (row 0 padding) and the seconds spent."""
    from shopseq.embeddings import VectorCache, embed_texts, item_texts
    from shopseq.embeddings.precision_check import load_checked_encoder
    from shopseq.sequences.text_vectors import vocabulary_rows

    started = time.perf_counter()
    wanted = items[items[s.ITEM_ID].isin(set(item_ids))].drop_duplicates(s.ITEM_ID)
    texts = item_texts(wanted)
    encoder, _ = load_checked_encoder(params.embed, params.base.device, params.paths.embed_cache, texts)
    cache = VectorCache.for_encoder(params.paths.embed_cache, encoder)
    result = embed_texts(texts, encoder, cache, params.embed.batch_size, "logs")
    vectors = vocabulary_rows(wanted[s.ITEM_ID].to_numpy(), result.vectors, item_ids)  # the train stage's lookup
    seconds = time.perf_counter() - started
    log.info("embedded %d of %d vocabulary items' text in %.1f s", len(wanted), len(item_ids), seconds)
    return vectors, round(seconds, 2)


def run_baseline(name: str, split, events: pd.DataFrame, config, params: Params):
    """Fit one baseline on the split's training data as the evaluate stage does; return its scorer."""
    from shopseq.sequences.baselines import BaselineSettings, fit_split_baselines
    from shopseq.sequences.split import ITEMS

    settings = BaselineSettings.from_params(params.evaluate)
    return fit_split_baselines([name], split.train[ITEMS].tolist(), split.vocabulary, events, config, settings)[name]


@dataclass(frozen=True)
class Trained:
    """A trained model and what choosing its blend needs: the data it saw and how long it trained."""

    recommender: Any  # sequences.recommender.Recommender
    data: Any  # training.tune.TrainingData: validation targets and training sequences
    epochs_trained: int
    history: tuple[dict, ...] = ()  # training.tune.TrialOutcome.history: per epoch, validation metrics and seconds


def train_seeds(name: str, family: str, split, text_vectors, profiles, epochs: int, params: Params,
                seeds: list[int], scoring: tuple) -> list[tuple[dict, np.ndarray]]:
    """Train one family variant once per seed; its row (mean over seeds) and, when a blend won, the blended row.

    `scoring`: (test, subsets, ks, valid) as `measure` takes them. A seed whose blend lost to the
    model alone on validation contributes the model alone to the blended row: that is what the
    pipeline would deploy for it.
    """
    from shopseq.benchmarks.quality_choice import blend_name, summarize_seeds

    plain, blended = [], []
    for seed in seeds:
        trained: list[Trained] = []

        def train(seed=seed, trained=trained):
            trained.append(train_model(family, split, text_vectors, epochs, params, profiles, seed))
            return trained[0].recommender

        row, values = measure(name, train, *scoring)
        row["epochs_trained"] = trained[0].epochs_trained
        row["valid_curve"] = valid_curve(trained[0].history)
        plain.append((row, values))
        if params.train.blend:
            mixed, mixed_values = measure(name, partial(blend_model, trained[0], params), *scoring)
            mixed["train_seconds"] = round(mixed["train_seconds"] + row["train_seconds"], 2)
            blended.append((mixed, mixed_values) if mixed["blend"] is not None else None)
    out = [summarize_seeds(name, plain, seeds)]
    if any(blended):
        blends = [None if b is None else b[0]["blend"] for b in blended]
        kept = [b if b is not None else p for b, p in zip(blended, plain)]
        row, values = summarize_seeds(blend_name(name, blends), kept, seeds)
        row["blend"] = next(b for b in blends if b is not None and row["model"].endswith("+" + b["kind"]))
        row["blends"] = blends
        out.append((row, values))
    return out


def train_model(family: str, split, text_vectors, epochs: int, params: Params, profiles=None,
                seed: int | None = None) -> Trained:
    """Train one family with its `train.defaults_for` for up to `epochs` epochs.

    `profiles` (`profiles.inputs.ProfileInputs`): train with the user profile input. `seed`: the
    training seed (default `base.seed`); the validation targets are the same for every seed.

    Like a pipeline trial: the validation targets are scored after every epoch, the best epoch's
    weights are kept and training stops after `train.patience` epochs without a better NDCG@10.
    """
    from dataclasses import replace

    from shopseq.sequences.recommender import Recommender
    from shopseq.training.data import training_data
    from shopseq.training.fit import resolve_device
    from shopseq.training.tune import train_trial

    item_ids = split.vocabulary[s.ITEM_ID].tolist()
    data = training_data(split.train, item_ids, split.valid, params.train, params.base.seed, text_vectors, profiles)
    hp = {**params.train.defaults_for(family), "model": family}
    train = replace(params.train, epochs=epochs)
    seed = params.base.seed if seed is None else seed
    outcome = train_trial(hp, data, train, params.evaluate.ks, seed, resolve_device(params.base.device), "logs")
    log.info("%s: best validation ndcg@10 %.4f at epoch %d of %d", family, outcome.value,
             max(outcome.history, key=lambda h: h["valid_ndcg@10"])["epoch"], len(outcome.history))
    return Trained(Recommender(outcome.model, item_ids, profiles=data.profiles), data, len(outcome.history),
                   tuple(outcome.history))


def valid_curve(history: tuple[dict, ...]) -> list[dict]:
    """Per epoch: validation NDCG@10 and the wall seconds since training began, to read "time to reach a quality"."""
    return [{"epoch": h["epoch"], "valid_ndcg@10": round(h["valid_ndcg@10"], 4), "seconds": h["seconds"]}
            for h in history]


def blend_model(trained: Trained, params: Params):
    """The trained model blended with the neighbourhood baseline that helps it most on validation."""
    from shopseq.sequences.recommender import Recommender
    from shopseq.sequences.baselines import BaselineSettings
    from shopseq.training.blend import fit_blend

    model = trained.recommender
    blend, _ = fit_blend(model, trained.data.sequences, trained.data.valid,
                         params.train.blend, BaselineSettings.from_params(params.evaluate))
    return Recommender(model.model, model.item_ids, blend=blend, profiles=model.profiles)


def target_subsets(test: pd.DataFrame, counts: dict[str, int]) -> dict[str, pd.DataFrame]:
    """The test targets each row also reports NDCG@10 on (`ndcg@10_<name>`).

    `rare`: the target item has at most RARE_COUNT training interactions. `known_history`: at
    least one history item is in the training catalogue, the rows a library that cannot take an
    empty history (RecBole) scores at all, so its rows compare with ours on exactly these.
    """
    from shopseq.sequences.split import HISTORY, TARGET

    known = test[HISTORY].map(lambda history: any(item in counts for item in history))
    return {"rare": test[test[TARGET].map(counts) <= RARE_COUNT], "known_history": test[known]}


def measure(
    name: str, build, test: pd.DataFrame, subsets: dict[str, pd.DataFrame], ks: list[int], valid: pd.DataFrame
) -> tuple[dict[str, Any], np.ndarray]:
    """Fit/train with `build()`, then score on `test` (and NDCG@10 on each of `subsets` and on `valid`).

    Returns one table row and the (len(test),) NDCG@10 of each test target, for paired comparisons.
    """
    from shopseq.sequences.split import HISTORY
    from shopseq.training.bootstrap import ndcg_per_target
    from shopseq.training.evaluate import evaluate_scorer, metrics_of_ranks, row_profiles, scorer_ranks

    gc.collect()
    with PeakMemory() as memory:
        started = time.perf_counter()
        scorer = build()
        train_seconds = time.perf_counter() - started
        started = time.perf_counter()
        def score(rows: pd.DataFrame) -> np.ndarray:
            profiles = row_profiles(scorer, rows)  # (rows, P) for a model with the profile input, else None
            histories = rows[HISTORY].tolist()
            return scorer.score(histories) if profiles is None else scorer.score(histories, profiles=profiles)
        ranks, tops = scorer_ranks(score, scorer.item_ids, test, max(ks))
        metrics = metrics_of_ranks(ranks, tops, ks, len(scorer.item_ids))
        eval_seconds = time.perf_counter() - started
        subset_ndcg = {
            f"ndcg@10_{subset}": round(evaluate_scorer(score, scorer.item_ids, rows, [10])["ndcg@10"], 4) if len(rows) else None
            for subset, rows in subsets.items()
        }
        valid_ndcg = round(evaluate_scorer(score, scorer.item_ids, valid, [10])["ndcg@10"], 4) if len(valid) else None
    blend = getattr(scorer, "blend", None)
    row = {
        "model": name if blend is None else f"{name}+{blend.kind}",
        **{key: round(metrics[key], 4) for key in COLUMNS},
        "valid_ndcg@10": valid_ndcg,
        "train_seconds": round(train_seconds, 2),
        "peak_mb": round(memory.peak_mb, 1),
        "eval_seconds": round(eval_seconds, 2),
        **subset_ndcg,
        "coverage@20": round(metrics["coverage@20"], 4),
        "n_targets": metrics["n_targets"],
        "blend": None if blend is None else {"kind": blend.kind, "weight": blend.weight},
    }
    log.info("%s: %s", name, row)
    return row, ndcg_per_target(ranks, 10)


class PeakMemory:
    """The process's peak resident memory during a block; `peak_mb` is the rise above the start.

    On Linux the kernel's own high-water mark (VmHWM) is reset on entry (/proc/self/clear_refs)
    and read on exit, so a short-lived allocation is never missed; a sampling thread is the
    fallback where that is not available.
    """

    def __init__(self, every_s: float = 0.01) -> None:
        self.every_s = every_s
        self.peak_mb = 0.0
        self._stop = threading.Event()

    def __enter__(self) -> PeakMemory:
        self._start = self._peak = _rss_bytes()
        self._exact = _reset_high_water_mark()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._peak = max(self._peak, _rss_bytes(), (_high_water_mark() or 0) if self._exact else 0)
        self.peak_mb = (self._peak - self._start) / 2**20

    def _sample(self) -> None:
        while not self._stop.wait(self.every_s):
            self._peak = max(self._peak, _rss_bytes())


def _reset_high_water_mark() -> bool:
    """Reset the kernel's peak-RSS counter of this process (Linux); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return _high_water_mark() is not None
    except OSError:
        return False


def _high_water_mark() -> int | None:
    """VmHWM of this process in bytes (Linux), None where /proc does not have it."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as handle:
            import os

            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # not Linux: the lifetime peak is the best available
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def dataset_name(source: str, path: Path | None) -> str:
    """`synthetic`, or `<source>:<folder or file name>`."""
    return source if path is None else f"{source}:{Path(path).name}"


def markdown_table(reports: Sequence[dict[str, Any]]) -> str:
    """One markdown table over every report's rows: dataset, model, the metrics, time and memory.

    NDCG@10 shows `mean ± std` over the training seeds for a row trained with more than one;
    the `shopseq` row (chosen on validation) is in bold.
    """
    lines = [
        "| dataset | model | NDCG@10 | valid NDCG@10 | HR@10 | MRR@20 | Recall@20 | NDCG@10 rare | NDCG@10 known history | train s | peak MB |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for report in reports:
        for row in report["rows"]:
            subsets = " | ".join(_cell(row.get(f"ndcg@10_{subset}")) for subset in ("rare", "known_history"))
            ndcg = f"{row['ndcg@10']:.4f}"
            if len(row.get("seeds") or []) > 1:
                ndcg += f" ± {row['ndcg@10_std']:.4f}"
            model = f"**shopseq** ({row['chosen']['row']})" if row["model"] == "shopseq" else row["model"]
            lines.append(
                f"| {report['dataset']} | {model} | {ndcg} | {_cell(row.get('valid_ndcg@10'))} | {row['hr@10']:.4f} | "
                f"{row['mrr@20']:.4f} | {row['recall@20']:.4f} | {subsets} | "
                f"{row['train_seconds']:.1f} | {row['peak_mb']:.0f} |"
            )
    return "\n".join(lines) + "\n" + comparisons_table(reports)


def comparisons_table(reports: Sequence[dict[str, Any]]) -> str:
    """The paired-bootstrap comparisons of every report as a markdown table ('' when there are none)."""
    rows = [(report["dataset"], c) for report in reports for c in report.get("comparisons") or []]
    if not rows:
        return ""
    lines = ["", "| dataset | a | b | metric | a - b | 95% interval | reading |", "|---|---|---|---|---:|---|---|"]
    for dataset, c in rows:
        lines.append(f"| {dataset} | {c['a']} | {c['b']} | {c['metric']} | {c['diff']:+.4f} | "
                     f"[{c['ci95_low']:+.4f}, {c['ci95_high']:+.4f}] | {c.get('verdict', '')} |")
    return "\n".join(lines) + "\n"


def _cell(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"
