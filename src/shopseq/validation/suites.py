"""What each canonical table must satisfy, written as Great Expectations checks.

A `Check` is one expectation plus what its failure means to the pipeline:
- `row` level: the failing rows go to quarantine with the check's `rule` as their reason;
- `table` level: the whole table fails and the pipeline stops.

This module is plain data and pandas; Great Expectations itself is imported only where the
checks are run (`engine.py`), because importing it costs seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from shopseq import schema as s
from shopseq.config import Validate
from shopseq.data.adapters.base import DUPLICATE, ITEM_WITHOUT_EVENTS
from shopseq.data.adapters.online_retail import MERGED_LINE

ROW, TABLE = "row", "table"

# Table-level rules: a failure stops the pipeline.
MISSING_COLUMN = "missing_column"
MIN_ROWS = "min_rows"
QUARANTINE_SHARE = "quarantine_share"
CHECK_ERROR = "check_error"

# Row-level rules: a failing row is quarantined with the rule as its reason.
NULL_REQUIRED = "null_required"
UNKNOWN_EVENT_TYPE = "unknown_event_type"
TS_OUT_OF_RANGE = "ts_out_of_range"
PRICE_OUT_OF_RANGE = "price_out_of_range"
RATING_OUT_OF_RANGE = "rating_out_of_range"
ITEM_NOT_IN_CATALOGUE = "item_not_in_catalogue"
DUPLICATE_ITEM = "duplicate_item"
DUPLICATE_EVENT = "duplicate_event"

# A row breaking several rules is quarantined under the first one in this order. Duplicate
# rules come last so that a copy is only a duplicate of a row that is itself accepted.
ROW_RULES: tuple[str, ...] = (
    NULL_REQUIRED,
    UNKNOWN_EVENT_TYPE,
    TS_OUT_OF_RANGE,
    PRICE_OUT_OF_RANGE,
    RATING_OUT_OF_RANGE,
    ITEM_NOT_IN_CATALOGUE,
    DUPLICATE_ITEM,
    DUPLICATE_EVENT,
)

# Reasons the adapters give rows they take out at ingest (`data.adapters.base`); listed here so
# the quarantine vocabulary is complete in one place. Reasons in SHARE_EXEMPT lose no
# information (an exact copy, a line merged into another, a catalogue row no event uses), so
# they do not count towards `validate.max_quarantine_share`.
SHARE_EXEMPT = frozenset({DUPLICATE, MERGED_LINE, ITEM_WITHOUT_EVENTS})

# Rows sharing these columns are copies: the first accepted copy is kept, later ones quarantined.
DEDUP_KEYS: dict[str, tuple[str, ...]] = {
    DUPLICATE_ITEM: (s.ITEM_ID,),
    DUPLICATE_EVENT: (s.USER_ID, s.ITEM_ID, s.EVENT_TYPE, s.TS),
}

# Derived boolean column added to the validated batch: is the row's item_id in the accepted
# catalogue? A plain in-set expectation would embed every item id in the suite and Data Docs.
IN_CATALOGUE = "in_catalogue"

RATING_RANGE = (1.0, 5.0)


@dataclass(frozen=True)
class Check:
    """One expectation of a table's suite and the pipeline rule it enforces.

    Attributes:
        rule: quarantine reason (row level) or error rule (table level).
        level: `ROW` or `TABLE`.
        expectation: class name in `great_expectations.expectations`.
        kwargs: the expectation's arguments.
        description: one sentence shown in Data Docs instead of GE's default wording.
        columns: the table columns a person should look at when the check fails.
    """

    rule: str
    level: str
    expectation: str
    kwargs: dict[str, Any] = field(hash=False)
    description: str
    columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class TimeWindow:
    """Timestamps outside [earliest, latest] are quarantined as `ts_out_of_range`."""

    earliest: pd.Timestamp
    latest: pd.Timestamp


def time_window(params: Validate, now: pd.Timestamp | None = None) -> TimeWindow:
    """Turn `validate.earliest_ts` and `validate.max_future_days` into UTC bounds.

    Raises:
        ValueError: `validate.earliest_ts` is not a date.
    """
    now = pd.Timestamp.now(tz="UTC") if now is None else _as_utc(now)
    try:
        earliest = _as_utc(pd.Timestamp(params.earliest_ts))
    except ValueError as error:
        raise ValueError(
            f"validate.earliest_ts: {params.earliest_ts!r} is not a date (use e.g. 2000-01-01): {error}"
        ) from None
    return TimeWindow(earliest=earliest, latest=now + pd.Timedelta(days=params.max_future_days))


def min_rows_for(table: s.Table, params: Validate) -> int:
    """Events need `validate.min_rows`; items must not be empty; reviews may be absent."""
    return {s.EVENTS.name: params.min_rows, s.ITEMS.name: 1}.get(table.name, 0)


def schema_checks(table: s.Table, params: Validate) -> list[Check]:
    """Table-level checks: every required column exists, and the table has enough rows."""
    checks = [
        Check(
            rule=MISSING_COLUMN,
            level=TABLE,
            expectation="ExpectColumnToExist",
            kwargs={"column": column},
            description=f"Table level: required column {column} exists.",
            columns=(column,),
        )
        for column in table.required
    ]
    min_rows = min_rows_for(table, params)
    if min_rows > 0:
        checks.append(
            Check(
                rule=MIN_ROWS,
                level=TABLE,
                expectation="ExpectTableRowCountToBeBetween",
                kwargs={"min_value": min_rows},
                description=f"Table level: at least {min_rows} rows.",
            )
        )
    return checks


def row_checks(table: s.Table, params: Validate, window: TimeWindow, with_catalogue: bool) -> list[Check]:
    """Row-level checks for a table whose required columns are all present.

    Args:
        table: the canonical table being checked.
        params: the `validate` section of params.yaml.
        window: the accepted timestamp range.
        with_catalogue: add the referential check on the derived `IN_CATALOGUE` column.
    """
    checks = [_not_null(column) for column in table.required]
    columns = table.columns
    if s.EVENT_TYPE in columns:
        checks.append(_event_types(params.event_types))
    if s.TS in columns:
        checks.append(_timestamps(window))
    if s.PRICE in columns:
        checks.append(_prices(params.max_price))
    if s.RATING in columns:
        checks.append(_ratings())
    if with_catalogue and s.ITEM_ID in columns and table is not s.ITEMS:
        checks.append(_in_catalogue())
    if table is s.ITEMS:
        checks.append(_unique_items())
    if table is s.EVENTS:
        checks.append(_unique_events())
    return checks


def _not_null(column: str) -> Check:
    return Check(
        rule=NULL_REQUIRED,
        level=ROW,
        expectation="ExpectColumnValuesToNotBeNull",
        kwargs={"column": column},
        description=f"Row level, quarantined as {NULL_REQUIRED}: required column {column} is never null.",
        columns=(column,),
    )


def _event_types(event_types: list[str]) -> Check:
    return Check(
        rule=UNKNOWN_EVENT_TYPE,
        level=ROW,
        expectation="ExpectColumnValuesToBeInSet",
        kwargs={"column": s.EVENT_TYPE, "value_set": list(event_types)},
        description=(
            f"Row level, quarantined as {UNKNOWN_EVENT_TYPE}: "
            f"event_type is one of {', '.join(event_types)} (validate.event_types)."
        ),
        columns=(s.EVENT_TYPE,),
    )


def _timestamps(window: TimeWindow) -> Check:
    return Check(
        rule=TS_OUT_OF_RANGE,
        level=ROW,
        expectation="ExpectColumnValuesToBeBetween",
        kwargs={"column": s.TS, "min_value": window.earliest, "max_value": window.latest},
        description=(
            f"Row level, quarantined as {TS_OUT_OF_RANGE}: ts lies between "
            f"{window.earliest.isoformat()} (validate.earliest_ts) and {window.latest.isoformat()} "
            "(now + validate.max_future_days)."
        ),
        columns=(s.TS,),
    )


def _prices(max_price: float) -> Check:
    return Check(
        rule=PRICE_OUT_OF_RANGE,
        level=ROW,
        expectation="ExpectColumnValuesToBeBetween",
        kwargs={"column": s.PRICE, "min_value": 0, "strict_min": True, "max_value": max_price},
        description=(
            f"Row level, quarantined as {PRICE_OUT_OF_RANGE}: price, where given, is above 0 "
            f"and at most {max_price:g} (validate.max_price)."
        ),
        columns=(s.PRICE,),
    )


def _ratings() -> Check:
    low, high = RATING_RANGE
    return Check(
        rule=RATING_OUT_OF_RANGE,
        level=ROW,
        expectation="ExpectColumnValuesToBeBetween",
        kwargs={"column": s.RATING, "min_value": low, "max_value": high},
        description=(
            f"Row level, quarantined as {RATING_OUT_OF_RANGE}: rating, where given, is in {low:g}..{high:g}."
        ),
        columns=(s.RATING,),
    )


def _in_catalogue() -> Check:
    return Check(
        rule=ITEM_NOT_IN_CATALOGUE,
        level=ROW,
        expectation="ExpectColumnValuesToBeInSet",
        kwargs={"column": IN_CATALOGUE, "value_set": [True]},
        description=(
            f"Row level, quarantined as {ITEM_NOT_IN_CATALOGUE}: item_id is an accepted row of the "
            f"items table (derived column {IN_CATALOGUE} is true)."
        ),
        columns=(s.ITEM_ID,),
    )


def _unique_items() -> Check:
    return Check(
        rule=DUPLICATE_ITEM,
        level=ROW,
        expectation="ExpectColumnValuesToBeUnique",
        kwargs={"column": s.ITEM_ID},
        description=(
            f"Row level, quarantined as {DUPLICATE_ITEM}: item_id is unique; "
            "the first accepted copy is kept, later copies are quarantined."
        ),
        columns=(s.ITEM_ID,),
    )


def _unique_events() -> Check:
    keys = DEDUP_KEYS[DUPLICATE_EVENT]
    return Check(
        rule=DUPLICATE_EVENT,
        level=ROW,
        expectation="ExpectCompoundColumnsToBeUnique",
        kwargs={"column_list": list(keys)},
        description=(
            f"Row level, quarantined as {DUPLICATE_EVENT}: no two events share "
            f"{', '.join(keys)}; the first accepted copy is kept, later copies are quarantined."
        ),
        columns=keys,
    )


def _as_utc(stamp: pd.Timestamp) -> pd.Timestamp:
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
