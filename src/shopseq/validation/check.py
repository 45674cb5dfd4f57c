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


def name_the_data(summary: dict[str, Any], path: Path) -> None:
    """Prefix every error line with the data path, so a line read alone says which data failed."""
    summary["errors"] = [f"{path}: {error}" for error in summary["errors"]]
    for table in summary["tables"].values():
        table["errors"] = [f"{path}: {error}" for error in table["errors"]]
