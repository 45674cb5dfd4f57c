"""Faults never leave half-written work behind, and repeating a task repeats nothing.

- `train` killed with SIGKILL mid-training (what an OOM killer or a lost worker does): no model
  directory, no stray temporary directory, and the retry (the same command, as Airflow's
  retry runs it) succeeds.
- Registering the same candidate twice (a cleared and rerun `register` task) gives the same
  registry version, not a duplicate.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import chdir
from pathlib import Path

import pytest

from shopseq.config import load_params
from test_dvc_repro import project as project  # noqa: F401 - the tiny DVC project fixture
from test_dvc_repro import sh

pytestmark = pytest.mark.slow

DVC = Path(sys.executable).with_name("dvc")


def _kill_when(command: list[str], cwd: Path, marker: str, timeout: float = 600) -> list[str]:
    """Start `command`, SIGKILL its whole process group once a line contains `marker`."""
    env = {**os.environ, "PATH": f"{DVC.parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("MLFLOW_TRACKING_URI", None)
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    for line in process.stdout:
        seen.append(line)
        if marker in line:
            os.killpg(process.pid, signal.SIGKILL)
            break
        if time.monotonic() > deadline:
            break
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, "".join(seen[-30:])
    return seen


def test_training_killed_mid_run_leaves_nothing_half_written_and_the_retry_succeeds(project: Path) -> None:
    sh(str(DVC), "repro", "sequences", "embed", cwd=project)
    candidate = project / "models" / "candidate"
    assert not candidate.exists()

    # The first epoch's loss line: the first trial is half done, nothing saved yet.
    _kill_when([str(DVC), "repro", "--single-item", "train"], project, marker="train loss")
    assert not candidate.exists(), "a killed training run must not leave a model behind"

    sh(str(DVC), "repro", "--single-item", "train", cwd=project)  # Airflow's retry: the same command
    assert (candidate / "meta.json").is_file()
    assert [p.name for p in (project / "models").glob(".candidate.*")] == [], "stale temporary directories"
    status = sh(str(DVC), "status", "train", cwd=project)
    assert "changed" not in status, status


def test_registering_the_same_candidate_twice_gives_one_version(project: Path) -> None:
    from shopseq.registry import register_candidate

    sh(str(DVC), "repro", "gate", cwd=project)
    with chdir(project):
        params = load_params(project / "params.yaml")
        first = register_candidate(params.base, params.registry, params.paths.candidate, params.paths.reports)
        again = register_candidate(params.base, params.registry, params.paths.candidate, params.paths.reports)
        from mlflow import MlflowClient

        versions = MlflowClient().search_model_versions(f"name = '{params.registry.model_name}'")
    assert first == again
    assert [str(v.version) for v in versions] == [first]
