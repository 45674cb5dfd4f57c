"""Stage `validate`: raw tables -> validated tables + quarantine + summary and Data Docs.

A table-level failure writes the summary and Data Docs, leaves the validated tables unwritten
and raises `DataValidationError`, so `dvc repro` (and the Airflow task running it) stops.
"""

from __future__ import annotations

import logging
from pathlib import Path

from shopseq import schema as s
from shopseq.config import Params
from shopseq.io import read_json, read_parquet
from shopseq.stages.ingest import INGEST_REPORT, REJECTED_SUFFIX

log = logging.getLogger(__name__)


def run(params: Params) -> None:
    from shopseq.validation import raise_for_failure, validate_tables, write_outcome
    from shopseq.validation.scale import events_fit_in_buckets, validate_tables_at_scale

    raw = Path(params.paths.raw)
    reports = Path(params.paths.reports) / "validation"
    rejected = {
        table.name: read_parquet(file)
        for table in s.TABLES
        if (file := raw / f"{table.name}{REJECTED_SUFFIX}.parquet").exists()
    }
    validated = Path(params.paths.validated)
    accepted_events = validated.parent / f".{validated.name}.events.parquet"
    if events_fit_in_buckets(raw / f"{s.EVENTS.name}.parquet", params.base):
        # More events than one bucket: the suite runs bucket by bucket, the table stays on disk.
        outcome = validate_tables_at_scale(
            raw, params.validate, params.base, accepted_events, docs_dir=reports / "docs", rejected=rejected
        )
    else:
        events, items, reviews = (read_parquet(raw / f"{table.name}.parquet") for table in s.TABLES)
        outcome = validate_tables(events, items, reviews, params.validate, docs_dir=reports / "docs", rejected=rejected)
    if (raw / INGEST_REPORT).exists():
        # What ingest decided on the data's behalf (time zones, session-only users, ...), counted.
        outcome.summary["ingest"] = read_json(raw / INGEST_REPORT)
    write_outcome(
        outcome,
        quarantine_dir=Path(params.paths.quarantine),
        summary_path=reports / "summary.json",
        validated_dir=validated if outcome.passed else None,
    )
    accepted_events.unlink(missing_ok=True)  # left only by a failed run at scale
    summary = outcome.summary
    log.info(
        "validate: %s; %d rows in, %d accepted, %d quarantined %s; data version %s",
        "passed" if outcome.passed else "FAILED",
        summary["rows_in"],
        summary["rows_accepted"],
        summary["rows_quarantined"],
        summary["quarantine_reasons"],
        summary["data_version"],
    )
    raise_for_failure(summary, reports / "summary.json")
