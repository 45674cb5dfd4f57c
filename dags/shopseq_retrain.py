"""
### shopseq_retrain: retrain the next-item model, gate it, and promote it after human approval

Each DVC stage of the pipeline is one task that runs `dvc repro --single-item <stage>` in the
project directory (the parent of `dags/`, or `$SHOPSEQ_PROJECT_DIR`). Airflow's edges give
the order, so each task reproduces exactly its own stage: one log and one retry per stage,
and DVC still skips a stage whose inputs did not change. All stage tasks share the pool
`shopseq_dvc` (one slot), so two runs never write the DVC workspace at the same time.

After `gate`:
- gate failed: `gate_failed` logs the reasons; nothing is registered, the champion stays.
- gate passed: `register` adds the candidate to the MLflow registry with alias `challenger`;
  `approval` asks a person (Airflow's Required Actions page, or
  `PATCH /api/v2/dags/shopseq_retrain/dagRuns/{run}/taskInstances/approval/-1/hitlDetails`)
  showing candidate vs champion vs popularity, the data version and the gate's reasons.
  - **Approve**: `promote` moves alias `champion`, tagging who approved, when and why, and
    emits the assets `shopseq://champion` and `shopseq://profiles`, which start
    `shopseq_audiences` and `shopseq_forecast`.
  - **Reject** (or no answer within `dags.approval_timeout_hours`): `record_rejection` tags
    the version as rejected; the champion does not move.

Schedule, retries and the approval timeout come from the `dags` section of `params.yaml`.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import Asset, Param, dag, get_current_context, task

from shopseq import orchestration as orch

DEFAULT_PROJECT = Path(__file__).resolve().parents[1]
SETTINGS = orch.dag_settings(DEFAULT_PROJECT)


class RecordedApproval(ApprovalOperator):
    """ApprovalOperator that keeps the answer in XCom (key `answer`) on Reject too.

    ApprovalOperator returns the answer as its XCom only on Approve: on Reject it skips its
    downstream before returning, yet `record_rejection` must know who rejected and why.
    """

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        if "chosen_options" in event:
            context["ti"].xcom_push(key="answer", value=orch.hitl_answer(event))
        return super().execute_complete(context=context, event=event)


def _project() -> Path:
    return orch.project_dir(DEFAULT_PROJECT)


def _stage_task(stage: str):
    """One task that reproduces one dvc.yaml stage (task id = stage name)."""

    @task(task_id=stage, pool=orch.DVC_POOL)
    def reproduce() -> None:
        orch.run_dvc_stage(stage, _project(), single=True)

    return reproduce()


@dag(
    dag_id="shopseq_retrain",
    schedule=SETTINGS.retrain_schedule,
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["shopseq"],
    default_args=orch.default_args(SETTINGS),
)
def shopseq_retrain() -> None:
    stages = [_stage_task(stage) for stage in orch.RETRAIN_STAGES]
    for upstream, downstream in zip(stages, stages[1:]):
        upstream >> downstream

    @task.branch(task_id="check_gate")
    def check_gate() -> str:
        project = _project()
        passed = orch.gate_passed(project, orch.load_project_params(project))
        return "register" if passed else "gate_failed"

    @task(task_id="gate_failed")
    def gate_failed() -> None:
        orch.report_gate_failure(_project())

    @task(task_id="register")
    def register() -> dict[str, str]:
        return orch.register_challenger(_project())

    approval = RecordedApproval(
        task_id="approval",
        subject="{{ ti.xcom_pull(task_ids='register')['subject'] }}",
        body="{{ ti.xcom_pull(task_ids='register')['body'] }}",
        defaults="Reject",
        params={
            "reason": Param(
                "",
                type="string",
                title="Reason",
                description="Why you approve or reject; kept with the model version in the registry.",
            )
        },
        response_timeout=timedelta(hours=SETTINGS.approval_timeout_hours),
    )

    @task(
        task_id="promote",
        outlets=[Asset(orch.CHAMPION_ASSET), Asset(orch.PROFILES_ASSET)],
    )
    def promote(registered: dict[str, str]) -> str:
        answer: dict[str, Any] = get_current_context()["ti"].xcom_pull(task_ids="approval", key="answer")
        return orch.promote_challenger(_project(), registered["version"], answer)

    @task(task_id="record_rejection", trigger_rule="none_failed")
    def record_rejection() -> None:
        # Runs after `promote` whatever happened to it; acts only on a Reject (or timeout)
        # answer, since ApprovalOperator skips its direct downstream (`promote`) on Reject.
        from airflow.sdk.exceptions import AirflowSkipException

        ti = get_current_context()["ti"]
        answer = ti.xcom_pull(task_ids="approval", key="answer")
        if orch.chosen_option(answer) != ApprovalOperator.REJECT:
            raise AirflowSkipException("no rejection to record (approved, or the gate failed)")
        registered = ti.xcom_pull(task_ids="register")
        orch.reject_challenger(_project(), registered["version"], answer)

    branch = check_gate()
    registered = register()
    promoted = promote(registered)
    stages[-1] >> branch >> [registered, gate_failed()]
    registered >> approval >> promoted >> record_rejection()


shopseq_retrain()
