"""`dvc repro` end to end on tiny params in a temporary copy of the project.

Proves the pipeline as users run it: every stage runs through DVC, a second repro reruns
nothing but the always-changed registry lookup, a params change reruns only its dependants,
and `dvc metrics show` / `dvc params diff` work.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tiny import copy_project

ROOT = Path(__file__).resolve().parents[2]
DVC = Path(sys.executable).with_name("dvc")
STAGES = ["ingest", "validate", "embed", "profiles", "sequences", "train", "champion", "evaluate", "gate", "score",
          "audiences", "forecast"]


def sh(*args: str, cwd: Path) -> str:
    env = {**os.environ, "PATH": f"{DVC.parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("MLFLOW_TRACKING_URI", None)
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


def ran(output: str) -> list[str]:
    return [line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")]


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = copy_project(tmp_path_factory.mktemp("repro"), train={"use_text": True})
    sh("git", "init", "-q", cwd=root)
    sh(str(DVC), "init", "-q", cwd=root)
    return root


@pytest.mark.slow
def test_repro_runs_every_stage_then_nothing_then_only_what_a_param_touches(project):
    first = sh(str(DVC), "repro", cwd=project)
    assert ran(first) == STAGES
    for metrics in ("validation/summary.json", "evaluate/metrics.json", "gate.json", "train/metrics.json"):
        assert (project / "reports" / metrics).exists(), metrics

    again = sh(str(DVC), "repro", cwd=project)
    assert ran(again) == ["champion"]  # asks the registry, finds no change, reruns nothing after it

    sh("git", "add", "-A", cwd=project)
    sh("git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "tiny run", cwd=project)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["gate"]["floor"] = 0.5
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    changed = sh(str(DVC), "repro", cwd=project)
    assert ran(changed) == ["champion", "gate"]

    shown = sh(str(DVC), "metrics", "show", cwd=project)
    assert "ndcg@10" in shown
    diff = sh(str(DVC), "params", "diff", cwd=project)
    assert "gate.floor" in diff


def test_a_run_leaves_no_tracked_file_changed_so_lineage_is_not_dirty() -> None:
    """Every cached DVC output is already in the committed .gitignore DVC would append it to.

    DVC adds a missing output to its folder's .gitignore when the stage first runs; that edits a
    tracked file, and every commit recorded after it (run report, registry tags) reads `-dirty`.
    """
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    missing = []
    for name, stage in stages.items():
        for out in stage.get("outs", []):
            if isinstance(out, dict):  # {path: {cache: false}}: not cached, never git-ignored by DVC
                continue
            path = Path(out.replace("${paths.", "").replace("}", ""))
            path = Path(params["paths"][path.parts[0]], *path.parts[1:])
            ignore = ROOT / path.parent / ".gitignore"
            entries = ignore.read_text().split() if ignore.exists() else []
            if f"/{path.name}" not in entries:
                missing.append(f"{name}: {path} not in {ignore.relative_to(ROOT)}")
    assert not missing, missing
