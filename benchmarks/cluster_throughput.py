"""Throughput of the cluster: two shops' retrain runs side by side on two Celery workers vs one after another on one.

One cluster (PostgreSQL, Redis, an MLflow server) on this machine; one Airflow on Celery
serves two shops, each its own project directory and workspace (`dags.workspace`: `shop_a`,
`shop_b`, so each has its own DAG ids and its own one-slot DVC pool). Two modes, each on fresh
copies of the same two tiny shops, its own Airflow metadata database, its own Optuna database
and its own model names, so both modes do the same work from the same empty state:

- `serial`: one Celery worker; shop_a's `shopseq_retrain` run, then shop_b's.
- `parallel`: two Celery workers; both runs triggered at once.

A run counts from its trigger to its end (`success`), the approval answered through the REST
API as soon as it is open; the downstream DAGs are paused (they are not the retrain run).
The figure is parallel wall time / serial wall time (issue 21's target: <= 0.65).

    python benchmarks/cluster_throughput.py --out benchmarks/results/cluster_throughput
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests" / "dags"))  # the tiny project the DAG and cluster tests run

from tiny_project import make_tiny_project, set_params  # noqa: E402

from shopseq.ops.airflow_local import AirflowApi, wait_until  # noqa: E402
from shopseq.ops.cluster.airflow_celery import ClusterAirflow  # noqa: E402
from shopseq.ops.cluster.demo import Cluster, running_cluster  # noqa: E402
from shopseq.ops.cluster.services import free_port_block  # noqa: E402
from shopseq.ops.demo import DOWNSTREAM, RETRAIN, DemoSettings, RunWatcher, approve, trigger, wait_for_decision_point, wait_for_run  # noqa: E402
from shopseq.ops.orchestration import WorkspaceNames  # noqa: E402

log = logging.getLogger("cluster_throughput")

SHOPS = {"shop_a": 11, "shop_b": 12}  # workspace -> synthetic seed: two different shops
MODES = {"serial": ("worker-1",), "parallel": ("worker-1", "worker-2")}


def make_shops(root: Path, mode: str) -> tuple[Path, ...]:
    """Fresh tiny projects, one per shop, each naming its workspace and its own model."""
    projects = []
    for shop, seed in SHOPS.items():
        project = make_tiny_project(root / mode / shop)
        set_params(
            project,
            base={"seed": seed},
            dags={"workspace": shop, "retries": 0},
            registry={"model_name": f"throughput-{mode}-{shop}"},
        )
        projects.append(project)
    return tuple(projects)


def run_retrain(api: AirflowApi, airflow: ClusterAirflow, shop: str, offset: int) -> dict[str, Any]:
    """One shop's retrain run from trigger to success, approved over REST; its timings."""
    dag_id = WorkspaceNames(shop).dag_id(RETRAIN)
    settings = DemoSettings(port=airflow.port)
    started = time.monotonic()
    run_id = trigger(api, dag_id)
    watcher = RunWatcher(api, dag_id, run_id)
    outcome = wait_for_decision_point(watcher, 1800)
    awaiting_s = time.monotonic() - started
    if outcome == "approval":
        approve(api, watcher, airflow.scheduler_log, offset, settings)
    state = wait_for_run(watcher, 1800)
    if state != "success":
        raise RuntimeError(f"{dag_id} run {run_id} ended {state}")
    return {"shop": shop, "dag_id": dag_id, "run_id": run_id, "outcome": outcome,
            "seconds_to_approval": round(awaiting_s, 1), "seconds": round(time.monotonic() - started, 1)}  # fmt: skip


def task_spans(cluster: Cluster, database: str) -> list[dict[str, Any]]:
    """Every task instance's DAG, task, worker and start/end, from the mode's Airflow metadata."""
    rows = cluster.postgres.sql(
        "SELECT dag_id, task_id, hostname, start_date, end_date FROM task_instance "
        "WHERE start_date IS NOT NULL AND end_date IS NOT NULL ORDER BY start_date",
        database=database,
    )
    return [{"dag_id": d, "task_id": t, "worker": h, "start": s, "end": e} for d, t, h, s, e in rows]


def overlap_seconds(spans: list[dict[str, Any]]) -> float:
    """Seconds during which tasks of both shops ran at the same time (0 when strictly one after another)."""
    by_shop: dict[str, list[tuple[datetime, datetime]]] = {}
    for span in spans:
        by_shop.setdefault(span["dag_id"].rsplit(".", 1)[-1], []).append((span["start"], span["end"]))
    if len(by_shop) < 2:
        return 0.0
    first, second = list(by_shop.values())[:2]
    return round(sum(max(0.0, (min(e1, e2) - max(s1, s2)).total_seconds()) for s1, e1 in first for s2, e2 in second), 1)


def measure(cluster: Cluster, root: Path, mode: str) -> dict[str, Any]:
    """Both shops' retrain runs in one mode on a fresh Airflow; wall time, per-run times, where tasks ran."""
    workers = MODES[mode]
    for database in (f"airflow_{mode}", f"optuna_{mode}"):
        cluster.postgres.sql(f"CREATE DATABASE {database}")
    projects = make_shops(root, mode)
    airflow = ClusterAirflow(
        project=root / mode / "airflow-home",
        port=free_port_block(3 + len(workers)),
        user="demo-approver",
        metadata_db=cluster.postgres.url(f"airflow_{mode}"),
        broker=cluster.redis.url,
        mlflow_uri=cluster.mlflow.url,
        optuna_storage=cluster.postgres.url(f"optuna_{mode}"),
        workers=workers,
        workspaces=projects,
    )
    airflow.project.mkdir(parents=True, exist_ok=True)
    with airflow.running() as api:
        offset = airflow.scheduler_log.stat().st_size if airflow.scheduler_log.exists() else 0
        for shop in SHOPS:
            names = WorkspaceNames(shop)
            wait_until(lambda: _dag_listed(api, names.dag_id(RETRAIN)), 300, f"{names.dag_id(RETRAIN)} to be parsed")
            for dag in DOWNSTREAM:  # a new champion would start them; they are not the retrain run
                wait_until(lambda: _dag_listed(api, names.dag_id(dag)), 300, f"{names.dag_id(dag)} to be parsed")
                api.request("PATCH", f"/dags/{names.dag_id(dag)}", {"is_paused": True})
        log.info("%s: %d worker(s), both shops' DAGs parsed; starting the runs", mode, len(workers))
        started = time.monotonic()
        if mode == "serial":
            runs = [run_retrain(api, airflow, shop, offset) for shop in SHOPS]
        else:
            with ThreadPoolExecutor(len(SHOPS)) as pool:
                runs = list(pool.map(lambda shop: run_retrain(api, airflow, shop, offset), SHOPS))
        wall = time.monotonic() - started
    spans = [s for s in task_spans(cluster, f"airflow_{mode}") if s["dag_id"].startswith(RETRAIN)]
    tasks_by_worker: dict[str, int] = {}
    for span in spans:
        tasks_by_worker[span["worker"]] = tasks_by_worker.get(span["worker"], 0) + 1
    result = {"mode": mode, "workers": list(workers), "wall_seconds": round(wall, 1), "runs": runs,
              "tasks_by_worker": tasks_by_worker, "seconds_both_shops_running": overlap_seconds(spans)}  # fmt: skip
    log.info("%s: %.1f s for both runs; %s", mode, wall, json.dumps(result["tasks_by_worker"]))
    return result


def _dag_listed(api: AirflowApi, dag_id: str) -> bool:
    from shopseq.ops.airflow_local import AirflowError

    try:
        api.get(f"/dags/{dag_id}")
    except AirflowError:
        return False
    return True


def machine() -> dict[str, Any]:
    """Where it ran: cores, load before the run, Python, git commit."""
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    return {"cpus": os.cpu_count(), "load_avg_1m_at_start": round(os.getloadavg()[0], 2),
            "python": platform.python_version(), "git_commit": commit}  # fmt: skip


def write_page(out: Path, result: dict[str, Any]) -> None:
    """A short markdown page beside the JSON: the figure, the runs, and how it was measured."""
    rows = [
        f"| {m['mode']} | {len(m['workers'])} | {m['wall_seconds']} | "
        + ", ".join(f"{r['shop']} {r['seconds']} s" for r in m["runs"])
        + f" | {m['seconds_both_shops_running']} | {json.dumps(m['tasks_by_worker'])} |"
        for m in result["modes"]
    ]
    text = "\n".join([
        "# Cluster throughput: two shops' retrain runs, two Celery workers vs one",
        "",
        f"Ratio parallel / serial wall time: **{result['ratio']}** (target <= 0.65).",
        "",
        "| mode | workers | wall s (both runs) | per run | s both shops ran at once | tasks by worker |",
        "|---|---:|---:|---|---:|---|",
        *rows,
        "",
        f"Machine: {result['machine']['cpus']} cores, 1-minute load {result['machine']['load_avg_1m_at_start']} at the "
        f"start (other jobs shared it), commit `{result['machine']['git_commit'][:10]}`.",
        "",
        "How: " + (__doc__ or "").split("\n\n", 1)[1].split("\n\n    python")[0],
        "",
        "`tasks by worker` counts task instances by the worker that ran them; `\"\"` counts those no worker ran "
        "(`gate_failed`, skipped by the gate's branch).",
        "",
        f"Command: `{result['command']}`",
        "",
    ])  # fmt: skip
    (out / "cluster_throughput.md").write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for cluster_throughput.json and .md")
    parser.add_argument("--modes", default="serial,parallel", help="which modes to run, in this order")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per REST poll otherwise
    for name in [n for n in os.environ if n.startswith("AIRFLOW")] + ["SHOPSEQ_PROJECT_DIR", "MLFLOW_TRACKING_URI"]:
        os.environ.pop(name, None)
    args.out.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="shopseq-throughput-"))
    started = machine()
    with running_cluster(root / "cluster") as cluster:
        os.environ["MLFLOW_TRACKING_URI"] = cluster.mlflow.url
        modes = [measure(cluster, root, mode) for mode in args.modes.split(",")]
    walls = {m["mode"]: m["wall_seconds"] for m in modes}
    result = {
        "ratio": round(walls["parallel"] / walls["serial"], 3) if {"serial", "parallel"} <= set(walls) else None,
        "target": 0.65,
        "modes": modes,
        "machine": started,
        "command": "python benchmarks/cluster_throughput.py " + " ".join(sys.argv[1:]),
    }
    (args.out / "cluster_throughput.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    write_page(args.out, result)
    log.info("ratio parallel/serial: %s (results in %s)", result["ratio"], args.out)


if __name__ == "__main__":
    main()
