"""The sequences split for event tables of any size: per-user work on an engine, the rest in SQL.

Three steps, each written once:
1. per bucket of whole users, `collapse_steps` (the engine: DuckDB buckets or Spark);
2. the temporal cuts from the last step of all users, then per bucket `assign_phase` and
   `sequence_parts`, the same functions `split_sequences` runs on a table in memory;
3. in DuckDB SQL over the parts: the training vocabulary (counts summed over buckets, ties in
   the order of each item's first training step, as pandas' stable `value_counts` orders them),
   targets on items seen in training (the others counted as cold), each file ordered as the
   in-memory split orders it, streamed to Parquet batch by batch.
"""

from __future__ import annotations

import logging
import shutil
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from shopseq import schema as s
from shopseq.config import Base, Sequences
from shopseq.engine import ROW, map_users
from shopseq.engine.embedded import connect, count_rows
from shopseq.sequences.split import (
    COUNT,
    HISTORY,
    ITEMS,
    KIND,
    POSITION,
    TARGET,
    assign_phase,
    collapse_steps,
    sequence_parts,
    time_cuts,
)

log = logging.getLogger(__name__)

TS_TYPE = pa.timestamp("ns", tz="UTC")
STEPS_SCHEMA = pa.schema([(s.USER_ID, pa.string()), (s.ITEM_ID, pa.string()), (s.TS, TS_TYPE), (ROW, pa.int64())])
PARTS_SCHEMA = pa.schema(
    [
        (KIND, pa.string()),
        (s.USER_ID, pa.string()),
        (POSITION, pa.int64()),
        (ITEMS, pa.list_(pa.string())),
        (s.ITEM_ID, pa.string()),
        (s.TS, TS_TYPE),
        (COUNT, pa.int64()),
    ]
)
FILES = ("train", "valid", "test", "vocabulary")
BATCH_ROWS = 200_000  # rows per Parquet write: bounds the memory of the final files


def bucket_steps(events: pd.DataFrame) -> pd.DataFrame:
    """Collapsed steps of whole users, with `_row` keeping their order for the next pass."""
    steps = collapse_steps(events)
    steps[ROW] = range(len(steps))
    return steps


def bucket_parts(
    steps: pd.DataFrame, config: Sequences, valid_start: pd.Timestamp | None, test_start: pd.Timestamp | None
) -> pd.DataFrame:
    """`sequence_parts` of the steps of whole users, given the cuts computed over all users."""
    steps = steps.sort_values(s.USER_ID, kind="stable").reset_index(drop=True)  # users contiguous, order kept
    return sequence_parts(assign_phase(steps, config, valid_start, test_start), config)


def build_sequence_files(events: Path, out: Path, config: Sequences, base: Base) -> dict[str, Any]:
    """Write train/valid/test/vocabulary Parquet files to `out` from the events file; return metrics.

    Raises:
        ValueError: there are no events to build sequences from.
    """
    if count_rows(events) == 0:
        raise ValueError(f"sequences: no events to build sequences from in {events}")
    work = out.parent / f".{out.name}.work"
    shutil.rmtree(work, ignore_errors=True)
    try:
        steps = map_users(bucket_steps, events, work / "steps", STEPS_SCHEMA, base, "sequences: collapse steps")
        end = _last_step(steps)
        valid_start, test_start = time_cuts(end, config)
        parts_fn = partial(bucket_parts, config=config, valid_start=valid_start, test_start=test_start)
        parts = map_users(parts_fn, steps, work / "parts", PARTS_SCHEMA, base, "sequences: split users", bucketed=True)
        counts = _write_files(parts, out, base, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {
        "split": config.split,
        "train_users": counts["train"],
        "train_steps": counts["train_steps"],
        "valid_targets": counts["valid"],
        "test_targets": counts["test"],
        "cold_targets": {"valid": counts["cold_valid"], "test": counts["cold_test"]},
        "items": counts["vocabulary"],
        "valid_start": valid_start,
        "test_start": test_start,
        "engine": base.engine,
    }


def _last_step(steps: Path) -> pd.Timestamp:
    """The latest step time over every part, to the nanosecond (one part's `ts` in memory at a time).

    The embedded engine stores `ts` as a timestamp, Spark as nanosecond longs: both read as int64.
    """
    latest = max(
        pc.max(pq.read_table(part, columns=[s.TS]).column(s.TS).cast(pa.int64())).as_py() or 0
        for part in sorted(steps.glob("*.parquet"))
    )
    return pd.Timestamp(latest, unit="ns", tz="UTC")


def _queries() -> dict[str, str]:
    """SQL for each output file, over the views `parts` and `vocab`."""
    targets = f"""
        SELECT p.{s.USER_ID}, p.{ITEMS} AS {HISTORY}, p.{s.ITEM_ID} AS {TARGET}, p.{s.TS}
        FROM parts p SEMI JOIN vocab v ON p.{s.ITEM_ID} = v.{s.ITEM_ID}
        WHERE p.{KIND} = '{{phase}}' ORDER BY p.{s.USER_ID}, p.{POSITION}"""
    return {
        "train": f"SELECT {s.USER_ID}, {ITEMS} FROM parts WHERE {KIND} = 'train' ORDER BY {s.USER_ID}",
        "valid": targets.format(phase="valid"),
        "test": targets.format(phase="test"),
        "vocabulary": f"SELECT {s.ITEM_ID}, {COUNT} FROM vocab ORDER BY {COUNT} DESC, first_user, first_position",
    }


def _write_files(parts: Path, out: Path, base: Base, work: Path) -> dict[str, int]:
    """Stream each output file from DuckDB to Parquet; row counts for the metrics."""
    con = connect(base.engine_memory, work / "spill")
    try:
        con.execute(f"CREATE VIEW parts AS SELECT * FROM read_parquet('{parts}/*.parquet')")
        con.execute(
            f"""CREATE TABLE vocab AS
            SELECT {s.ITEM_ID}, sum({COUNT})::BIGINT AS {COUNT}, min({s.USER_ID}) AS first_user,
                   arg_min({POSITION}, {s.USER_ID}) AS first_position
            FROM parts WHERE {KIND} = '{COUNT}' GROUP BY {s.ITEM_ID}"""
        )
        counts = {name: _stream(con, sql, out / f"{name}.parquet") for name, sql in _queries().items()}
        counts["train_steps"] = int(
            con.execute(f"SELECT coalesce(sum(len({ITEMS})), 0) FROM parts WHERE {KIND} = 'train'").fetchone()[0]
        )
        for phase in ("valid", "test"):
            counts[f"cold_{phase}"] = int(
                con.execute(
                    f"SELECT count(*) FROM parts p ANTI JOIN vocab v ON p.{s.ITEM_ID} = v.{s.ITEM_ID} "
                    f"WHERE p.{KIND} = '{phase}'"
                ).fetchone()[0]
            )
    finally:
        con.close()
    return counts


# The pandas dtypes each file had when the in-memory split wrote it (kept in the Parquet's pandas
# metadata): readers get the same frames whichever engine wrote the files.
FILE_DTYPES: dict[str, dict[str, str]] = {
    "train": {s.USER_ID: "string"},
    "valid": {s.USER_ID: "str", TARGET: "str"},
    "test": {s.USER_ID: "str", TARGET: "str"},
    "vocabulary": {s.ITEM_ID: "string", COUNT: "int64"},  # was int64[pyarrow] (value_counts on arrow strings)
}


def _stream(con, sql: str, path: Path) -> int:
    """Write a query's rows to `path` in batches, with the dtypes pandas gives the in-memory split."""
    reader = con.sql(sql).to_arrow_reader(BATCH_ROWS)
    dtypes = FILE_DTYPES[path.stem]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    writer = None
    rows = 0
    try:
        for batch in reader:
            table = _as_pandas_table(batch, dtypes)
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema)
            writer.write_table(table)
            rows += batch.num_rows
        if writer is None:  # no rows: an empty file with the query's columns
            writer = pq.ParquetWriter(tmp, _as_pandas_table(reader.schema.empty_table(), dtypes).schema)
        writer.close()
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return rows


def _as_pandas_table(batch: pa.RecordBatch | pa.Table, dtypes: dict[str, str]) -> pa.Table:
    """A batch as `write_parquet` stores the in-memory split's frame (types and pandas metadata)."""
    frame = batch.to_pandas().astype(dtypes)
    if s.TS in frame:
        frame[s.TS] = pd.to_datetime(frame[s.TS], utc=True).astype("datetime64[ns, UTC]")
    for name in (ITEMS, HISTORY):
        if name in frame:
            frame[name] = frame[name].map(list)
    return pa.Table.from_pandas(frame, preserve_index=False)
