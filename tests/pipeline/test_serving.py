"""`shopseq serve` against a real SQLite MLflow registry in tmp_path, with tiny trained models.

Two versions of the model are logged as the project's pyfunc and registered; version 1 starts as
champion. Most tests call the app in-process (FastAPI's TestClient runs its lifespan, so the
champion is really loaded from the registry); the swap test runs uvicorn on loopback while a
thread keeps sending requests and the champion alias moves underneath it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
import schemathesis
import yaml
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from shopseq.config import Params, Serve, load_params
from shopseq.registry import describe, promote
from shopseq.sequences.recommender import save_recommender
from shopseq.serving.app import create_app
from shopseq.serving.fallback import recent_popularity

from serving_shop import NEW_USER, train_model, write_shop

MAX_K, MAX_ITEMS = 8, 5
SERVE = {"max_k": MAX_K, "max_items": MAX_ITEMS, "poll_seconds": 0.2, "recent_days": 7, "threads": 0}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A tiny shop, two trained versions in the registry, version 1 champion."""
    import mlflow

    from shopseq.registry.pyfunc import log_recommender
    from shopseq.tracking import configure_mlflow

    root = tmp_path_factory.mktemp("serving")
    old = Path.cwd()
    os.chdir(root)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    try:
        (root / "params.yaml").write_text(
            yaml.safe_dump(
                {
                    "base": {"progress": "logs", "mlflow_uri": "sqlite:///mlflow/mlflow.db"},
                    "serve": SERVE,
                }
            )
        )
        item_ids = write_shop(root)
        params = load_params()
        configure_mlflow(params.base)
        for seed in (0, 1):
            model_dir = root / f"models/seed{seed}"
            save_recommender(train_model(root, item_ids, seed=seed), model_dir)
            with mlflow.start_run(run_name=f"seed{seed}"):
                uri = log_recommender(model_dir)
            mlflow.register_model(uri, params.registry.model_name)
        promote(params.base, params.registry, approved_by="tester", version="1", reason="first")
        yield root
    finally:
        os.chdir(old)


@pytest.fixture
def client(project, monkeypatch):
    monkeypatch.chdir(project)
    params = load_params()
    promote(params.base, params.registry, approved_by="tester", version="1", reason="each test starts from version 1")
    with TestClient(create_app(params)) as client:
        yield client


def test_recommend_for_a_known_user_comes_from_the_champion(client):
    answer = client.post("/recommend", json={"user_id": "u01", "k": 5})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["model_version"], body["source"], body["fallback_reason"]) == ("1", "model", None)
    assert [i["rank"] for i in body["items"]] == [1, 2, 3, 4, 5]
    scores = [i["score"] for i in body["items"]]
    assert scores == sorted(scores, reverse=True) and 0 < sum(scores) <= 1
    assert {i["item_id"] for i in body["items"]} <= {f"i{i:02d}" for i in range(12)}


def test_recommend_for_an_ad_hoc_sequence_ignores_and_reports_unknown_items(client):
    answer = client.post("/recommend", json={"items": ["i00", "nope", "i03"], "k": 3})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["source"] == "model" and body["unknown_items"] == ["nope"]
    assert len(body["items"]) == 3 and body["model_version"] == "1"
    # The same sequence without the unknown item gets the same answer.
    clean = client.post("/recommend", json={"items": ["i00", "i03"], "k": 3}).json()
    assert clean["items"] == body["items"]


@pytest.mark.parametrize(
    "request_body, reason",
    [
        ({"user_id": "never-seen", "k": 4}, "unknown user"),
        ({"user_id": NEW_USER, "k": 4}, "no item of the sequence is known to the model"),
        ({"items": ["x1", "x2"], "k": 4}, "no item of the sequence is known to the model"),
    ],
)
def test_users_and_sequences_the_model_cannot_score_get_recent_popularity(client, project, request_body, reason):
    answer = client.post("/recommend", json=request_body)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["source"], body["fallback_reason"], body["model_version"]) == ("recent_popularity", reason, "1")
    expected = recent_popularity(pd.read_parquet(project / "data/validated/events.parquet"), days=7).head(4)
    assert [i["item_id"] for i in body["items"]] == list(expected.index)
    assert [i["score"] for i in body["items"]] == pytest.approx(list(expected))


@pytest.mark.parametrize(
    "request_body, field",
    [
        ({"user_id": "u01", "k": 0}, "k"),
        ({"user_id": "u01", "k": MAX_K + 1}, "k"),
        ({"user_id": "u01", "k": "ten"}, "k"),
        ({"user_id": "u01", "k": 2.5}, "k"),
        ({"items": ["i00"] * (MAX_ITEMS + 1)}, "items"),
        ({"items": []}, "items"),
        ({"items": "i00 i01"}, "items"),
        ({"items": ["i00", 7]}, "items"),
        ({"items": ["x" * 129]}, "items"),
        ({"user_id": 17}, "user_id"),
        ({"user_id": ""}, "user_id"),
        ({"user_id": "u01", "colour": "red"}, "colour"),
        ({}, "exactly one of user_id or items"),
        ({"user_id": "u01", "items": ["i00"]}, "exactly one of user_id or items"),
    ],
)
def test_invalid_requests_get_422_naming_what_is_wrong(client, request_body, field):
    answer = client.post("/recommend", json=request_body)
    assert answer.status_code == 422
    assert field in answer.text


@pytest.mark.parametrize("raw", [b"", b"{not json", b"[1, 2]", b"\xff\xfe{}"])
def test_a_missing_or_malformed_body_gets_422(client, raw):
    answer = client.post("/recommend", content=raw, headers={"content-type": "application/json"})
    assert answer.status_code == 422


def test_health_names_the_served_version_and_when_it_was_loaded(client):
    body = client.get("/health").json()
    assert (body["status"], body["model_version"]) == ("ok", "1")
    assert body["model_uri"] == "models:/shopseq-next-item/1"
    assert datetime.fromisoformat(body["loaded_at"]).tzinfo is not None
    assert (body["n_users"], body["n_items"]) == (31, 12)


def test_the_service_swaps_to_a_new_champion_while_answering_without_errors(project, monkeypatch):
    import httpx

    monkeypatch.chdir(project)
    params = load_params()
    promote(params.base, params.registry, approved_by="tester", version="1", reason="start from version 1")

    def body(i: int) -> dict:
        return {"user_id": f"u{i % 30:02d}", "k": 5} if i % 2 else {"items": ["i01", "i04"], "k": 5}

    with _service(params) as url, _asking(url, body, lambda answer: answer.get("model_version")) as answers:
        _wait_for(lambda: len(answers) >= 20, "answers from version 1")
        promote(params.base, params.registry, approved_by="tester", version="2", reason="swap under load")
        _wait_for(lambda: httpx.get(url + "/health").json()["model_version"] == "2", "the swap to version 2")
        seen = len(answers)
        _wait_for(lambda: len(answers) >= seen + 20, "answers after the swap")

    assert all(status == 200 for status, _ in answers), [a for a in answers if a[0] != 200][:5]
    versions = [version for _, version in answers]
    first_new = versions.index("2")
    assert versions[0] == "1" and set(versions[first_new:]) == {"2"}  # never back to the old model
    assert describe(params.base, params.registry)["champion"]["version"] == "2"


def test_a_user_added_to_the_validated_events_becomes_known_without_a_restart(project, monkeypatch):
    """New validated data names a new user: the running service serves their history once the file changes,
    while every request, before, during and after the reload, succeeds."""
    import httpx

    from shopseq.io import write_parquet

    monkeypatch.chdir(project)
    params = load_params()
    promote(params.base, params.registry, approved_by="tester", version="1", reason="start from version 1")
    events_file = project / "data/validated/events.parquet"
    original = pd.read_parquet(events_file)

    def body(i: int) -> dict:
        return {"user_id": "u_late" if i % 2 else f"u{i % 30:02d}", "k": 5}

    try:
        with _service(params) as url:
            def ask_late() -> dict:
                return httpx.post(url + "/recommend", json={"user_id": "u_late", "k": 5}).json()

            assert ask_late()["fallback_reason"] == "unknown user"
            n_users = httpx.get(url + "/health").json()["n_users"]
            with _asking(url, body, lambda answer: answer.get("source")) as answers:
                _wait_for(lambda: len(answers) >= 20, "answers before the new data")
                late = original[original["user_id"] == "u01"].assign(user_id="u_late")  # items the model knows
                write_parquet(pd.concat([original, late], ignore_index=True), events_file)  # as `validate` writes it
                _wait_for(lambda: ask_late()["source"] == "model", "u_late to be served from their history")
                seen = len(answers)
                _wait_for(lambda: len(answers) >= seen + 20, "answers after the reload")
            health = httpx.get(url + "/health").json()
    finally:
        write_parquet(original, events_file)  # the module's other tests expect the shop as written

    assert all(status == 200 for status, _ in answers), [a for a in answers if a[0] != 200][:5]
    assert health["n_users"] == n_users + 1 and health["users_check_error"] is None
    assert health["model_version"] == "1"  # the data changed, the champion did not


@contextmanager
def _service(params: Params) -> Iterator[str]:
    """The service under uvicorn in a thread on a free loopback port: yields its URL."""
    import uvicorn

    from shopseq.benchmarks.serve import free_port

    server = uvicorn.Server(uvicorn.Config(create_app(params), host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        _wait_for(lambda: server.started, "the server to start")
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(30)


@contextmanager
def _asking(url: str, body: Callable[[int], dict], what: Callable[[dict], object]) -> Iterator[list]:
    """A thread posting `body(i)` to /recommend, i = 0, 1, ..., until the block ends.

    Yields the growing list of answers: (status, what(response json)), or (0, error) on a
    connection error.
    """
    import httpx

    answers: list[tuple[int, object]] = []
    stop = threading.Event()

    def keep_asking() -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            i = 0
            while not stop.is_set():
                try:
                    response = http.post("/recommend", json=body(i))
                    answers.append((response.status_code, what(response.json())))
                except httpx.HTTPError as error:
                    answers.append((0, repr(error)))
                i += 1

    asker = threading.Thread(target=keep_asking)
    asker.start()
    try:
        yield answers
    finally:
        stop.set()
        asker.join(30)


def test_the_registry_source_tells_a_missing_alias_from_a_missing_model(project, monkeypatch):
    from mlflow import MlflowClient

    from shopseq.serving.champion import ChampionSource, NoChampionError

    monkeypatch.chdir(project)
    params = load_params()
    source = ChampionSource.from_params(params)
    assert source.champion_version() == describe(params.base, params.registry)["champion"]["version"]
    MlflowClient(tracking_uri=source.store_uri, registry_uri=source.store_uri).create_registered_model("no-alias")
    for name in ("no-alias", "no-such-model"):
        other = ChampionSource(source.store_uri, name)
        assert other.champion_version() is None
        with pytest.raises(NoChampionError, match=f"{name} has no champion"):
            other.load_champion()


def test_the_cli_writes_the_openapi_schema_and_refuses_to_serve_without_a_champion(tmp_path):
    import json
    import subprocess
    import sys

    shopseq = str(Path(sys.executable).with_name("shopseq"))
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"serve": {"max_k": 7}}))
    done = subprocess.run([shopseq, "serve", "--openapi", "api/openapi.json"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    spec = json.loads((tmp_path / "api/openapi.json").read_text())
    assert {"/recommend", "/health"} <= set(spec["paths"])
    assert spec["components"]["schemas"]["RecommendRequest"]["properties"]["k"]["maximum"] == 7

    write_shop(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    done = subprocess.run([shopseq, "serve"], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 1
    assert "error: shopseq-next-item has no champion in the registry" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_cli_serves_the_champion_from_the_projects_store_with_no_mlflow_variable(project):
    """A user's shell sets no MLflow variable: `shopseq serve` must still find the project's registry."""
    import subprocess
    import sys

    import httpx

    from shopseq.benchmarks.serve import free_port

    params = load_params(project / "params.yaml")
    promote(params.base, params.registry, approved_by="tester", version="1", reason="tests start from 1")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    port = free_port()
    shopseq = str(Path(sys.executable).with_name("shopseq"))
    service = subprocess.Popen(
        [shopseq, "serve", "--host", "127.0.0.1", "--port", str(port)], cwd=project, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        _wait_for(lambda: service.poll() is not None or _answers(f"http://127.0.0.1:{port}/health"), "the service")
        assert service.poll() is None, service.stderr.read()[-3000:]
        body = httpx.post(f"http://127.0.0.1:{port}/recommend", json={"user_id": "u01", "k": 3}).json()
    finally:
        service.terminate()
        service.wait(timeout=30)
    assert (body["model_version"], body["source"], len(body["items"])) == ("1", "model", 3)
    assert not (project / "mlflow.db").exists(), "serve created MLflow's default store in the project root"


def _answers(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


# The schema is read from the app object (no lifespan runs for that). Schemathesis starts this
# app's lifespan at its first call, in the project directory the `schema_app` fixture moved to,
# and keeps it for the session: the champion is really loaded from the test registry.
SCHEMA_APP = create_app(Params(serve=Serve(**SERVE)))
schema = schemathesis.openapi.from_dict(SCHEMA_APP.openapi())
schema.app = SCHEMA_APP


@pytest.fixture
def schema_app(project, monkeypatch):
    monkeypatch.chdir(project)
    params = load_params()
    promote(params.base, params.registry, approved_by="tester", version="1", reason="each test starts from version 1")
    return SCHEMA_APP


@schema.parametrize()
@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_the_schema_allows_or_forbids_causes_a_server_error(case, schema_app):
    case.call_and_validate(checks=[not_a_server_error, status_code_conformance, response_schema_conformance])


def _wait_for(condition, what: str, timeout_s: float = 60.0) -> None:
    """Poll `condition` until true; fail naming `what` after `timeout_s` (a hang guard, not a timing)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
