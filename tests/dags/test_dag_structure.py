"""The DAG files parse, and each DAG has the tasks, edges, pool, retries and schedule it should."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag

from shopseq.config import load_params
from shopseq.ops import orchestration as orch

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"

DAG_IDS = {"shopseq_retrain", "shopseq_audiences", "shopseq_forecast", "shopseq_rollback"}


@pytest.fixture(scope="module")
def dagbag() -> DagBag:
    return DagBag(dag_folder=str(DAGS))


def test_dagbag_has_no_import_errors(dagbag: DagBag) -> None:
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == DAG_IDS


def test_dag_id_is_the_file_stem(dagbag: DagBag) -> None:
    for dag_id, dag in dagbag.dags.items():
        assert dag.fileloc.endswith(f"/{dag_id}.py"), dag.fileloc


def test_every_task_retries_as_params_say(dagbag: DagBag) -> None:
    settings = load_params(ROOT / "params.yaml").dags
    for dag in dagbag.dags.values():
        for task in dag.tasks:
            assert task.retries == settings.retries, f"{dag.dag_id}.{task.task_id}"
            assert task.retry_delay == timedelta(minutes=settings.retry_delay_minutes)


def test_every_dag_is_documented_and_does_not_catch_up(dagbag: DagBag) -> None:
    for dag in dagbag.dags.values():
        assert dag.doc_md and dag.dag_id in dag.doc_md
        assert dag.catchup is False
        assert dag.max_active_runs == 1


def test_retrain_runs_each_stage_in_order_in_the_dvc_pool(dagbag: DagBag) -> None:
    dag = dagbag.dags["shopseq_retrain"]
    stages = list(orch.RETRAIN_STAGES)
    assert stages == [
        "ingest", "validate", "embed", "profiles", "sequences", "train", "champion", "evaluate", "gate"
    ]
    for upstream, downstream in zip(stages, stages[1:]):
        # check_new_data sits between validate and embed: it may end the run there.
        expected = {"check_new_data"} if upstream == "validate" else {downstream}
        assert dag.get_task(upstream).downstream_task_ids == expected
    assert dag.get_task("check_new_data").downstream_task_ids == {"embed"}
    for stage in stages:
        assert dag.get_task(stage).pool == orch.DVC_POOL
    assert dag.get_task("snapshot").pool == orch.DVC_POOL
    # reads the workspace with `dvc status`, which fails while another DAG's `dvc repro` holds its lock
    assert dag.get_task("check_new_data").pool == orch.DVC_POOL


def test_retrain_takes_until_and_force_params(dagbag: DagBag) -> None:
    params = dagbag.dags["shopseq_retrain"].params
    assert params["until"] == "" and params["force"] is False


def test_retrain_branches_on_the_gate_then_asks_a_person(dagbag: DagBag) -> None:
    from airflow.providers.standard.operators.hitl import ApprovalOperator

    dag = dagbag.dags["shopseq_retrain"]
    edges = {task.task_id: task.downstream_task_ids for task in dag.tasks}
    assert edges["gate"] == {"snapshot"}
    assert edges["snapshot"] == {"report"}
    assert edges["report"] == {"check_gate", "register"}  # register links the report in the request
    assert edges["check_gate"] == {"register", "gate_failed"}
    assert edges["register"] == {"approval", "promote"}
    assert edges["approval"] == {"promote"}
    assert edges["promote"] == {"record_rejection"}
    assert edges["gate_failed"] == set() and edges["record_rejection"] == set()
    approval = dag.get_task("approval")
    assert isinstance(approval, ApprovalOperator)
    hours = load_params(ROOT / "params.yaml").dags.approval_timeout_hours
    assert approval.response_timeout == timedelta(hours=hours)
    assert approval.defaults == ["Reject"], "no answer in time must not promote"
    assert dag.get_task("record_rejection").trigger_rule == "none_failed"


def test_schedule_retries_and_timeout_follow_the_projects_params(tmp_path: Path, monkeypatch) -> None:
    import yaml

    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["dags"] = {
        "retrain_schedule": "@daily",
        "retries": 5,
        "retry_delay_minutes": 7,
        "approval_timeout_hours": 3,
    }
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    monkeypatch.setenv(orch.PROJECT_ENV, str(tmp_path))
    dag = DagBag(dag_folder=str(DAGS)).dags["shopseq_retrain"]
    assert dag.schedule == "@daily"
    assert {task.retries for task in dag.tasks} == {5}
    assert {task.retry_delay for task in dag.tasks} == {timedelta(minutes=7)}
    assert dag.get_task("approval").response_timeout == timedelta(hours=3)


def test_default_schedule_is_weekly_without_an_immediate_first_run(dagbag: DagBag) -> None:
    # No start_date: with catchup=False the first scheduled run waits for the next slot, so
    # unpausing the DAG (as the demo does) does not start a second, unasked-for retrain.
    timetable = dagbag.dags["shopseq_retrain"].timetable
    assert timetable.expression == "0 0 * * 0"
    assert timetable.run_immediately is False
    assert dagbag.dags["shopseq_retrain"].start_date is None


def test_promote_emits_the_champion_and_profiles_assets(dagbag: DagBag) -> None:
    outlets = {asset.uri for asset in dagbag.dags["shopseq_retrain"].get_task("promote").outlets}
    assert outlets == {"shopseq://champion/", "shopseq://profiles/"}


@pytest.mark.parametrize(
    ("dag_id", "assets"),
    [
        ("shopseq_audiences", {"shopseq://champion/", "shopseq://profiles/"}),
        ("shopseq_forecast", {"shopseq://champion/"}),
    ],
)
def test_downstream_dags_run_their_stage_on_the_assets(dagbag: DagBag, dag_id: str, assets: set[str]) -> None:
    dag = dagbag.dags[dag_id]
    stage = dag_id.removeprefix("shopseq_")
    # Batch scoring with the new champion comes first in the audiences DAG.
    expected = ["score", stage] if stage == "audiences" else [stage]
    assert [task.task_id for task in dag.tasks] == expected
    for task_id in expected:
        assert dag.get_task(task_id).pool == orch.DVC_POOL
    scheduled_on = {asset.uri for asset in dag.timetable.asset_condition.objects}
    assert scheduled_on == assets


def test_rollback_is_manual_one_pooled_task_that_emits_the_champion(dagbag: DagBag) -> None:
    dag = dagbag.dags["shopseq_rollback"]
    assert dag.schedule is None
    assert [task.task_id for task in dag.tasks] == ["rollback"]
    task = dag.get_task("rollback")
    assert task.pool == orch.DVC_POOL
    assert {asset.uri for asset in task.outlets} == {"shopseq://champion/", "shopseq://profiles/"}
    assert "data_version" in dag.params


@pytest.mark.parametrize("dag_file", sorted(p.name for p in DAGS.glob("shopseq_*.py")))
def test_importing_a_dag_file_loads_nothing_heavy(dag_file: str) -> None:
    heavy = ("torch", "transformers", "pandas", "mlflow", "great_expectations", "sklearn", "dvc")
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('dag_under_test', {str(DAGS / dag_file)!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        f"print(','.join(m for m in {heavy!r} if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "", f"{dag_file} imports {result.stdout.strip()} at module level"


def _workspace_project(path: Path, workspace: str) -> Path:
    """A project directory holding params.yaml (with `dags.workspace`) and a copy of dags/."""
    import shutil

    import yaml

    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["dags"]["workspace"] = workspace
    path.mkdir(parents=True)
    (path / "params.yaml").write_text(yaml.safe_dump(raw))
    shutil.copytree(DAGS, path / "dags", ignore=shutil.ignore_patterns("__pycache__"))
    return path


def test_a_workspace_gets_its_own_dag_ids_pool_and_assets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With dags.workspace set (one Airflow serving several shops), nothing is shared with another shop."""
    monkeypatch.delenv("SHOPSEQ_PROJECT_DIR", raising=False)  # each DAG file finds its project as its parent
    bag = DagBag(dag_folder=str(_workspace_project(tmp_path / "shop", "shop_a") / "dags"))
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == {f"{dag_id}.shop_a" for dag_id in DAG_IDS}
    pools = {task.pool for dag in bag.dags.values() for task in dag.tasks}
    assert pools >= {"shopseq_dvc.shop_a"} and orch.DVC_POOL not in pools
    outlets = {asset.uri for asset in bag.dags["shopseq_retrain.shop_a"].get_task("promote").outlets}
    assert outlets == {"shopseq://champion.shop_a/", "shopseq://profiles.shop_a/"}
    scheduled_on = {asset.uri for asset in bag.dags["shopseq_forecast.shop_a"].timetable.asset_condition.objects}
    assert scheduled_on == {"shopseq://champion.shop_a/"}


def test_one_dags_folder_of_links_serves_two_shops(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The folder ClusterAirflow(workspaces=...) builds: a link per shop to its project's dags/."""
    monkeypatch.delenv("SHOPSEQ_PROJECT_DIR", raising=False)
    served = tmp_path / "served"
    served.mkdir()
    for shop in ("shop_a", "shop_b"):
        (served / shop).symlink_to(_workspace_project(tmp_path / shop, shop) / "dags", target_is_directory=True)
    bag = DagBag(dag_folder=str(served))
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == {f"{dag_id}.{shop}" for dag_id in DAG_IDS for shop in ("shop_a", "shop_b")}
    assert bag.dags["shopseq_retrain.shop_b"].get_task("train").pool == "shopseq_dvc.shop_b"
