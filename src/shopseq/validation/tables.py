"""Validate the canonical events, items and reviews tables in one Great Expectations run.

Row-level failures are quarantined with a reason; table-level failures (missing column, too few
rows, too much quarantined) are collected as one-line errors in the summary. Rows the adapter
already took out at ingest (`Loaded.rejected`: duplicates, unparseable values, ...) join the
quarantine with their reasons, so a table's `rows_in` counts every row read. The caller decides
what a failure means: the `validate` stage raises `DataValidationError`, `check-data` reports.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from shopseq import schema as s
from shopseq.config import Validate
from shopseq.data.adapters.base import DETAIL
from shopseq.io import atomic_dir, write_json
from shopseq.validation.engine import CheckResult, build_docs, open_context, run_checks
from shopseq.validation.quarantine import (
    assign_reasons,
    failing_rows,
    reason_counts,
    split,
)
from shopseq.validation.suites import (
    CHECK_ERROR,
    IN_CATALOGUE,
    MIN_ROWS,
    MISSING_COLUMN,
    QUARANTINE_SHARE,
    SHARE_EXEMPT,
    TimeWindow,
    row_checks,
    schema_checks,
    time_window,
)
from shopseq.validation.summary import TableReport, data_version, summarise

log = logging.getLogger(__name__)


class DataValidationError(ValueError):
    """A table-level validation failure: the data must not flow further down the pipeline."""


@dataclass(frozen=True)
class TableOutcome:
    """One table after validation: accepted rows, quarantined rows and the counts.

    `accepted_file`: where the accepted rows already are, as Parquet, when they were too many
    for memory (`validation.scale`); `accepted` is then empty.
    """

    accepted: pd.DataFrame
    quarantined: pd.DataFrame
    report: TableReport
    accepted_file: Path | None = None


@dataclass(frozen=True)
class ValidationOutcome:
    """All tables after validation, plus the summary.json payload.

    Tables (and errors) come in validation order, items first: an items problem is often the
    root cause of events and reviews problems, so it is the one to read first.
    """

    tables: dict[str, TableOutcome]
    summary: dict[str, Any]

    @property
    def passed(self) -> bool:
        return bool(self.summary["passed"])


def validate_tables(
    events: pd.DataFrame,
    items: pd.DataFrame,
    reviews: pd.DataFrame,
    params: Validate,
    docs_dir: Path | None = None,
    now: pd.Timestamp | None = None,
    rejected: dict[str, pd.DataFrame] | None = None,
) -> ValidationOutcome:
    """Validate the three tables; write Data Docs to `docs_dir` when given.

    Items are validated first: events and reviews must reference an accepted item. When the
    items table itself lacks a required column the referential check is skipped (the items
    error already fails the run).

    Args:
        events, items, reviews: canonical tables (see `schema.py`), any index.
        params: the `validate` section of params.yaml.
        docs_dir: directory to (re)build the Data Docs site in, replaced atomically.
        now: the reference time for "not in the future" (default: the current UTC time).
        rejected: {table: rows taken out at ingest, with `reason`, `source_row`, `detail`}.
    """
    rejected = rejected or {}
    window = time_window(params, now)
    outcomes: dict[str, TableOutcome] = {}
    with _docs_site(docs_dir) as site:
        context = open_context(site)
        outcomes[s.ITEMS.name] = validate_table(
            context, s.ITEMS, items, params, window, catalogue=None, rejected=rejected.get(s.ITEMS.name)
        )
        catalogue = outcomes[s.ITEMS.name].accepted[s.ITEM_ID] if _has_required(items, s.ITEMS) else None
        for table, frame in ((s.EVENTS, events), (s.REVIEWS, reviews)):
            outcomes[table.name] = validate_table(
                context, table, frame, params, window, catalogue, rejected=rejected.get(table.name)
            )
        if site is not None:
            build_docs(context)
    if docs_dir is not None:
        log.info("Data Docs: %s", Path(docs_dir) / "index.html")
    version = data_version({name: outcome.accepted for name, outcome in outcomes.items()})
    summary = summarise({name: outcome.report for name, outcome in outcomes.items()}, version)
    return ValidationOutcome(tables=outcomes, summary=summary)


def validate_table(
    context: Any,
    table: s.Table,
    frame: pd.DataFrame,
    params: Validate,
    window: TimeWindow,
    catalogue: pd.Series | None,
    rejected: pd.DataFrame | None = None,
) -> TableOutcome:
    """Run one table's suite and split it into accepted and quarantined rows.

    Args:
        context: a GE context from `engine.open_context`.
        table: which canonical table `frame` is.
        frame: the raw table; row positions become `source_row` in quarantine.
        params: the `validate` section of params.yaml.
        window: the accepted timestamp range.
        catalogue: accepted item ids that `item_id` must be among, or None to skip that check.
        rejected: rows of this table the adapter took out at ingest (`reason`, `source_row`, `detail`).
    """
    frame = frame.reset_index(drop=True)
    checks = schema_checks(table, params)
    batch = frame
    if _has_required(frame, table):
        frame = s.conform(frame, table)
        use_catalogue = catalogue is not None and table is not s.ITEMS
        checks += row_checks(table, params, window, with_catalogue=use_catalogue)
        batch = frame.assign(**{IN_CATALOGUE: frame[s.ITEM_ID].isin(catalogue)}) if use_catalogue else frame
    results = run_checks(context, table.name, batch, checks)

    schema_failed = any(r.check.rule == MISSING_COLUMN and not r.success for r in results)
    accepted, quarantined = split(frame, _reasons(frame, results, schema_failed))
    quarantined = _with_rejected(quarantined, rejected)
    rows_in = len(frame) + (0 if rejected is None else len(rejected))
    errors = _table_errors(table, frame, results)
    if not schema_failed and (share_error := _share_error(table, quarantined, rows_in, results, params)):
        errors.append(share_error)

    report = TableReport(
        rows_in=rows_in,
        rows_accepted=len(accepted),
        rows_quarantined=len(quarantined),
        quarantine_reasons=reason_counts(quarantined),
        errors=errors,
    )
    log.info(
        "%s: %d rows in, %d accepted, %d quarantined %s%s",
        table.name,
        report.rows_in,
        report.rows_accepted,
        report.rows_quarantined,
        report.quarantine_reasons or "",
        f"; FAILED: {'; '.join(errors)}" if errors else "",
    )
    return TableOutcome(accepted=accepted, quarantined=quarantined, report=report)


def write_outcome(
    outcome: ValidationOutcome,
    quarantine_dir: Path,
    summary_path: Path,
    validated_dir: Path | None = None,
) -> None:
    """Write quarantine files, accepted tables (when `validated_dir` is given) and summary.json.

    Every table gets a quarantine file, empty when nothing was quarantined, so downstream
    tools always find the same set of files. Each directory is replaced atomically.
    """
    with atomic_dir(quarantine_dir) as tmp:
        for name, table in outcome.tables.items():
            table.quarantined.to_parquet(tmp / f"{name}.parquet", index=False)
    if validated_dir is not None:
        with atomic_dir(validated_dir) as tmp:
            for name, table in outcome.tables.items():
                if table.accepted_file is not None:
                    shutil.move(table.accepted_file, tmp / f"{name}.parquet")
                else:
                    table.accepted.to_parquet(tmp / f"{name}.parquet", index=False)
    write_json(summary_path, outcome.summary)


def raise_for_failure(summary: dict[str, Any], summary_path: Path) -> None:
    """Raise `DataValidationError` with a one-line message when validation did not pass."""
    if summary["passed"]:
        return
    errors = summary["errors"] or ["validation failed"]
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    message = " ".join(f"data validation failed: {errors[0]}{more}; see {summary_path}".split())
    raise DataValidationError(message)


def _with_rejected(quarantined: pd.DataFrame, rejected: pd.DataFrame | None) -> pd.DataFrame:
    """Validation's quarantined rows followed by the rows rejected at ingest (their columns: reason,
    source_row, detail; the canonical columns stay null)."""
    if rejected is None or rejected.empty:
        return quarantined
    rejected = rejected.astype({s.REASON: "string", s.SOURCE_ROW: "int64", DETAIL: "string"})
    if quarantined.empty:
        base = quarantined.assign(**{DETAIL: pd.Series(dtype="string")})
        return pd.concat([base, rejected], ignore_index=True)[[*quarantined.columns, DETAIL]]
    return pd.concat([quarantined, rejected], ignore_index=True)


def _reasons(frame: pd.DataFrame, results: list[CheckResult], schema_failed: bool) -> pd.Series:
    """Each row's quarantine reason (<NA>: accepted) from GE's failing rows."""
    if schema_failed:
        # Without its required columns no row of the table can be accepted.
        return pd.Series(MISSING_COLUMN, index=frame.index, dtype="string")
    return assign_reasons(frame, failing_rows(results, len(frame)))


def _table_errors(table: s.Table, frame: pd.DataFrame, results: list[CheckResult]) -> list[str]:
    """One readable line per failed table-level check (and per check GE could not evaluate)."""
    errors = []
    missing = [r.check.kwargs["column"] for r in results if r.check.rule == MISSING_COLUMN and not r.success]
    if missing:
        found = ", ".join(map(str, frame.columns)) or "no columns"
        errors.append(
            f"{table.name}: {MISSING_COLUMN}: required column(s) {', '.join(missing)} not found;"
            f" found: {found}"
        )
    for result in results:
        if result.error is not None:
            where = ", ".join(result.check.columns) or "the table"
            errors.append(
                f"{table.name}: {CHECK_ERROR}: {result.check.rule} on {where} could not run: {result.error}"
            )
        elif result.check.rule == MIN_ROWS and not result.success:
            errors.append(min_rows_error(table, result.observed, result.check.kwargs["min_value"]))
    return errors


def min_rows_error(table: s.Table, rows: int, need: int) -> str:
    """The error line of a table with fewer rows than its suite's `min_rows` check asks for."""
    setting = " (validate.min_rows)" if table is s.EVENTS else ""
    return f"{table.name}: {MIN_ROWS}: {rows} rows, need at least {need}{setting}"


def _share_error(
    table: s.Table, quarantined: pd.DataFrame, rows_in: int, results: list[CheckResult], params: Validate
) -> str | None:
    """The quarantine_share error line, naming the commonest reason and one example row.

    Rows quarantined for a reason in `SHARE_EXEMPT` (an exact copy, a merged line, a catalogue
    row nobody used) lose no information, so they do not count towards the share.
    """
    counted = quarantined[~quarantined[s.REASON].isin(SHARE_EXEMPT)]
    if rows_in == 0 or len(counted) / rows_in <= params.max_quarantine_share:
        return None
    reason, count = max(reason_counts(counted).items(), key=lambda kv: kv[1])
    row = counted.loc[counted[s.REASON] == reason].iloc[0]
    return (
        f"{table.name}: {QUARANTINE_SHARE}: {len(counted)} of {rows_in} rows quarantined "
        f"({len(counted) / rows_in:.1%}), above validate.max_quarantine_share "
        f"{params.max_quarantine_share:.1%}; most rows: {reason} ({count}), "
        f"e.g. source_row {row[s.SOURCE_ROW]}: {_example(row, reason, results)}"
    )


def _example(row: pd.Series, reason: str, results: list[CheckResult]) -> str:
    """`column=value` pairs of `row` for the columns the failing check looked at (or the raw values
    of a row rejected at ingest)."""
    if DETAIL in row.index and isinstance(row[DETAIL], str):
        return row[DETAIL]
    source_row = int(row[s.SOURCE_ROW])
    columns: tuple[str, ...] = ()
    for result in results:
        if result.check.rule == reason and source_row in result.rows:
            columns = result.check.columns
            break
    return ", ".join(f"{c}={_show(row[c])}" for c in columns if c in row.index) or reason


def _show(value: Any) -> str:
    if value is None or value is pd.NA or (not isinstance(value, str) and pd.isna(value)):
        return "null"
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return repr(value.item() if hasattr(value, "item") else value)  # np.float64(2.0) -> 2.0


def _has_required(frame: pd.DataFrame, table: s.Table) -> bool:
    return all(column in frame.columns for column in table.required)


@contextlib.contextmanager
def _docs_site(docs_dir: Path | None) -> Iterator[Path | None]:
    """Yield a fresh directory that replaces `docs_dir` on success, or None for no Data Docs."""
    if docs_dir is None:
        yield None
        return
    with atomic_dir(docs_dir) as tmp:
        yield tmp
