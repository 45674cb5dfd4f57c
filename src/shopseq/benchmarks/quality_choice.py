"""What the quality benchmark reports beyond single rows: seeds, the validation-chosen `shopseq` row, comparisons.

- A neural row trained with several seeds reports the mean over seeds, `seeds` and the spread
  `ndcg@10_std` (sample standard deviation), so a reader can tell a real gap from seed noise.
- The `shopseq` row is what the pipeline would deploy: among the trained rows (family, item text,
  profile input, blend), the one with the best validation NDCG@10; test figures never take part in
  the choice. Its `chosen` says which row that was and with which settings.
- `comparisons`: a paired bootstrap over the same test targets (`training.bootstrap`) of `shopseq`
  against the best simple baseline (best on validation) and against every peer row that left
  per-target values, so "beats" is said only where the 95% interval excludes zero.

Per-target values live next to `quality.json` in `per_target/<model>.json`: {"metric": "ndcg@10",
"values": [...]}, one value per test target in the order of `split/test.jsonl`. A peer library
writes the same file for its rows, and `add_choice_and_comparisons` picks it up.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from shopseq.training.bootstrap import paired_bootstrap

log = logging.getLogger(__name__)

SHOPSEQ = "shopseq"
METRIC = "ndcg@10"
VALID_METRIC = "valid_ndcg@10"
PER_TARGET_DIR = "per_target"
PEER_PREFIX = "recbole_"
MEAN_KEYS_DIGITS = {"train_seconds": 2, "eval_seconds": 2}  # averaged over seeds with these digits; metrics get 4
MAX_KEYS = ("peak_mb",)  # the worst seed, not the mean


def summarize_seeds(name: str, measured: list[tuple[dict, np.ndarray]], seeds: list[int]) -> tuple[dict, np.ndarray]:
    """One row (and per-target values) from one measurement per seed: means, `seeds`, `ndcg@10_std`.

    Args:
        name: the row's model name.
        measured: per seed, the measured row and its (n,) per-target NDCG@10 on the test targets.
        seeds: the training seed of each measurement.
    """
    if len(measured) != len(seeds) or not measured:
        raise ValueError(f"{name}: {len(measured)} measurements for {len(seeds)} seeds")
    rows = [row for row, _ in measured]
    out: dict[str, Any] = dict(rows[0])
    out["model"] = name
    for key, value in rows[0].items():
        values = [row.get(key) for row in rows]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or any(v is None for v in values):
            continue
        if key in MAX_KEYS:
            out[key] = max(values)
        elif key == "n_targets":
            out[key] = value
        else:
            out[key] = round(float(np.mean(values)), MEAN_KEYS_DIGITS.get(key, 4))
    scores = [row[METRIC] for row in rows]
    out["seeds"] = list(seeds)
    out[f"{METRIC}_std"] = round(float(np.std(scores, ddof=1)), 4) if len(scores) > 1 else 0.0
    out[f"{METRIC}_per_seed"] = scores
    return out, np.mean([values for _, values in measured], axis=0)


def blend_name(base: str, blends: list[dict | None]) -> str:
    """`<base>+<kind>` with the blend kind chosen most often over the seeds (ties: the first seen)."""
    kinds = Counter(b["kind"] for b in blends if b is not None)
    return f"{base}+{kinds.most_common(1)[0][0]}"


def choose_shopseq(rows: list[dict]) -> dict | None:
    """The trained row with the best validation NDCG@10 (first on ties), as a `shopseq` row with `chosen`.

    Only rows with a `family` (trained by shopseq) take part; None when there is none.
    """
    trained = [row for row in rows if row.get("family") and row.get(VALID_METRIC) is not None]
    if not trained:
        return None
    best = max(trained, key=lambda row: row[VALID_METRIC])  # max keeps the first of equal values
    chosen = {
        "row": best["model"],
        "family": best["family"],
        "text": best.get("text", False),
        "profile": best.get("profile", False),
        "hyperparameters": best.get("hyperparameters"),
        "blend": best.get("blend"),
        VALID_METRIC: best[VALID_METRIC],
        "candidates": {row["model"]: row[VALID_METRIC] for row in trained},
        "rule": "the trained row with the highest validation NDCG@10; test figures take no part",
    }
    row = {key: value for key, value in best.items() if key not in ("family", "text", "profile", "hyperparameters")}
    return {**row, "model": SHOPSEQ, "chosen": chosen}


def best_baseline(rows: list[dict], baselines: tuple[str, ...]) -> dict | None:
    """The simple baseline row with the best validation NDCG@10 (first on ties); None without one."""
    candidates = [row for row in rows if row["model"] in baselines and row.get(VALID_METRIC) is not None]
    return max(candidates, key=lambda row: row[VALID_METRIC]) if candidates else None


def write_per_target(out: Path, name: str, values: np.ndarray) -> None:
    """Write `out/per_target/<name>.json`: the row's NDCG@10 on each test target, in test order."""
    directory = Path(out) / PER_TARGET_DIR
    directory.mkdir(parents=True, exist_ok=True)
    payload = {"metric": METRIC, "values": [round(float(v), 6) for v in values]}
    (directory / f"{name}.json").write_text(json.dumps(payload))


def read_per_target(out: Path, name: str) -> np.ndarray | None:
    """The per-target values a row left in `out/per_target/`, or None when it left none."""
    path = Path(out) / PER_TARGET_DIR / f"{name}.json"
    if not path.exists():
        return None
    payload = json.loads(path.read_text())
    if payload.get("metric") != METRIC:
        raise ValueError(f"{path}: per-target metric {payload.get('metric')!r}, expected {METRIC!r}")
    return np.asarray(payload["values"], dtype=np.float64)


def add_choice_and_comparisons(report: dict, out: Path, baselines: tuple[str, ...], seed: int) -> dict:
    """Add (or refresh) the `shopseq` row and the top-level `comparisons` of `report`, from `out/per_target/`.

    Run again after peer rows were added: each peer row with per-target values gets its comparison.
    """
    rows = [row for row in report["rows"] if row["model"] != SHOPSEQ]
    shopseq = choose_shopseq(rows)
    if shopseq is None:
        report["rows"], report["comparisons"] = rows, []
        return report
    report["rows"] = rows + [shopseq]
    mine = read_per_target(out, shopseq["chosen"]["row"])
    others = [row for row in (best_baseline(rows, baselines),) if row is not None]
    others += [row for row in rows if row["model"].startswith(PEER_PREFIX)]
    comparisons = []
    for other in others:
        theirs = read_per_target(out, other["model"])
        if mine is None or theirs is None:
            log.warning("no per-target values for %s: no comparison with it", other["model"] if mine is not None else SHOPSEQ)
            continue
        if len(theirs) != len(mine):
            log.warning("%s has %d per-target values for %d targets: not compared", other["model"], len(theirs), len(mine))
            continue
        result = paired_bootstrap(mine, theirs, seed=seed)
        comparisons.append({
            "a": SHOPSEQ, "b": other["model"], "metric": METRIC,
            "diff": round(result.diff, 4), "ci95_low": round(result.ci95_low, 4), "ci95_high": round(result.ci95_high, 4),
            "b_is": "best simple baseline on validation" if other["model"] in baselines else "peer",
            "verdict": verdict(result.ci95_low, result.ci95_high),
        })
    report["comparisons"] = comparisons
    return report


def verdict(low: float, high: float) -> str:
    """`beats`, `loses` or `no clear difference`: the word a results page may use for an interval."""
    if low > 0.0:
        return "beats"
    if high < 0.0:
        return "loses"
    return "no clear difference"
