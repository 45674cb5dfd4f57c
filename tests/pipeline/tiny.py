"""A tiny shop and params for pipeline tests: the real stages, small enough for seconds per stage."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

TINY_PARAMS = {
    "base": {"seed": 7, "progress": "logs", "mlflow_uri": "sqlite:///mlflow/mlflow.db"},
    "ingest": {
        "synthetic": {"n_users": 120, "n_items": 60, "n_categories": 4, "days": 35, "sessions_per_week": 2.5}
    },
    "validate": {"min_rows": 50},
    "embed": {"batch_size": 32},
    "profiles": {"pca_components": 4},
    "sequences": {"valid_days": 5, "test_days": 5},
    "train": {
        "epochs": 2,
        "n_trials": 2,
        "batch_size": 32,
        "max_len": 20,
        "use_text": False,
        "search_space": {"hidden": {"type": "categorical", "choices": [16, 32]}},
    },
    "evaluate": {"ks": [10, 20], "max_targets": 500},
    "gate": {"floor": 0.0, "min_lift_over_popularity": 0.0},
    "forecast": {"horizon": 3, "backtest_origins": 2},
    "audiences": {"top_users": 5},
}


PROJECT_PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"


def write_tiny_params(root: Path, **sections) -> dict:
    """Write params.yaml under `root`: the project's params with the tiny values and `sections` merged in."""
    params = yaml.safe_load(PROJECT_PARAMS.read_text())
    for overrides in (TINY_PARAMS, sections):
        for name, values in overrides.items():
            params.setdefault(name, {}).update(values)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return params


def copy_project(root: Path, names: tuple[str, ...] = ("dvc.yaml", "src", ".dvcignore"), **sections) -> Path:
    """Copy the project's pipeline files (`names`) to `root` and write tiny params there."""
    for name in names:
        source = PROJECT_PARAMS.parent / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        elif source.exists():
            shutil.copy2(source, root / name)
    write_tiny_params(root, **sections)
    return root


def write_item_vectors(root: Path, seed: int = 3, dim: int = 16) -> None:
    """Item vectors for every validated item: fixed random unit vectors.

    The embed stage is not under test here (its MiniLM run on the 55k Taobao items takes minutes);
    the profiles read whatever item vectors they are given, the same ones in both runs.
    """
    from shopseq.embeddings.vectors import (
        ITEMS_FILE, REVIEWS_FILE, ItemVectors, ReviewVectors, save_item_vectors, save_review_vectors,
    )

    items = pd.read_parquet(root / "validated" / "items.parquet", columns=["item_id"])["item_id"].astype(str)
    vectors = np.random.default_rng(seed).normal(size=(len(items), dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    (root / "embeddings").mkdir(parents=True, exist_ok=True)
    save_item_vectors(root / "embeddings" / ITEMS_FILE, ItemVectors(ids=items.to_numpy(), vectors=vectors))
    empty = ReviewVectors(user_ids=np.array([], dtype=str), item_ids=np.array([], dtype=str),
                          ts=np.array([], dtype="datetime64[ns]"), vectors=np.zeros((0, dim), np.float32))
    save_review_vectors(root / "embeddings" / REVIEWS_FILE, empty)


def rounded_floats(value):
    """Metrics with floats to 4 places (they are written rounded to 4 or 6)."""
    if isinstance(value, dict):
        return {k: rounded_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded_floats(v) for v in value]
    return round(value, 4) if isinstance(value, float) else value
