"""What the DAG tasks do (shopseq.ops.orchestration, shopseq.ops.pipeline), checked without Airflow running."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from shopseq.config import load_params
from shopseq.ops import orchestration as orch
from shopseq.ops import pipeline

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    """A project directory with params.yaml and the three reports a promotion rests on."""
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    reports = tmp_path / "reports"
    (reports / "validation").mkdir(parents=True)
    (reports / "evaluate").mkdir()
    (reports / "validation" / "summary.json").write_text(
        json.dumps({"passed": True, "rows_in": 1200, "rows_accepted": 1190, "rows_quarantined": 10,
                    "data_version": "dv-abc123", "tables": {}})
    )
    (reports / "evaluate" / "metrics.json").write_text(
        json.dumps({
            "candidate": {"ndcg@10": 0.1234, "hr@10": 0.2, "mrr@10": 0.09},
            "popularity": {"ndcg@10": 0.05, "hr@10": 0.1, "mrr@10": 0.03},
            "champion": {"ndcg@10": 0.11, "hr@10": 0.19, "mrr@10": 0.08},
            "champion_version": "4",
        })
    )
    (reports / "gate.json").write_text(
        json.dumps({"passed": True, "reasons": ["ndcg@10 0.1234 >= floor 0.02", "beats popularity by 2.47x"]})
    )
    return tmp_path


def test_project_dir_prefers_the_environment(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(orch.PROJECT_ENV, str(project))
    assert orch.project_dir("/nonexistent") == project.resolve()
    monkeypatch.delenv(orch.PROJECT_ENV)
    assert orch.project_dir(project) == project.resolve()


def test_project_dir_names_the_directory_that_is_not_a_project(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(orch.PROJECT_ENV, str(tmp_path))
    with pytest.raises(FileNotFoundError, match=f"{tmp_path}.*no params.yaml.*{orch.PROJECT_ENV}"):
        orch.project_dir(ROOT)


def test_dag_settings_fall_back_to_defaults_on_a_broken_params_file(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text("dags:\n  retrain_schedul: '@daily'\n")
    settings = orch.dag_settings(tmp_path)
    assert settings.retrain_schedule == "@weekly" and settings.retries == 2


def test_single_item_repro_only_for_the_retrain_stages() -> None:
    assert pipeline.dvc_repro_command("train", single=True)[-3:] == ["repro", "--single-item", "train"]
    assert pipeline.dvc_repro_command("audiences", single=False)[-2:] == ["repro", "audiences"]
    assert pipeline.dvc_repro_command("train", single=True)[0] == sys.executable


def test_stage_env_puts_this_interpreters_bin_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/usr/bin")
    env = pipeline.stage_env()
    assert env["PATH"].split(":")[0] == str(Path(sys.executable).parent)
    assert env["HF_HUB_OFFLINE"] == "1"


def test_a_failing_stage_raises_naming_stage_and_project(project: Path) -> None:
    # A real dvc call in a directory with no DVC repository: dvc exits non-zero.
    with pytest.raises(RuntimeError, match=f"dvc repro validate failed .* in {project}"):
        pipeline.run_dvc_stage("validate", project)


def test_gate_passed_reads_the_gate_report(project: Path) -> None:
    params = load_params(project / "params.yaml")
    assert pipeline.gate_passed(project, params) is True
    (project / "reports" / "gate.json").write_text(json.dumps({"passed": False, "reasons": ["too low"]}))
    assert pipeline.gate_passed(project, params) is False
    (project / "reports" / "gate.json").unlink()
    with pytest.raises(FileNotFoundError, match="gate.json not found"):
        pipeline.gate_passed(project, params)


def test_approval_body_shows_metrics_data_version_and_reasons(project: Path) -> None:
    params = load_params(project / "params.yaml")
    body = orch.approval_body(pipeline.Reports.load(project, params), "5", "shopseq-next-item")
    assert "version **5**" in body
    assert "dv-abc123" in body and "quarantined 10" in body
    assert "| ndcg@10 | 0.1234 | 0.0500 | 0.1100 |" in body
    assert "champion (v4)" in body
    assert "- beats popularity by 2.47x" in body


def test_approval_body_without_a_champion(project: Path) -> None:
    metrics = project / "reports" / "evaluate" / "metrics.json"
    payload = json.loads(metrics.read_text()) | {"champion": None, "champion_version": None}
    metrics.write_text(json.dumps(payload))
    body = orch.approval_body(pipeline.Reports.load(project, load_params(project / "params.yaml")), "1", "m")
    assert "champion (none yet)" in body
    assert "| hr@10 | 0.2000 | 0.1000 | — |" in body


def test_hitl_answer_names_who_answered_and_why() -> None:
    from datetime import datetime, timezone

    event = {
        "chosen_options": ["Reject"],
        "params_input": {"reason": "worse on new users"},
        "responded_by_user": {"id": "alice", "name": "Alice"},
        "responded_at": datetime(2026, 7, 1, tzinfo=timezone.utc),
    }
    answer = orch.hitl_answer(event)
    json.dumps(answer)  # fits XCom as plain JSON
    assert orch.chosen_option(answer) == "Reject"
    assert orch.responder(answer) == "Alice"
    assert orch.approval_reason(answer, default="x") == "worse on new users"
    assert answer["responded_at"].startswith("2026-07-01")


def test_an_unanswered_request_is_attributed_to_the_timeout() -> None:
    answer = orch.hitl_answer({"chosen_options": ["Reject"], "params_input": {}, "responded_by_user": None})
    assert orch.responder(answer) == "timeout"
    assert orch.approval_reason(answer, default="no answer") == "no answer"
    assert orch.chosen_option(None) is None


def test_a_failed_gate_is_reported_with_its_reasons(project: Path, caplog: pytest.LogCaptureFixture) -> None:
    (project / "reports" / "gate.json").write_text(
        json.dumps({"passed": False, "reasons": ["fail: ndcg@10 0.01 vs floor 0.02"]})
    )
    with caplog.at_level("WARNING", logger="shopseq.ops.orchestration"):
        assert orch.report_gate_failure(project) == ["fail: ndcg@10 0.01 vs floor 0.02"]
    assert "champion unchanged: fail: ndcg@10 0.01 vs floor 0.02" in caplog.text


def test_the_approval_request_links_the_run_report(tmp_path: Path) -> None:
    report = tmp_path / "reports" / "runs" / "manual_1" / "report.html"
    line = orch.report_link(str(report))
    assert f"[open the run report]({report.as_uri()})" in line  # markdown: a link in Airflow's UI
    assert f"open `{report}`" in line
