"""Small computations behind the report's tables: metric deltas, parameter importances, params diff."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

# Rows of the metric table in this order; any other model in evaluate/metrics.json follows.
MODEL_ORDER = ("candidate", "champion", "popularity", "recent_popularity", "markov", "item_knn", "session_knn")
NOT_MODELS = {"champion_version", "n_targets", "segments"}


def metric_names(evaluate: dict) -> list[str]:
    """The metric columns: every metric of the candidate except the target count, @10 first."""
    names = [k for k in (evaluate.get("candidate") or {}) if k != "n_targets"]
    return sorted(names, key=lambda k: (k.split("@")[-1].zfill(4), k))


def model_rows(evaluate: dict) -> list[str]:
    """Models present in evaluate/metrics.json, candidate first, then champion, then baselines."""
    present = [k for k, v in evaluate.items() if k not in NOT_MODELS and isinstance(v, dict)]
    known = [m for m in MODEL_ORDER if m in present or (m == "champion" and "champion" in evaluate)]
    return known + sorted(m for m in present if m not in MODEL_ORDER)


def delta(candidate: float | None, other: float | None) -> dict | None:
    """Candidate minus other, absolute and relative (None where either is missing)."""
    if candidate is None or other is None:
        return None
    diff = candidate - other
    return {"abs": diff, "rel": diff / other if other else None}


def distribution(spec: dict):
    """The Optuna distribution of one `train.search_space` entry."""
    import optuna

    kind = spec["type"]
    if kind == "categorical":
        return optuna.distributions.CategoricalDistribution(spec["choices"])
    if kind == "int":
        return optuna.distributions.IntDistribution(spec["low"], spec["high"], log=spec.get("log", False), step=spec.get("step", 1))
    return optuna.distributions.FloatDistribution(spec["low"], spec["high"], log=spec.get("log", False), step=spec.get("step"))


def param_importances(trials: list[dict], search_space: dict, seed: int = 0) -> tuple[dict[str, float], str]:
    """Optuna fANOVA importances over the finished trials; ({}, why) when they cannot be computed.

    The study is rebuilt from the trial records (params + objective value) with the search space's
    distributions, so no saved study is needed.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    complete = [t for t in trials if t.get("state") == "COMPLETE" and t.get("value") is not None]
    names = sorted({name for t in complete for name in t.get("params", {}) if name in search_space})
    if len(complete) < 2 or not names:
        return {}, f"needs at least 2 finished trials over a search space ({len(complete)} finished)"
    distributions = {name: distribution(search_space[name]) for name in names}
    study = optuna.create_study(direction="maximize")
    for t in complete:
        params = {name: t["params"][name] for name in names if name in t["params"]}
        try:
            study.add_trial(
                optuna.trial.create_trial(
                    params=params, distributions={n: distributions[n] for n in params}, value=float(t["value"])
                )
            )
        except ValueError as error:  # a value outside today's search space (the space changed)
            log.warning("report: trial %s skipped for importances: %s", t.get("number"), error)
    try:
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=seed)
        importances = optuna.importance.get_param_importances(study, evaluator=evaluator)
    except (ValueError, RuntimeError) as error:
        return {}, f"Optuna could not compute importances: {error}"
    return {k: float(v) for k, v in importances.items()}, ""


def params_diff(candidate: dict[str, Any] | None, champion: dict[str, Any] | None) -> list[dict]:
    """Rows {name, candidate, champion, changed} over the union of both runs' params, changed first."""
    candidate, champion = candidate or {}, champion or {}
    rows = [
        {
            "name": name,
            "candidate": candidate.get(name),
            "champion": champion.get(name),
            "changed": str(candidate.get(name)) != str(champion.get(name)),
        }
        for name in sorted(set(candidate) | set(champion))
    ]
    return sorted(rows, key=lambda r: (not r["changed"], r["name"]))
