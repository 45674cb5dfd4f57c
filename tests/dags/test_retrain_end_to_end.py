"""`dag.test()` of shopseq_retrain on tiny data, with a person's answer given through the REST API.

The whole pipeline runs for real (DVC, GE, the text encoder, training, MLflow registry) in a
temporary copy of the project with tiny params and a lenient gate: these tests are about what
the orchestration does with the answer, not about model quality.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest
import yaml

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
COPIED = ("dvc.yaml", "params.yaml", ".dvcignore", "src", "dags")


def _set_params(project: Path, **sections: dict) -> None:
    """Update sections of the project's params.yaml in place (keys not named stay as they are)."""
    raw = yaml.safe_load((project / "params.yaml").read_text())
    for section, values in sections.items():
        raw[section].update(values)
    (project / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))


def _tiny_params(project: Path) -> None:
    raw = yaml.safe_load((project / "params.yaml").read_text())
    synthetic = raw["ingest"]["synthetic"] | {"n_users": 120, "n_items": 60, "days": 28}
    _set_params(
        project,
        ingest={"synthetic": synthetic},
        train={"epochs": 1, "n_trials": 1},
        gate={"floor": 0.0, "min_lift_over_popularity": 0.0, "champion_tolerance": 1.0},
        forecast={"backtest_origins": 1},
        dags={"retries": 0},  # a failing stage fails the test at once instead of after retry delays
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, airflow_db: Path) -> Iterator[Path]:
    """A fresh git + DVC copy of the project with tiny params; the DAGs point at it."""
    project = tmp_path_factory.mktemp("shopseq-project")
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, project / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        elif source.exists():
            shutil.copy(source, project / name)
    _tiny_params(project)
    git = ["git", "-c", "user.name=shopseq-test", "-c", "user.email=test@shopseq.invalid"]
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    subprocess.run([str(Path(sys.executable).parent / "dvc"), "init", "-q"], cwd=project, check=True)
    subprocess.run([*git, "add", "-A"], cwd=project, check=True)
    subprocess.run([*git, "commit", "-qm", "tiny project"], cwd=project, check=True)
    previous = {name: os.environ.get(name) for name in ("SHOPSEQ_PROJECT_DIR", "MLFLOW_TRACKING_URI")}
    os.environ["SHOPSEQ_PROJECT_DIR"] = str(project)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    yield project
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


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
        return describe(load_params(project / "params.yaml"))


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
    _set_params(project, train={"epochs": 2})  # a different candidate: train and later rerun
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
    _set_params(project, gate={"floor": 1.01})  # nothing reaches NDCG above 1: only `gate` reruns
    states = _states(_retrain_dag().test())
    assert states["gate"] == "success" and states["check_gate"] == "success"
    assert states["gate_failed"] == "success"
    for task_id in ("register", "approval", "promote", "record_rejection"):
        assert states[task_id] == "skipped", (task_id, states)
    assert _registry(project)["champion"]["version"] == champion_before
