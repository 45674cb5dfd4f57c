"""
### shopseq_forecast: refresh per-item demand forecasts when a new champion is promoted

Scheduled on the asset `shopseq://champion`, which `shopseq_retrain` emits when a person
approves a new champion. One task runs `dvc repro forecast` in the project directory (the
parent of `dags/`, or `$SHOPSEQ_PROJECT_DIR`): without `--single-item`, so DVC first brings
every stage the forecast depends on up to date, the `champion` stage included (with
`forecast.propensity: true` the forecast reads the model itself: each backtest origin needs its
view as of that day, which the batch scores of `score` cannot give, so no `score` task here).
Output: `data/forecast/` (per-item demand forecast, backtested against seasonal naive). Shares
the pool `shopseq_dvc` with every DVC task.
"""

from __future__ import annotations

from pathlib import Path

from airflow.sdk import Asset, dag, task

from shopseq.ops import orchestration as orch

DEFAULT_PROJECT = Path(__file__).resolve().parents[1]
SETTINGS = orch.dag_settings(DEFAULT_PROJECT)
NAMES = orch.WorkspaceNames(SETTINGS.workspace)


@dag(
    dag_id=NAMES.dag_id("shopseq_forecast"),
    schedule=[Asset(NAMES.champion)],
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["shopseq"],
    default_args=orch.default_args(SETTINGS),
)
def shopseq_forecast() -> None:
    @task(task_id="forecast", pool=NAMES.pool)
    def forecast() -> None:
        orch.run_dvc_stage("forecast", orch.project_dir(DEFAULT_PROJECT), single=False)

    forecast()


shopseq_forecast()
