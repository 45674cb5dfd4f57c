"""validate_tables with real Great Expectations: every row rule, the invariant, table failures."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from validation_frames import NOW, events_frame, good_events, items_frame, reviews_frame

from shopseq import schema as s
from shopseq.config import Validate
from shopseq.validation import DataValidationError, ValidationOutcome, raise_for_failure, validate_tables

PERMISSIVE = Validate(min_rows=3, max_quarantine_share=1.0)

ITEMS = items_frame(
    [
        ("i0", "Lamp", 10.0),
        ("i1", "Desk", 20.0),
        ("i2", "Chair", -1.0),  # 2 price_out_of_range
        ("i0", "Lamp again", 10.0),  # 3 duplicate_item
        ("i3", None, 5.0),  # 4 null_required
        ("i4", "Gold desk", 2e6),  # 5 price_out_of_range (validate.max_price 1e6)
        ("i5", "Free sample", None),  # price is optional
    ]
)
EVENTS = events_frame(
    [
        ("u0", "i0", "view", "2026-06-01T10:00Z", 10.0),
        ("u1", "i1", "cart", "2026-06-02T10:00Z", 20.0),
        ("u2", "i0", "view", "2026-06-03T00:00Z", -5.0),  # 2 price_out_of_range
        ("u3", "i1", "teleport", "2026-06-03T00:00Z", 1.0),  # 3 unknown_event_type
        ("u4", "i404", "view", "2026-06-03T00:00Z", 1.0),  # 4 item_not_in_catalogue
        ("u5", "i0", "view", "2099-01-01T00:00Z", 1.0),  # 5 ts_out_of_range (future)
        ("u0", "i0", "view", "2026-06-01T10:00Z", 10.0),  # 6 duplicate_event of row 0
        (None, "i0", "view", "2026-06-04T00:00Z", 1.0),  # 7 null_required
        (None, "i0", "view", "2026-06-04T00:00Z", -1.0),  # 8 null_required wins over the bad price
        ("u6", "i0", "view", "1990-01-01T00:00Z", 1.0),  # 9 ts_out_of_range (before earliest_ts)
        ("u7", "i2", "view", "2026-06-05T00:00Z", 1.0),  # 10 item_not_in_catalogue: i2 is quarantined
        ("u8", "i0", "purchase", "not a date", 1.0),  # 11 null_required (unparseable ts)
        ("u9", "i5", "view", "2026-07-01T12:00Z", None),  # within max_future_days; price optional
        ("u0", "i0", "view", "2026-06-01T10:00Z", 99.0),  # 13 duplicate_event, other price
    ]
)
REVIEWS = reviews_frame(
    [
        ("u0", "i0", "2026-06-02T00:00Z", 5.0),
        ("u1", "i1", "2026-06-02T00:00Z", 7.0),  # 1 rating_out_of_range
        ("u2", "i404", "2026-06-02T00:00Z", 3.0),  # 2 item_not_in_catalogue
        ("u3", "i1", "2026-06-02T00:00Z", None),  # rating is optional
        ("u4", "i1", "2026-06-02T00:00Z", 0.0),  # 4 rating_out_of_range
    ]
)
CLEAN_ITEMS = ITEMS.iloc[:2]  # i0, i1: the items good_events() uses
CLEAN_REVIEWS = REVIEWS.iloc[:1]
QUARANTINED = [
    ("items", 2, "price_out_of_range"),
    ("items", 3, "duplicate_item"),
    ("items", 4, "null_required"),
    ("items", 5, "price_out_of_range"),
    ("events", 2, "price_out_of_range"),
    ("events", 3, "unknown_event_type"),
    ("events", 4, "item_not_in_catalogue"),
    ("events", 5, "ts_out_of_range"),
    ("events", 6, "duplicate_event"),
    ("events", 7, "null_required"),
    ("events", 8, "null_required"),
    ("events", 9, "ts_out_of_range"),
    ("events", 10, "item_not_in_catalogue"),
    ("events", 11, "null_required"),
    ("events", 13, "duplicate_event"),
    ("reviews", 1, "rating_out_of_range"),
    ("reviews", 2, "item_not_in_catalogue"),
    ("reviews", 4, "rating_out_of_range"),
]


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("validation") / "docs"


@pytest.fixture(scope="module")
def dirty(docs: Path) -> ValidationOutcome:
    return validate_tables(EVENTS, ITEMS, REVIEWS, PERMISSIVE, docs_dir=docs, now=NOW)


@pytest.mark.parametrize(
    ("table", "row", "reason"), QUARANTINED, ids=[f"{t}-{r}-{why}" for t, r, why in QUARANTINED]
)
def test_bad_row_is_quarantined_with_its_reason(
    dirty: ValidationOutcome, table: str, row: int, reason: str
) -> None:
    quarantined = dirty.tables[table].quarantined.set_index(s.SOURCE_ROW)
    assert row in quarantined.index, f"{table} row {row} was accepted"
    assert quarantined.loc[row, s.REASON] == reason


@pytest.mark.parametrize(
    ("table", "key", "kept"),
    [
        ("items", s.ITEM_ID, ["i0", "i1", "i5"]),
        ("events", s.USER_ID, ["u0", "u1", "u9"]),
        ("reviews", s.USER_ID, ["u0", "u3"]),
    ],
)
def test_only_clean_rows_are_accepted(
    dirty: ValidationOutcome, table: str, key: str, kept: list[str]
) -> None:
    accepted = dirty.tables[table].accepted
    assert accepted[key].tolist() == kept
    assert list(accepted.columns) == list(s.TABLES[[t.name for t in s.TABLES].index(table)].columns)


def test_rows_in_equals_accepted_plus_quarantined(dirty: ValidationOutcome) -> None:
    for name, raw in (("events", EVENTS), ("items", ITEMS), ("reviews", REVIEWS)):
        table = dirty.tables[name]
        assert len(table.accepted) + len(table.quarantined) == len(raw)
        report = dirty.summary["tables"][name]
        assert report["rows_in"] == len(raw) == report["rows_accepted"] + report["rows_quarantined"]
    total = dirty.summary
    assert (
        total["rows_in"]
        == total["rows_accepted"] + total["rows_quarantined"]
        == len(EVENTS) + len(ITEMS) + len(REVIEWS)
    )


def test_summary_counts_every_reason(dirty: ValidationOutcome) -> None:
    assert dirty.summary["quarantine_reasons"] == dict(Counter(reason for _, _, reason in QUARANTINED))
    assert dirty.summary["passed"] is True and dirty.summary["errors"] == []


def test_quarantine_keeps_the_offending_values(dirty: ValidationOutcome) -> None:
    row = dirty.tables["events"].quarantined.set_index(s.SOURCE_ROW).loc[2]
    assert (row[s.USER_ID], row[s.PRICE]) == ("u2", -5.0)


def test_data_docs_show_the_rules(dirty: ValidationOutcome, docs: Path) -> None:
    assert (docs / "index.html").exists()
    (page,) = (docs / "validations" / "events").rglob("*.html")
    html = page.read_text()
    assert "quarantined as item_not_in_catalogue" in html
    assert "quarantined as duplicate_event" in html


def _validate(
    events: pd.DataFrame, items: pd.DataFrame, reviews: pd.DataFrame, **params: object
) -> ValidationOutcome:
    return validate_tables(events, items, reviews, Validate(**params), now=NOW)


def test_missing_required_column_fails_the_table() -> None:
    events = good_events(5).drop(columns=[s.EVENT_TYPE])
    outcome = _validate(events, CLEAN_ITEMS, CLEAN_REVIEWS, min_rows=3)
    report = outcome.summary["tables"]["events"]
    assert outcome.passed is False
    (error,) = report["errors"]
    assert error.startswith("events: missing_column: required column(s) event_type not found; found: user_id")
    assert (report["rows_accepted"], report["rows_quarantined"]) == (0, 5)
    assert set(outcome.tables["events"].quarantined[s.REASON]) == {"missing_column"}


def test_too_few_events_fails() -> None:
    outcome = _validate(good_events(4), CLEAN_ITEMS, CLEAN_REVIEWS, min_rows=5)
    assert outcome.summary["errors"] == ["events: min_rows: 4 rows, need at least 5 (validate.min_rows)"]


def test_empty_items_fails_and_empty_reviews_pass() -> None:
    outcome = _validate(good_events(5), ITEMS.iloc[:0], REVIEWS.iloc[:0], min_rows=3)
    assert "items: min_rows: 0 rows, need at least 1" in outcome.summary["errors"]
    assert outcome.summary["tables"]["reviews"]["passed"] is True


def test_quarantine_share_above_limit_fails_with_an_example() -> None:
    events = pd.concat(
        [good_events(6), events_frame([("bad", "i0", "view", "2026-06-03T00:00Z", -5.0)] * 2)],
        ignore_index=True,
    )
    events.loc[7, s.TS] = pd.Timestamp("2026-06-04", tz="UTC")  # not a duplicate of row 6
    outcome = _validate(events, CLEAN_ITEMS, CLEAN_REVIEWS, min_rows=3, max_quarantine_share=0.2)
    (error,) = outcome.summary["tables"]["events"]["errors"]
    assert error == (
        "events: quarantine_share: 2 of 8 rows quarantined (25.0%), "
        "above validate.max_quarantine_share 20.0%; "
        "most rows: price_out_of_range (2), e.g. source_row 6: price=-5.0"
    )


def test_clean_data_passes_and_raise_for_failure_is_quiet() -> None:
    outcome = _validate(good_events(5), CLEAN_ITEMS, CLEAN_REVIEWS, min_rows=5)
    assert outcome.passed and outcome.summary["rows_quarantined"] == 0
    raise_for_failure(outcome.summary, Path("summary.json"))


def test_failure_raises_one_line_naming_the_root_cause_first() -> None:
    # No items: events fail too (too few, all dangling), but the items error is the one to read.
    outcome = _validate(good_events(4), ITEMS.iloc[:0], REVIEWS.iloc[:0], min_rows=5)
    assert [e.split(":")[:2] for e in outcome.summary["errors"]] == [
        ["items", " min_rows"],
        ["events", " min_rows"],
        ["events", " quarantine_share"],
    ]
    with pytest.raises(DataValidationError) as caught:
        raise_for_failure(outcome.summary, Path("reports/validation/summary.json"))
    assert isinstance(caught.value, ValueError)
    assert str(caught.value) == (
        "data validation failed: items: min_rows: 0 rows, need at least 1 (+2 more); "
        "see reports/validation/summary.json"
    )


def _rejected(reason: str, n: int) -> pd.DataFrame:
    """`n` rows an adapter took out at ingest, as `Loaded.rejected` holds them."""
    return pd.DataFrame(
        {
            s.REASON: pd.array([reason] * n, dtype="string"),
            s.SOURCE_ROW: pd.array(range(100, 100 + n), dtype="int64"),
            "detail": pd.array([f"price='x{k}'" for k in range(n)], dtype="string"),
        }
    )


@pytest.mark.parametrize(("reason", "passes"), [("duplicate", True), ("invalid_price", False)])
def test_rows_rejected_at_ingest_join_the_quarantine_and_only_defects_count_to_the_share(
    reason: str, passes: bool
) -> None:
    """Ten clean events plus five rejected rows: 33% quarantined, above the 20% share.

    Exact duplicates lose nothing (the first copy is accepted), so they do not count towards
    `validate.max_quarantine_share`; unparseable prices do, and the error shows a raw value.
    """
    params = Validate(min_rows=3, max_quarantine_share=0.2)
    outcome = validate_tables(
        good_events(10), CLEAN_ITEMS, CLEAN_REVIEWS, params, now=NOW, rejected={"events": _rejected(reason, 5)}
    )
    report = outcome.summary["tables"]["events"]
    assert (report["rows_in"], report["rows_accepted"], report["rows_quarantined"]) == (15, 10, 5)
    assert report["quarantine_reasons"] == {reason: 5}
    quarantined = outcome.tables["events"].quarantined
    assert quarantined["source_row"].tolist() == [100, 101, 102, 103, 104]
    assert outcome.passed is passes
    if not passes:
        assert "quarantine_share" in report["errors"][0] and "price='x0'" in report["errors"][0]
