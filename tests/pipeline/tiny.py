"""A tiny shop and params for pipeline tests: the real stages, small enough for seconds per stage."""

from __future__ import annotations

import shutil
from pathlib import Path

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
