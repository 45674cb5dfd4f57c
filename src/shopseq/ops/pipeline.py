"""Running the pipeline's DVC stages in a project, and reading the reports they write.

The lowest layer of `shopseq.ops`: the Airflow tasks (`orchestration`) and the rollback
(`rollback`) both run stages and read the gate's decision through these functions, so neither
imports the other. Standard library and `shopseq.config` only, so a DAG file's parse stays cheap.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shopseq.config import Params

log = logging.getLogger(__name__)

OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "GX_ANALYTICS_ENABLED": "false",
    "DVC_NO_ANALYTICS": "1",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}



def stage_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for a DVC stage: this interpreter's bin first on PATH, offline switches set.

    The stage commands in dvc.yaml call `shopseq`, which lives next to the Python running the
    task (the project's venv or the image's), whatever PATH the Airflow worker started with.
    """
    env = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", "")])
    for name, value in OFFLINE_ENV.items():
        env.setdefault(name, value)
    env.update(extra or {})
    return env


def dvc_repro_command(stage: str, single: bool, force: bool = False) -> list[str]:
    """The command line that reproduces one dvc.yaml stage.

    `single=True` (`--single-item`) reproduces exactly this stage and trusts the outputs of
    the stages before it; the retrain DAG uses it because Airflow's edges already ran those
    stages, each in its own task with its own log and retries. The asset-triggered DAGs use
    `single=False`, so DVC brings everything their stage depends on up to date first (above
    all the `champion` stage, which fetches the newly promoted champion).
    """
    command = [sys.executable, "-m", "dvc", "repro"]
    if single:
        command.append("--single-item")
    if force:
        command.append("--force")
    return [*command, stage]


def run_dvc_stage(stage: str, project: Path, single: bool = True, force: bool = False) -> None:
    """Run `dvc repro` for one stage in `project`, streaming its output into the task log.

    `force` reruns the stage even when DVC sees no change in its deps (ingest of a real source:
    the source files are outside DVC, so only reading them tells whether they grew).

    Raises:
        RuntimeError: dvc exited non-zero; the message names the stage and the project.
    """
    command = dvc_repro_command(stage, single, force)
    log.info("running %s in %s", " ".join(command[1:]), project)
    with subprocess.Popen(
        command,
        cwd=project,
        env=stage_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            if line.strip():
                log.info("%s", line.rstrip())
        code = process.wait()
    if code != 0:
        raise RuntimeError(
            f"dvc repro {stage} failed with exit code {code} in {project}; the lines above say why"
        )


def read_report(project: Path, relative: str) -> dict[str, Any]:
    """Read one JSON report of the pipeline, with an error naming the stage that writes it."""
    path = project / relative
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: the stage that writes it has not run (dvc repro)")
    return json.loads(path.read_text())


@dataclass(frozen=True)
class Reports:
    """The reports a promotion decision rests on (all written by the retrain stages)."""

    validation: dict[str, Any]
    metrics: dict[str, Any]
    gate: dict[str, Any]

    @classmethod
    def load(cls, project: Path, params: Params) -> "Reports":
        reports = params.paths.reports
        return cls(
            validation=read_report(project, f"{reports}/validation/summary.json"),
            metrics=read_report(project, f"{reports}/evaluate/metrics.json"),
            gate=read_report(project, f"{reports}/gate.json"),
        )


def gate_passed(project: Path, params: Params) -> bool:
    """Whether reports/gate.json says the candidate may be offered for promotion."""
    gate = read_report(project, f"{params.paths.reports}/gate.json")
    if "passed" not in gate:
        raise ValueError(f"{project / params.paths.reports / 'gate.json'} has no 'passed' key")
    for reason in gate.get("reasons", []):
        log.info("gate: %s", reason)
    return bool(gate["passed"])
