"""One adapter per public data format: read it exactly as published, map it to the canonical schema.

Every adapter module has `load(path) -> Loaded` (canonical events, items, reviews and an
`IngestReport`); `path` is a file or a directory and `.gz` files are read transparently. A file
in another layout fails at once with a FormatError (a ValueError) naming the file, the expected
columns and the ones found; so does an empty file, a damaged gzip and bytes that are not UTF-8
(naming the line). In a directory, files in another layout are skipped with a warning and counted
(`files_skipped`); none matching is the same error.

No row disappears: a row an adapter takes out of a table is kept in `Loaded.rejected` with a
reason (`duplicate`, `invalid_ts`, `invalid_price`, `item_without_events`, a format's own such as
`cancelled_invoice`), its raw position and raw values; validation adds them to the quarantine.

Decisions shared by all formats (see `base.finish`), each counted in `IngestReport.notes`:
- event types map to view / cart / purchase / fav / remove_from_cart;
- times become UTC: explicit zones and unix epochs are honoured, zone-less times are taken as
  UTC (`timezone_assumed_utc`), times documented as local wall-clock time are converted
  (`local_time_converted_to_utc`), absent times are synthesized (`timestamps_synthesized`);
- rows identical after mapping are quarantined as `duplicate` (counted as `duplicate_rows_dropped`);
- a time, price, quantity or rating that is given but does not parse is quarantined as
  `invalid_ts` / `invalid_price` / `invalid_quantity` / `invalid_rating`, with the raw value;
- rows without a user get `session:<session id>` as user (`session_only_users`);
- catalogue rows of items no event or review mentions are quarantined as `item_without_events`;
- the items table holds every item events or reviews mention; missing title and description
  are "" and a missing category is `unknown`, so such items pass validation and are counted as
  `items_without_metadata` (their text vector encodes only what else is known: brand, category).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from shopseq.data.adapters.base import FormatError, IngestReport, Loaded

Adapter = Callable[[Path], Loaded]


def adapter_for(source: str) -> Adapter:
    """The `load` function of the adapter for a public format name (not `synthetic`).

    Raises:
        ValueError: no adapter has that name.
    """
    from importlib import import_module

    modules = {
        "canonical": "canonical",
        "taobao": "taobao",
        "rees46": "rees46",
        "retailrocket": "retailrocket",
        "diginetica": "diginetica",
        "yoochoose": "yoochoose",
        "amazon": "amazon",
        "online_retail": "online_retail",
    }
    if source not in modules:
        raise ValueError(f"no adapter for source {source!r}; adapters: {', '.join(modules)}")
    return import_module(f"{__name__}.{modules[source]}").load


__all__ = ["Adapter", "FormatError", "IngestReport", "Loaded", "adapter_for"]
