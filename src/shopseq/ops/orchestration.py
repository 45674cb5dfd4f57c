"""What the Airflow DAGs do inside their tasks, kept out of the DAG files so it can be tested.

The DAG files in `dags/` only wire tasks together; the work of a task (run one DVC stage, read
the gate decision, build the approval request, record the human's answer in the registry)
lives here as small functions; running a stage and reading its reports are `shopseq.ops.pipeline`'s,
shared with the rollback. This module imports only the standard library, `shopseq.config` and
`shopseq.ops.pipeline` at module level, so parsing a DAG file stays cheap; the registry (MLflow) is
imported inside the functions that need it.
"""

from __future__ import annotations

import logging
import os
from contextlib import chdir, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterator

from shopseq.config import Dags, Params, load_params
from shopseq.ops.pipeline import (  # noqa: F401  (gate_passed, run_dvc_stage: the DAGs' face)
    OFFLINE_ENV,
    Reports,
    gate_passed,
    read_report,
    run_dvc_stage,
)
from shopseq.stages import RETRAIN

log = logging.getLogger(__name__)

PROJECT_ENV = "SHOPSEQ_PROJECT_DIR"
"""Environment variable that points the DAGs at a project directory other than their own."""

DVC_POOL = "shopseq_dvc"
"""The Airflow pool of one slot shared by every task that changes the DVC workspace."""

RETRAIN_STAGES = RETRAIN
"""dvc.yaml stages run by `shopseq_retrain`, in order; audiences and forecast have their own DAGs."""

CHAMPION_ASSET = "shopseq://champion"
PROFILES_ASSET = "shopseq://profiles"


@dataclass(frozen=True)
class WorkspaceNames:
    """The DAG ids, DVC pool and assets of one project, as the DAG files name them.

    One Airflow can serve several shops (one project directory each, `dags.workspace` naming
    it). Their DAGs then need their own ids, their own one-slot DVC pool (two shops' runs
    proceed side by side while one shop's DVC tasks still never overlap) and their own assets
    (a new champion of one shop starts only that shop's downstream DAGs). With no workspace
    every name is the plain one.
    """

    workspace: str = ""

    def scoped(self, name: str) -> str:
        """`name`, or `name.<workspace>` when the project is one workspace of a shared Airflow."""
        return f"{name}.{self.workspace}" if self.workspace else name

    def dag_id(self, stem: str) -> str:
        return self.scoped(stem)

    @property
    def pool(self) -> str:
        return self.scoped(DVC_POOL)

    @property
    def champion(self) -> str:
        return self.scoped(CHAMPION_ASSET)

    @property
    def profiles(self) -> str:
        return self.scoped(PROFILES_ASSET)


def project_dir(default: str | Path) -> Path:
    """The shopseq project a DAG works in: $SHOPSEQ_PROJECT_DIR when set, else `default`.

    Raises:
        FileNotFoundError: the directory has no params.yaml, so it is not a shopseq project.
    """
    path = Path(os.environ.get(PROJECT_ENV) or default).resolve()
    if not (path / "params.yaml").is_file():
        raise FileNotFoundError(
            f"{path} is not a shopseq project (no params.yaml); set {PROJECT_ENV} to the project root"
        )
    return path


def dag_settings(default_project: str | Path) -> Dags:
    """The `dags` section of the project's params.yaml, or the defaults when it cannot be read.

    A DAG file must parse even when the project is broken, so that the UI shows the DAG and
    the failing task shows the error; a broken params.yaml therefore falls back to defaults
    here (with a warning) and fails loudly inside the tasks instead.
    """
    try:
        return load_params(project_dir(default_project) / "params.yaml").dags
    except (OSError, ValueError) as error:
        log.warning("using default DAG settings: %s", error)
        return Dags()


def default_args(settings: Dags) -> dict:
    """Every shopseq task's owner and retries, from the `dags` section of params.yaml."""
    return {
        "owner": "shopseq",
        "retries": settings.retries,
        "retry_delay": timedelta(minutes=settings.retry_delay_minutes),
    }


def load_project_params(project: Path) -> Params:
    """Params of `project` (a task reads them at run time, never at parse time)."""
    return load_params(project / "params.yaml")


def report_gate_failure(project: Path) -> list[str]:
    """Log why the gate failed (nothing is registered, the champion stays); return the reasons."""
    params = load_project_params(project)
    reasons = list(read_report(project, f"{params.paths.reports}/gate.json").get("reasons", []))
    log.warning("gate failed, nothing registered, champion unchanged: %s", "; ".join(reasons))
    return reasons


HEADLINE_METRICS = ("ndcg@10", "hr@10", "mrr@10")


def _metric_cell(row: dict[str, Any] | None, metric: str) -> str:
    if not row or row.get(metric) is None:
        return "—"
    return f"{float(row[metric]):.4f}"


def approval_body(reports: Reports, version: str, model_name: str) -> str:
    """Markdown shown to the approver: metrics side by side, data version, gate reasons."""
    metrics = reports.metrics
    champion_version = metrics.get("champion_version")
    columns = [
        (f"candidate (v{version})", metrics.get("candidate")),
        ("popularity", metrics.get("popularity")),
        (f"champion (v{champion_version})" if champion_version else "champion (none yet)", metrics.get("champion")),
    ]
    lines = [
        f"**{model_name}** version **{version}** passed the gate and waits for your decision.",
        "Approve moves alias `champion` to it; Reject keeps the current champion.",
        "",
        f"Data version: `{reports.validation.get('data_version', 'unknown')}`; "
        f"rows in {reports.validation.get('rows_in', '?')}, "
        f"accepted {reports.validation.get('rows_accepted', '?')}, "
        f"quarantined {reports.validation.get('rows_quarantined', '?')}.",
        "",
        "| metric | " + " | ".join(name for name, _ in columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for metric in HEADLINE_METRICS:
        cells = " | ".join(_metric_cell(row, metric) for _, row in columns)
        lines.append(f"| {metric} | {cells} |")
    lines += ["", "Gate:"]
    lines += [f"- {reason}" for reason in reports.gate.get("reasons", [])] or ["- (no reasons given)"]
    return "\n".join(lines)


def report_link(report: str) -> str:
    """The approval body's closing line: the run report as a link that clicks, and its path to paste.

    Browsers may refuse to open a file:// link from Airflow's http page; the path is there for that.
    """
    return (
        f"\n\nThe whole run, with plots and lineage: [open the run report]({Path(report).resolve().as_uri()})"
        f" (if your browser does not follow file links from this page, open `{report}`)"
    )


def register_challenger(project: Path, report: str | None = None) -> dict[str, str]:
    """Register models/candidate as the `challenger` and build the approval request for it.

    Returns a small dict for XCom: the version, and the subject and body the approval shows
    (with the path of the run's HTML report, when one was written).
    """
    params = load_project_params(project)
    with _in_project(project):
        from shopseq.registry import register_candidate

        version = str(register_candidate(params.base, params.registry, params.paths.candidate, params.paths.reports))
    reports = Reports.load(project, params)
    log.info("registered version %s of %s as challenger", version, params.registry.model_name)
    body = approval_body(reports, version, params.registry.model_name)
    if report:
        body += report_link(report)
    return {
        "version": version,
        "subject": f"Promote {params.registry.model_name} version {version} to champion?",
        "body": body,
    }


def write_run_report(project: Path, run_id: str) -> str:
    """Write this run's HTML report to reports/runs/<run id>/report.html; return its path."""
    import re

    params = load_project_params(project)
    folder = re.sub(r"[^A-Za-z0-9_.-]+", "_", run_id)
    with _in_project(project):
        from shopseq.report import build_report

        path = build_report(params, out=Path(params.paths.reports) / "runs" / folder / "report.html")
    return str((project / path).resolve())


def hitl_answer(event: dict[str, Any]) -> dict[str, Any]:
    """The JSON-friendly part of a HITL response event: options, form input, who answered, when."""
    responded_at = event.get("responded_at")
    return {
        "chosen_options": [str(option) for option in event.get("chosen_options") or []],
        "params_input": dict(event.get("params_input") or {}),
        "responded_by_user": event.get("responded_by_user"),
        "responded_at": responded_at.isoformat() if hasattr(responded_at, "isoformat") else responded_at,
    }


def responder(approval: dict[str, Any] | None) -> str:
    """Who answered the approval request (the HITL response's user name), 'timeout' when nobody."""
    user = (approval or {}).get("responded_by_user") or {}
    return str(user.get("name") or user.get("id") or "timeout")


def approval_reason(approval: dict[str, Any] | None, default: str) -> str:
    """The reason the approver typed into the request's form, or `default`."""
    params_input = (approval or {}).get("params_input") or {}
    reason = params_input.get("reason")
    return str(reason) if reason else default


def chosen_option(approval: dict[str, Any] | None) -> str | None:
    """'Approve', 'Reject', or None when the approval task never ran (the gate failed)."""
    options = (approval or {}).get("chosen_options") or []
    return str(options[0]) if options else None


def promote_challenger(project: Path, version: str, approval: dict[str, Any]) -> str:
    """Move `champion` to `version`, recording the approver from the HITL response."""
    params = load_project_params(project)
    approved_by = responder(approval)
    reason = approval_reason(approval, default="approved in Airflow (shopseq_retrain)")
    with _in_project(project):
        from shopseq.registry import promote

        promoted = promote(params.base, params.registry, version=version, approved_by=approved_by, reason=reason)
    log.info("version %s is now champion, approved by %s: %s", promoted, approved_by, reason)
    return promoted


def reject_challenger(project: Path, version: str, approval: dict[str, Any]) -> None:
    """Record that `version` was rejected (by whom and why); the champion does not move."""
    params = load_project_params(project)
    rejected_by = responder(approval)
    reason = approval_reason(approval, default="rejected in Airflow (shopseq_retrain)")
    with _in_project(project):
        from shopseq.registry import reject

        reject(params.base, params.registry, version=version, rejected_by=rejected_by, reason=reason)
    log.info("version %s rejected by %s: %s; champion unchanged", version, rejected_by, reason)


@contextmanager
def _in_project(project: Path) -> Iterator[None]:
    """Run a block with the project as working directory (params' relative paths resolve there)."""
    for name, value in OFFLINE_ENV.items():
        os.environ.setdefault(name, value)
    with chdir(project):
        yield


# ------------------------------------------------------------------ data versions and rollback

UNTIL_LOGICAL_DATE = "logical_date"
"""The `until` run parameter's value that means "the run's logical date" (scheduled runs)."""


def set_synthetic_until(project: Path, until: str) -> None:
    """Write `ingest.synthetic.until` into the project's params.yaml (comments kept), like `dvc exp run -S`.

    DVC sees the changed param, so `ingest` reruns and the synthetic shop grows to `until`.

    Raises:
        ValueError: the project's source is not synthetic, or `until` is not a date.
    """
    import pandas as pd
    from ruamel.yaml import YAML

    params = load_project_params(project)
    if params.ingest.source != "synthetic":
        raise ValueError(
            f"`until` applies to the synthetic source only; {project / 'params.yaml'} has source {params.ingest.source!r}"
        )
    day = pd.Timestamp(until).strftime("%Y-%m-%d")  # fails clearly on a non-date
    yaml = YAML()
    yaml.preserve_quotes = True
    path = project / "params.yaml"
    raw = yaml.load(path.read_text())
    raw["ingest"]["synthetic"]["until"] = day
    with path.open("w") as handle:
        yaml.dump(raw, handle)
    log.info("ingest.synthetic.until = %s (the synthetic shop ends there)", day)


def source_is_external(project: Path) -> bool:
    """Whether `ingest` reads files outside DVC (every source but the seeded synthetic one)."""
    return load_project_params(project).ingest.source != "synthetic"


def needs_training(project: Path, force: bool = False) -> bool:
    """False when the run has nothing new to learn from: same data version, nothing else changed.

    The validated data's version is already recorded (a previous run reached the gate on it)
    and DVC would rerun none of the stages after `validate` (code, params and outputs are as
    that run left them). `force` trains anyway.
    """
    from shopseq.ops import versions

    params = load_project_params(project)
    name = versions.current_name(project, params)
    if force:
        log.info("data version %s; training forced by the run's `force` param", name)
        return True
    recorded = any(version.name == name for version in versions.list_versions(project))
    after_validate = [s for s in versions.VERSIONED_STAGES if s not in ("ingest", "validate")]
    pending = versions.stages_to_run(project, after_validate)
    if recorded and not pending:
        log.info(
            "data version %s is unchanged since the last successful run and nothing else changed: "
            "no training this run (trigger with force=true to train anyway)",
            name,
        )
        return False
    log.info("data version %s%s; stages to rerun: %s", name, "" if recorded else " is new", ", ".join(pending) or "none")
    return True


def record_data_version(project: Path) -> str:
    """Snapshot the workspace's data as a data version (git tag by the bot, data pushed); its name."""
    from shopseq.ops import versions

    params = load_project_params(project)
    return versions.snapshot(project, params).name


def rollback_data(project: Path, data_version: str, by: str, reason: str = "") -> dict:
    """Restore `data_version` and its champion (retraining only when none was registered)."""
    params = load_project_params(project)
    with _in_project(project):
        from shopseq.ops.rollback import rollback_to

        return rollback_to(project, params, data_version, by=by, reason=reason)
