"""
### shopseq_rollback: put an earlier data version and its model back in service

Trigger it by hand with the param `data_version` (a name from `shopseq versions`, e.g.
`dv-3f2a9c01b7de`) and a reason. The one task, in the DVC pool `shopseq_dvc`:

1. restores that version's data in the project workspace byte for byte (dvc.lock and metrics
   from its git tag `data/<version>`, data from the DVC cache or remote) and verifies the
   content hash;
2. points alias `champion` at the model version registered for that data (registry tag
   `data_version`) without retraining; when there is none, reproduces the pipeline from the
   restored data and promotes the new candidate if it passes the gate;
3. writes an audit record (who triggered it, when, why, from which data and model version to
   which) on the model version, as an MLflow run and in `reports/audit/rollbacks.jsonl`.

It emits `shopseq://champion` and `shopseq://profiles`, so the downstream DAGs rebuild from the
restored champion. The same from a shell: `shopseq rollback --data-version V --by NAME`.
"""

from __future__ import annotations

from pathlib import Path

from airflow.sdk import Asset, Param, dag, get_current_context, task

from shopseq.ops import orchestration as orch

DEFAULT_PROJECT = Path(__file__).resolve().parents[1]
SETTINGS = orch.dag_settings(DEFAULT_PROJECT)
NAMES = orch.WorkspaceNames(SETTINGS.workspace)


@dag(
    dag_id=NAMES.dag_id("shopseq_rollback"),
    schedule=None,
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["shopseq"],
    default_args=orch.default_args(SETTINGS),
    params={
        "data_version": Param(
            type="string",
            minLength=1,
            title="Data version",
            description="The data version to restore, as `shopseq versions` lists it (dv-...).",
        ),
        "reason": Param("", type="string", title="Reason", description="Why; kept in the audit record."),
    },
)
def shopseq_rollback() -> None:
    @task(
        task_id="rollback",
        pool=NAMES.pool,
        outlets=[Asset(NAMES.champion), Asset(NAMES.profiles)],
    )
    def rollback() -> dict:
        context = get_current_context()
        by = getattr(context["dag_run"], "triggering_user_name", None) or "airflow"
        return orch.rollback_data(
            orch.project_dir(DEFAULT_PROJECT),
            context["params"]["data_version"],
            by=by,
            reason=context["params"].get("reason") or "",
        )

    rollback()


shopseq_rollback()
