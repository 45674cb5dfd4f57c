"""Optuna search over next-item models; every trial is an MLflow run nested under the caller's run.

The search space is data (params.yaml `train.search_space`); hyperparameters it leaves out come
from `train.defaults`. TPE samples, the median pruner stops trials whose validation NDCG falls
behind, and the best epoch of the best trial becomes the candidate.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field

import pandas as pd
import torch

from shopseq.config import Train
from shopseq.seed import set_seed
from shopseq.sequences.models import ModelConfig, NextItemModel
from shopseq.sequences.recommender import Recommender
from shopseq.training.evaluate import evaluate_recommender
from shopseq.training.fit import StopTraining, fit

log = logging.getLogger(__name__)
OBJECTIVE = "ndcg@10"


@dataclass
class TrainingData:
    """What a trial needs: training windows of indices, validation targets, the vocabulary."""

    windows: list[list[int]]
    valid: pd.DataFrame
    item_ids: list[str]
    text_vectors: torch.Tensor | None  # (n_items + 1, D), row 0 for padding


@dataclass
class TuneResult:
    best: Recommender
    best_params: dict
    best_value: float
    history: list[dict]  # the best trial's epochs: epoch, train_loss, valid metrics
    trials: list[dict] = field(default_factory=list)


def _metric_key(name: str) -> str:
    """An MLflow metric name for one of ours: `ndcg@10` -> `ndcg_at_10` (MLflow keys avoid '@')."""
    return name.replace("@", "_at_")


def suggest(trial, train: Train) -> dict:
    """Hyperparameters for one trial: the search space's suggestions over `train.defaults`."""
    hp = {"model": train.model, **train.defaults}
    for name, spec in train.search_space.items():
        if spec["type"] == "categorical":
            hp[name] = trial.suggest_categorical(name, spec["choices"])
        elif spec["type"] == "int":
            hp[name] = trial.suggest_int(name, spec["low"], spec["high"], step=spec.get("step", 1), log=spec.get("log", False))
        else:
            hp[name] = trial.suggest_float(name, spec["low"], spec["high"], step=spec.get("step"), log=spec.get("log", False))
    return hp


def build_model(hp: dict, n_items: int, max_len: int, text_vectors: torch.Tensor | None) -> NextItemModel:
    config = ModelConfig(
        family=hp["model"],
        n_items=n_items,
        hidden=int(hp["hidden"]),
        layers=int(hp["layers"]),
        heads=int(hp["heads"]),
        dropout=float(hp["dropout"]),
        max_len=max_len,
        text_dim=0 if text_vectors is None else int(text_vectors.shape[1]),
    )
    return NextItemModel(config, text_vectors)


def tune(
    data: TrainingData,
    train: Train,
    ks: list[int],
    seed: int,
    device: torch.device,
    progress_mode: str = "auto",
) -> TuneResult:
    """Run `train.n_trials` Optuna trials and return the best model and its history."""
    import mlflow
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=train.pruner_warmup_epochs),
    )
    best: dict = {"value": float("-inf")}

    def objective(trial: optuna.Trial) -> float:
        hp = suggest(trial, train)
        set_seed(seed + trial.number)
        model = build_model(hp, len(data.item_ids), train.max_len, data.text_vectors).to(device)
        recommender = Recommender(model, data.item_ids)
        history: list[dict] = []
        state = {"value": float("-inf"), "weights": None, "pruned": False}

        def on_epoch(epoch: int, loss: float) -> None:
            metrics = evaluate_recommender(recommender, data.valid, ks)
            value = metrics[OBJECTIVE]
            history.append({"epoch": epoch, "train_loss": loss, **{f"valid_{k}": v for k, v in metrics.items()}})
            mlflow.log_metrics({"train_loss": loss, **{_metric_key(f"valid_{k}"): v for k, v in metrics.items()}}, step=epoch)
            if value > state["value"]:
                state["value"], state["weights"] = value, copy.deepcopy(model.state_dict())
            trial.report(value, epoch)
            if trial.should_prune():
                state["pruned"] = True
                raise StopTraining

        with mlflow.start_run(run_name=f"trial-{trial.number}", nested=True):
            mlflow.log_params(hp)
            fit(model, data.windows, train.epochs, train.batch_size, float(hp["lr"]), float(hp["weight_decay"]),
                seed + trial.number, on_epoch, progress_mode)
            mlflow.set_tags({"trial": trial.number, "pruned": state["pruned"]})
            mlflow.log_metric(_metric_key(f"best_valid_{OBJECTIVE}"), state["value"])
        log.info("trial %d: %s=%.4f %s%s", trial.number, OBJECTIVE, state["value"], hp, " (pruned)" if state["pruned"] else "")
        if state["value"] > best["value"]:
            model.load_state_dict(state["weights"])
            best.update(value=state["value"], model=model, params=hp, history=history)
        if state["pruned"]:
            raise optuna.TrialPruned()
        return state["value"]

    study.optimize(objective, n_trials=train.n_trials)
    trials = [
        {"number": t.number, "state": t.state.name, "value": t.value, "params": t.params}
        for t in study.trials
    ]
    if "model" not in best:
        raise RuntimeError("no Optuna trial finished an epoch; check train.epochs and the data")
    return TuneResult(
        best=Recommender(best["model"], data.item_ids),
        best_params=best["params"],
        best_value=best["value"],
        history=best["history"],
        trials=trials,
    )
