"""Optuna search over next-item models; every trial is an MLflow run nested under the caller's run.

The search space is data (params.yaml `train.search_space`); hyperparameters it leaves out come
from `train.defaults`. TPE samples, the median pruner stops trials whose validation NDCG falls
behind, and the best epoch of the best trial becomes the candidate.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd
import torch

from shopseq.config import STUDY_STORAGE_ENV, Train
from shopseq.profiles.inputs import UserProfiles
from shopseq.seed import set_seed
from shopseq.sequences.models import ModelConfig, NextItemModel
from shopseq.sequences.recommender import Recommender
from shopseq.training.evaluate import evaluate_recommender
from shopseq.training.fit import StopTraining, WindowProfiles, fit, negative_sampler

log = logging.getLogger(__name__)
OBJECTIVE = "ndcg@10"


@dataclass
class TrainingData:
    """What a trial needs: training windows of indices, validation targets, the vocabulary."""

    windows: list[list[int]]
    valid: pd.DataFrame
    item_ids: list[str]
    text_vectors: torch.Tensor | None  # (n_items + 1, D), row 0 for padding
    sequences: list[list[str]] = field(default_factory=list)  # training sequences of item ids (for a blend)
    profiles: UserProfiles | None = None  # user profiles as of the training cut (None: no profile input)
    window_profiles: WindowProfiles | None = None  # point-in-time profiles of each window's positions


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
    """Hyperparameters for one trial: the search space's suggestions over the family's defaults.

    The family is `train.model` unless the search space suggests `model`; what the space leaves
    out comes from `train.defaults` with that family's `train.family_defaults`.
    """
    suggested: dict = {}
    for name, spec in train.search_space.items():
        if spec["type"] == "categorical":
            suggested[name] = trial.suggest_categorical(name, spec["choices"])
        elif spec["type"] == "int":
            suggested[name] = trial.suggest_int(name, spec["low"], spec["high"], step=spec.get("step", 1), log=spec.get("log", False))
        else:
            suggested[name] = trial.suggest_float(name, spec["low"], spec["high"], step=spec.get("step"), log=spec.get("log", False))
    family = suggested.get("model", train.model)
    return {**train.defaults_for(family), "model": family, **suggested}


def build_model(
    hp: dict, n_items: int, max_len: int, text_vectors: torch.Tensor | None, profile_dim: int = 0
) -> NextItemModel:
    config = ModelConfig(
        family=hp["model"],
        n_items=n_items,
        hidden=int(hp["hidden"]),
        layers=int(hp["layers"]),
        heads=int(hp["heads"]),
        dropout=float(hp["dropout"]),
        max_len=max_len,
        text_dim=0 if text_vectors is None else int(text_vectors.shape[1]),
        repeat=bool(hp.get("repeat", False)),
        profile_dim=profile_dim,
    )
    return NextItemModel(config, text_vectors)


class TrialPruned(StopTraining):
    """Raised by a trial's epoch report when the pruner stops it."""


@dataclass
class TrialOutcome:
    model: NextItemModel  # holding the weights of its best validation epoch
    value: float  # the best validation NDCG@10
    history: list[dict]  # per epoch: epoch, train_loss, valid metrics, seconds (wall since training began)
    pruned: bool


def train_trial(
    hp: dict,
    data: TrainingData,
    train: Train,
    ks: list[int],
    seed: int,
    device: torch.device,
    progress_mode: str = "auto",
    report: Callable[[int, float, dict], None] | None = None,
) -> TrialOutcome:
    """Train one model with `hp` for up to `train.epochs`, keeping its best validation epoch.

    After every epoch the validation targets are scored; training stops early after
    `train.patience` epochs without a better NDCG@10, or when `report(epoch, loss, metrics)`
    raises TrialPruned (StopTraining ends it without marking it pruned).
    """
    set_seed(seed)
    profile_dim = 0 if data.profiles is None else data.profiles.dim
    model = build_model(hp, len(data.item_ids), train.max_len, data.text_vectors, profile_dim).to(device)
    recommender = Recommender(model, data.item_ids, profiles=data.profiles)
    history: list[dict] = []
    state = {"value": float("-inf"), "epoch": 0, "weights": None, "pruned": False}

    def on_epoch(epoch: int, loss: float) -> None:
        metrics = evaluate_recommender(recommender, data.valid, ks)
        history.append({"epoch": epoch, "train_loss": loss, **{f"valid_{k}": v for k, v in metrics.items()},
                        "seconds": round(time.perf_counter() - started, 2)})
        if metrics[OBJECTIVE] > state["value"]:
            state.update(value=metrics[OBJECTIVE], epoch=epoch, weights=copy.deepcopy(model.state_dict()))
        if report is not None:
            try:
                report(epoch, loss, metrics)
            except TrialPruned:
                state["pruned"] = True
                raise
        if train.patience and epoch - state["epoch"] >= train.patience:
            log.info("no better validation %s for %d epochs: stopping", OBJECTIVE, train.patience)
            raise StopTraining

    started = time.perf_counter()  # each epoch's `seconds`: training and the earlier epochs' validation
    sampler = None
    if train.uses_sampled_loss(len(data.item_ids)):
        sampler = negative_sampler(data.windows, len(data.item_ids), train.negatives, train.negative_sampling,
                                   train.in_batch_negatives, seed)
        log.info("sampled softmax: %d shared negatives (%s)%s over %d items", train.negatives,
                 train.negative_sampling, " + in-batch" if train.in_batch_negatives else "", len(data.item_ids))
    fit(model, data.windows, train.epochs, train.batch_size, float(hp["lr"]), float(hp["weight_decay"]),
        seed, on_epoch, progress_mode, data.window_profiles, sampler)
    if state["weights"] is not None:
        model.load_state_dict(state["weights"])
    return TrialOutcome(model, state["value"], history, state["pruned"])


class _NoTracking:
    """Stands in for `mlflow` on the processes of a torchrun world other than rank 0."""

    def start_run(self, **_: object) -> contextlib.nullcontext:
        return contextlib.nullcontext()

    def _ignore(self, *_: object, **__: object) -> None:
        return None

    log_params = log_metrics = log_metric = set_tags = _ignore


def study_storage(train: Train) -> str | None:
    """Where the Optuna study lives: $SHOPSEQ_OPTUNA_STORAGE, else `train.study_storage`, else memory."""
    return os.environ.get(STUDY_STORAGE_ENV) or train.study_storage


def tune(
    data: TrainingData,
    train: Train,
    ks: list[int],
    seed: int,
    device: torch.device,
    progress_mode: str = "auto",
    study_name: str | None = None,
) -> TuneResult:
    """Run `train.n_trials` Optuna trials and return the best model and its history.

    With an RDB storage (`study_storage`) the study named `study_name` is shared: trials that
    other workers run for the same data and params inform this one's sampler. Under torchrun
    every process trains the same trials in step: rank 0 picks the hyperparameters and the
    pruning decisions and alone logs to MLflow and to the study.
    """
    import mlflow
    import optuna

    from shopseq.training import distributed

    primary = distributed.world().primary
    tracking = mlflow if primary else _NoTracking()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = study_storage(train) if primary else None
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=train.pruner_warmup_epochs),
        storage=storage,
        study_name=study_name if storage else None,
        load_if_exists=bool(storage),
    )
    best: dict = {"value": float("-inf")}

    def objective(trial: optuna.Trial) -> float:
        hp = distributed.from_primary(suggest(trial, train))
        log.info("trial %d/%d: %s", trial.number + 1, train.n_trials, hp)

        def report(epoch: int, loss: float, metrics: dict) -> None:
            tracking.log_metrics({"train_loss": loss, **{_metric_key(f"valid_{k}"): v for k, v in metrics.items()}}, step=epoch)
            trial.report(metrics[OBJECTIVE], epoch)
            if distributed.from_primary(trial.should_prune()):
                raise TrialPruned

        number = distributed.from_primary(trial.number)  # a shared study numbers trials of every worker
        with tracking.start_run(run_name=f"trial-{number}", nested=True):
            tracking.log_params(hp)
            outcome = train_trial(hp, data, train, ks, seed + number, device, progress_mode, report)
            tracking.set_tags({"trial": number, "pruned": outcome.pruned})
            tracking.log_metric(_metric_key(f"best_valid_{OBJECTIVE}"), outcome.value)
        log.info("trial %d: %s=%.4f %s%s", trial.number, OBJECTIVE, outcome.value, hp, " (pruned)" if outcome.pruned else "")
        if outcome.value > best["value"]:
            best.update(value=outcome.value, model=outcome.model, params=hp, history=outcome.history)
        if outcome.pruned:
            raise optuna.TrialPruned()
        return outcome.value

    study.optimize(objective, n_trials=train.n_trials)
    trials = [
        {"number": t.number, "state": t.state.name, "value": t.value, "params": t.params}
        for t in study.trials
    ]
    if "model" not in best:
        raise RuntimeError("no Optuna trial finished an epoch; check train.epochs and the data")
    return TuneResult(
        best=Recommender(best["model"], data.item_ids, profiles=data.profiles),
        best_params=best["params"],
        best_value=best["value"],
        history=best["history"],
        trials=trials,
    )
