"""Stage `ingest`: read the configured source and write canonical raw tables to `paths.raw`."""

from __future__ import annotations

import logging
from pathlib import Path

from shopseq.config import Params
from shopseq.io import write_json, write_parquet

log = logging.getLogger(__name__)


def run(params: Params) -> None:
    from shopseq.data.sources import load_source

    ingest = params.ingest
    raw = Path(params.paths.raw)
    if ingest.source == "synthetic":
        from shopseq.data.synthetic import generate_shop

        shop = generate_shop(ingest.synthetic, params.base.seed)
        events, items, reviews = shop.events, shop.items, shop.reviews
        write_parquet(shop.users_truth, raw / "users_truth.parquet")
    else:
        events, items, reviews = load_source(ingest.source, ingest.path, ingest, params.base.seed)
    for name, frame in (("events", events), ("items", items), ("reviews", reviews)):
        write_parquet(frame, raw / f"{name}.parquet")
    counts = {"events": len(events), "items": len(items), "reviews": len(reviews), "source": ingest.source}
    write_json(Path(params.paths.reports) / "ingest" / "metrics.json", counts)
    log.info("ingest: %s", counts)
