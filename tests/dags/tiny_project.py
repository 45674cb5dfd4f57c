"""A tiny git + DVC copy of the project for the DAG tests (retrain, rollback, demo)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[2]
COPIED = ("dvc.yaml", "params.yaml", ".dvcignore", "src", "dags")
TINY = {
    "train": {"epochs": 1, "n_trials": 1},
    "gate": {"floor": 0.0, "min_lift_over_popularity": 0.0, "champion_tolerance": 1.0},
    "forecast": {"backtest_origins": 1},
    # retries 0: a failing stage fails the test at once instead of after retry delays
    "dags": {"retries": 0, "approvers": ["test-approver", "demo-approver"]},
}


def set_params(project: Path, **sections: dict) -> None:
    """Update sections of the project's params.yaml in place (keys not named stay as they are)."""
    import yaml

    raw = yaml.safe_load((project / "params.yaml").read_text())
    for section, values in sections.items():
        raw[section].update(values)
    (project / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))


def make_tiny_project(project: Path) -> Path:
    """A git + DVC copy of the project at `project` with tiny params and a local DVC remote.

    The lenient gate makes these tests about orchestration, not model quality; each run's data
    version is pushed to the remote, a directory next to the project (as `dvc-remote/` is in
    the real one).
    """
    import yaml

    project.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, project / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        elif source.exists():
            shutil.copy(source, project / name)
    synthetic = yaml.safe_load((project / "params.yaml").read_text())["ingest"]["synthetic"]
    set_params(project, ingest={"synthetic": synthetic | {"n_users": 120, "n_items": 60, "days": 28}}, **TINY)
    (project / ".gitignore").write_text("/airflow/\n/mlflow/\n")
    dvc = str(Path(sys.executable).parent / "dvc")
    git = ["git", "-c", "user.name=shopseq-test", "-c", "user.email=test@shopseq.invalid"]
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    subprocess.run([dvc, "init", "-q"], cwd=project, check=True)
    remote = project.parent / f"{project.name}-dvc-remote"
    subprocess.run([dvc, "remote", "add", "-d", "local", str(remote)], cwd=project, check=True)
    subprocess.run([*git, "add", "-A"], cwd=project, check=True)
    subprocess.run([*git, "commit", "-qm", "tiny project"], cwd=project, check=True)
    return project


@contextmanager
def dags_pointed_at(project: Path) -> Iterator[Path]:
    """Point the DAGs at `project` ($SHOPSEQ_PROJECT_DIR) and its own MLflow store, then restore."""
    from shopseq.tracking import environment_restored

    with environment_restored("SHOPSEQ_PROJECT_DIR", "MLFLOW_TRACKING_URI"):
        os.environ["SHOPSEQ_PROJECT_DIR"] = str(project)
        os.environ.pop("MLFLOW_TRACKING_URI", None)
        yield project
