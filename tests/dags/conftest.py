"""Airflow for the DAG tests: a throwaway AIRFLOW_HOME with SQLite, set before airflow is imported.

Airflow reads its configuration once, at import, so the environment is set here at module
level (conftest modules are imported before the test modules of their directory).
"""

from __future__ import annotations

import atexit
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"
AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="shopseq-airflow-test-"))
atexit.register(shutil.rmtree, AIRFLOW_HOME, ignore_errors=True)
APPROVER = "test-approver"
APPROVER_PASSWORD = "test-password"
INTRUDER = "test-intruder"  # an admin, but not one of dags.approvers: must not be able to answer
INTRUDER_PASSWORD = "intruder-password"

os.environ.update(
    {
        "AIRFLOW_HOME": str(AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{APPROVER}:admin,{INTRUDER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(AIRFLOW_HOME / "passwords.json"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{AIRFLOW_HOME / 'airflow.db'}",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "GX_ANALYTICS_ENABLED": "false",
        "DVC_NO_ANALYTICS": "1",
    }
)
(AIRFLOW_HOME / "passwords.json").write_text(
    f'{{"{APPROVER}": "{APPROVER_PASSWORD}", "{INTRUDER}": "{INTRUDER_PASSWORD}"}}\n'
)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated Airflow metadata DB (SQLite) with the `shopseq_dvc` pool; returns AIRFLOW_HOME."""
    airflow = str(Path(sys.executable).parent / "airflow")
    subprocess.run([airflow, "db", "migrate"], check=True, capture_output=True, text=True)
    subprocess.run(
        [airflow, "pools", "set", "shopseq_dvc", "1", "tasks that change the DVC workspace"],
        check=True,
        capture_output=True,
        text=True,
    )
    return AIRFLOW_HOME


class ApprovalAnswerer:
    """Answers `shopseq_retrain`'s approval request through Airflow's REST API, from a thread.

    `dag.test()` keeps a run alive while a Human-in-the-loop task waits for input; a response
    must come from outside the loop. This thread plays the person: it waits for the approval
    task to park in `awaiting_input`, logs in as the test approver (POST /auth/token) and
    answers with PATCH .../hitlDetails on Airflow's real FastAPI app, in process. If anything
    goes wrong it fails the approval task, so `dag.test()` returns instead of waiting forever.
    """

    def __init__(self, option: str, reason: str) -> None:
        import threading

        self.option, self.reason = option, reason
        self.response: dict | None = None
        self.refused: dict[str, int] = {}  # who tried to answer before the approver, and the HTTP status
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="approver", daemon=True)

    def __enter__(self) -> "ApprovalAnswerer":
        # Import Airflow's models and build the API app here, in the calling thread: two
        # threads importing Airflow's ORM modules at once can deadlock on SQLAlchemy's mapper
        # configuration.
        from airflow.api_fastapi.app import create_app
        from airflow.models.taskinstance import TaskInstance  # noqa: F401
        from airflow.utils.session import create_session  # noqa: F401
        from fastapi.testclient import TestClient

        self._client = TestClient(create_app())
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def _awaiting_input(self):
        from sqlalchemy import select

        from airflow.models.taskinstance import TaskInstance
        from airflow.utils.session import create_session
        from airflow.utils.state import TaskInstanceState

        with create_session() as session:
            ti = session.scalar(
                select(TaskInstance).where(
                    TaskInstance.dag_id == "shopseq_retrain",
                    TaskInstance.task_id == "approval",
                    TaskInstance.state == TaskInstanceState.AWAITING_INPUT,
                )
            )
            return (ti.id, ti.run_id) if ti else None

    def _run(self) -> None:
        parked = None
        try:
            while not self._stop.is_set() and parked is None:
                parked = self._awaiting_input()
                self._stop.wait(1.0)
            if parked is None:
                return
            client = self._client
            path = f"/api/v2/dags/shopseq_retrain/dagRuns/{parked[1]}/taskInstances/approval/-1/hitlDetails"
            approve = {"chosen_options": ["Approve"], "params_input": {"reason": "not mine to decide"}}
            # First the ones who must be refused: nobody logged in, and an admin not among the approvers.
            self.refused["anonymous"] = client.patch(path, json=approve).status_code
            self.refused["intruder"] = client.patch(
                path, headers=self._login(INTRUDER, INTRUDER_PASSWORD), json=approve
            ).status_code
            headers = self._login(APPROVER, APPROVER_PASSWORD)
            request = client.get(path, headers=headers)
            request.raise_for_status()
            self.request = request.json()
            answer = client.patch(
                path,
                headers=headers,
                json={"chosen_options": [self.option], "params_input": {"reason": self.reason}},
            )
            answer.raise_for_status()
            self.response = answer.json()
        except BaseException as error:  # noqa: BLE001 - reported by the test, never swallowed
            self.error = error
            if parked is not None:
                self._fail(parked[0])

    def _login(self, username: str, password: str) -> dict[str, str]:
        login = self._client.post("/auth/token", json={"username": username, "password": password})
        login.raise_for_status()
        return {"Authorization": f"Bearer {login.json()['access_token']}"}

    @staticmethod
    def _fail(ti_id) -> None:
        from airflow.models.taskinstance import TaskInstance
        from airflow.utils.session import create_session
        from airflow.utils.state import TaskInstanceState

        with create_session() as session:
            session.get(TaskInstance, ti_id).state = TaskInstanceState.FAILED


@pytest.fixture(scope="session")
def approval_answerer() -> type[ApprovalAnswerer]:
    """The class that answers approval requests through the REST API (as `approver`)."""
    return ApprovalAnswerer


@pytest.fixture(scope="session")
def approver() -> str:
    """The SimpleAuthManager user that answers approval requests in the tests."""
    return APPROVER

