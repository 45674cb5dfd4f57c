"""`dag.test()` of shopseq_retrain on tiny data, with a person's answer given through the REST API.

The whole pipeline runs for real (DVC, GE, the text encoder, training, MLflow registry) in a
temporary copy of the project with tiny params and a lenient gate: these tests are about what
the orchestration does with the answer, not about model quality.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import pytest

from tiny_project import ROOT, dags_pointed_at, make_tiny_project, set_params

pytestmark = pytest.mark.slow

@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, airflow_db: Path) -> Iterator[Path]:
    """A fresh git + DVC copy of the project with tiny params; the DAGs point at it."""
    with dags_pointed_at(make_tiny_project(tmp_path_factory.mktemp("tiny") / "project")) as project:
        yield project


def _retrain_dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}
    return bag.dags["shopseq_retrain"]


def _states(run) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def _run_answered(answerer_class: type, option: str, reason: str) -> tuple[dict[str, str], object]:
    """dag.test() the retrain DAG while a person answers its approval request with `option`."""
    dag = _retrain_dag()
    with answerer_class(option, reason) as answerer:
        run = dag.test()
    if answerer.error is not None:
        raise AssertionError(f"answering the approval through the API failed: {answerer.error!r}")
    return _states(run), answerer


def _version_in(subject: str) -> str:
    match = re.search(r"version (\S+) to champion", subject)
    assert match, subject
    return match.group(1)


def _registry(project: Path) -> dict:
    from contextlib import chdir

    from shopseq.config import load_params
    from shopseq.registry import describe

    with chdir(project):
        params = load_params(project / "params.yaml")
        return describe(params.base, params.registry)


@pytest.fixture(scope="module")
def approved(project: Path, approval_answerer: type) -> dict:
    """The first retrain of the tiny project, approved through the API by the test approver."""
    assert _registry(project)["champion"] is None
    states, answerer = _run_answered(approval_answerer, "Approve", reason="tiny data looks fine")
    return {"states": states, "answerer": answerer, "registry": _registry(project)}


def test_approve_promotes_the_new_version(approved: dict, approver: str) -> None:
    states = approved["states"]
    for stage in ("ingest", "validate", "embed", "profiles", "sequences", "train", "champion", "evaluate", "gate"):
        assert states[stage] == "success", (stage, states)
    assert states["check_gate"] == "success" and states["gate_failed"] == "skipped"
    assert states["register"] == "success" and states["approval"] == "success"
    assert states["promote"] == "success"
    assert states["record_rejection"] == "skipped"
    answerer = approved["answerer"]
    assert answerer.response["responded_by"]["name"] == approver
    # Before that, nobody anonymous and no admin outside dags.approvers could answer.
    assert answerer.refused == {"anonymous": 401, "intruder": 403}
    assert "ndcg@10" in answerer.request["body"] and "Data version" in answerer.request["body"]
    champion = approved["registry"]["champion"]
    assert champion is not None
    assert str(champion["version"]) == _version_in(answerer.request["subject"])
    assert champion["tags"]["promoted_by"] == approver
    assert champion["tags"]["promotion_reason"] == "tiny data looks fine"


def test_reject_keeps_the_previous_champion(
    project: Path, approved: dict, approval_answerer: type, approver: str
) -> None:
    champion_before = approved["registry"]["champion"]["version"]
    set_params(project, train={"epochs": 2})  # a different candidate: train and later rerun
    states, answerer = _run_answered(approval_answerer, "Reject", reason="not convinced")
    assert states["approval"] == "success"
    assert states["promote"] == "skipped"
    assert states["record_rejection"] == "success"
    rejected = _version_in(answerer.request["subject"])
    assert rejected != str(champion_before), "a new candidate should have been registered"
    after = _registry(project)
    assert str(after["champion"]["version"]) == str(champion_before)
    tags = _version_tags(project, rejected)
    assert tags["rejected_by"] == approver and tags["rejection_reason"] == "not convinced"
    assert "promoted_by" not in tags


def _version_tags(project: Path, version: str) -> dict[str, str]:
    from contextlib import chdir

    from mlflow import MlflowClient

    from shopseq.config import load_params
    from shopseq.tracking import configure_mlflow

    params = load_params(project / "params.yaml")
    with chdir(project):
        configure_mlflow(params.base)
        found = MlflowClient().get_model_version(params.registry.model_name, version)
    return dict(found.tags)


def test_failed_gate_offers_nothing_and_keeps_the_champion(project: Path, approved: dict) -> None:
    champion_before = _registry(project)["champion"]["version"]
    set_params(project, gate={"floor": 1.01})  # nothing reaches NDCG above 1: only `gate` reruns
    states = _states(_retrain_dag().test())
    assert states["gate"] == "success" and states["check_gate"] == "success"
    assert states["gate_failed"] == "success"
    for task_id in ("register", "approval", "promote", "record_rejection"):
        assert states[task_id] == "skipped", (task_id, states)
    assert _registry(project)["champion"]["version"] == champion_before


def _asset_events() -> int:
    """How many asset events Airflow has recorded (promote's champion/profiles assets start the downstream DAGs)."""
    from sqlalchemy import func, select

    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    with create_session() as session:
        return session.scalar(select(func.count()).select_from(AssetEvent))


def _tree_hash(folder: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + path.read_bytes())
    return digest.hexdigest()


@pytest.mark.parametrize(
    ("failing", "fault"),
    [
        ("validate", {"validate": {"min_rows": 10**9}}),  # a table-level validation failure
        ("train", {"train": {"model": "transformer", "defaults": {"heads": 3}}}),  # hidden 16/32 not divisible by 3
        ("evaluate", {"evaluate": {"max_targets": 0}}),  # no test targets to score: evaluation fails
        ("gate", {"gate": {"metric": "ndcg@5"}}),  # a gate that cannot be evaluated (K=5 was not computed)
    ],
)
def test_a_failing_stage_changes_nothing_that_is_served(
    project: Path, approved: dict, failing: str, fault: dict
) -> None:
    import yaml

    before = {"registry": _registry(project), "champion_dir": _tree_hash(project / "models" / "champion"),
              "asset_events": _asset_events()}
    saved = (project / "params.yaml").read_text()
    raw = yaml.safe_load(saved)
    for section, values in fault.items():
        for key, value in values.items():
            raw[section][key] = raw[section][key] | value if isinstance(value, dict) else value
    (project / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    try:
        states = _states(_retrain_dag().test())
    finally:
        (project / "params.yaml").write_text(saved)
    assert states[failing] == "failed", states
    for task_id in ("register", "approval", "promote"):
        assert states[task_id] in ("upstream_failed", "skipped"), (task_id, states)
    assert _registry(project) == before["registry"], "champion and challenger aliases unchanged"
    assert _tree_hash(project / "models" / "champion") == before["champion_dir"], "served model files unchanged"
    assert _asset_events() == before["asset_events"], "no downstream DAG was triggered"
