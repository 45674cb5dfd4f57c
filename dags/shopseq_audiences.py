"""
### shopseq_audiences: rebuild ad-targeting audiences when the champion or the profiles change

Scheduled on the assets `shopseq://champion` and `shopseq://profiles`, which `shopseq_retrain`
emits when a person approves a new champion. One task runs `dvc repro audiences` in the
project directory (the parent of `dags/`, or `$SHOPSEQ_PROJECT_DIR`): without
`--single-item`, so DVC first brings every stage audiences depends on up to date, above all
`champion`, which fetches the newly promoted model. Output: `data/audiences/` (top users per
category by champion score). Shares the pool `shopseq_dvc` with every DVC task.
"""

from __future__ import annotations

from pathlib import Path

from airflow.sdk import Asset, dag, task

from shopseq import orchestration as orch

DEFAULT_PROJECT = Path(__file__).resolve().parents[1]
SETTINGS = orch.dag_settings(DEFAULT_PROJECT)


@dag(
    dag_id="shopseq_audiences",
    schedule=Asset(orch.CHAMPION_ASSET) | Asset(orch.PROFILES_ASSET),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["shopseq"],
    default_args=orch.default_args(SETTINGS),
)
def shopseq_audiences() -> None:
    @task(task_id="audiences", pool=orch.DVC_POOL)
    def audiences() -> None:
        orch.run_dvc_stage("audiences", orch.project_dir(DEFAULT_PROJECT), single=False)

    audiences()


shopseq_audiences()
