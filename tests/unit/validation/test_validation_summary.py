"""summary.json totals and the data version hash."""

from __future__ import annotations

import pytest
from validation_frames import good_events

from shopseq.validation.summary import TableReport, data_version, summarise


def test_data_version_depends_on_content_only() -> None:
    events = good_events(4)
    version = data_version({"events": events})
    assert version.startswith("dv-") and len(version) == len("dv-") + 12
    assert data_version({"events": events.copy().set_axis([9, 8, 7, 6])}) == version
    changed = events.copy()
    changed.loc[2, "price"] = 11.0
    assert data_version({"events": changed}) != version
    assert data_version({"events": events.iloc[:3]}) != version


def test_summary_totals_over_tables() -> None:
    reports = {
        "events": TableReport(10, 8, 2, {"null_required": 1, "duplicate_event": 1}),
        "items": TableReport(
            3, 2, 1, {"null_required": 1}, errors=["items: min_rows: 3 rows, need at least 5"]
        ),
    }
    summary = summarise(reports, "dv-000000000000")
    assert (summary["rows_in"], summary["rows_accepted"], summary["rows_quarantined"]) == (13, 10, 3)
    assert summary["quarantine_reasons"] == {"null_required": 2, "duplicate_event": 1}
    assert summary["passed"] is False
    assert summary["errors"] == ["items: min_rows: 3 rows, need at least 5"]
    assert summary["tables"]["events"]["passed"] is True
    assert summary["data_version"] == "dv-000000000000"


def test_report_refuses_counts_that_do_not_add_up() -> None:
    with pytest.raises(RuntimeError, match="rows_in 10 != accepted 8 \\+ quarantined 1"):
        TableReport(rows_in=10, rows_accepted=8, rows_quarantined=1)
