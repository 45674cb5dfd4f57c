"""Everything the run report shows, read from the files the pipeline already wrote (and MLflow).

A missing file is not an error: the report says the stage did not run. MLflow is asked only for
what the files lack (trial history when `trials.json` is absent; both runs' logged params for the
lineage diff), and an unreachable store becomes a note on the page rather than a failure.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shopseq.config import Params
from shopseq.report.series import demand_series

log = logging.getLogger(__name__)

# name -> path under `paths.reports`
REPORT_FILES = {
    "validation": "validation/summary.json",
    "ingest": "ingest/metrics.json",
    "embed": "embed/metrics.json",
    "profiles": "profiles/metrics.json",
    "sequences": "sequences/metrics.json",
    "train": "train/metrics.json",
    "history": "train/history.json",
    "trials": "train/trials.json",
    "evaluate": "evaluate/metrics.json",
    "gate": "gate.json",
    "audiences": "audiences/metrics.json",
    "forecast": "forecast/metrics.json",
}


@dataclass
class ReportInputs:
    """The run's facts; a None field means that stage's output was not found."""

    files: dict[str, Any] = field(default_factory=dict)  # REPORT_FILES name -> parsed JSON or None
    data_docs: Path | None = None  # reports/validation/docs/index.html when it exists
    candidate_meta: dict | None = None  # models/candidate/meta.json
    champion_info: dict | None = None  # models/champion/champion.json
    champion_meta: dict | None = None  # models/champion/meta.json (absent without a champion)
    candidate_params: dict[str, str] | None = None  # the candidate's MLflow run params
    champion_params: dict[str, str] | None = None  # the champion's MLflow run params
    search_space: dict = field(default_factory=dict)  # train.search_space, for parameter importances
    git_commit: str = "unknown"  # the commit the report was built at
    demand: dict | None = None  # recent daily units, forecast and seasonal naive (report.series)
    stage_pages: dict[str, Path] = field(default_factory=dict)  # audiences/forecast -> their own HTML page
    notes: list[str] = field(default_factory=list)  # things that could not be read, shown on the page

    def get(self, name: str) -> Any:
        return self.files.get(name)


def read_optional_json(path: Path) -> Any:
    """Parsed JSON at `path`, or None when the file does not exist.

    Raises:
        ValueError: the file exists but is not valid JSON (naming the file).
    """
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error}); rerun the stage that writes it") from error


def collect_inputs(params: Params, use_mlflow: bool = True) -> ReportInputs:
    """Read every report file, the model metadata and (optionally) MLflow for one run's report."""
    from shopseq import lineage

    reports = Path(params.paths.reports)
    inputs = ReportInputs(
        files={name: read_optional_json(reports / rel) for name, rel in REPORT_FILES.items()},
        candidate_meta=read_optional_json(Path(params.paths.candidate) / "meta.json"),
        champion_info=read_optional_json(Path(params.paths.champion) / "champion.json"),
        champion_meta=read_optional_json(Path(params.paths.champion) / "meta.json"),
        search_space=dict(params.train.search_space),
        git_commit=lineage.git_commit(),
    )
    docs = reports / "validation" / "docs" / "index.html"
    inputs.data_docs = docs if docs.exists() else None
    for name in ("audiences", "forecast"):
        if (page := reports / name / "report.html").exists():
            inputs.stage_pages[name] = page
    try:
        inputs.demand = demand_series(params)
    except (OSError, ValueError, KeyError) as error:  # a chart less, not a failed report
        inputs.notes.append(f"demand chart left out: {error}")
    if use_mlflow:
        _read_mlflow(params, inputs)
    return inputs


def _read_mlflow(params: Params, inputs: ReportInputs) -> None:
    """Fill the trial history (when trials.json is missing) and both runs' params from MLflow."""
    from shopseq.tracking import tracking_uri

    uri = tracking_uri(params.base)
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        inputs.notes.append(f"MLflow store {uri} not found: no trial runs or champion params from MLflow")
        return
    try:
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        candidate_run = (inputs.get("train") or {}).get("mlflow_run_id") or (inputs.candidate_meta or {}).get("mlflow_run_id")
        if candidate_run:
            inputs.candidate_params = dict(client.get_run(candidate_run).data.params)
            if inputs.get("trials") is None:
                inputs.files["trials"] = trials_from_mlflow(client, candidate_run)
        champion_run = (inputs.champion_info or {}).get("run_id")
        if champion_run:
            inputs.champion_params = dict(client.get_run(champion_run).data.params)
    except Exception as error:  # noqa: BLE001 - the store is optional for the page: say what failed and go on
        log.warning("report: MLflow lookup failed: %s", error)
        inputs.notes.append(f"MLflow lookup failed ({type(error).__name__}: {error})")


def trials_from_mlflow(client, parent_run_id: str) -> list[dict]:
    """The Optuna trials logged as nested runs under the train run, in trials.json's shape."""
    parent = client.get_run(parent_run_id)
    runs = client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}'", max_results=1000
    )
    trials = []
    for run in runs:
        tags, metrics = run.data.tags, run.data.metrics
        trials.append(
            {
                "number": int(tags.get("trial", len(trials))),
                "state": "PRUNED" if tags.get("pruned") == "True" else "COMPLETE",
                "value": metrics.get("best_valid_ndcg_at_10"),
                "params": {k: _parse_param(v) for k, v in run.data.params.items()},
            }
        )
    return sorted(trials, key=lambda t: t["number"])


def _parse_param(value: str) -> Any:
    """An MLflow param string back to int/float where it looks like one."""
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value
