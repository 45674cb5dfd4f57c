"""`train` as 2 torchrun data-parallel processes (gloo on CPU) matches single-process training.

The same tiny shop, seed and hyperparameters (dropout 0, one trial, no search) are trained once
as one process and once as `train.processes: 2`, which `shopseq run train` runs under torchrun.
Each step of the two processes sums their shares of one batch's gradient, so the training
losses and the validation NDCG must agree within floating-point and loss-weighting noise (each
process averages over its own windows' positions). Rank 1 logs nothing: MLflow holds one
training run and one trial run per invocation.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shopseq.config import load_params
from shopseq.io import read_json

from tiny import write_tiny_params

SINGLE_TRIAL = {
    "epochs": 3, "n_trials": 1, "blend": [], "search_space": {}, "patience": 0,
    "defaults": {"hidden": 32, "layers": 1, "heads": 2, "dropout": 0.0, "lr": 0.01, "weight_decay": 0.0, "repeat": True},
}  # fmt: skip


def train_with(root: Path, processes: int) -> list[dict]:
    """Run `shopseq run train` with `processes` in a fresh process; return its epoch history."""
    write_tiny_params(root, train=SINGLE_TRIAL | {"processes": processes})
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "WORLD_SIZE", "RANK")}
    shopseq = [sys.executable, "-m", "shopseq.cli", "--params", "params.yaml", "run", "train"]
    result = subprocess.run(shopseq, cwd=root, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return read_json(root / "reports" / "train" / "history.json"), result.stderr


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ddp")
    old = Path.cwd()
    os.chdir(root)
    try:
        write_tiny_params(root, train=SINGLE_TRIAL)
        params = load_params()
        for stage in ("ingest", "validate", "sequences"):
            importlib.import_module(f"shopseq.stages.{stage}").run(params)
    finally:
        os.chdir(old)
    return root


def test_two_data_parallel_processes_train_like_one(shop: Path) -> None:
    import mlflow

    single, _ = train_with(shop, 1)
    parallel, log = train_with(shop, 2)
    for one, two in zip(single, parallel):  # shown with -s: the figures docs/cluster.md quotes
        print(f"epoch {one['epoch']}: train loss {one['train_loss']:.5f} vs {two['train_loss']:.5f}, "
              f"valid ndcg@10 {one['valid_ndcg@10']:.4f} vs {two['valid_ndcg@10']:.4f} (1 vs 2 processes)")
    assert "2 data-parallel processes" in log and "rank 1 of 2 (gloo backend)" in log
    assert [h["epoch"] for h in parallel] == [h["epoch"] for h in single] == [1, 2, 3]
    for one, two in zip(single, parallel):
        assert two["train_loss"] == pytest.approx(one["train_loss"], rel=0.02)
        assert two["valid_ndcg@10"] == pytest.approx(one["valid_ndcg@10"], abs=0.03)
    assert parallel[-1]["train_loss"] < parallel[0]["train_loss"]

    mlflow.set_tracking_uri(f"sqlite:///{shop / 'mlflow' / 'mlflow.db'}")
    runs = mlflow.search_runs(search_all_experiments=True)
    trains = runs[runs["tags.stage"] == "train"]
    assert sorted(trains["tags.processes"]) == ["1", "2"]
    assert len(runs) == 4  # per invocation: one training run and its one trial; rank 1 logged none
