"""`shopseq demo`: the main job through Airflow, end to end, the way an operator would run it.

Starts a local Airflow for the project (`shopseq.ops.airflow_local`), triggers `shopseq_retrain`,
follows its tasks, answers the approval request through the REST API as a named user (and
says so), waits for the promotion and for the asset-triggered `shopseq_audiences` and
`shopseq_forecast` runs, stops Airflow, and writes `reports/demo_summary.json`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from shopseq.ops.airflow_local import AirflowApi, AirflowError, LocalAirflow, wait_until
from shopseq.io import write_json
from shopseq.ops.orchestration import HEADLINE_METRICS, load_project_params
from shopseq.ops.pipeline import Reports
from shopseq.ops.ports import choose_port
from shopseq.ops.task_logs import TaskLogTail

log = logging.getLogger(__name__)

RETRAIN = "shopseq_retrain"
DOWNSTREAM = ("shopseq_audiences", "shopseq_forecast")
APPROVAL_TASK = "approval"
FINISHED = {"success", "failed", "skipped", "upstream_failed", "removed"}


@dataclass(frozen=True)
class DemoSettings:
    """How long the demo waits for each phase, and where Airflow listens."""

    port: int = 8080
    user: str = "demo-approver"
    start_timeout_s: float = 240.0
    retrain_timeout_s: float = 1800.0
    downstream_timeout_s: float = 900.0
    reason: str = "shopseq demo: metrics reviewed, approved through the REST API"
    park_timeout_s: float = 60.0
    approval_attempts: int = 3

    @classmethod
    def from_env(cls) -> "DemoSettings":
        """Settings with free ports: SHOPSEQ_AIRFLOW_PORT when set, else the first free block from 8080.

        Raises:
            PortError: the pinned ports are busy (said before any slow step starts).
        """
        port, said = choose_port()
        log.info("%s", said)
        return cls(port=port)


@dataclass
class RunWatcher:
    """Follows one DAG run's task states and logs each change, like a terse Grid view."""

    api: AirflowApi
    dag_id: str
    run_id: str
    states: dict[str, str] = field(default_factory=dict)
    logs: Path | None = None  # AIRFLOW_HOME/logs: when set, running tasks' progress lines are shown

    def __post_init__(self) -> None:
        self.tail = TaskLogTail(self.logs, self.dag_id, self.run_id) if self.logs else None

    def poll(self) -> dict[str, str]:
        """Fetch task states; log every task whose state changed and what running tasks report."""
        answer = self.api.get(f"/dags/{self.dag_id}/dagRuns/{self.run_id}/taskInstances", limit=100)
        current = {ti["task_id"]: str(ti["state"] or "none") for ti in answer["task_instances"]}
        self.show_progress(current)
        for task_id, state in current.items():
            if self.states.get(task_id) != state and state not in ("none", "scheduled", "queued"):
                log.info("%s: %s %s", self.dag_id, task_id, state)
        self.states = current
        return current

    def show_progress(self, current: dict[str, str]) -> None:
        """Log the progress lines (trial i/n, epoch j/m, texts/s) that running tasks wrote since the last poll.

        A task that finished since the last poll is read once more, so its last lines are not lost.
        """
        if self.tail is None:
            return
        for task_id, state in current.items():
            if state == "running" or self.states.get(task_id) == "running":
                for line in self.tail.new_progress(task_id):
                    log.info("  %s | %s", task_id, line)

    def running(self) -> str:
        """Which tasks run now, for the periodic 'still waiting' line."""
        busy = sorted(task for task, state in self.states.items() if state == "running")
        return f"running: {', '.join(busy)}" if busy else ""

    def run_state(self) -> str:
        return str(self.api.get(f"/dags/{self.dag_id}/dagRuns/{self.run_id}")["state"])


def fail_leftover_runs(api: AirflowApi, dag_id: str) -> list[str]:
    """Mark unfinished runs of `dag_id` failed (an interrupted demo leaves one waiting for input).

    The DAG allows one active run, so a leftover run would hold the new one in the queue.
    """
    leftover = []
    for state in ("queued", "running"):
        for run in api.get(f"/dags/{dag_id}/dagRuns", state=state, limit=100)["dag_runs"]:
            log.warning("marking %s run %s failed: left %s by an earlier demo", dag_id, run["dag_run_id"], state)
            api.request("PATCH", f"/dags/{dag_id}/dagRuns/{run['dag_run_id']}", {"state": "failed"})
            leftover.append(str(run["dag_run_id"]))
    return leftover


def trigger(api: AirflowApi, dag_id: str) -> str:
    """Unpause and trigger `dag_id` now; return the run id."""
    api.request("PATCH", f"/dags/{dag_id}", {"is_paused": False})
    run = api.request("POST", f"/dags/{dag_id}/dagRuns", {"logical_date": None, "note": "shopseq demo"})
    log.info("triggered %s, run %s", dag_id, run["dag_run_id"])
    return str(run["dag_run_id"])


def wait_for_decision_point(watcher: RunWatcher, timeout_s: float) -> str:
    """Wait until the approval request is open, or the gate failed; return which happened.

    Raises:
        AirflowError: a task failed or the run ended some other way; names the task.
    """

    def reached() -> str | None:
        states = watcher.poll()
        if states.get(APPROVAL_TASK) == "awaiting_input":
            return "approval"
        if states.get("gate_failed") == "success":
            return "gate_failed"
        failed = sorted(t for t, s in states.items() if s in ("failed", "upstream_failed"))
        if failed:
            raise AirflowError(
                f"{watcher.dag_id} task {failed[0]} failed; its log is in the Airflow UI or under "
                f"airflow/logs/dag_id={watcher.dag_id}/run_id={watcher.run_id}/task_id={failed[0]}"
            )
        if watcher.run_state() in FINISHED:
            raise AirflowError(f"{watcher.dag_id} run {watcher.run_id} ended before the approval step")
        return None

    return wait_until(
        reached, timeout_s=timeout_s, what=f"{watcher.dag_id} to reach the approval step", detail=watcher.running
    )


def answer_approval(api: AirflowApi, run_id: str, option: str, reason: str, dag_id: str = RETRAIN) -> dict[str, Any]:
    """Answer the open approval request through PATCH .../hitlDetails, as the logged-in user."""
    path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{APPROVAL_TASK}/-1/hitlDetails"
    request = api.get(path)
    log.info("approval request: %s\n%s", request["subject"], request["body"])
    log.info("%s answers %s through the REST API: PATCH /api/v2%s", api.user, option, path)
    return api.request("PATCH", path, {"chosen_options": [option], "params_input": {"reason": reason}})


def scheduler_saw_park(scheduler_log: Path, offset: int, run_id: str, try_number: int, dag_id: str = RETRAIN) -> bool:
    """Whether the scheduler has handled the exit of the worker that parked the approval task.

    It logs "TaskInstance Finished: ... task_id=approval, run_id=<run> ... state=awaiting_input
    ... try_number=<n>" when it does; only the log written after `offset` is read.
    """
    with scheduler_log.open("rb") as stream:
        stream.seek(offset)
        text = stream.read().decode("utf-8", errors="replace")
    marker = f"TaskInstance Finished: dag_id={dag_id}, task_id={APPROVAL_TASK}, run_id={run_id},"
    return any(
        marker in line and "state=awaiting_input" in line and f"try_number={try_number}," in line
        for line in text.splitlines()
    )


def approve(
    api: AirflowApi, watcher: RunWatcher, scheduler_log: Path, offset: int, settings: DemoSettings
) -> str:
    """Answer Approve as the demo user; return who the API says answered.

    Airflow 3.3.2 fails a Human-in-the-loop task ("state changed externally") when the answer
    lands before the scheduler has handled the exit of the worker that parked it. A person never
    answers that fast; a script does. So the demo first waits for the scheduler to log that exit,
    and if the task is retried all the same, it answers the repeated request.
    """
    dag_id = watcher.dag_id  # shopseq_retrain, or a workspace's shopseq_retrain.<workspace>
    for attempt in range(1, settings.approval_attempts + 1):
        path = f"/dags/{dag_id}/dagRuns/{watcher.run_id}/taskInstances/{APPROVAL_TASK}"
        try_number = int(api.get(path)["try_number"])
        try:
            wait_until(
                lambda: scheduler_saw_park(scheduler_log, offset, watcher.run_id, try_number, dag_id),
                timeout_s=settings.park_timeout_s,
                what="the scheduler to register the open approval request",
            )
        except AirflowError as error:
            log.warning("%s; answering anyway", error)
        answer = answer_approval(api, watcher.run_id, "Approve", settings.reason, dag_id)

        def settled() -> str | None:
            state = watcher.poll().get(APPROVAL_TASK)
            return state if state in ("success", "up_for_retry", "failed", "upstream_failed") else None

        state = wait_until(settled, timeout_s=settings.retrain_timeout_s, what="the approval task to resume")
        if state == "success":
            return str((answer.get("responded_by") or {}).get("name") or settings.user)
        if state != "up_for_retry":
            raise AirflowError(f"{dag_id} task {APPROVAL_TASK} failed after the answer; see its log")
        log.warning("Airflow lost the answer (attempt %d) and retries the approval task; answering again", attempt)
        wait_for_decision_point(watcher, settings.retrain_timeout_s)
    raise AirflowError(f"{dag_id} kept losing the approval after {settings.approval_attempts} answers")


def wait_for_run(watcher: RunWatcher, timeout_s: float) -> str:
    """Wait for the watched run to finish (logging task changes); return its final state."""
    dag_id, run_id = watcher.dag_id, watcher.run_id

    def finished() -> str | None:
        watcher.poll()
        state = watcher.run_state()
        return state if state in FINISHED else None

    return wait_until(finished, timeout_s=timeout_s, what=f"{dag_id} run {run_id}", detail=watcher.running)


def wait_for_downstream(api: AirflowApi, dag_id: str, after: str, timeout_s: float, logs: Path | None = None) -> str:
    """Wait for the asset-triggered run of `dag_id` created after `after` (ISO time) to finish."""

    def created() -> str | None:
        runs = api.get(f"/dags/{dag_id}/dagRuns", order_by="-run_after", limit=5)["dag_runs"]
        fresh = [run for run in runs if run["run_after"] >= after and run["run_type"] == "asset_triggered"]
        return fresh[0]["dag_run_id"] if fresh else None

    run_id = wait_until(created, timeout_s=timeout_s, what=f"{dag_id} to be triggered by the new champion")
    return wait_for_run(RunWatcher(api, dag_id, run_id, logs=logs), timeout_s)


def headline(row: dict[str, Any] | None) -> dict[str, float] | None:
    """The three headline metrics of one model's row (None when there is no such model)."""
    if not row:
        return None
    return {metric: float(row[metric]) for metric in HEADLINE_METRICS if row.get(metric) is not None}


def build_summary(
    reports: Reports,
    project: Path,
    champion_version: str | None,
    approved_by: str | None,
    wall_seconds: float,
    runs: dict[str, str],
    summary_name: str = "demo_summary.json",
) -> dict[str, Any]:
    """The demo's summary with the keys DESIGN.md promises (stable; add keys, never rename)."""
    params = load_project_params(project)
    report_dir = project / params.paths.reports
    validation = reports.validation
    return {
        "data_version": validation.get("data_version"),
        "validation": {
            key: validation.get(key) for key in ("passed", "rows_in", "rows_accepted", "rows_quarantined")
        },
        "metrics": {
            "candidate": headline(reports.metrics.get("candidate")),
            "popularity": headline(reports.metrics.get("popularity")),
            "champion_before": headline(reports.metrics.get("champion")),
        },
        "champion_before_version": reports.metrics.get("champion_version"),
        "gate": {"passed": bool(reports.gate.get("passed")), "reasons": list(reports.gate.get("reasons", []))},
        "champion_version": champion_version,
        "approved_by": approved_by,
        "wall_seconds": round(wall_seconds, 1),
        "dag_runs": runs,
        "reports": {
            "validation": str(report_dir / "validation" / "summary.json"),
            "evaluate": str(report_dir / "evaluate" / "metrics.json"),
            "gate": str(report_dir / "gate.json"),
            "summary": str(report_dir / summary_name),
        },
    }


def current_champion(project: Path) -> str | None:
    """The registry's champion version (asked in the project, where params' paths resolve)."""
    from contextlib import chdir

    from shopseq.registry import describe

    params = load_project_params(project)
    with chdir(project):
        champion = describe(params.base, params.registry).get("champion")
    return str(champion["version"]) if champion else None


def run_demo(
    project: Path,
    settings: DemoSettings | None = None,
    airflow: LocalAirflow | None = None,
    summary_name: str = "demo_summary.json",
    extend: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Run the whole demo in `project`; write and return its summary.

    Args:
        airflow: the Airflow to run it on; default the embedded one (LocalExecutor, SQLite).
            The cluster demo passes its CeleryExecutor Airflow: the same steps on either.
        summary_name: the summary's file name under `paths.reports`.
        extend: adds keys to the summary once Airflow has stopped (the cluster's worker counts).
    """
    settings = settings or DemoSettings.from_env()
    project = project.resolve()
    start = time.monotonic()
    airflow = airflow or LocalAirflow(project=project, port=settings.port, user=settings.user)
    runs: dict[str, str] = {}
    approved_by: str | None = None
    with airflow.running(ready_timeout_s=settings.start_timeout_s) as api:
        log.info("airflow is up: %s (user %s)", airflow.url, settings.user)
        triggered_at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        log_offset = airflow.scheduler_log.stat().st_size if airflow.scheduler_log.exists() else 0
        for dag_id in (RETRAIN, *DOWNSTREAM):
            fail_leftover_runs(api, dag_id)
        run_id = trigger(api, RETRAIN)
        watcher = RunWatcher(api, RETRAIN, run_id, logs=airflow.logs)
        outcome = wait_for_decision_point(watcher, settings.retrain_timeout_s)
        # Read the reports now: once the new champion is promoted, the downstream DAGs
        # re-run `evaluate` against it and metrics.json no longer shows the champion before.
        reports = Reports.load(project, load_project_params(project))
        if outcome == "approval":
            approved_by = approve(api, watcher, airflow.scheduler_log, log_offset, settings)
        runs[RETRAIN] = wait_for_run(watcher, settings.retrain_timeout_s)
        if runs[RETRAIN] != "success":
            raise AirflowError(f"{RETRAIN} run {run_id} ended {runs[RETRAIN]}; see the Airflow UI")
        if outcome == "approval":
            for dag_id in DOWNSTREAM:
                runs[dag_id] = wait_for_downstream(
                    api, dag_id, triggered_at, settings.downstream_timeout_s, logs=airflow.logs
                )
        else:
            log.warning("the gate failed, so nothing was offered for approval; champion unchanged")
    run_report = refresh_run_report(project, run_id)
    summary = build_summary(
        reports,
        project,
        champion_version=current_champion(project),
        approved_by=approved_by,
        wall_seconds=time.monotonic() - start,
        runs=runs,
        summary_name=summary_name,
    )
    summary["reports"]["html"] = run_report
    summary["airflow_port"] = settings.port
    summary["next_steps"] = next_steps(project, summary, settings)
    if extend is not None:
        summary = extend(summary)
    write_json(Path(summary["reports"]["summary"]), summary)
    return summary


def refresh_run_report(project: Path, run_id: str) -> str | None:
    """Rebuild the run's HTML report now that approval and the downstream DAGs are done; return its path.

    The retrain DAG writes the page before approval (the approver reads it), when audiences and
    forecasts cannot exist yet; rebuilt here, the same page shows them. A failure only costs
    the refresh: the page from the DAG stays and the demo says so.
    """
    from shopseq.ops.orchestration import write_run_report

    try:
        path = write_run_report(project, run_id)
    except Exception as error:  # the demo's result stands without the refreshed page
        log.warning("could not rebuild the run report (%s); the page written before approval stays", error)
        return None
    log.info("rebuilt the run report with audiences and forecast: %s", path)
    return path


def mlflow_experiment_id(project: Path) -> str | None:
    """The id of the project's MLflow experiment, for a direct link to its runs (None if unknown)."""
    from contextlib import chdir

    from mlflow.tracking import MlflowClient

    from shopseq.tracking import tracking_uri

    params = load_project_params(project)
    try:
        with chdir(project):
            experiment = MlflowClient(tracking_uri(params.base)).get_experiment_by_name(params.base.experiment)
    except Exception as error:  # a link less, not a failed demo
        log.warning("could not read the MLflow experiment (%s)", error)
        return None
    return experiment.experiment_id if experiment else None


def next_steps(project: Path, summary: dict[str, Any], settings: DemoSettings) -> dict[str, str]:
    """Where to look after the demo: the report, the Airflow and MLflow UIs with direct URLs, the service.

    MLflow 3's UI opens on a GenAI welcome page and an experiment on its traces tab; the links
    go straight to the training runs and to the registered champion version.
    """
    from contextlib import chdir

    from shopseq.tracking import tracking_uri

    params = load_project_params(project)
    with chdir(project):
        uri = tracking_uri(params.base)
    mlflow_url = "http://localhost:5000"
    steps = {
        "report": summary["reports"].get("html") or "`.venv/bin/shopseq report` writes reports/report.html",
        "airflow_ui": f".venv/bin/shopseq demo --serve  (then {f'http://localhost:{settings.port}'}, "
        f"user {settings.user}, password in airflow/simple_auth_manager_passwords.json.generated)",
        "mlflow_ui": f".venv/bin/mlflow ui --backend-store-uri {uri} --port 5000",
    }
    if uri.startswith(("http://", "https://")):
        steps["mlflow_ui"] = f"the MLflow server at {uri}"
        mlflow_url = uri.rstrip("/")
    if experiment_id := mlflow_experiment_id(project):
        steps["mlflow_runs"] = f"{mlflow_url}/#/experiments/{experiment_id}/runs"
    model = f"{mlflow_url}/#/models/{params.registry.model_name}"
    version = summary.get("champion_version")
    steps["mlflow_model"] = f"{model}/versions/{version}" if version else model
    steps["serve"] = (
        f".venv/bin/shopseq serve  (then POST http://{params.serve.host}:{params.serve.port}/recommend, "
        f"docs at /docs)"
    )
    return steps


def serve(project: Path, settings: DemoSettings | None = None) -> None:
    """Start the demo's Airflow (same stores, same user) and keep it up until Ctrl-C.

    For looking at the demo's runs, logs and approval history in the Airflow UI afterwards.
    """
    from shopseq.ops.airflow_local import answers

    settings = settings or DemoSettings.from_env()
    airflow = LocalAirflow(project=project.resolve(), port=settings.port, user=settings.user)
    try:
        with airflow.running(ready_timeout_s=settings.start_timeout_s):
            log.info(
                "Airflow UI: %s  user %s, password in %s; Ctrl-C stops it",
                airflow.url,
                settings.user,
                airflow.passwords_file,
            )

            def stopped_answering() -> bool:
                return not any(answers(airflow.url) for _ in range(3))  # three tries: not one slow answer

            wait_until(stopped_answering, timeout_s=float("inf"), what="Ctrl-C", poll_s=10.0, report_s=float("inf"))
            log.warning("Airflow stopped answering; see %s", airflow.log_file)
    except KeyboardInterrupt:
        log.info("stopped")


def format_summary(summary: dict[str, Any]) -> str:
    """A short, human-readable account of the demo's summary."""

    def cell(row: dict[str, float] | None, metric: str) -> str:
        return f"{row[metric]:.4f}" if row and metric in row else "—"

    metrics = summary["metrics"]
    validation = summary["validation"]
    lines = [
        "shopseq demo summary",
        f"  data version       {summary['data_version']}",
        f"  validation         passed={validation['passed']} rows in {validation['rows_in']}, "
        f"accepted {validation['rows_accepted']}, quarantined {validation['rows_quarantined']}",
        "  metric       candidate  popularity  champion before",
    ]
    for metric in HEADLINE_METRICS:
        lines.append(
            f"  {metric:<10} {cell(metrics['candidate'], metric):>10} {cell(metrics['popularity'], metric):>11}"
            f" {cell(metrics['champion_before'], metric):>16}"
        )
    gate = summary["gate"]
    lines.append(f"  gate               {'passed' if gate['passed'] else 'FAILED'}")
    lines += [f"    - {reason}" for reason in gate["reasons"]]
    lines += [
        f"  champion version   {summary['champion_version']} (approved by {summary['approved_by'] or 'nobody'})",
        f"  dag runs           " + ", ".join(f"{dag} {state}" for dag, state in summary["dag_runs"].items()),
        f"  wall time          {summary['wall_seconds']:.0f} s",
        f"  reports            {summary['reports']['summary']} (and validation, evaluate, gate beside it)",
    ]
    steps = summary.get("next_steps")
    if steps:
        labels = {
            "report": "run report (HTML)",
            "airflow_ui": "Airflow UI",
            "mlflow_ui": "MLflow UI",
            "mlflow_runs": "  training runs",
            "mlflow_model": "  champion model",
            "serve": "HTTP service",
        }
        lines += ["", "next steps"]
        lines += [f"  {labels.get(key, key):<18} {value}" for key, value in steps.items()]
    return "\n".join(lines)
