"""Run one per-user function over a table too large for memory: DuckDB buckets or Spark.

A heavy per-user transformation is written once, as a function from a pandas frame holding
whole users to a pandas frame with a fixed Arrow schema. `map_users` runs it:

- `embedded` (default): DuckDB splits the table into user-hash buckets of about
  `base.bucket_events` rows (streaming, spilling beyond `base.engine_memory`), then the function
  runs bucket by bucket, so memory holds one bucket, never the table.
- `spark`: the same function through `groupBy(bucket).applyInPandas` on `base.spark_master`.

Relational steps over the results (sums, joins, ordering) are DuckDB SQL over the Parquet parts
either engine wrote (`relational`), so there is one implementation of each step, not one per
engine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pandas as pd
import pyarrow as pa

from shopseq.config import Base

UserFunction = Callable[[pd.DataFrame], pd.DataFrame]


def map_users(
    fn: UserFunction,
    source: Path,
    out: Path,
    schema: pa.Schema,
    base: Base,
    desc: str,
    bucketed: bool = False,
    keep_row: bool = False,
) -> Path:
    """Run `fn` over every user of the Parquet table(s) at `source`; Parquet parts under `out`.

    Args:
        fn: whole users in (any number of them), rows of `schema` out.
        source: a Parquet file or a directory of Parquet files with a `user_id` column.
        bucketed: every file under `source` already holds whole users (the output of an
            earlier `map_users`), so the embedded engine runs `fn` per file without re-bucketing.
        keep_row: hand `fn` each row's position in its source file as the column `_row`.
    """
    if base.engine == "spark":
        from shopseq.engine.spark import map_users_spark

        return map_users_spark(fn, source, out, schema, base, desc, keep_row)
    from shopseq.engine.embedded import map_users_embedded

    return map_users_embedded(fn, source, out, schema, base, desc, bucketed, keep_row)


ROW = "_row"  # a row's position in its source file: restores the source order inside a bucket


def apply_user_function(fn: UserFunction, frame: pd.DataFrame, keep_row: bool = False) -> pd.DataFrame:
    """Call `fn` on one bucket in its source order (by `_row`, when the engine carried it).

    `_row` is dropped before the call unless `keep_row`.
    """
    if ROW in frame.columns:
        frame = frame.sort_values(ROW, kind="stable").reset_index(drop=True)
        frame = frame if keep_row else frame.drop(columns=ROW)
    return fn(frame)


def to_arrow(frame: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    """`frame` as an Arrow table of exactly `schema` (names, order and types); both engines use it."""
    return pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)


def from_arrow(table: pa.Table) -> pd.DataFrame:
    """A Parquet bucket as pandas, timestamps UTC at nanoseconds, strings as pandas' `string`."""
    frame = table.to_pandas()
    for field in table.schema:
        if pa.types.is_timestamp(field.type):
            column = pd.to_datetime(frame[field.name], utc=True)
            frame[field.name] = column.astype("datetime64[ns, UTC]")
        elif pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            frame[field.name] = frame[field.name].astype("string")
    return frame
