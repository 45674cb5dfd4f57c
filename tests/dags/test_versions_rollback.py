"""Scheduled retraining on growing data, then data-version rollback, through the real DAGs.

In a tiny git + DVC project: a retrain run on the synthetic shop cut at FIRST_CUT (approved
through the REST API), the same run again (unchanged data: no training), a run cut a week
later (more data, a new champion), then `shopseq_rollback` to the first data version: the data
comes back byte for byte and the first champion returns without retraining.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from contextlib import chdir
from pathlib import Path
from typing import Iterator

import pytest

from tiny_project import ROOT, dags_pointed_at, make_tiny_project

pytestmark = pytest.mark.slow

FIRST_CUT, SECOND_CUT = "2026-06-22", "2026-06-29"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, airflow_db: Path) -> Iterator[Path]:
    with dags_pointed_at(make_tiny_project(tmp_path_factory.mktemp("rollback") / "project")) as project:
        yield project


def _dag(dag_id: str):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}
    return bag.dags[dag_id]


def _states(run) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def _retrain(answerer_class: type, until: str) -> dict[str, str]:
    with answerer_class("Approve", f"data until {until}") as answerer:
        run = _dag("shopseq_retrain").test(run_conf={"until": until})
    if answerer.error is not None:
        raise AssertionError(f"answering the approval through the API failed: {answerer.error!r}")
    return _states(run)


def _data_hashes(project: Path) -> dict[str, str]:
    return {
        str(path.relative_to(project)): hashlib.md5(path.read_bytes()).hexdigest()
        for folder in ("data/raw", "data/validated")
        for path in sorted((project / folder).glob("*.parquet"))
    }


def _registry(project: Path) -> dict:
    from shopseq.config import load_params
    from shopseq.registry import describe, versions_for_data

    with chdir(project):
        params = load_params(project / "params.yaml")
        aliases = describe(params.base, params.registry)
        return {"aliases": aliases, "by_data": versions_for_data(params.base, params.registry)}


def _data_version(project: Path) -> str:
    return json.loads((project / "reports/validation/summary.json").read_text())["data_version"]


@pytest.fixture(scope="module")
def history(project: Path, approval_answerer: type) -> dict:
    """Three scheduled-style runs: first cut, the same again, a later cut."""
    out: dict = {}
    out["first_states"] = _retrain(approval_answerer, FIRST_CUT)
    out["first_version"] = _data_version(project)
    out["first_hashes"] = _data_hashes(project)
    out["first_registry"] = _registry(project)

    out["again_states"] = _states(_dag("shopseq_retrain").test(run_conf={"until": FIRST_CUT}))
    out["again_registry"] = _registry(project)

    out["second_states"] = _retrain(approval_answerer, SECOND_CUT)
    out["second_version"] = _data_version(project)
    out["second_registry"] = _registry(project)
    out["second_embed"] = json.loads((project / "reports/embed/metrics.json").read_text())
    return out


def test_each_run_records_its_data_version_and_trains_on_it(project: Path, history: dict) -> None:
    for label in ("first", "second"):
        states = history[f"{label}_states"]
        assert states["snapshot"] == "success" and states["promote"] == "success", states
        tags = subprocess.run(["git", "tag", "--list", "data/*"], cwd=project, capture_output=True, text=True).stdout
        assert f"data/{history[f'{label}_version']}" in tags.split()
        trained = history[f"{label}_registry"]["by_data"][history[f"{label}_version"]]
        champion = history[f"{label}_registry"]["aliases"]["champion"]
        assert [model["version"] for model in trained] == [champion["version"]]
    assert history["first_version"] != history["second_version"]


def test_unchanged_data_trains_nothing_and_says_so(history: dict) -> None:
    states = history["again_states"]
    assert states["ingest"] == "success" and states["validate"] == "success"
    assert states["check_new_data"] == "success"
    for task_id in ("embed", "train", "gate", "snapshot", "register", "approval", "promote"):
        assert states[task_id] == "skipped", (task_id, states)
    assert history["again_registry"] == history["first_registry"], "no new model version"


def test_the_second_run_sees_more_data_and_reuses_cached_text_vectors(history: dict) -> None:
    first = history["first_registry"]["aliases"]["champion"]["version"]
    second = history["second_registry"]["aliases"]["champion"]["version"]
    assert int(second) > int(first)
    embed = history["second_embed"]
    assert embed["cache_hits"] > 0, embed


def test_rollback_restores_the_first_data_byte_for_byte_and_its_champion(project: Path, history: dict) -> None:
    run = _dag("shopseq_rollback").test(run_conf={"data_version": history["first_version"], "reason": "bad week"})
    assert _states(run) == {"rollback": "success"}
    assert _data_hashes(project) == history["first_hashes"]
    assert _data_version(project) == history["first_version"]
    after = _registry(project)
    first_champion = history["first_registry"]["aliases"]["champion"]["version"]
    assert after["aliases"]["champion"]["version"] == first_champion
    assert sum(len(models) for models in after["by_data"].values()) == 2, "restored without retraining"
    audit = json.loads((project / "reports/audit/rollbacks.jsonl").read_text().splitlines()[-1])
    assert audit["from_data_version"] == history["second_version"]
    assert audit["to_data_version"] == history["first_version"]
    assert audit["to_model_version"] == first_champion and audit["retrained"] is False
    assert audit["reason"] == "bad week" and audit["by"]
    tags = after["aliases"]["champion"]["tags"]
    assert tags["rollback_from_data_version"] == history["second_version"]


def test_versions_lists_both_data_versions_with_their_models(project: Path, history: dict) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    shopseq = str(Path(sys.executable).parent / "shopseq")
    listed = subprocess.run(
        [shopseq, "--no-verbose", "versions", "--json"], cwd=project, env=env, capture_output=True, text=True, check=True
    )
    rows = json.loads(listed.stdout)
    assert [row["data_version"] for row in rows] == [history["first_version"], history["second_version"]]
    assert rows[1]["rows"]["events"] > rows[0]["rows"]["events"]
    assert all(row["models"] and row["models"][0]["gate_passed"] for row in rows)
