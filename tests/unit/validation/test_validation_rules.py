"""The suites' building blocks and the quarantine logic, without running Great Expectations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from validation_frames import NOW, events_frame

from shopseq import schema as s
from shopseq.config import Validate
from shopseq.validation import suites as v
from shopseq.validation.quarantine import assign_reasons, reason_counts, split


def test_time_window_reads_params_in_utc() -> None:
    window = v.time_window(Validate(earliest_ts="2001-02-03", max_future_days=2), now=NOW)
    assert window.earliest == pd.Timestamp("2001-02-03T00:00Z", tz="UTC")
    assert window.latest == pd.Timestamp("2026-07-03T00:00Z", tz="UTC")


def test_time_window_names_the_bad_setting() -> None:
    with pytest.raises(ValueError, match="validate.earliest_ts: 'last tuesday' is not a date"):
        v.time_window(Validate(earliest_ts="last tuesday"))


@pytest.mark.parametrize(
    ("table", "min_rows"),
    [(s.EVENTS, 7), (s.ITEMS, 1), (s.REVIEWS, None)],
    ids=["events-need-min_rows", "items-not-empty", "reviews-may-be-empty"],
)
def test_schema_checks_per_table(table: s.Table, min_rows: int | None) -> None:
    checks = v.schema_checks(table, Validate(min_rows=7))
    assert [c.kwargs["column"] for c in checks if c.rule == v.MISSING_COLUMN] == list(table.required)
    counts = [c.kwargs["min_value"] for c in checks if c.rule == v.MIN_ROWS]
    assert counts == ([] if min_rows is None else [min_rows])


def _row_rules(table: s.Table, with_catalogue: bool) -> set[str]:
    window = v.time_window(Validate(), now=NOW)
    return {c.rule for c in v.row_checks(table, Validate(), window, with_catalogue=with_catalogue)}


def test_catalogue_check_only_where_asked_and_never_on_items() -> None:
    rules = _row_rules
    assert v.ITEM_NOT_IN_CATALOGUE in rules(s.EVENTS, True)
    assert v.ITEM_NOT_IN_CATALOGUE not in rules(s.EVENTS, False)
    assert v.ITEM_NOT_IN_CATALOGUE not in rules(s.ITEMS, True)
    assert {v.DUPLICATE_ITEM, v.PRICE_OUT_OF_RANGE} <= rules(s.ITEMS, False)
    assert v.RATING_OUT_OF_RANGE in rules(s.REVIEWS, False)


def _mask(n: int, rows: list[int]) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    mask[rows] = True
    return mask


def test_first_failing_rule_in_fixed_order_wins() -> None:
    frame = events_frame(
        [("u", "i", "view", "2026-06-01T00:00Z", -1.0)] * 1 + [("u2", "i", "view", "2026-06-02T00:00Z", 1.0)]
    )
    flagged = {v.PRICE_OUT_OF_RANGE: _mask(2, [0]), v.NULL_REQUIRED: _mask(2, [0])}
    reasons = assign_reasons(frame, flagged)
    assert reasons.tolist() == [v.NULL_REQUIRED, pd.NA]


def test_duplicates_keep_the_first_accepted_copy() -> None:
    row = ("u", "i", "view", "2026-06-01T00:00Z", 5.0)
    frame = events_frame([row, row, row])
    all_rows = _mask(3, [0, 1, 2])  # GE flags every member of a duplicated group
    reasons = assign_reasons(frame, {v.DUPLICATE_EVENT: all_rows})
    assert reasons.tolist() == [pd.NA, v.DUPLICATE_EVENT, v.DUPLICATE_EVENT]


def test_a_copy_of_a_quarantined_row_is_kept() -> None:
    frame = events_frame(
        [("u", "i", "view", "2026-06-01T00:00Z", -5.0), ("u", "i", "view", "2026-06-01T00:00Z", 5.0)]
    )
    flagged = {v.PRICE_OUT_OF_RANGE: _mask(2, [0]), v.DUPLICATE_EVENT: _mask(2, [0, 1])}
    assert assign_reasons(frame, flagged).tolist() == [v.PRICE_OUT_OF_RANGE, pd.NA]


def test_unknown_rule_is_an_error() -> None:
    frame = events_frame([("u", "i", "view", "2026-06-01T00:00Z", 1.0)])
    with pytest.raises(ValueError, match="unknown row rule"):
        assign_reasons(frame, {"made_up": _mask(1, [0])})


def test_split_keeps_every_row_and_records_source_row() -> None:
    frame = events_frame([(f"u{k}", "i", "view", "2026-06-01T00:00Z", 1.0) for k in range(5)])
    reasons = pd.Series(
        [pd.NA, v.NULL_REQUIRED, pd.NA, v.PRICE_OUT_OF_RANGE, v.NULL_REQUIRED], dtype="string"
    )
    accepted, quarantined = split(frame, reasons)
    assert len(accepted) + len(quarantined) == len(frame)
    assert accepted[s.USER_ID].tolist() == ["u0", "u2"]
    assert quarantined[s.SOURCE_ROW].tolist() == [1, 3, 4]
    assert quarantined[s.USER_ID].tolist() == ["u1", "u3", "u4"]
    assert reason_counts(quarantined) == {v.NULL_REQUIRED: 2, v.PRICE_OUT_OF_RANGE: 1}
    assert list(accepted.columns) == list(frame.columns)
