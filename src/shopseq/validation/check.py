"""`shopseq check-data`: ingest and validate one data set on its own, outside the pipeline."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from shopseq.config import Ingest, Validate
from shopseq.validation.tables import validate_tables, write_outcome

log = logging.getLogger(__name__)


def check_data(source: str, path: Path, out: Path, ingest: Ingest, validate: Validate, seed: int) -> dict[str, Any]:
    """Load `source` from `path`, validate it like the `validate` stage, report under `out`.

    `ingest` and `seed` shape how the source is read, `validate` the suites' thresholds. Writes
    `out/summary.json` (plus the adapter's `ingest` report: files read and counted
    notes), `out/quarantine/<table>.parquet` and the Data Docs site in `out/docs/`. A
    table-level failure does not raise: it is `passed: false` with one line per problem in
    `errors`, and the caller decides the exit code.

    Returns:
        The summary (the content of `out/summary.json`).

    Raises:
        ValueError: unknown source, or files that do not have the source's layout.
        FileNotFoundError: `path` does not exist.
    """
    from shopseq.data.sources import read_source

    loaded = read_source(source, path, ingest, seed)
    out = Path(out)
    outcome = validate_tables(*loaded.tables, validate, docs_dir=out / "docs", rejected=loaded.rejected)
    name_the_data(outcome.summary, path)
    # The adapter's counted decisions (duplicates dropped, session-only users, ...) sit beside
    # the validation counts, under a key of their own.
    outcome.summary["ingest"] = loaded.report.to_dict()
    count_derived_rows(outcome.summary, loaded.report.notes)
    write_outcome(outcome, quarantine_dir=out / "quarantine", summary_path=out / "summary.json")
    log.info(
        "check-data %s %s: %s, %d rows in, %d quarantined, data version %s",
        source,
        path,
        "passed" if outcome.passed else "FAILED",
        outcome.summary["rows_in"],
        outcome.summary["rows_quarantined"],
        outcome.summary["data_version"],
    )
    return outcome.summary


def count_derived_rows(summary: dict[str, Any], notes: dict[str, int]) -> None:
    """Say how many of `rows_in` the data held and how many the adapter built (added keys only).

    A format without an item file (Taobao, YOOCHOOSE, ...) gets one item row per item id its
    events mention; validation checks those rows too, so `rows_in` counts them. `rows_read` is
    what the files held, `rows_derived` what was built, per table in `tables.<name>.rows_derived`.
    """
    from shopseq.data.adapters.base import ITEMS_ADDED_FROM_EVENTS, ITEMS_BUILT_FROM_EVENTS

    derived = {"items": int(notes.get(ITEMS_BUILT_FROM_EVENTS, 0) or notes.get(ITEMS_ADDED_FROM_EVENTS, 0))}
    for name, table in summary["tables"].items():
        table["rows_derived"] = derived.get(name, 0)
    summary["rows_derived"] = sum(derived.values())
    summary["rows_read"] = summary["rows_in"] - summary["rows_derived"]


def describe_counts(summary: dict[str, Any], source: str) -> str:
    """One line on what was checked: rows per table, which of them were built rather than read."""
    parts = []
    for name, table in summary["tables"].items():
        derived = table.get("rows_derived", 0)
        built = ""
        if derived == table["rows_in"] and derived:
            built = f" (built from the events' item ids: {source} has no item file)"
        elif derived:
            built = f" ({derived:,} of them built from the events' item ids)"
        parts.append(f"{name} {table['rows_in']:,}{built}")
    return (
        f"{summary['rows_in']:,} rows checked: {', '.join(parts)}; "
        f"{summary['rows_accepted']:,} accepted, {summary['rows_quarantined']:,} quarantined"
    )


def name_the_data(summary: dict[str, Any], path: Path) -> None:
    """Prefix every error line with the data path, so a line read alone says which data failed."""
    summary["errors"] = [f"{path}: {error}" for error in summary["errors"]]
    for table in summary["tables"].values():
        table["errors"] = [f"{path}: {error}" for error in table["errors"]]
