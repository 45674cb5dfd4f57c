"""Validate an events table larger than memory: the same Great Expectations suite, bucket by bucket.

`validate_tables` holds the three tables in pandas. Here the events stay on disk: the engine
(`engine.map_users`: DuckDB user-hash buckets, or Spark) hands the suite's row-level checks one
bucket of whole users at a time, with each row's position in the raw file. Every check,
`duplicate_event` included, sees all the rows it compares (a copy has the same user, so the
same bucket), and the first-failing-rule reasons come from `assign_reasons`, as in memory.
The table-level checks use the counts over all buckets. The accepted events are then streamed
to Parquet in raw order (DuckDB sorts on disk beyond `base.engine_memory`) and hashed on the way
for the data version. Items and reviews (one row per item or review: small) are validated in
memory, in the Data Docs context, exactly as `validate_tables` does.

Differences from the in-memory run, by design: the Data Docs site shows the items and reviews
suites (the events suite ran once per bucket); a check Great Expectations cannot evaluate
raises instead of being reported as `check_error`.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from shopseq import schema as s
from shopseq.config import Base, Validate
from shopseq.engine import ROW, from_arrow, map_users
from shopseq.engine.embedded import connect, count_rows
from shopseq.io import read_parquet
from shopseq.validation.engine import CheckResult, build_docs, open_context, run_checks
from shopseq.validation.quarantine import assign_reasons, failing_rows, reason_counts
from shopseq.validation.suites import IN_CATALOGUE, TimeWindow, min_rows_for, row_checks, time_window
from shopseq.validation.summary import TableReport, data_version_of, summarise
from shopseq.validation.tables import (
    TableOutcome,
    ValidationOutcome,
    _docs_site,
    _has_required,
    _share_error,
    _with_rejected,
    min_rows_error,
    validate_table,
)

log = logging.getLogger(__name__)

BATCH_ROWS = 200_000  # rows per Parquet write of the accepted events: bounds that step's memory
ARROW_TYPES = {"string": pa.string(), "float64": pa.float64(), "datetime64[ns, UTC]": pa.timestamp("ns", tz="UTC")}
# What a bucket's check returns: the canonical event columns, the reason (null: accepted), the raw position.
CHECKED_SCHEMA = pa.schema(
    [(name, ARROW_TYPES[dtype]) for name, dtype in s.EVENTS.columns.items()] + [(s.REASON, pa.string()), (ROW, pa.int64())]
)


def events_fit_in_buckets(events_file: Path, base: Base) -> bool:
    """Whether `validate` should check the events bucket by bucket: more rows than one bucket,
    and every required column there (a missing one is reported by the in-memory run)."""
    columns = set(pq.read_schema(events_file).names)
    return count_rows(events_file) > base.bucket_events and set(s.EVENTS.required) <= columns


def validate_tables_at_scale(
    raw: Path,
    params: Validate,
    base: Base,
    accepted_events: Path,
    docs_dir: Path | None = None,
    now: pd.Timestamp | None = None,
    rejected: dict[str, pd.DataFrame] | None = None,
) -> ValidationOutcome:
    """`validate_tables` on `raw/{events,items,reviews}.parquet`, the events never whole in memory.

    The accepted events are written to `accepted_events` (the events outcome's `accepted_file`;
    its `accepted` frame is empty); the rest of the outcome is as `validate_tables` gives it.
    """
    rejected = rejected or {}
    window = time_window(params, now)
    items = read_parquet(raw / f"{s.ITEMS.name}.parquet")
    reviews = read_parquet(raw / f"{s.REVIEWS.name}.parquet")
    work = accepted_events.parent / f".{accepted_events.name}.work"
    shutil.rmtree(work, ignore_errors=True)
    outcomes: dict[str, TableOutcome] = {}
    try:
        with _docs_site(docs_dir) as site:
            context = open_context(site)
            outcomes[s.ITEMS.name] = validate_table(
                context, s.ITEMS, items, params, window, catalogue=None, rejected=rejected.get(s.ITEMS.name)
            )
            catalogue = outcomes[s.ITEMS.name].accepted[s.ITEM_ID] if _has_required(items, s.ITEMS) else None
            checked = _check_buckets(raw / f"{s.EVENTS.name}.parquet", params, window, catalogue, base, work)
            outcomes[s.EVENTS.name] = _events_outcome(checked, params, accepted_events, rejected.get(s.EVENTS.name), base)
            outcomes[s.REVIEWS.name] = validate_table(
                context, s.REVIEWS, reviews, params, window, catalogue, rejected=rejected.get(s.REVIEWS.name)
            )
            if site is not None:
                build_docs(context)
        tables = {name: (o.accepted.dtypes, len(o.accepted), [o.accepted]) for name, o in outcomes.items()}
        # The events' rows are hashed as they are written, in raw order, never all in memory.
        accepted = _accepted_in_raw_order(checked, accepted_events, base, work)
        tables[s.EVENTS.name] = (_empty_events().dtypes, outcomes[s.EVENTS.name].report.rows_accepted, accepted)
        version = data_version_of(tables)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary = summarise({name: outcome.report for name, outcome in outcomes.items()}, version)
    return ValidationOutcome(tables=outcomes, summary=summary)


def check_bucket(
    frame: pd.DataFrame, params: Validate, window: TimeWindow, catalogue: pd.Series | None
) -> pd.DataFrame:
    """Run the events suite's row checks on one bucket of whole users; each row with its reason.

    Raises:
        RuntimeError: Great Expectations could not evaluate a check (no row may pass unchecked).
    """
    events = s.conform(frame.drop(columns=ROW), s.EVENTS)
    use_catalogue = catalogue is not None
    checks = row_checks(s.EVENTS, params, window, with_catalogue=use_catalogue)
    batch = events.assign(**{IN_CATALOGUE: events[s.ITEM_ID].isin(catalogue)}) if use_catalogue else events
    results = run_checks(open_context(), s.EVENTS.name, batch, checks)
    broken = [f"{r.check.rule} on {', '.join(r.check.columns)}: {r.error}" for r in results if r.error is not None]
    if broken:
        raise RuntimeError(f"{s.EVENTS.name}: check_error: Great Expectations could not run {'; '.join(broken)}")
    reasons = assign_reasons(events, failing_rows(results, len(events)))
    return events.assign(**{s.REASON: reasons, ROW: frame[ROW].to_numpy(dtype="int64")})


def _check_buckets(
    events_file: Path, params: Validate, window: TimeWindow, catalogue: pd.Series | None, base: Base, work: Path
) -> Path:
    """Every event with its reason, as Parquet parts of whole users (`CHECKED_SCHEMA`)."""
    check = partial(check_bucket, params=params, window=window, catalogue=catalogue)
    return map_users(check, events_file, work / "checked", CHECKED_SCHEMA, base, "validate: events", keep_row=True)


def _events_outcome(
    checked: Path, params: Validate, accepted_events: Path, rejected: pd.DataFrame | None, base: Base
) -> TableOutcome:
    """Counts, quarantined rows (few: held in memory) and table-level errors of the checked events."""
    con = connect(base.engine_memory, checked.parent / "spill")
    try:
        con.execute(f"CREATE VIEW checked AS SELECT * FROM read_parquet('{checked}/*.parquet')")
        rows = int(con.execute("SELECT count(*) FROM checked").fetchall()[0][0])
        columns = ", ".join(s.EVENTS.columns)
        quarantined = con.sql(
            f"SELECT {columns}, {s.REASON}, {ROW} AS {s.SOURCE_ROW} FROM checked "
            f"WHERE {s.REASON} IS NOT NULL ORDER BY {ROW}"
        ).to_arrow_table()
    finally:
        con.close()
    quarantined = _events_frame(quarantined).astype({s.REASON: "string", s.SOURCE_ROW: "int64"})
    quarantined = _with_rejected(quarantined, rejected)
    rows_in = rows + (0 if rejected is None else len(rejected))
    errors = []
    need = min_rows_for(s.EVENTS, params)
    if rows < need:
        errors.append(min_rows_error(s.EVENTS, rows, need))
    if share_error := _share_error(s.EVENTS, quarantined, rows_in, _failed_checks(quarantined, params), params):
        errors.append(share_error)
    report = TableReport(
        rows_in=rows_in,
        rows_accepted=rows_in - len(quarantined),
        rows_quarantined=len(quarantined),
        quarantine_reasons=reason_counts(quarantined),
        errors=errors,
    )
    log.info(
        "%s (in buckets): %d rows in, %d accepted, %d quarantined %s%s",
        s.EVENTS.name,
        report.rows_in,
        report.rows_accepted,
        report.rows_quarantined,
        report.quarantine_reasons or "",
        f"; FAILED: {'; '.join(errors)}" if errors else "",
    )
    return TableOutcome(accepted=_empty_events(), quarantined=quarantined, report=report, accepted_file=accepted_events)


def _failed_checks(quarantined: pd.DataFrame, params: Validate) -> list[CheckResult]:
    """Which row check flagged each quarantined row, as GE's results would say (for the error's example).

    A row's reason names its rule; of a rule's checks (one per column for `null_required`), the
    first that the row fails, as the in-memory run finds it.
    """
    window = time_window(params)
    results = []
    for check in row_checks(s.EVENTS, params, window, with_catalogue=True):
        hit = quarantined[s.REASON] == check.rule
        if check.expectation == "ExpectColumnValuesToNotBeNull":
            hit &= quarantined[check.kwargs["column"]].isna()
        results.append(CheckResult(check=check, success=False, rows=quarantined.loc[hit, s.SOURCE_ROW].tolist()))
    return results


def _accepted_in_raw_order(checked: Path, out: Path, base: Base, work: Path) -> Iterator[pd.DataFrame]:
    """Write the accepted events to `out` in raw order, batch by batch, yielding each batch as written."""
    con = connect(base.engine_memory, work / "spill")
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = None
    try:
        reader = con.sql(
            f"SELECT {', '.join(s.EVENTS.columns)} FROM read_parquet('{checked}/*.parquet') "
            f"WHERE {s.REASON} IS NULL ORDER BY {ROW}"
        ).to_arrow_reader(BATCH_ROWS)
        for batch in reader:
            frame = _events_frame(pa.Table.from_batches([batch]))
            table = pa.Table.from_pandas(frame, preserve_index=False)
            writer = writer or pq.ParquetWriter(out, table.schema)
            writer.write_table(table)
            yield frame
        if writer is None:  # nothing accepted: an empty events table
            writer = pq.ParquetWriter(out, pa.Table.from_pandas(_empty_events(), preserve_index=False).schema)
    finally:
        if writer is not None:
            writer.close()
        con.close()


def _events_frame(table: pa.Table) -> pd.DataFrame:
    """Checked rows as canonical events (plus any other columns), whichever engine wrote them.

    Spark carries timestamps as nanosecond longs (`engine.spark`): they become UTC times again.
    """
    frame = table.to_pandas()
    if s.TS in frame and pd.api.types.is_integer_dtype(frame[s.TS]):
        frame[s.TS] = pd.to_datetime(frame[s.TS], unit="ns", utc=True)
    frame = from_arrow(pa.Table.from_pandas(frame, preserve_index=False))
    extra = [c for c in frame.columns if c not in s.EVENTS.columns]
    return pd.concat([s.conform(frame, s.EVENTS), frame[extra].reset_index(drop=True)], axis=1)


def _empty_events() -> pd.DataFrame:
    return s.conform(pd.DataFrame(columns=list(s.EVENTS.required)), s.EVENTS)
