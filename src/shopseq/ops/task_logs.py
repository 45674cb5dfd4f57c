"""Follow running Airflow tasks' log files and pick out their progress lines for the demo's console.

Airflow 3 writes each task attempt's log as JSON lines under
`<AIRFLOW_HOME>/logs/dag_id=<dag>/run_id=<run>/task_id=<task>/attempt=<n>.log`; the message is
the `event` field. The stage subprocess's own log lines arrive inside those messages (relayed by
`ops.pipeline.run_dvc_stage`) with their own timestamp prefix. Only lines that say how far a
step has come (trial i/n, epoch j/m, texts/s, a stage starting) are passed on, so a person
watching `make demo` sees the work move without the whole task log.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

# What counts as progress: Optuna trials, training epochs, throughput lines of `shopseq.progress`
# ("embed: 1200/4000 texts (95.1 texts/s)", "...: done, N it in S s"), the stage dvc runs.
PROGRESS = re.compile(
    r"\btrial \d+/\d+|\bepoch \d+/\d+: train loss|[\d.]+ [\w]+/s\)|: done, \d|"
    r"^Running stage '|\bgate: |stopped after epoch|no better validation"
)
# The stage subprocess's logging prefix: "2026-12-03 10:00:00,123 INFO shopseq.training.fit: ".
PREFIX = re.compile(r"^\d{4}-\d\d-\d\d[ T][\d:,.]+ +[A-Z]+ +[\w.]+: ")


def task_log_dir(logs: Path, dag_id: str, run_id: str, task_id: str) -> Path:
    """The folder holding one task's attempt logs (Airflow 3's default log_filename_template)."""
    return logs / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"


def progress_line(raw: str) -> str | None:
    """The progress message in one JSON log line, without prefixes; None when it is not progress."""
    try:
        message = str(json.loads(raw).get("event") or "")
    except (ValueError, AttributeError):
        message = raw  # a plain-text log line (another log format): judge it as it is
    message = PREFIX.sub("", message.strip())
    return message if message and PROGRESS.search(message) else None


@dataclass
class TaskLogTail:
    """Reads only what was appended to each task's latest attempt log since the last call."""

    logs: Path
    dag_id: str
    run_id: str
    offsets: dict[Path, int] = field(default_factory=dict)

    def latest_attempt(self, task_id: str) -> Path | None:
        """The newest `attempt=<n>.log` of `task_id` in this run, or None before it has one."""
        folder = task_log_dir(self.logs, self.dag_id, self.run_id, task_id)
        attempts = list(folder.glob("attempt=*.log")) if folder.is_dir() else []
        return max(attempts, key=lambda p: int(p.stem.split("=")[1]), default=None)

    def new_progress(self, task_id: str) -> list[str]:
        """Progress lines `task_id` logged since the last call (complete lines only)."""
        path = self.latest_attempt(task_id)
        if path is None:
            return []
        start = self.offsets.get(path, 0)
        with path.open("rb") as stream:
            stream.seek(start)
            chunk = stream.read()
        end = chunk.rfind(b"\n") + 1  # a line still being written waits for the next call
        self.offsets[path] = start + end
        lines = chunk[:end].decode("utf-8", errors="replace").splitlines()
        return [line for line in map(progress_line, lines) if line]
