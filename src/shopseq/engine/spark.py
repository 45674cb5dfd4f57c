"""The Spark engine: the same per-user functions through `groupBy(bucket).applyInPandas`.

Spark reads the Parquet input, groups users into about `rows / base.bucket_events` hash buckets
and runs the function on each bucket in a Python worker; the parts are written as Parquet where
the driver and every executor can reach them (on a real cluster: storage all of them mount).
"""

from __future__ import annotations

import logging
import math
import os
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa

from shopseq import schema as s
from shopseq.config import Base
from shopseq.engine import ROW, UserFunction, apply_user_function, from_arrow, to_arrow

log = logging.getLogger(__name__)

BUCKET = "_bucket"
SPARK_GROUP_SHARE = 10  # Spark groups per embedded bucket (see map_users_spark)


def spark_session(master: str):
    """The Spark session of this process on `master`, set up for the engine (UTC, this Python)."""
    from pyspark.sql import SparkSession

    python_path = os.pathsep.join(p for p in sys.path if p)  # executors import shopseq like the driver
    active = SparkSession.getActiveSession()
    if active is not None and active.sparkContext.master != master:
        active.stop()  # getOrCreate would hand back a session on another master
    return (
        SparkSession.builder.master(master)
        .appName("shopseq")
        .config("spark.sql.session.timeZone", "UTC")
        # Spark's timestamps are microseconds; the canonical `ts` is nanoseconds. Spark reads them as
        # nanosecond longs and the engine carries them so (`_spark_schema`), losing nothing.
        .config("spark.sql.legacy.parquet.nanosAsLong", "true")
        .config("spark.ui.enabled", "false")
        .config("spark.pyspark.python", sys.executable)
        .config("spark.pyspark.driver.python", sys.executable)
        .config("spark.executorEnv.PYTHONPATH", python_path)
        .getOrCreate()
    )


def stop_spark() -> None:
    """Stop this process's Spark session, if one runs (its JVM and its executors' work)."""
    from pyspark.sql import SparkSession

    session = SparkSession.getActiveSession()
    if session is not None:
        session.stop()


def map_users_spark(
    fn: UserFunction, source: Path, out: Path, schema: pa.Schema, base: Base, desc: str, keep_row: bool = False
) -> Path:
    """`map_users` on Spark: hash buckets of users, `fn` per bucket in Python workers."""
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema

    from shopseq.engine.embedded import count_rows

    spark = spark_session(base.spark_master)
    # A group travels between the JVM and Python as one Arrow batch held in the JVM's direct
    # memory (1 GB by default), and a function's output can be many times its input (the
    # sequences' histories): Spark groups are a tenth of an embedded bucket. Measured: 2M-event
    # groups of the sequences split overflowed it at 10M Taobao events.
    buckets = max(1, math.ceil(count_rows(source) * SPARK_GROUP_SHARE / base.bucket_events))
    frame = spark.read.parquet(str(source))
    if ROW not in frame.columns:  # the row's position in its file: the source order inside a bucket
        frame = frame.select("*", F.col("_metadata.row_index").alias(ROW))
    frame = frame.withColumn(BUCKET, F.pmod(F.xxhash64(s.USER_ID), F.lit(buckets)))
    log.info("%s: %d user buckets on Spark %s", desc, buckets, base.spark_master)
    spark_schema = from_arrow_schema(_spark_schema(schema))
    result = frame.groupBy(BUCKET).applyInPandas(_bucket_function(fn, schema, keep_row), schema=spark_schema)
    result.write.mode("overwrite").parquet(str(out))
    log.info("%s: done on Spark", desc)
    return out


def _spark_schema(schema: pa.Schema) -> pa.Schema:
    """`schema` with every timestamp as int64 nanoseconds since the epoch (UTC), as Spark carries it."""
    return pa.schema([(f.name, pa.int64() if pa.types.is_timestamp(f.type) else f.type) for f in schema])


def _bucket_function(fn: UserFunction, schema: pa.Schema, keep_row: bool = False):
    """Wrap `fn` for applyInPandas: buckets in as the embedded engine gives them, `schema`'s rows out."""

    def run(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.drop(columns=BUCKET)
        if s.TS in frame:  # nanosecond longs (see spark_session) back to UTC times
            frame[s.TS] = pd.to_datetime(frame[s.TS], unit="ns", utc=True)
        # As the embedded engine hands a bucket over: string dtypes, UTC nanosecond timestamps.
        frame = from_arrow(pa.Table.from_pandas(frame, preserve_index=False))
        table = to_arrow(apply_user_function(fn, frame, keep_row), schema)
        # One chunk (Spark wants Arrays, not ChunkedArrays); nullable int64 stays exact (not float64).
        return table.cast(_spark_schema(schema)).combine_chunks().to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)

    return run
