"""`shopseq benchmark serve`: latency of the HTTP service on loopback under open-loop load.

The service (`shopseq serve`, the real app and uvicorn) runs in a subprocess on a free loopback
port, so the load generator does not share its interpreter. For each rate the generator sends
`rate * seconds` requests on a fixed schedule (open loop: a slow answer never delays the next
send), and a request's latency runs from its *scheduled* send time to its response, so queueing
shows up in the figures instead of being hidden (no coordinated omission). Requests are top-K:
4 in 5 for a random known user of the validated events, 1 in 5 for an ad-hoc sequence of 1-5
random catalogue items. An error is a non-200 answer, a timeout or a broken connection.

Which champion is served (`registry`):
- `project`: the project registry's champion, e.g. after `make demo`;
- `throwaway`: `paths.candidate` is logged and promoted to champion in a temporary SQLite registry
  that is deleted afterwards (the project registry is not touched);
- `auto`: `project` when the project registry has a champion, else `throwaway`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from shopseq import schema as s
from shopseq.config import Params
from shopseq.io import atomic_path, read_parquet
from shopseq.tracking import environment_restored

log = logging.getLogger(__name__)

THROWAWAY_APPROVER = "shopseq benchmark serve"


@dataclass(frozen=True)
class ServeBenchOptions:
    """What `shopseq benchmark serve` measures.

    Attributes:
        rates: open-loop request rates (requests/s), each driven for `seconds`.
        seconds: how long each rate runs.
        k: K of every request (top-20 in the contract's table).
        registry: "project", "throwaway" or "auto" (see the module docstring).
        warmup_requests: sent one by one before measuring (first calls pay for lazy set-up).
        items_share: share of requests that send an ad-hoc item sequence instead of a user id.
        timeout_s: a request unanswered after this long counts as an error.
        start_timeout_s: how long the service may take to load before the benchmark gives up.
        seed: for the request mix.
    """

    rates: tuple[float, ...] = (10.0, 50.0, 200.0)
    seconds: float = 10.0
    k: int = 20
    registry: str = "auto"
    warmup_requests: int = 50
    items_share: float = 0.2
    timeout_s: float = 5.0
    start_timeout_s: float = 180.0
    seed: int = 0


def run_serve_benchmark(out: Path, params: Params, options: ServeBenchOptions, params_file: Path) -> dict[str, Any]:
    """Start the service, drive every rate, write out/serve.json and out/serve.md; return the report."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    payloads = request_payloads(params, options)
    load_before = os.getloadavg()[0]
    with champion_registry(params, options.registry) as (env, registry_used):
        with running_service(params_file, env, out / "serve.log", options.start_timeout_s) as (url, health):
            warm_up(url, payloads[: options.warmup_requests])
            rows = []
            for rate in options.rates:
                row = asyncio.run(drive(url, rate, options.seconds, payloads, options.timeout_s))
                log.info("%.0f req/s: p50 %.1f ms, p99 %.1f ms, %d errors", rate, row["p50_ms"], row["p99_ms"], row["errors"])
                rows.append(row)
            final = _get_json(url + "/health")
    report = {
        "rows": rows,
        "served_version": health["model_version"],
        "served_version_after": final["model_version"],
        "model_name": health["model_name"],
        "registry": registry_used,
        "k": options.k,
        "seconds_per_rate": options.seconds,
        "items_share": options.items_share,
        "n_users": health["n_users"],
        "n_items": health["n_items"],
        "cpu_count": os.cpu_count(),
        "load_average_1m": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
        "latency_from": "scheduled send time (open loop)",
    }
    with atomic_path(out / "serve.json") as tmp:
        tmp.write_text(json.dumps(report, indent=2) + "\n")
    with atomic_path(out / "serve.md") as tmp:
        tmp.write_text(markdown_table(report))
    return report


def request_payloads(params: Params, options: ServeBenchOptions, n: int = 5000) -> list[dict[str, Any]]:
    """`n` request bodies: random known users, and 1 in 1/items_share ad-hoc catalogue sequences."""
    validated = Path(params.paths.validated)
    users = read_parquet(validated / "events.parquet")[s.USER_ID].astype(str).unique()
    catalogue = read_parquet(validated / "items.parquet")[s.ITEM_ID].astype(str).unique()
    rng = np.random.default_rng(options.seed)
    payloads = []
    for _ in range(n):
        if rng.random() < options.items_share:
            length = int(rng.integers(1, 6))
            payloads.append({"items": [str(i) for i in rng.choice(catalogue, size=length)], "k": options.k})
        else:
            payloads.append({"user_id": str(rng.choice(users)), "k": options.k})
    return payloads


@contextlib.contextmanager
def champion_registry(params: Params, choice: str) -> Iterator[tuple[dict[str, str], str]]:
    """Yield the environment for the service process and which registry it serves from."""
    if choice not in ("auto", "project", "throwaway"):
        raise ValueError(f"registry must be auto, project or throwaway; got {choice!r}")
    if choice in ("auto", "project"):
        has_champion = _project_has_champion(params)
        if choice == "project" and not has_champion:
            raise ValueError(
                f"the project registry has no champion for {params.registry.model_name}: run `make demo` "
                "(or promote a version), or pass --registry throwaway"
            )
        if has_champion:
            yield dict(os.environ), "project"
            return
        log.info("the project registry has no champion: serving %s from a throwaway registry", params.paths.candidate)
    with tempfile.TemporaryDirectory(prefix="shopseq-serve-bench-") as tmp:
        uri = f"sqlite:///{Path(tmp).resolve()}/mlflow.db"
        with environment_restored("MLFLOW_TRACKING_URI"):
            os.environ["MLFLOW_TRACKING_URI"] = uri
            register_throwaway_champion(params, Path(tmp) / "artifacts")
            yield {**os.environ, "MLFLOW_TRACKING_URI": uri}, "throwaway"


def register_throwaway_champion(params: Params, artifacts: Path) -> str:
    """Log `paths.candidate` as a pyfunc, register it and make it champion; return the version.

    The registry is whatever MLFLOW_TRACKING_URI names (the caller points it at a temporary store).
    """
    import mlflow

    from shopseq.registry import promote
    from shopseq.registry.pyfunc import log_recommender
    from shopseq.tracking import configure_mlflow

    candidate = Path(params.paths.candidate)
    if not (candidate / "model.pt").exists():
        raise FileNotFoundError(f"{candidate} holds no model: run `shopseq run train` (or `make demo`) first")
    params = replace(params, base=replace(params.base, mlflow_artifacts=str(artifacts), experiment="serve-benchmark"))
    configure_mlflow(params.base)
    with mlflow.start_run(run_name="serve-benchmark"):
        model_uri = log_recommender(candidate)
    version = str(mlflow.register_model(model_uri, params.registry.model_name).version)
    reason = "throwaway registry for the latency benchmark"
    return promote(params.base, params.registry, approved_by=THROWAWAY_APPROVER, version=version, reason=reason)


@contextlib.contextmanager
def running_service(
    params_file: Path, env: dict[str, str], log_file: Path, start_timeout_s: float
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Run `shopseq serve` on a free loopback port; yield its URL and first /health once it answers."""
    port = free_port()
    command = [sys.executable, "-m", "shopseq.cli", "--params", str(params_file), "serve",
               "--host", "127.0.0.1", "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    with open(log_file, "w") as log_handle:
        process = subprocess.Popen(command, stdout=log_handle, stderr=subprocess.STDOUT, env=env)
        try:
            health = _wait_until_healthy(url, process, start_timeout_s, log_file)
            log.info("service up at %s serving version %s", url, health["model_version"])
            yield url, health
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def warm_up(url: str, payloads: list[dict[str, Any]]) -> None:
    """Send requests one at a time and fail loudly if the service does not answer them."""
    import httpx

    with httpx.Client(base_url=url, timeout=30.0) as client:
        for payload in payloads:
            response = client.post("/recommend", json=payload)
            if response.status_code != 200:
                raise RuntimeError(f"warm-up request {payload} got {response.status_code}: {response.text[:300]}")


async def drive(url: str, rate: float, seconds: float, payloads: list[dict[str, Any]], timeout_s: float) -> dict[str, Any]:
    """Open-loop load: request i is sent at start + i / rate whatever happened before it."""
    import httpx

    n = max(1, int(round(rate * seconds)))
    loop = asyncio.get_running_loop()
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=512)
    async with httpx.AsyncClient(base_url=url, timeout=timeout_s, limits=limits) as client:
        start = loop.time() + 0.2

        async def one(i: int) -> tuple[bool, float]:
            scheduled = start + i / rate
            await asyncio.sleep(max(0.0, scheduled - loop.time()))
            try:
                response = await client.post("/recommend", json=payloads[i % len(payloads)])
                ok = response.status_code == 200
            except httpx.HTTPError:
                ok = False
            return ok, (loop.time() - scheduled) * 1000.0

        results = await asyncio.gather(*(one(i) for i in range(n)))
        elapsed = loop.time() - start
    latencies = np.array([ms for ok, ms in results if ok])
    errors = sum(not ok for ok, _ in results)
    p50, p99 = (np.percentile(latencies, [50, 99]) if latencies.size else (float("nan"), float("nan")))
    return {
        "rps": rate,
        "p50_ms": round(float(p50), 2),
        "p99_ms": round(float(p99), 2),
        "errors": int(errors),
        "requests": n,
        "achieved_rps": round(n / elapsed, 1),
        "max_ms": round(float(latencies.max()), 2) if latencies.size else None,
    }


def markdown_table(report: dict[str, Any]) -> str:
    """The rows as a markdown table with what was served."""
    lines = [
        f"`shopseq serve` on loopback, {report['model_name']} version {report['served_version']} "
        f"({report['registry']} registry), top-{report['k']}, {report['seconds_per_rate']:.0f} s per rate, "
        f"{report['cpu_count']} CPUs (1-min load average {report['load_average_1m']['before']} before, "
        f"{report['load_average_1m']['after']} after); latency from the scheduled send time",
        "",
        "| req/s | achieved | requests | p50 ms | p99 ms | max ms | errors |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in report["rows"]:
        lines.append(
            f"| {row['rps']:.0f} | {row['achieved_rps']:.1f} | {row['requests']} | {row['p50_ms']:.1f} | "
            f"{row['p99_ms']:.1f} | {row['max_ms'] if row['max_ms'] is not None else float('nan'):.1f} | {row['errors']} |"
        )
    return "\n".join(lines) + "\n"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _project_has_champion(params: Params) -> bool:
    from shopseq.serving.champion import champion_version
    from shopseq.tracking import tracking_uri

    uri = tracking_uri(params.base)
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        return False  # do not create an empty project store just to ask
    return champion_version(params) is not None


def _wait_until_healthy(url: str, process: subprocess.Popen, timeout_s: float, log_file: Path) -> dict[str, Any]:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_file.read_text()[-2000:]
            raise RuntimeError(f"the service exited with code {process.returncode} before answering; its log:\n{tail}")
        with contextlib.suppress(httpx.HTTPError):
            return _get_json(url + "/health")
        time.sleep(0.5)
    raise RuntimeError(f"the service did not answer {url}/health within {timeout_s:.0f} s; see {log_file}")


def _get_json(url: str) -> dict[str, Any]:
    import httpx

    response = httpx.get(url, timeout=5.0)
    response.raise_for_status()
    return response.json()
