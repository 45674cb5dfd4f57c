"""Stage `train`: tune and train the next-item model, log it to MLflow, save it as the candidate."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from shopseq.config import Params
from shopseq.io import read_parquet, write_json

log = logging.getLogger(__name__)


def run(params: Params) -> None:
    import mlflow

    from shopseq import lineage
    from shopseq.registry.pyfunc import log_recommender
    from shopseq.sequences.recommender import save_recommender, update_meta
    from shopseq.sequences.baselines import BaselineSettings
    from shopseq.sequences.split import leaky_split, trained_on_events_before
    from shopseq.training.blend import fit_blend
    from shopseq.training.data import load_training_data
    from shopseq.training import distributed
    from shopseq.training.fit import resolve_device
    from shopseq.training.tune import tune
    from shopseq.tracking import configure_mlflow

    train = params.train
    device = distributed.device_for(resolve_device(params.base.device))
    world = distributed.init_process_group(device)
    data = load_training_data(params.paths, train, params.sequences, params.profiles, params.embed.review_weight,
                              params.base.seed)
    facts = {
        "git_commit": lineage.git_commit(),
        "data_version": lineage.data_version(params.paths.reports),
        "params_hash": lineage.params_hash(params),
    }
    study_name = f"train-{facts['data_version']}-{facts['params_hash']}"
    if not world.primary:  # under torchrun: train the same trials in step with rank 0, which writes
        tune(data, train, params.evaluate.ks, params.base.seed, device, params.base.progress, study_name)
        return
    configure_mlflow(params.base)
    started = time.monotonic()
    with mlflow.start_run(run_name=f"train-{train.model}") as run:
        mlflow.set_tags({**facts, "stage": "train", "device": str(device), "processes": str(world.size)})
        mlflow.log_params({f"train.{k}": v for k, v in vars(train).items() if k not in ("defaults", "family_defaults", "search_space")})
        result = tune(data, train, params.evaluate.ks, params.base.seed, device, params.base.progress, study_name)
        result.best.model.cpu()
        blend, curves = fit_blend(result.best, data.sequences, data.valid, train.blend,
                                  BaselineSettings.from_params(params.evaluate))
        result.best.blend = blend
        if blend is not None:
            mlflow.log_params({"blend.kind": blend.kind, "blend.weight": blend.weight})
            mlflow.log_metric("blended_valid_ndcg_at_10", curves[blend.kind][str(blend.weight)])
        seconds = time.monotonic() - started
        result.best.meta = {
            **facts,
            "mlflow_run_id": run.info.run_id,
            "best_params": result.best_params,
            "valid_ndcg@10": result.best_value,
            "train_seconds": round(seconds, 1),
            "use_text": train.use_text,
            "use_profile": train.use_profile,
            "profiles_as_of": None if data.profiles is None else data.profiles.as_of,
            "blend": None if blend is None else {"kind": blend.kind, "weight": blend.weight},
            "leaky_split": leaky_split(params.sequences),
            # what a downstream backtest must start after (the forecast's propensity feature checks it)
            "trained_on_events_before": trained_on_events_before(
                read_parquet(Path(params.paths.validated) / "events.parquet"), params.sequences).isoformat(),
        }
        candidate = Path(params.paths.candidate)
        save_recommender(result.best, candidate)
        mlflow.log_params({f"best.{k}": v for k, v in result.best_params.items()})
        mlflow.log_metric("best_valid_ndcg_at_10", result.best_value)
        model_uri = log_recommender(candidate)
    update_meta(candidate, model_uri=model_uri)
    reports = Path(params.paths.reports) / "train"
    write_json(reports / "history.json", result.history)
    write_json(reports / "trials.json", result.trials)
    write_json(
        reports / "metrics.json",
        {
            "best_valid_ndcg@10": result.best_value,
            "best_params": result.best_params,
            "n_trials": len(result.trials),
            "pruned_trials": sum(t["state"] == "PRUNED" for t in result.trials),
            "blend": None if blend is None else {"kind": blend.kind, "weight": blend.weight},
            "blend_valid_ndcg@10": curves,
            "train_seconds": round(seconds, 1),
            "device": str(device),
            "mlflow_run_id": run.info.run_id,
            "leaky_split": result.best.meta["leaky_split"],
        },
    )
    log.info("train: best valid ndcg@10 %.4f with %s in %.0f s", result.best_value, result.best_params, seconds)
