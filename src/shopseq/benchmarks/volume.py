"""Data-volume benchmark: grow a real sample to N events and time `ingest` through `sequences`.

Each stage runs in its own subprocess (`python -c STAGE_CHILD`), so its peak RSS
is its own: the larger of the child's `ru_maxrss` and the sampled RSS of its process tree (a
local Spark JVM and its Python workers are in that tree). Rows of `volume.json`:
{events, engine, stage, seconds, peak_mb, rows_in, rows_accepted, rows_quarantined}.

Row counts: `ingest` counts the source rows in, the events it wrote and the rows it rejected
(which `validate` quarantines); `validate` reports its summary's totals (all tables); later
stages read every validated event and neither drop nor quarantine one (accepted = in).

`profiles` reads the embed stage's item vectors. Growing keeps the sample's catalogue, so the
vectors embedded once for the sample (`embeddings`: that run's `paths.embeddings` folder) are
copied in for every size rather than re-embedding the same items each time.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from shopseq.benchmarks.grow import grow_sample
from shopseq.io import read_json, write_json

log = logging.getLogger(__name__)

STAGES = ("ingest", "validate", "sequences")
NEEDS_EMBEDDINGS = ("profiles",)  # stages that read paths.embeddings
ENGINES = ("embedded", "spark")
RESULT_FILE = "volume.json"


def run_volume(
    source: str,
    sample: Path,
    sizes: list[int],
    engine: str,
    out: Path,
    params_file: Path,
    stages: tuple[str, ...] = STAGES,
    src: Path | None = None,
    keep_data: bool = False,
    embeddings: Path | None = None,
) -> dict[str, Any]:
    """Grow `sample` to each size, run `stages` on it, write and return `out/volume.json`.

    Args:
        params_file: the project's params.yaml; every section is kept but `ingest`, `paths`
            and `base.engine`, which point the run at the grown data under `out/work/`.
        src: run the stages with the shopseq package in this `src` directory instead of this
            one (an older checkout, to measure old and new code side by side on one machine).
            Its params must not know `base.engine`, so none is written; rows say `pandas`.
        keep_data: keep each size's grown CSV and stage outputs (otherwise removed after it).
        embeddings: the embed stage's output for `sample` (same catalogue as every grown size);
            required when `stages` holds a stage that reads embeddings (`profiles`).
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if embeddings is None and any(stage in NEEDS_EMBEDDINGS for stage in stages):
        raise ValueError(
            f"stages {', '.join(s for s in stages if s in NEEDS_EMBEDDINGS)} read item vectors: pass the embed "
            "stage's output for the sample (--embeddings DIR, its paths.embeddings folder)"
        )
    rows: list[dict[str, Any]] = []
    result: dict[str, Any] = {"source": source, "sample": str(sample), "rows": rows}
    for events in sizes:
        work = out / "work" / str(events)
        csv = grow_sample(source, sample, events, work / "input" / f"{source}.csv")
        params = _work_params(params_file, source, csv, work, None if src else engine)
        if embeddings is not None:
            _copy_embeddings(Path(embeddings), params)
        for stage in stages:
            row = _timed_stage(stage, params, work, src)
            row.update(events=events, engine="pandas" if src else engine, **_row_counts(stage, work, events))
            rows.append(row)
            log.info("volume: %s", row)
            write_json(out / RESULT_FILE, result)  # after every stage: a long run keeps what it measured
        if not keep_data:
            import shutil

            shutil.rmtree(work, ignore_errors=True)
    write_json(out / RESULT_FILE, result)
    return result


def _work_params(params_file: Path, source: str, csv: Path, work: Path, engine: str | None) -> Path:
    """A params.yaml for one size: the project's, with ingest and every path under `work`."""
    raw = yaml.safe_load(Path(params_file).read_text()) or {}
    raw.setdefault("ingest", {}).update(source=source, path=str(csv.resolve()))
    raw["paths"] = {name: str((work / value).resolve()) for name, value in (raw.get("paths") or {}).items()}
    if engine is not None:
        raw.setdefault("base", {})["engine"] = engine
    path = work / "params.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def _copy_embeddings(embeddings: Path, params: Path) -> None:
    """Put the sample's embed output where this size's `paths.embeddings` points."""
    target = Path(yaml.safe_load(params.read_text())["paths"]["embeddings"])
    if not (embeddings / "items.npz").exists():
        raise FileNotFoundError(f"--embeddings {embeddings}: no items.npz there (an embed stage's output folder?)")
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(embeddings, target)


def _timed_stage(stage: str, params: Path, work: Path, src: Path | None) -> dict[str, Any]:
    """Run one stage in a child process; its wall seconds and peak RSS (MB)."""
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(Path(src).resolve()), env.get("PYTHONPATH", "")])
    peak_file = work / f".{stage}.peak.json"
    start = time.perf_counter()
    with open(work / f"{stage}.log", "w") as log_file:
        child = subprocess.Popen(
            [sys.executable, "-c", STAGE_CHILD, str(params), stage, str(peak_file)],
            cwd=work, env=env, stdout=log_file, stderr=subprocess.STDOUT,
        )
        tree_peak = _sample_tree_rss(child)
    seconds = time.perf_counter() - start
    if child.returncode != 0:
        tail = (work / f"{stage}.log").read_text()[-3000:]
        raise RuntimeError(f"stage {stage} failed (exit {child.returncode}) in {work}:\n{tail}")
    peak_mb = max(read_json(peak_file)["peak_mb"], round(tree_peak / 2**20, 1))
    return {"stage": stage, "seconds": round(seconds, 2), "peak_mb": peak_mb}


def _sample_tree_rss(child: subprocess.Popen, every_s: float = 0.2) -> int:
    """Wait for `child`; the largest sum of RSS over it and its descendants seen (bytes).

    Sampling sees processes the child has not waited for (a local Spark JVM, Python workers),
    which `ru_maxrss` of the child misses; `ru_maxrss` sees short peaks that sampling misses.
    """
    import psutil

    peak = 0
    process = psutil.Process(child.pid)
    while child.poll() is None:
        try:
            tree = [process, *process.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass  # a process ended between listing and reading
        time.sleep(every_s)
    return peak


# The child's whole body, self-contained so that it also runs an older checkout (`src`) that has
# no benchmark module: run one stage, then record the process tree's peak RSS in MB (ru_maxrss
# is KiB on Linux; children: the largest process it waited for, e.g. a local Spark JVM).
STAGE_CHILD = """
import importlib, json, logging, resource, sys
from shopseq.config import load_params
params, stage, peak_file = sys.argv[1:]
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
importlib.import_module(f"shopseq.stages.{stage}").run(load_params(params))
peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
open(peak_file, "w").write(json.dumps({"peak_mb": round(peak / 1024, 1)}))
"""


def _row_counts(stage: str, work: Path, events: int) -> dict[str, int | None]:
    """rows_in / rows_accepted / rows_quarantined of one stage, from the reports it wrote."""
    reports = work / "reports"
    if stage == "ingest":
        metrics = read_json(reports / "ingest" / "metrics.json")
        return {"rows_in": events, "rows_accepted": metrics["events"], "rows_quarantined": events - metrics["events"]}
    if stage == "validate":
        summary = read_json(reports / "validation" / "summary.json")
        return {k: summary[k] for k in ("rows_in", "rows_accepted", "rows_quarantined")}
    validated = read_json(reports / "validation" / "summary.json")["tables"]["events"]["rows_accepted"]
    return {"rows_in": validated, "rows_accepted": validated, "rows_quarantined": 0}
