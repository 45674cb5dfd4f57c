"""Stage `ingest`: read the configured source and write canonical raw tables to `paths.raw`.

Rows the adapter took out of a table (exact duplicates, unparseable values, ...) are written
beside it as `<table>_rejected.parquet` with their reasons; `validate` puts them in quarantine.

`users_truth.parquet` holds what the source knows about users beyond their behaviour (the
synthetic generator's true price sensitivity and churn); it is empty for real sources.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from shopseq.config import Params
from shopseq.io import write_json, write_parquet

log = logging.getLogger(__name__)

# Beside the tables in `paths.raw`: `<table>_rejected.parquet` and the ingest report, read by `validate`.
REJECTED_SUFFIX = "_rejected"
INGEST_REPORT = "ingest_report.json"


def run(params: Params) -> None:
    from shopseq.data.sources import read_source
    from shopseq.data.streamed import STREAMED, ingest_streamed

    ingest = params.ingest
    raw = Path(params.paths.raw)
    notes: dict[str, int] = {}
    rejected: dict[str, pd.DataFrame] = {}
    events: pd.DataFrame | None = None
    if ingest.source == "synthetic":
        from shopseq.data.synthetic import generate_shop

        shop = generate_shop(ingest.synthetic, params.base.seed)
        events, items, reviews = shop.events, shop.items, shop.reviews
        write_parquet(shop.users_truth, raw / "users_truth.parquet")
    else:
        from shopseq.data.synthetic import TRUTH_COLUMNS

        if ingest.source in STREAMED and ingest.path is not None:
            # Read chunk by chunk, the events straight to Parquet: memory never holds the table.
            streamed = ingest_streamed(ingest.source, Path(ingest.path), raw / "events.parquet", params.base)
            events_rows, items, reviews, report = streamed.events, streamed.items, streamed.reviews, streamed.report
        else:
            loaded = read_source(ingest.source, ingest.path, ingest, params.base.seed)
            events, items, reviews = loaded.tables
            report = loaded.report
        notes = report.notes
        rejected = report.rejected_tables()
        write_parquet(pd.DataFrame(columns=TRUTH_COLUMNS), raw / "users_truth.parquet")
    if events is not None:
        write_parquet(events, raw / "events.parquet")
        events_rows = len(events)
    for name, frame in (("items", items), ("reviews", reviews)):
        write_parquet(frame, raw / f"{name}.parquet")
    # Rows the adapter took out (duplicates, unparseable values, ...): validation quarantines them.
    for table in ("events", "items", "reviews"):
        file = raw / f"{table}{REJECTED_SUFFIX}.parquet"
        if table in rejected:
            write_parquet(rejected[table], file)
        else:
            file.unlink(missing_ok=True)  # none this time: no stale file from an earlier run
    counts = {"events": events_rows, "items": len(items), "reviews": len(reviews), "source": ingest.source}
    # What the adapter decided on the data's behalf, counted (duplicates, session-only users, ...).
    counts["notes"] = dict(notes)
    write_json(Path(params.paths.reports) / "ingest" / "metrics.json", counts)
    write_json(raw / INGEST_REPORT, counts)
    log.info("ingest: %s", counts)
