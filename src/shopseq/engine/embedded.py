"""The embedded engine: DuckDB partitions a table by user hash, pandas runs one bucket at a time."""

from __future__ import annotations

import logging
import math
import os
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from shopseq import schema as s
from shopseq.config import Base
from shopseq.engine import ROW, UserFunction, apply_user_function, from_arrow, to_arrow
from shopseq.progress import progress

log = logging.getLogger(__name__)

BUCKET = "bucket"


def connect(memory_limit: str, spill_dir: Path, threads: int | None = None):
    """A DuckDB connection that spills to `spill_dir` beyond `memory_limit`.

    Threads default to the cores this process may use: DuckDB's own default counts the
    machine's cores, which oversubscribes a container limited to fewer.
    """
    import duckdb

    spill_dir.mkdir(parents=True, exist_ok=True)
    threads = threads or max(1, len(os.sched_getaffinity(0)))
    con = duckdb.connect(config={"memory_limit": memory_limit, "threads": threads, "temp_directory": str(spill_dir)})
    con.execute("SET preserve_insertion_order = false")  # lets large COPYs stream; order is always explicit
    return con


def parquet_glob(source: Path) -> str:
    """A DuckDB `read_parquet` argument for a file or every Parquet file under a directory."""
    return str(source / "**" / "*.parquet") if source.is_dir() else str(source)


def count_rows(source: Path) -> int:
    """Rows of a Parquet file or directory, from the footers only."""
    files = sorted(source.rglob("*.parquet")) if source.is_dir() else [source]
    return sum(pq.ParquetFile(f).metadata.num_rows for f in files)


def partition_by_user(source: Path, out: Path, buckets: int, base: Base) -> list[Path]:
    """Split `source` into `buckets` directories of Parquet files by user hash.

    `_row` (the row's position in its source file) travels with each row, so a bucket can be
    put back in source order: stable sorts inside it then break ties as on the whole table.
    """
    con = connect(base.engine_memory, out.parent / f".{out.name}.spill")
    try:
        con.execute(
            f"""COPY (
                SELECT * EXCLUDE (file_row_number), file_row_number AS {ROW},
                       CAST(hash({s.USER_ID}) % {buckets} AS INTEGER) AS {BUCKET}
                FROM read_parquet(?, file_row_number = true)
            ) TO '{out}' (FORMAT parquet, PARTITION_BY ({BUCKET}), OVERWRITE_OR_IGNORE true)""",
            [parquet_glob(source)],
        )
    finally:
        con.close()
    # A bucket may be several files (one per DuckDB thread): a bucket is its directory.
    return sorted(out.glob(f"{BUCKET}=*"))


def map_users_embedded(
    fn: UserFunction, source: Path, out: Path, schema: pa.Schema, base: Base, desc: str, bucketed: bool, keep_row: bool
) -> Path:
    """`map_users` on this machine: one bucket in memory at a time, one Parquet part per bucket."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    scratch = out.parent / f".{out.name}.buckets"
    if bucketed:
        files = sorted(source.glob("*.parquet"))
    else:
        rows = count_rows(source)
        buckets = max(1, math.ceil(rows / base.bucket_events))
        log.info("%s: %d rows into %d user buckets (DuckDB, memory limit %s)", desc, rows, buckets, base.engine_memory)
        shutil.rmtree(scratch, ignore_errors=True)
        files = partition_by_user(source, scratch, buckets, base)
    try:
        for number, file in enumerate(progress(files, desc=desc, unit="bucket")):
            table = pq.read_table(file, partitioning=None)
            if BUCKET in table.column_names:
                table = table.drop_columns([BUCKET])
            part = apply_user_function(fn, from_arrow(table), keep_row)
            pq.write_table(to_arrow(part, schema), out / f"part-{number:05d}.parquet")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(out.parent / f".{scratch.name}.spill", ignore_errors=True)
    return out
