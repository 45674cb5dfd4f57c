"""RetailRocket e-commerce data set: `events.csv`, plus `item_properties*.csv` and `category_tree.csv`.

- `events.csv` (`timestamp,visitorid,event,itemid,transactionid`): timestamp is unix
  milliseconds (UTC); event view/addtocart/transaction -> view/cart/purchase. Visitors are
  cookies, so every row has a user; there are no sessions or prices in the events.
- `item_properties_part1.csv`, `_part2.csv` (`timestamp,itemid,property,value`): only the
  `categoryid` property is read (the latest value per item). Every other property value is
  hashed by the publisher, so items carry no text (`items_without_metadata`).
- `category_tree.csv` (`categoryid,parentid`): the item category becomes its path from the
  root, e.g. `1482/1224/1338`, so a category's parents are visible to the text encoder.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from shopseq import schema as s
from shopseq.data.adapters.base import (
    INVALID_TS,
    IngestReport,
    Loaded,
    clean_ids,
    files_in,
    finish,
    mark_unparsed,
    no_files_error,
    read_csv,
    reading,
    require_header,
    unix_to_utc,
)

SOURCE = "retailrocket"
EVENT_COLUMNS = ["timestamp", "visitorid", "event", "itemid", "transactionid"]
PROPERTY_COLUMNS = ["timestamp", "itemid", "property", "value"]
TREE_COLUMNS = ["categoryid", "parentid"]
EVENT_TYPES = {"view": s.VIEW, "addtocart": s.CART, "transaction": s.PURCHASE}
MAX_DEPTH = 20


def check(file: Path) -> None:
    """Raise FormatError unless `file` has the events.csv header."""
    require_header(file, SOURCE, EVENT_COLUMNS)


def load(path: Path) -> Loaded:
    """Read RetailRocket events (and item properties / category tree when present) at `path`."""
    report = IngestReport(SOURCE)
    if path.is_file():
        check(path)
        event_files, property_files, tree_files = [path], [], []
    else:
        event_files = files_in(path, ["events*.csv"])
        property_files = files_in(path, ["item_properties*.csv"])
        tree_files = files_in(path, ["category_tree*.csv"])
        if not event_files:
            raise no_files_error(path, SOURCE, "events.csv (with item_properties_part*.csv, category_tree.csv)")
        for file in event_files:
            check(file)
    raw = pd.concat([read_csv(f, dtype=str, keep_default_na=False) for f in event_files], ignore_index=True)
    report.files = [str(f) for f in event_files]
    kind = raw["event"].str.strip()
    events = pd.DataFrame(
        {
            s.USER_ID: clean_ids(raw["visitorid"]),
            s.ITEM_ID: clean_ids(raw["itemid"]),
            s.EVENT_TYPE: kind.map(EVENT_TYPES).fillna(kind),
            s.TS: unix_to_utc(raw["timestamp"], unit="ms"),
        }
    )
    mark_unparsed(events, s.TS, raw["timestamp"], INVALID_TS)
    items = _categories(property_files, tree_files, set(events[s.ITEM_ID].dropna()), report)
    return finish(events, items, None, report)


def _categories(
    property_files: list[Path], tree_files: list[Path], wanted: set[str], report: IngestReport
) -> pd.DataFrame | None:
    if not property_files:
        return None
    parts = []
    for file in property_files:
        require_header(file, SOURCE, PROPERTY_COLUMNS)
        report.files.append(str(file))
        # The published property files are large: read in chunks, keep category rows only.
        with reading(file):
            for chunk in pd.read_csv(file, dtype=str, keep_default_na=False, chunksize=500_000):
                chunk = chunk[(chunk["property"] == "categoryid") & chunk["itemid"].isin(wanted)]
                parts.append(chunk)
    props = pd.concat(parts, ignore_index=True)
    props = props.assign(_t=pd.to_numeric(props["timestamp"], errors="coerce")).sort_values("_t", kind="stable")
    latest = props.drop_duplicates("itemid", keep="last")
    category = clean_ids(latest["value"])
    if tree_files:
        category = category.map(_paths(tree_files, report)).fillna(category)
    return pd.DataFrame({s.ITEM_ID: clean_ids(latest["itemid"]), s.CATEGORY: category})


def _paths(tree_files: list[Path], report: IngestReport) -> dict[str, str]:
    """categoryid -> `root/.../categoryid` from the parent links (cycles stop at MAX_DEPTH)."""
    frames = []
    for file in tree_files:
        require_header(file, SOURCE, TREE_COLUMNS)
        report.files.append(str(file))
        frames.append(read_csv(file, dtype=str, keep_default_na=False))
    tree = pd.concat(frames, ignore_index=True)
    parent = dict(zip(clean_ids(tree["categoryid"]), clean_ids(tree["parentid"])))
    paths = {}
    for category in parent:
        chain, node = [category], parent.get(category)
        while isinstance(node, str) and len(chain) < MAX_DEPTH:
            chain.append(node)
            node = parent.get(node)
        paths[category] = "/".join(reversed(chain))
    return paths

