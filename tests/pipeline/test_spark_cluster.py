"""The sequences stage on a real Spark standalone cluster equals the embedded engine's output.

The test starts a Spark master and two workers (one core each) on 127.0.0.1 with free ports,
runs `shopseq.stages.sequences` with `base.engine: spark` against the master, runs it again with
the embedded engine on the same validated events, compares the files, and stops the cluster by
process group. It needs Java 17 (the machine image has it; `.ci/run` installs it elsewhere).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from shopseq.config import Params, Synthetic, from_dict
from shopseq.data.synthetic import generate_shop
from shopseq.io import read_json, write_parquet
from shopseq.sequences.scale import FILES

from split_files import read_split_file

pytestmark = pytest.mark.skipif(shutil.which("java") is None, reason="no java on PATH: the Spark cluster test needs Java 17")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, log: Path, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Spark process exited with {process.returncode}:\n{log.read_text()[-2000:]}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise RuntimeError(f"nothing listened on 127.0.0.1:{port} after {seconds} s:\n{log.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def spark_cluster(tmp_path_factory):
    """A standalone master and two one-core workers on loopback; yields the master URL."""
    import pyspark

    spark_class = Path(pyspark.__file__).parent / "bin" / "spark-class"
    root = tmp_path_factory.mktemp("spark")
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_LOG_DIR": str(root), "PYSPARK_PYTHON": sys.executable}
    processes: list[subprocess.Popen] = []

    def start(name: str, args: list[str], port: int) -> None:
        log = root / f"{name}.log"
        process = subprocess.Popen(
            [str(spark_class), *args], env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
        )
        processes.append(process)
        _wait_for_port(port, process, log)

    try:
        master_port = _free_port()
        start("master", ["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(master_port),
                         "--webui-port", str(_free_port())], master_port)
        url = f"spark://127.0.0.1:{master_port}"
        for number in (1, 2):
            port = _free_port()
            start(f"worker{number}", ["org.apache.spark.deploy.worker.Worker", url, "--host", "127.0.0.1", "--port",
                                      str(port), "--webui-port", str(_free_port()), "--cores", "1", "--memory", "1g",
                                      "--work-dir", str(root / f"work{number}")], port)
        os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"  # the driver (this process) binds to loopback too
        yield url
    finally:
        from shopseq.engine.spark import stop_spark

        stop_spark()
        for process in reversed(processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
        os.environ.pop("SPARK_LOCAL_IP", None)


def _run_sequences(root: Path, events: pd.DataFrame, base: dict) -> dict:
    from shopseq.stages import sequences

    params = from_dict(
        Params,
        {"base": base, "paths": {name: str(root / name) for name in ("validated", "sequences", "reports")},
         "sequences": {"valid_days": 5, "test_days": 5}},
    )
    write_parquet(events, root / "validated" / "events.parquet")
    sequences.run(params)
    return read_json(root / "reports" / "sequences" / "metrics.json")


def test_sequences_on_a_spark_cluster_equal_the_embedded_engine(spark_cluster, tmp_path):
    events = generate_shop(Synthetic(n_users=400, n_items=150, days=35), 5).events
    spark = _run_sequences(tmp_path / "spark", events, {"engine": "spark", "spark_master": spark_cluster, "bucket_events": 4000})
    embedded = _run_sequences(tmp_path / "embedded", events, {"engine": "embedded", "bucket_events": 4000})
    assert spark.pop("engine") == "spark" and embedded.pop("engine") == "embedded"
    assert spark == embedded
    assert spark["valid_targets"] > 0 and spark["train_users"] > 0
    for name in FILES:
        pd.testing.assert_frame_equal(
            read_split_file(tmp_path / "embedded" / "sequences" / f"{name}.parquet"),
            read_split_file(tmp_path / "spark" / "sequences" / f"{name}.parquet"),
        )


def _run_validate(root: Path, shop, base: dict) -> dict:
    """Write the shop as raw tables and run the `validate` stage; its summary."""
    from shopseq.stages import validate

    for name in ("events", "items", "reviews"):
        write_parquet(getattr(shop, name), root / "raw" / f"{name}.parquet")
    paths = {name: str(root / name) for name in ("raw", "validated", "quarantine", "reports")}
    validate.run(from_dict(Params, {"base": base, "paths": paths, "validate": {"min_rows": 10}}))
    return read_json(root / "reports" / "validation" / "summary.json")


def test_validate_in_buckets_on_a_spark_cluster_equals_the_embedded_engine(spark_cluster, tmp_path):
    """The events suite per bucket on Spark workers: same summary, data version and files."""
    shop = generate_shop(Synthetic(n_users=400, n_items=150, days=35), 5)
    base = {"bucket_events": max(1, len(shop.events) // 4)}
    spark = _run_validate(tmp_path / "spark", shop, {**base, "engine": "spark", "spark_master": spark_cluster})
    embedded = _run_validate(tmp_path / "embedded", shop, {**base, "engine": "embedded"})
    assert spark == embedded and spark["rows_in"] == spark["rows_accepted"] + spark["rows_quarantined"]
    for folder in ("validated", "quarantine"):
        for name in ("events", "items", "reviews"):
            pd.testing.assert_frame_equal(
                pd.read_parquet(tmp_path / "spark" / folder / f"{name}.parquet"),
                pd.read_parquet(tmp_path / "embedded" / folder / f"{name}.parquet"),
            )


def test_profiles_in_buckets_on_a_spark_cluster_equal_the_embedded_engine(spark_cluster, tmp_path):
    """Per-bucket profiles (prices, reviews and the churn model's cuts) on Spark workers: same table and metrics."""
    from tiny import rounded_floats, write_item_vectors

    from shopseq.stages import profiles

    shop = generate_shop(Synthetic(n_users=300, n_items=80, days=63), 5)  # 63 days: the churn model runs
    runs = {}
    for engine, base in (("spark", {"engine": "spark", "spark_master": spark_cluster}), ("embedded", {})):
        root = tmp_path / engine
        for name in ("events", "items"):
            write_parquet(getattr(shop, name), root / "validated" / f"{name}.parquet")
        write_item_vectors(root)
        paths = {name: str(root / name) for name in ("validated", "embeddings", "profiles", "reports", "raw")}
        base = {**base, "bucket_events": max(1, len(shop.events) // 4)}
        profiles.run(from_dict(Params, {"base": base, "paths": paths, "profiles": {"pca_components": 8}}))
        runs[engine] = read_json(root / "reports" / "profiles" / "metrics.json")
    assert "skipped" not in runs["spark"]["churn"]
    assert rounded_floats(runs["spark"]) == rounded_floats(runs["embedded"])
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "spark" / "profiles" / "profiles.parquet"),
        pd.read_parquet(tmp_path / "embedded" / "profiles" / "profiles.parquet"),
        check_exact=False, rtol=1e-6, atol=1e-6,
    )
