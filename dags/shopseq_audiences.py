"""
### shopseq_audiences: rebuild ad-targeting audiences when the champion or the profiles change

Scheduled on the assets `shopseq://champion` and `shopseq://profiles`, which `shopseq_retrain`
emits when a person approves a new champion (and `shopseq_rollback` when it restores one).
Two tasks, each `dvc repro <stage>` in the project directory (the parent of `dags/`, or
`$SHOPSEQ_PROJECT_DIR`), without `--single-item`, so DVC first brings every stage they depend
on up to date, above all `champion`, which fetches the newly promoted model:

- `score`: batch scoring with the champion: top-K items and per-category propensities for every
  known user (`data/scores/`), the table ad platforms and other consumers read;
- `audiences`: the campaigns' audiences with reasons and their offline check (`data/audiences/`);
  the production audiences rank by the propensities `score` just wrote (a dvc.yaml dep, so even a
  lone `dvc repro audiences` re-scores first), the offline check scores point in time itself.

Both share the pool `shopseq_dvc` with every DVC task.
"""

from __future__ import annotations

from pathlib import Path

from airflow.sdk import Asset, dag, task

from shopseq.ops import orchestration as orch

DEFAULT_PROJECT = Path(__file__).resolve().parents[1]
SETTINGS = orch.dag_settings(DEFAULT_PROJECT)
NAMES = orch.WorkspaceNames(SETTINGS.workspace)


@dag(
    dag_id=NAMES.dag_id("shopseq_audiences"),
    schedule=Asset(NAMES.champion) | Asset(NAMES.profiles),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["shopseq"],
    default_args=orch.default_args(SETTINGS),
)
def shopseq_audiences() -> None:
    def reproduce(stage: str):
        @task(task_id=stage, pool=NAMES.pool)
        def run_stage() -> None:
            orch.run_dvc_stage(stage, orch.project_dir(DEFAULT_PROJECT), single=False)

        return run_stage()

    reproduce("score") >> reproduce("audiences")


shopseq_audiences()
