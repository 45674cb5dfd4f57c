"""
### shopseq_retrain: retrain the next-item model, gate it, and promote it after human approval

Each run works on a **data version**. `ingest` reads the source (run param `until`: make the
synthetic shop end at that date, or at the run's logical date with `logical_date`, so that
successive scheduled runs see growing data; a real source is read again on every run). After `validate`, `check_new_data` stops the run
when the validated data is an already recorded data version and nothing else changed (DVC
would rerun no stage): nothing to train, and the log says so (run param `force` trains anyway).
After `gate`, `snapshot` records the data version: a git tag `data/<version>` of `dvc.lock`
and the metrics, committed by `shopseq-bot` without touching any branch, with the data pushed
to the DVC remote. `shopseq_rollback` restores any of them.

Each DVC stage of the pipeline is one task that runs `dvc repro --single-item <stage>` in the
project directory (the parent of `dags/`, or `$SHOPSEQ_PROJECT_DIR`). Airflow's edges give
the order, so each task reproduces exactly its own stage: one log and one retry per stage,
and DVC still skips a stage whose inputs did not change. All stage tasks share the pool
`shopseq_dvc` (one slot), so two runs never write the DVC workspace at the same time. With
`dags.workspace` set (one Airflow serving several shops) the DAG id, the pool and the assets end
in `.<workspace>`: each shop has its own, and two shops' runs proceed side by side.

After `gate` and `snapshot`, `report` writes the run's HTML page (reports/runs/<run id>/
report.html: data, validation, metrics against champion and baselines, training curves, trials,
segments, gate, lineage); the approval request links to it. Then:
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

Only the Airflow users named in `dags.approvers` may answer the approval request (anyone
else, and any unauthenticated call, is refused by Airflow's API). Schedule, retries, the
approvers and the approval timeout come from the `dags` section of `params.yaml`.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import Asset, Param, dag, get_current_context, task

from shopseq.ops import orchestration as orch

DEFAULT_PROJECT = Path(__file__).resolve().parents[1]
SETTINGS = orch.dag_settings(DEFAULT_PROJECT)
NAMES = orch.WorkspaceNames(SETTINGS.workspace)


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

    @task(task_id=stage, pool=NAMES.pool)
    def reproduce() -> None:
        project = _project()
        if stage == "ingest":
            context = get_current_context()
            until = context["params"].get("until") or ""
            if until == orch.UNTIL_LOGICAL_DATE:
                until = context["logical_date"].isoformat()
            if until:
                orch.set_synthetic_until(project, until)
            # A real source's files live outside DVC: read them every run to see new data;
            # DVC still skips every later stage when the raw tables come out unchanged.
            orch.run_dvc_stage(stage, project, single=True, force=orch.source_is_external(project))
            return
        orch.run_dvc_stage(stage, project, single=True)

    return reproduce()


@dag(
    dag_id=NAMES.dag_id("shopseq_retrain"),
    schedule=SETTINGS.retrain_schedule,
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["shopseq"],
    default_args=orch.default_args(SETTINGS),
    params={
        "until": Param(
            "",
            type="string",
            title="Synthetic data until",
            description="Synthetic source only: the shop's data ends at this date (YYYY-MM-DD), "
            "or `logical_date` for the run's logical date. Empty: as params.yaml says.",
        ),
        "force": Param(
            False,
            type="boolean",
            title="Train even if nothing changed",
            description="Train even when the data version and everything else are unchanged.",
        ),
    },
)
def shopseq_retrain() -> None:
    stages = {stage: _stage_task(stage) for stage in orch.RETRAIN_STAGES}
    ordered = list(stages.values())

    # in the DVC pool too: its `dvc status` fails on the lock a downstream DAG's `dvc repro` holds
    @task.short_circuit(task_id="check_new_data", pool=NAMES.pool)
    def check_new_data() -> bool:
        return orch.needs_training(_project(), force=bool(get_current_context()["params"].get("force")))

    @task(task_id="snapshot", pool=NAMES.pool)
    def snapshot() -> str:
        return orch.record_data_version(_project())

    new_data = check_new_data()
    for upstream, downstream in zip(ordered, ordered[1:]):
        if upstream is stages["validate"]:
            upstream >> new_data >> downstream
        else:
            upstream >> downstream

    @task.branch(task_id="check_gate")
    def check_gate() -> str:
        project = _project()
        passed = orch.gate_passed(project, orch.load_project_params(project))
        return "register" if passed else "gate_failed"

    @task(task_id="gate_failed")
    def gate_failed() -> None:
        orch.report_gate_failure(_project())

    @task(task_id="report")
    def report() -> str:
        return orch.write_run_report(_project(), get_current_context()["run_id"])

    @task(task_id="register")
    def register(report_path: str) -> dict[str, str]:
        return orch.register_challenger(_project(), report=report_path)

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
        # Only these authenticated Airflow users may answer (dags.approvers in params.yaml).
        assigned_users=[{"id": user, "name": user} for user in SETTINGS.approvers] or None,
    )

    @task(
        task_id="promote",
        outlets=[Asset(NAMES.champion), Asset(NAMES.profiles)],
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

    run_report = report()
    branch = check_gate()
    registered = register(run_report)
    promoted = promote(registered)
    ordered[-1] >> snapshot() >> run_report >> branch >> [registered, gate_failed()]
    registered >> approval >> promoted >> record_rejection()


shopseq_retrain()
