"""`shopseq demo` and the local Airflow it starts: summary contract, environment, clean-up."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tiny_project import ROOT, make_tiny_project

from shopseq.ops.airflow_local import AirflowError, LocalAirflow, stop_process_group, wait_until
from shopseq.ops.demo import build_summary, format_summary
from shopseq.ops.pipeline import Reports

SHOPSEQ = str(Path(sys.executable).parent / "shopseq")



@pytest.fixture()
def reports() -> Reports:
    return Reports(
        validation={"passed": True, "rows_in": 100, "rows_accepted": 98, "rows_quarantined": 2,
                    "data_version": "dv-1", "tables": {}},
        metrics={
            "candidate": {"ndcg@10": 0.2, "hr@10": 0.4, "mrr@10": 0.15, "ndcg@20": 0.3},
            "popularity": {"ndcg@10": 0.1, "hr@10": 0.2, "mrr@10": 0.05},
            "champion": None,
            "champion_version": None,
        },
        gate={"passed": True, "reasons": ["pass: ndcg@10 0.2 vs floor 0.02"]},
    )


def test_summary_has_every_key_design_md_promises(reports: Reports, tmp_path: Path) -> None:
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    summary = build_summary(reports, tmp_path, "3", "demo-approver", 123.4, {"shopseq_retrain": "success"})
    json.dumps(summary)
    assert {"data_version", "validation", "metrics", "gate", "champion_version", "approved_by",
            "wall_seconds"} <= summary.keys()
    assert summary["validation"] == {"passed": True, "rows_in": 100, "rows_accepted": 98, "rows_quarantined": 2}
    assert summary["metrics"]["candidate"] == {"ndcg@10": 0.2, "hr@10": 0.4, "mrr@10": 0.15}
    assert summary["metrics"]["champion_before"] is None
    assert summary["gate"] == {"passed": True, "reasons": ["pass: ndcg@10 0.2 vs floor 0.02"]}
    assert (summary["champion_version"], summary["approved_by"], summary["wall_seconds"]) == ("3", "demo-approver", 123.4)
    assert summary["reports"]["summary"] == str(tmp_path / "reports" / "demo_summary.json")


def test_printed_summary_shows_the_decision(reports: Reports, tmp_path: Path) -> None:
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    text = format_summary(build_summary(reports, tmp_path, "3", "demo-approver", 61.0, {"shopseq_retrain": "success"}))
    assert "dv-1" in text and "quarantined 2" in text
    assert "ndcg@10        0.2000      0.1000                —" in text
    assert "champion version   3 (approved by demo-approver)" in text
    assert "- pass: ndcg@10 0.2 vs floor 0.02" in text


def test_local_airflow_lives_inside_the_project(tmp_path: Path) -> None:
    airflow = LocalAirflow(project=tmp_path, port=18080, user="someone")
    env = airflow.env()
    assert env["AIRFLOW_HOME"] == str(tmp_path / "airflow")
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"sqlite:///{tmp_path / 'airflow' / 'airflow.db'}"
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(tmp_path / "dags")
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == "someone:admin"
    assert {env["AIRFLOW__API__PORT"], env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"],
            env["AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT"]} == {"18080", "18081", "18082"}
    assert env["SHOPSEQ_PROJECT_DIR"] == str(tmp_path)


def test_the_users_password_is_made_once_and_kept_private(tmp_path: Path) -> None:
    airflow = LocalAirflow(project=tmp_path, user="someone")
    first = airflow.password()
    assert first == airflow.password() and len(first) >= 12
    assert json.loads(airflow.passwords_file.read_text()) == {"someone": first}
    assert airflow.passwords_file.stat().st_mode & 0o077 == 0


def test_stopping_the_group_stops_every_process_in_it() -> None:
    process = subprocess.Popen(
        ["bash", "-c", "sleep 600 & sleep 600 & echo ready; wait"],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert process.stdout.readline().strip() == "ready"
    assert len(_alive_in_group(process.pid)) == 3  # bash and its two sleeps
    stop_process_group(process, grace_s=10)
    assert _alive_in_group(process.pid) == []


def _stat(pid_dir: Path) -> tuple[str, int] | None:
    """(state, process group) of one /proc/<pid>, or None when it is gone."""
    try:
        fields = (pid_dir / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return fields[0], int(fields[2])


def _alive_in_group(pgid: int) -> list[int]:
    """Processes of group `pgid` that still run (zombies are dead, merely not yet reaped)."""
    return [
        int(pid_dir.name)
        for pid_dir in Path("/proc").glob("[0-9]*")
        if (stat := _stat(pid_dir)) and stat[1] == pgid and stat[0] != "Z"
    ]


def _processes_using(airflow_home: Path) -> list[int]:
    """Live processes whose environment sets AIRFLOW_HOME to `airflow_home`."""
    needle = f"AIRFLOW_HOME={airflow_home}".encode()
    found = []
    for pid_dir in Path("/proc").glob("[0-9]*"):
        try:
            environ = (pid_dir / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if needle in environ and (stat := _stat(pid_dir)) and stat[0] != "Z":
            found.append(int(pid_dir.name))
    return found


def test_waiting_on_a_dead_process_says_what_it_waited_for() -> None:
    with pytest.raises(AirflowError, match="stopped while waiting for Airflow to start; see the log"):
        wait_until(lambda: False, timeout_s=60, what="Airflow to start", alive=lambda: False, hint="see the log")


def test_a_busy_port_is_refused_with_a_hint(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        airflow = LocalAirflow(project=tmp_path, port=port)
        with pytest.raises(AirflowError, match=f"port {port} is already in use.*SHOPSEQ_AIRFLOW_PORT"):
            with airflow.running():
                pass


def _free_port_triple() -> int:
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port < 65000 and all(_free(p) for p in (port, port + 1, port + 2)):
            return port
    raise RuntimeError("no three consecutive free ports")


def _free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def _clean_env(port: int | None = None) -> dict[str, str]:
    """The environment of a user who set nothing: no Airflow, MLflow or shopseq project variables."""
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW", "MLFLOW_")) and k != "SHOPSEQ_PROJECT_DIR"
    }
    if port is not None:
        env["SHOPSEQ_AIRFLOW_PORT"] = str(port)
    return env


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    """`shopseq demo` once on a tiny copy of the project: real Airflow standalone, real REST approval."""
    project = make_tiny_project(tmp_path_factory.mktemp("demo") / "project")
    result = subprocess.run(
        [SHOPSEQ, "demo", "--project", str(project)], cwd=project, env=_clean_env(_free_port_triple()),
        capture_output=True, text=True, timeout=1200,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return project, result


@pytest.mark.slow
def test_demo_runs_retrain_approval_and_downstream_on_tiny_data(demo) -> None:
    project, result = demo
    summary = json.loads((project / "reports" / "demo_summary.json").read_text())
    assert summary["approved_by"] == "demo-approver"
    assert summary["champion_version"] == "1"
    assert summary["dag_runs"] == {
        "shopseq_retrain": "success", "shopseq_audiences": "success", "shopseq_forecast": "success"
    }
    assert summary["gate"]["passed"] is True and summary["validation"]["passed"] is True
    assert "answers Approve through the REST API" in result.stderr
    assert "champion version   1 (approved by demo-approver)" in result.stdout
    # What the console showed while it waited: the running task's own progress, from its log.
    assert "  train | trial 1/1: " in result.stderr and "  train | epoch 1/1: train loss " in result.stderr
    assert "next steps" in result.stdout and "#/models/shopseq-next-item/versions/1" in result.stdout
    report = Path(summary["reports"]["html"])
    assert report.is_file() and "Audiences — not run" not in report.read_text(), "rebuilt after the downstream DAGs"
    assert _processes_using(project / "airflow") == [], "the demo left Airflow processes running"
    assert not (project / "mlflow.db").exists(), "something used MLflow's default store instead of the project's"


@pytest.mark.slow
def test_after_the_demo_serve_answers_with_the_champion_and_no_mlflow_variable(demo) -> None:
    """`shopseq serve` right after the demo, as a user runs it: the project's store, not ./mlflow.db."""
    import httpx

    from shopseq.benchmarks.serve import free_port

    project, _ = demo
    port = free_port()
    log_file = project / "serve-test.log"
    with open(log_file, "w") as log_handle:
        service = subprocess.Popen(
            [SHOPSEQ, "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=project, env=_clean_env(), stdout=log_handle, stderr=subprocess.STDOUT,
        )
        try:
            health = wait_until(
                lambda: _health(f"http://127.0.0.1:{port}/health"), timeout_s=180, what="shopseq serve",
                alive=lambda: service.poll() is None, hint=f"see {log_file}",
            )
            assert health["model_version"] == "1"
            answer = httpx.post(f"http://127.0.0.1:{port}/recommend", json={"user_id": _a_user(project), "k": 5})
        finally:
            service.terminate()
            service.wait(timeout=30)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["model_version"], body["source"]) == ("1", "model")
    assert len(body["items"]) == 5
    assert not (project / "mlflow.db").exists(), "serve created MLflow's default store in the project root"


@pytest.mark.slow
def test_after_the_demo_the_serve_benchmark_measures_the_champion(demo, tmp_path: Path) -> None:
    project, _ = demo
    out = tmp_path / "serve"
    result = subprocess.run(
        [SHOPSEQ, "benchmark", "serve", "--out", str(out), "--rates", "10", "--seconds", "2", "--registry", "project"],
        cwd=project, env=_clean_env(), capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((out / "serve.json").read_text())
    assert report["served_version"] == "1"
    assert [(row["rps"], row["errors"]) for row in report["rows"]] == [(10.0, 0)]
    assert not (project / "mlflow.db").exists()


def _health(url: str) -> dict | None:
    import httpx

    try:
        return httpx.get(url, timeout=5).json()
    except httpx.HTTPError:
        return None


def _a_user(project: Path) -> str:
    import pandas as pd

    events = pd.read_parquet(project / "data" / "validated" / "events.parquet", columns=["user_id"])
    return str(events["user_id"].value_counts().index[0])


def test_waiting_reports_what_is_running(caplog: pytest.LogCaptureFixture) -> None:
    answers = iter([None, None, "done"])
    with caplog.at_level("INFO", logger="shopseq.ops.airflow_local"):
        result = wait_until(
            lambda: next(answers), timeout_s=60, what="the run", poll_s=0, report_s=0, detail=lambda: "running: train"
        )
    assert result == "done"
    assert "still waiting for the run (" in caplog.text and "; running: train)" in caplog.text


def test_the_demo_answers_only_once_the_scheduler_saw_the_task_park(tmp_path: Path) -> None:
    from shopseq.ops.demo import scheduler_saw_park

    run = "manual__2026-07-01T00:00:00+00:00"
    line = (
        "scheduler  | 2026-07-01T00:00:09Z [info ] TaskInstance Finished: dag_id=shopseq_retrain, "
        f"task_id=approval, run_id={run}, map_index=-1, ti_id=x, run_start_date=..., state={{state}}, "
        "executor=LocalExecutor(parallelism=2), executor_state=success, try_number={try_number}, max_tries=2\n"
    )
    log = tmp_path / "standalone.log"
    log.write_text(line.format(state="awaiting_input", try_number=1))
    offset = log.stat().st_size
    assert scheduler_saw_park(log, 0, run, 1)
    assert not scheduler_saw_park(log, offset, run, 1), "lines before the offset belong to earlier runs"
    with log.open("a") as stream:
        stream.write(line.format(state="queued", try_number=2))
    assert not scheduler_saw_park(log, offset, run, 2)
    with log.open("a") as stream:
        stream.write(line.format(state="awaiting_input", try_number=2))
    assert scheduler_saw_park(log, offset, run, 2)
    assert not scheduler_saw_park(log, offset, "manual__other", 2)
    # a workspace's DAG (one Airflow serving several shops) is told apart by its id
    assert not scheduler_saw_park(log, offset, run, 2, "shopseq_retrain.shop_a")
    with log.open("a") as stream:
        stream.write(line.replace("dag_id=shopseq_retrain,", "dag_id=shopseq_retrain.shop_a,").format(state="awaiting_input", try_number=2))
    assert scheduler_saw_park(log, offset, run, 2, "shopseq_retrain.shop_a")


def test_a_busy_default_port_is_skipped_and_the_choice_is_said() -> None:
    from shopseq.ops.ports import choose_port

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        port, said = choose_port({}, preferred=busy)
    assert port != busy and port >= busy + 3
    assert said == f"port {busy} is busy, so Airflow will listen on {port}-{port + 2} (set SHOPSEQ_AIRFLOW_PORT to choose)"


def test_a_busy_pinned_port_stops_the_demo_before_anything_starts(tmp_path: Path) -> None:
    """`shopseq demo` with SHOPSEQ_AIRFLOW_PORT busy: one line, exit 1, no Airflow home made, no missing log named."""
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "SHOPSEQ_AIRFLOW_PORT": str(port)}
        shopseq = str(Path(sys.executable).parent / "shopseq")
        done = subprocess.run([shopseq, "demo", "--project", str(tmp_path)], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines[-2].startswith(f"error: port {port} is already in use (SHOPSEQ_AIRFLOW_PORT={port}")
    assert lines[-1] == "hint: nothing was started; the demo checks its ports first"
    assert not (tmp_path / "airflow").exists()


def test_make_demo_checks_the_port_before_the_install(tmp_path: Path) -> None:
    """The Makefile runs ports.py with the bare system Python (no venv, stdlib only) before `setup`."""
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\ndemo:", 1)[1].split("\n\n", 1)[0]
    assert recipe.index("src/shopseq/ops/ports.py") < recipe.index("setup")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-I", str(ROOT / "src/shopseq/ops/ports.py")], capture_output=True,
                              text=True, env={"SHOPSEQ_AIRFLOW_PORT": str(port), "PATH": os.environ["PATH"]})
    assert done.returncode == 1 and f"port {port} is already in use" in done.stderr


def test_the_console_shows_running_tasks_progress_from_their_logs(tmp_path: Path) -> None:
    from shopseq.ops.task_logs import TaskLogTail, task_log_dir

    run = "manual__2026-07-01T00:00:00+00:00"
    folder = task_log_dir(tmp_path, "shopseq_retrain", run, "train")
    folder.mkdir(parents=True)
    log = folder / "attempt=1.log"

    def event(message: str) -> str:
        return json.dumps({"timestamp": "2026-07-01T00:00:01Z", "level": "info", "event": message,
                           "logger": "shopseq.ops.pipeline"}) + "\n"

    log.write_text(event("running dvc repro --single-item train in /p") + event("Running stage 'train':")
                   + event("2026-07-01 00:00:02,001 INFO shopseq.training.tune: trial 1/3: {'family': 'gru'}"))
    tail = TaskLogTail(tmp_path, "shopseq_retrain", run)
    assert tail.new_progress("train") == ["Running stage 'train':", "trial 1/3: {'family': 'gru'}"]
    assert tail.new_progress("train") == []
    with log.open("a") as stream:
        stream.write(event("2026-07-01 00:00:09,001 INFO shopseq.training.fit: epoch 2/5: train loss 5.1234")
                     + event("some mlflow chatter") + '{"event": "epoch 3/5: train loss 4.9')  # half-written
    assert tail.new_progress("train") == ["epoch 2/5: train loss 5.1234"]
    (folder / "attempt=2.log").write_text(event("embed: 640/2000 texts (95.3 texts/s)"))
    assert tail.new_progress("train") == ["embed: 640/2000 texts (95.3 texts/s)"], "the newest attempt is followed"
    assert tail.new_progress("score") == []


def test_the_summary_ends_with_next_steps(reports: Reports, tmp_path: Path) -> None:
    from shopseq.ops.demo import DemoSettings, next_steps

    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    summary = build_summary(reports, tmp_path, "3", "demo-approver", 61.0, {"shopseq_retrain": "success"})
    summary["reports"]["html"] = str(tmp_path / "reports/runs/manual_1/report.html")
    env = {k: os.environ.pop(k) for k in ("MLFLOW_TRACKING_URI",) if k in os.environ}
    try:
        summary["next_steps"] = next_steps(tmp_path, summary, DemoSettings(port=8083))
    finally:
        os.environ.update(env)
    text = format_summary(summary)
    assert f"run report (HTML)  {tmp_path}/reports/runs/manual_1/report.html" in text
    assert ".venv/bin/shopseq demo --serve  (then http://localhost:8083, user demo-approver" in text
    assert f".venv/bin/mlflow ui --backend-store-uri sqlite:///{tmp_path}/mlflow/mlflow.db --port 5000" in text
    assert "champion model   http://localhost:5000/#/models/shopseq-next-item/versions/3" in text
    assert "training runs" not in text, "no experiment in an empty store: no link to a page that does not exist"
