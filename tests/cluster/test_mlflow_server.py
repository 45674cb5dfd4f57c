"""The MLflow server of the cluster: runs, artifacts and the registry over HTTP only.

The registry functions shopseq's tasks call (`register_candidate`, `promote`) run against a
real `mlflow server` on PostgreSQL with proxied artifacts. The fault case stops the server
during `register`: the task fails at once naming the server, and its retry after the server
is back registers exactly one version.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shopseq.ops.cluster.mlflow_server import MlflowServer
from shopseq.ops.cluster.services import Postgres
from shopseq.config import Params, load_params
from shopseq.tracking import TrackingUnavailable

ROOT = Path(__file__).resolve().parents[2]


class _Constant:
    """The smallest pyfunc model: the registry test is about HTTP, not about the model."""

    def predict(self, context, model_input, params=None):  # noqa: D102 - the pyfunc interface
        return model_input


def _log_candidate(params: Params, project: Path) -> str:
    """Log a run with a model through the server; write the candidate files a register task reads."""
    import mlflow
    from mlflow.pyfunc import PythonModel

    from shopseq.tracking import configure_mlflow

    configure_mlflow(params.base)
    model = type("ConstantModel", (_Constant, PythonModel), {})()
    with mlflow.start_run() as run:
        mlflow.log_metric("ndcg_at_10", 0.5)
        info = mlflow.pyfunc.log_model(name="model", python_model=model, pip_requirements=["mlflow"])
    candidate = project / params.paths.candidate
    candidate.mkdir(parents=True)
    meta = {"mlflow_run_id": run.info.run_id, "model_uri": info.model_uri, "git_commit": "abc",
            "data_version": "dv-test", "params_hash": "p"}  # fmt: skip
    (candidate / "meta.json").write_text(json.dumps(meta))
    reports = project / params.paths.reports
    (reports / "evaluate").mkdir(parents=True)
    (reports / "gate.json").write_text(json.dumps({"passed": True, "reasons": ["test"]}))
    (reports / "evaluate" / "metrics.json").write_text(json.dumps({"candidate": {"ndcg@10": 0.5}}))
    return run.info.run_id


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mlflow_server: MlflowServer) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.url)
    return tmp_path


def test_runs_and_models_go_through_the_server_only(
    project: Path, mlflow_server: MlflowServer, postgres: Postgres
) -> None:
    import mlflow

    from shopseq.registry import CHAMPION, promote

    params = load_params(ROOT / "params.yaml")
    run_id = _log_candidate(params, project)
    version = _register(params)
    promote(params.base, params.registry, approved_by="cluster-test", version=version, reason="test")

    client = mlflow.MlflowClient(mlflow_server.url)
    champion = client.get_model_version_by_alias(params.registry.model_name, CHAMPION)
    assert champion.version == version and champion.tags["promoted_by"] == "cluster-test"
    # proxied artifacts: the worker saw only an mlflow-artifacts: URI; the files sit in the
    # server's directory, and the run's rows in PostgreSQL
    assert client.get_run(run_id).info.artifact_uri.startswith("mlflow-artifacts:")
    assert list(mlflow_server.artifacts_dir.rglob("MLmodel"))
    assert not (project / "mlruns").exists() and not (project / "mlflow").exists()
    rows = postgres.sql(f"SELECT count(*) FROM runs WHERE run_uuid = '{run_id}'", database="mlflow")
    assert rows == [(1,)]


def test_register_while_the_server_is_down_fails_clearly_and_its_retry_adds_one_version(
    project: Path, mlflow_server: MlflowServer
) -> None:
    import mlflow


    params = load_params(ROOT / "params.yaml")
    run_id = _log_candidate(params, project)
    name = params.registry.model_name
    mlflow_server.stop()
    try:
        with pytest.raises(TrackingUnavailable, match=f"MLflow tracking server {mlflow_server.url} is unreachable"):
            _register(params)
    finally:
        mlflow_server.start()
    first = _register(params)  # Airflow's retry
    second = _register(params)  # and one more: a retry after a lost answer
    assert first == second
    versions = mlflow.MlflowClient(mlflow_server.url).search_model_versions(
        f"name = '{name}' and tags.candidate_run = '{run_id}'"
    )
    assert [v.version for v in versions] == [first]


def test_postgres_restarted_under_the_server_registers_after_it_and_moves_no_alias_during_it(
    project: Path, mlflow_server: MlflowServer, postgres: Postgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow
    from mlflow.exceptions import MlflowException

    # MLflow's client retries a failing server for minutes by default; one retry shows the same
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")

    from shopseq.registry import CHAMPION, promote

    params = load_params(ROOT / "params.yaml")
    name = params.registry.model_name
    client = mlflow.MlflowClient(mlflow_server.url)
    before = client.get_model_version_by_alias(name, CHAMPION).version  # from the first test
    run_id = _log_candidate(params, project)
    postgres.stop()
    try:
        with pytest.raises(MlflowException) as refused:  # the server answers, its store does not
            _register(params)
        print("register while PostgreSQL is down:", str(refused.value)[:300])
    finally:
        postgres.start()
    assert client.get_model_version_by_alias(name, CHAMPION).version == before
    version = _register(params)  # the retry, once PostgreSQL is back
    promote(params.base, params.registry, approved_by="cluster-test", version=version)
    versions = client.search_model_versions(f"name = '{name}' and tags.candidate_run = '{run_id}'")
    assert [v.version for v in versions] == [version]
    assert client.get_model_version_by_alias(name, CHAMPION).version == version != before


def _register(params):
    """`register_candidate` as the DAG's register task calls it."""
    from shopseq.registry import register_candidate

    return register_candidate(params.base, params.registry, params.paths.candidate, params.paths.reports)
