"""Progress for long loops: a bar for a person at a terminal, periodic log lines under Airflow."""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


def wants_bars(mode: str = "auto") -> bool:
    """Bars when asked, or in auto mode when stderr is a terminal and Airflow is not running us."""
    if mode == "bars":
        return True
    if mode == "logs":
        return False
    return sys.stderr.isatty() and "AIRFLOW_CTX_DAG_ID" not in os.environ


def progress(
    items: Iterable[T],
    desc: str,
    total: int | None = None,
    mode: str = "auto",
    unit: str = "it",
    every_s: float = 10.0,
) -> Iterator[T]:
    """Iterate `items`, showing a tqdm bar or logging a line at most every `every_s` seconds."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    if wants_bars(mode):
        from tqdm.auto import tqdm

        yield from tqdm(items, desc=desc, total=total, unit=unit)
        return
    start = last = time.monotonic()
    done = 0
    for done, item in enumerate(items, start=1):
        yield item
        now = time.monotonic()
        if now - last >= every_s:
            last = now
            of = f"/{total}" if total else ""
            log.info("%s: %d%s %s (%.1f %s/s)", desc, done, of, unit, done / (now - start), unit)
    elapsed = max(time.monotonic() - start, 1e-9)
    log.info("%s: done, %d %s in %.1f s (%.1f %s/s)", desc, done, unit, elapsed, done / elapsed, unit)
