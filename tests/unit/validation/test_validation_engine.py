"""Running checks through real Great Expectations and reading the results back."""

from __future__ import annotations

import pandas as pd
import pytest

from shopseq import schema as s
from shopseq.validation.engine import open_context, run_checks
from shopseq.validation.suites import ROW, TABLE, Check
from shopseq.validation.tables import _table_errors


def _check(rule: str, expectation: str, **kwargs: object) -> Check:
    column = kwargs.get("column")
    return Check(rule, ROW, expectation, dict(kwargs), f"test {rule}", (str(column),) if column else ())


def test_results_follow_check_order_with_failing_row_positions() -> None:
    frame = pd.DataFrame({"price": [1.0, -2.0, 3.0, -4.0], "kind": ["a", "b", "a", "zz"]})
    checks = [
        _check("unknown_event_type", "ExpectColumnValuesToBeInSet", column="kind", value_set=["a", "b"]),
        Check("min_rows", TABLE, "ExpectTableRowCountToBeBetween", {"min_value": 10}, "at least 10 rows"),
        _check("price_out_of_range", "ExpectColumnValuesToBeBetween", column="price", min_value=0),
    ]
    results = run_checks(open_context(), "t", frame, checks)
    assert [r.check for r in results] == checks
    assert [r.rows for r in results] == [[3], [], [1, 3]]
    assert [r.success for r in results] == [False, False, False]
    assert results[1].observed == 4


def test_a_check_ge_cannot_evaluate_is_an_error_not_a_pass() -> None:
    frame = pd.DataFrame({"price": [1.0]})
    (result,) = run_checks(
        open_context(), "t", frame, [_check("null_required", "ExpectColumnValuesToNotBeNull", column="nope")]
    )
    assert result.success is False
    assert result.error is not None and "nope" in result.error
    line = _table_errors(s.EVENTS, frame, [result])
    assert line == [f"events: check_error: null_required on nope could not run: {result.error}"]


def test_frame_without_position_index_is_refused() -> None:
    frame = pd.DataFrame({"price": [1.0, 2.0]}, index=[5, 6])
    with pytest.raises(ValueError, match="0-based RangeIndex"):
        run_checks(open_context(), "t", frame, [])
