"""Generate the bad-input corpus: every kind of broken file, in every public format it applies to.

Nothing here is committed data: `build_corpus(directory)` writes the files and returns one `Case`
per (kind, adapter), saying what must happen when `shopseq check-data` reads it:

- `ERROR`: reading fails at once with a FormatError/ValueError naming the file (`error` is a regex
  the message must match besides the path);
- `FAILS`: the data is read but a table-level rule fails (check-data exits 1; `error` matches
  the first error line, which names the data path);
- `QUARANTINE`: the run passes and the bad rows are quarantined with `reasons` (in `table`);
- `ACCEPTED`: the run passes; `notes` are ingest notes that must be counted (> 0).

`data_rows` is the number of data rows in the events-bearing file(s): events `rows_in` must equal
it, so no row can disappear between the file and the validation report.

Run it directly to write the corpus somewhere: `python tests/bad_inputs/generate.py DIR`.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

ERROR, FAILS, QUARANTINE, ACCEPTED = "error", "fails", "quarantine", "accepted"
GOOD_ROWS = 60  # clean rows around the bad ones: bad rows stay under validate.max_quarantine_share
MIN_ROWS = 10  # validate.min_rows for the corpus (header-only files must still fail it)
HUGE_USER_EVENTS = 1_000_000
LONG_TEXT_CHARS = 1_000_000

BASE = pd.Timestamp("2024-03-01 10:00:00", tz="UTC")
BEFORE_2000 = pd.Timestamp("1995-05-01 10:00:00", tz="UTC")
FUTURE = pd.Timestamp("2100-01-01 10:00:00", tz="UTC")


@dataclass(frozen=True)
class Case:
    """One corpus file (or directory) and what reading it must do."""

    kind: str
    source: str
    path: Path
    expect: str
    error: str = ""
    reasons: tuple[str, ...] = ()
    table: str = "events"
    notes: tuple[str, ...] = ()
    data_rows: int | None = None

    @property
    def id(self) -> str:
        return f"{self.kind}-{self.source}"


@dataclass
class Format:
    """How one public format writes rows: column names, separator, and each role's column.

    Rows are dicts {column: text}. `roles` maps a role (user, item, type, ts, price, text) to the
    format's column; `ts` turns a UTC time into the format's spelling.
    """

    source: str
    file: str
    columns: list[str]
    roles: dict[str, str]
    ts: Callable[[pd.Timestamp], str]
    sep: str = ","
    header: bool = True
    json_lines: bool = False
    good: Callable[[int], list[dict[str, str]]] = field(default=lambda n: [])

    def render(self, rows: list[dict[str, str]], sep: str | None = None) -> str:
        if self.json_lines:
            return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=sep or self.sep, lineterminator="\n")
        if self.header:
            writer.writerow(self.columns)
        for row in rows:
            writer.writerow([row.get(c, "") for c in self.columns])
        return buffer.getvalue()


def _when(k: int) -> pd.Timestamp:
    return BASE + pd.Timedelta(minutes=k)


def _unix(t: pd.Timestamp) -> str:
    return str(int(t.timestamp()))


def _taobao(n: int) -> list[dict[str, str]]:
    kinds = ["pv", "pv", "cart", "fav", "buy"]
    return [
        {
            "user": str(100 + k % 7),
            "item": str(2000 + k % 15),
            "cat": str(30 + k % 3),
            "type": kinds[k % 5],
            "ts": _unix(_when(k)),
        }
        for k in range(n)
    ]


def _rees46(n: int) -> list[dict[str, str]]:
    kinds = ["view", "view", "cart", "purchase", "remove_from_cart"]
    return [
        {
            "event_time": _when(k).strftime("%Y-%m-%d %H:%M:%S UTC"),
            "event_type": kinds[k % 5],
            "product_id": str(5000 + k % 15),
            "category_id": "2053013555631882655",
            "category_code": "electronics.smartphone",
            "brand": "acme",
            "price": f"{10 + k % 9}.99",
            "user_id": str(500 + k % 7),
            "user_session": f"s-{k % 11}",
        }
        for k in range(n)
    ]


def _retailrocket(n: int) -> list[dict[str, str]]:
    kinds = ["view", "view", "addtocart", "transaction"]
    return [
        {
            "timestamp": str(int(_when(k).timestamp() * 1000)),
            "visitorid": str(70 + k % 7),
            "event": kinds[k % 4],
            "itemid": str(900 + k % 15),
            "transactionid": str(k) if kinds[k % 4] == "transaction" else "",
        }
        for k in range(n)
    ]


def _diginetica(n: int) -> list[dict[str, str]]:
    return [
        {
            "sessionId": str(1 + k % 11),
            "userId": str(40 + k % 7) if k % 3 else "NA",
            "itemId": str(300 + k % 15),
            "timeframe": str(1000 * k),
            "eventdate": "2024-03-01",
        }
        for k in range(n)
    ]


def _yoochoose(n: int) -> list[dict[str, str]]:
    return [
        {
            "session_id": str(1 + k % 11),
            "timestamp": _when(k).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "item_id": str(214536500 + k % 15),
            "category": str(1 + k % 12),
        }
        for k in range(n)
    ]


def _yoochoose_buys(n: int) -> list[dict[str, str]]:
    return [
        {
            "session_id": str(1 + k % 11),
            "timestamp": _when(k).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "item_id": str(214536500 + k % 15),
            "price": str(100 + k % 9),
            "quantity": str(1 + k % 3),
        }
        for k in range(n)
    ]


def _amazon(n: int) -> list[dict[str, str]]:
    return [
        {
            "overall": float(1 + k % 5),
            "reviewerID": f"A{k % 7}REVIEWER",
            "asin": f"B00{k % 15:05d}",
            "unixReviewTime": int(_when(k * 60 * 24).timestamp()),
            "reviewText": f"review number {k}: works as described",
            "summary": "fine",
        }
        for k in range(n)
    ]


def _online_retail(n: int) -> list[dict[str, str]]:
    return [
        {
            "Invoice": str(536365 + k // 3),
            "StockCode": f"85{k % 15:03d}A",
            "Description": f"WHITE HANGING HEART T-LIGHT HOLDER {k % 15}",
            "Quantity": str(1 + k % 6),
            "InvoiceDate": _when(k).tz_convert("Europe/London").strftime("%Y-%m-%d %H:%M:%S"),
            "Price": f"{1 + k % 5}.55",
            "Customer ID": str(17850 + (k // 3) % 7),
            "Country": "United Kingdom",
        }
        for k in range(n)
    ]


def _canonical(n: int) -> list[dict[str, str]]:
    kinds = ["view", "view", "cart", "purchase"]
    return [
        {
            "user_id": f"u{k % 7}",
            "item_id": f"i{k % 15}",
            "event_type": kinds[k % 4],
            "ts": _when(k).isoformat(),
            "price": f"{5 + k % 9}.5",
        }
        for k in range(n)
    ]


FORMATS: dict[str, Format] = {
    "taobao": Format(
        "taobao",
        "UserBehavior.csv",
        ["user", "item", "cat", "type", "ts"],
        {"user": "user", "item": "item", "type": "type", "ts": "ts"},
        _unix,
        header=False,
        good=_taobao,
    ),
    "rees46": Format(
        "rees46",
        "2024-Mar.csv",
        [
            "event_time",
            "event_type",
            "product_id",
            "category_id",
            "category_code",
            "brand",
            "price",
            "user_id",
            "user_session",
        ],
        {"user": "user_id", "item": "product_id", "type": "event_type", "ts": "event_time", "price": "price"},
        lambda t: t.strftime("%Y-%m-%d %H:%M:%S UTC"),
        good=_rees46,
    ),
    "retailrocket": Format(
        "retailrocket",
        "events.csv",
        ["timestamp", "visitorid", "event", "itemid", "transactionid"],
        {"user": "visitorid", "item": "itemid", "type": "event", "ts": "timestamp"},
        lambda t: str(int(t.timestamp() * 1000)),
        good=_retailrocket,
    ),
    "diginetica": Format(
        "diginetica",
        "train-item-views.csv",
        ["sessionId", "userId", "itemId", "timeframe", "eventdate"],
        {"user": "sessionId", "item": "itemId", "ts": "eventdate"},
        lambda t: t.strftime("%Y-%m-%d"),
        sep=";",
        good=_diginetica,
    ),
    "yoochoose": Format(
        "yoochoose",
        "yoochoose-clicks.dat",
        ["session_id", "timestamp", "item_id", "category"],
        {"user": "session_id", "item": "item_id", "ts": "timestamp"},
        lambda t: t.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        header=False,
        good=_yoochoose,
    ),
    "amazon": Format(
        "amazon",
        "All_Beauty_5.json",
        ["overall", "reviewerID", "asin", "unixReviewTime", "reviewText", "summary"],
        {"user": "reviewerID", "item": "asin", "ts": "unixReviewTime", "text": "reviewText"},
        lambda t: int(t.timestamp()),
        header=False,
        json_lines=True,
        good=_amazon,  # type: ignore[arg-type,return-value]
    ),
    "online_retail": Format(
        "online_retail",
        "online_retail_II.csv",
        ["Invoice", "StockCode", "Description", "Quantity", "InvoiceDate", "Price", "Customer ID", "Country"],
        {
            "user": "Invoice",
            "item": "StockCode",
            "ts": "InvoiceDate",
            "price": "Price",
            "text": "Description",
        },
        lambda t: t.tz_convert("Europe/London").strftime("%Y-%m-%d %H:%M:%S"),
        good=_online_retail,
    ),
    "canonical": Format(
        "canonical",
        "events.csv",
        ["user_id", "item_id", "event_type", "ts", "price"],
        {"user": "user_id", "item": "item_id", "type": "event_type", "ts": "ts", "price": "price"},
        lambda t: t.isoformat(),
        good=_canonical,
    ),
}
YOOCHOOSE_BUYS = Format(
    "yoochoose",
    "yoochoose-buys.dat",
    ["session_id", "timestamp", "item_id", "price", "quantity"],
    {"user": "session_id", "item": "item_id", "ts": "timestamp", "price": "price"},
    FORMATS["yoochoose"].ts,
    header=False,
    good=_yoochoose_buys,
)
CANONICAL_ITEMS = ["item_id", "title", "description", "category"]


class Writer:
    """Writes corpus files under one root, one directory per case."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.cases: list[Case] = []

    def place(self, kind: str, fmt: Format) -> Path:
        """The directory for a case; canonical cases are directories, the others single files."""
        directory = self.root / kind / fmt.source
        directory.mkdir(parents=True, exist_ok=True)
        return directory

    def write(
        self,
        kind: str,
        fmt: Format,
        rows: list[dict[str, str]] | None = None,
        *,
        text: str | None = None,
        data: bytes | None = None,
        suffix: str = "",
        items: list[dict[str, str]] | None = None,
    ) -> Path:
        """Write the case's events file (rows, text or raw bytes); return what check-data is given."""
        directory = self.place(kind, fmt)
        target = directory / (fmt.file + suffix)
        if data is None:
            data = (fmt.render(rows or []) if text is None else text).encode("utf-8")
        target.write_bytes(
            gzip.compress(data) if suffix == ".gz" and not kind.startswith("truncated") else data
        )
        if fmt.source == "canonical":
            _write_canonical_items(
                directory, items if items is not None else _items_for(rows or fmt.good(GOOD_ROWS))
            )
            return directory
        return target

    def add(self, case: Case) -> None:
        self.cases.append(case)


def _items_for(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    ids = sorted({r["item_id"] for r in rows if r.get("item_id")})
    return [
        {"item_id": i, "title": f"Item {i}", "description": f"About {i}", "category": "home"} for i in ids
    ]


def _write_canonical_items(directory: Path, items: list[dict[str, str]]) -> None:
    pd.DataFrame(items, columns=CANONICAL_ITEMS).to_csv(directory / "items.csv", index=False)


def _with(rows: list[dict[str, str]], column: str, values: list[str | int | float]) -> list[dict[str, str]]:
    """`rows` plus copies of its first rows with `column` set to each of `values` (appended at the end).

    Online Retail copies get invoices of their own, so they are not merged into the line they copy.
    """
    extra = [{**rows[k % len(rows)], column: value} for k, value in enumerate(values)]
    for k, row in enumerate(extra):
        if "Invoice" in row:
            row["Invoice"] = str(600000 + k)
    return rows + extra  # type: ignore[operator]


def build_corpus(root: Path, huge_user_events: int = HUGE_USER_EVENTS) -> list[Case]:
    """Write every case under `root`; return them in a stable order."""
    w = Writer(root)
    for fmt in FORMATS.values():
        _structural_cases(w, fmt)
        _row_cases(w, fmt)
    _price_cases(w)
    _catalogue_cases(w)
    _long_text_cases(w)
    _explicit_decision_cases(w)
    _different_format_cases(w)
    if huge_user_events:
        _huge_user_case(w, huge_user_events)
    return w.cases


def _structural_cases(w: Writer, fmt: Format) -> None:
    """Empty, header-only, truncated gzip, wrong delimiter, missing/extra columns, encodings."""
    good = fmt.good(GOOD_ROWS)
    src = fmt.source
    w.add(
        Case(
            "empty_file",
            src,
            w.write("empty_file", fmt, data=b""),
            ERROR,
            error="the file is empty|no .* found",
        )
    )
    if fmt.header:
        w.add(
            Case(
                "header_only",
                src,
                w.write("header_only", fmt, []),
                FAILS,
                error=r"events: min_rows: 0 rows",
                data_rows=0,
            )
        )

    whole = gzip.compress(fmt.render(good).encode())
    w.add(
        Case(
            "truncated_gzip",
            src,
            w.write("truncated_gzip", fmt, data=whole[: len(whole) // 2], suffix=".gz"),
            ERROR,
            error="damaged gzip",
        )
    )

    if not fmt.json_lines:
        wrong = ";" if fmt.sep == "," else ","
        w.add(
            Case(
                "wrong_delimiter",
                src,
                w.write("wrong_delimiter", fmt, text=fmt.render(good, sep=wrong)),
                ERROR,
                error=r"not in the \w+ layout|missing required column|no \w+ events",
            )
        )

    item = fmt.roles["item"]
    missing = [{k: v for k, v in row.items() if k != item} for row in good]
    if fmt.json_lines:
        w.add(
            Case(
                "missing_required_column",
                src,
                w.write("missing_required_column", fmt, missing),
                ERROR,
                error=r"not in the amazon layout.*asin",
            )
        )
    else:
        narrowed = Format(**{**fmt.__dict__, "columns": [c for c in fmt.columns if c != item]})
        w.add(
            Case(
                "missing_required_column",
                src,
                w.write("missing_required_column", narrowed, missing),
                ERROR,
                error=r"not in the \w+ layout|missing required column|no \w+ events",
            )
        )

    extra_rows = [{**row, "loyalty_tier": "gold"} for row in good]
    widened = Format(**{**fmt.__dict__, "columns": [*fmt.columns, "loyalty_tier"]})
    path = w.write("extra_unknown_columns", widened, extra_rows)
    if fmt.header or fmt.json_lines:
        w.add(
            Case("extra_unknown_columns", src, path, ACCEPTED, data_rows=len(good))
            if src != "diginetica"
            else Case("extra_unknown_columns", src, path, ERROR, error=r"not in the diginetica layout")
        )
    else:  # a headerless format is recognised by its field count: an extra field is another format
        w.add(Case("extra_unknown_columns", src, path, ERROR, error=rf"not in the {src} layout"))

    # Non-UTF-8: a Latin-1 file (accents from its first line on), and a UTF-8 file whose accented
    # rows are UTF-8 but for the last one, which is Latin-1.
    accented = _with(good, fmt.roles.get("text", fmt.roles["user"]), ["Café crème", "Crème brûlée"])
    latin_first = [accented[-1], *accented[:-1]]
    latin = fmt.render(latin_first).encode("latin-1")
    first_line = 2 if fmt.header else 1
    w.add(
        Case(
            "non_utf8",
            src,
            w.write("non_utf8", fmt, data=latin),
            ERROR,
            error=rf"not UTF-8: line {first_line}\b",
        )
    )
    lines = fmt.render(accented).encode("utf-8").splitlines(keepends=True)
    mixed = b"".join(lines[:-1]) + lines[-1].decode("utf-8").encode("latin-1")
    w.add(
        Case(
            "mixed_encoding",
            src,
            w.write("mixed_encoding", fmt, data=mixed),
            ERROR,
            error=rf"not UTF-8: line {len(lines)}\b",
        )
    )


def _row_cases(w: Writer, fmt: Format) -> None:
    """Wrong types, null ids, out-of-range times, duplicates, unknown event types."""
    good = fmt.good(GOOD_ROWS)
    src, ts = fmt.source, fmt.roles["ts"]

    rows = _with(good, ts, ["yesterday", "n/a"])
    w.add(
        Case(
            "text_in_timestamp",
            src,
            w.write("text_in_timestamp", fmt, rows),
            QUARANTINE,
            reasons=("invalid_ts",),
            data_rows=len(rows),
        )
    )

    item = fmt.roles["item"]
    rows = _with(good, item, ["", ""])
    w.add(
        Case(
            "null_ids",
            src,
            w.write("null_ids", fmt, rows),
            QUARANTINE,
            reasons=("null_required",),
            data_rows=len(rows),
        )
    )

    rows = _with(good, ts, [fmt.ts(BEFORE_2000), fmt.ts(FUTURE)])
    w.add(
        Case(
            "ts_before_2000_or_future",
            src,
            w.write("ts_before_2000_or_future", fmt, rows),
            QUARANTINE,
            reasons=("ts_out_of_range",),
            data_rows=len(rows),
        )
    )

    rows = good + good[:3]
    reason = "merged_line" if src == "online_retail" else "duplicate"
    w.add(
        Case(
            "duplicate_events",
            src,
            w.write("duplicate_events", fmt, rows),
            QUARANTINE,
            reasons=(reason,),
            data_rows=len(rows),
        )
    )

    if "type" in fmt.roles:
        rows = _with(good, fmt.roles["type"], ["teleport", "click"])
        w.add(
            Case(
                "unknown_event_types",
                src,
                w.write("unknown_event_types", fmt, rows),
                QUARANTINE,
                reasons=("unknown_event_type",),
                data_rows=len(rows),
            )
        )


def _price_cases(w: Writer) -> None:
    """Text in price; negative, zero, NaN and absurd prices (formats that carry a price)."""
    for fmt in (FORMATS["rees46"], YOOCHOOSE_BUYS, FORMATS["online_retail"], FORMATS["canonical"]):
        good, price = fmt.good(GOOD_ROWS), fmt.roles["price"]
        rows = _with(good, price, ["ten dollars", "12,99€"])
        w.add(
            Case(
                "text_in_price",
                fmt.source,
                w.write("text_in_price", fmt, rows),
                QUARANTINE,
                reasons=("invalid_price",),
                data_rows=len(rows),
            )
        )
        rows = _with(good, price, ["-5.00", "0", "NaN", "1e12"])
        for k, row in enumerate(rows[len(good) :]):  # times of their own: not copies of a good event
            row[fmt.roles["ts"]] = fmt.ts(BASE + pd.Timedelta(days=3, minutes=k))
        # YOOCHOOSE publishes 0 as "price unknown": it becomes null (counted), not quarantined.
        reasons = ("price_out_of_range", "invalid_price")
        notes = ("unknown_price_set_null",) if fmt is YOOCHOOSE_BUYS else ()
        w.add(
            Case(
                "bad_prices",
                fmt.source,
                w.write("bad_prices", fmt, rows),
                QUARANTINE,
                reasons=reasons,
                notes=notes,
                data_rows=len(rows),
            )
        )


def _catalogue_cases(w: Writer) -> None:
    """Events naming items the catalogue lacks: quarantined (canonical) or added without metadata."""
    kind = "items_missing_from_catalogue"
    fmt = FORMATS["canonical"]
    rows = _with(fmt.good(GOOD_ROWS), "item_id", ["ghost-1", "ghost-2"])
    path = w.write(kind, fmt, rows, items=_items_for(fmt.good(GOOD_ROWS)))
    w.add(Case(kind, "canonical", path, QUARANTINE, reasons=("item_not_in_catalogue",), data_rows=len(rows)))

    dig = FORMATS["diginetica"]
    directory = w.place(kind, dig)
    views = dig.good(GOOD_ROWS)
    (directory / dig.file).write_text(dig.render(views))
    known = sorted({r["itemId"] for r in views})[:5]
    (directory / "product-categories.csv").write_text(
        "itemId;categoryId\n" + "".join(f"{i};7\n" for i in [*known, "999999"])
    )
    w.add(
        Case(
            kind, "diginetica", directory, ACCEPTED, notes=("items_added_from_events",), data_rows=len(views)
        )
    )

    amz = FORMATS["amazon"]
    directory = w.place(kind, amz)
    reviews = amz.good(GOOD_ROWS)
    (directory / amz.file).write_text(amz.render(reviews))
    meta = [
        {"asin": reviews[0]["asin"], "title": "Soap", "description": ["Mild soap"], "price": "$3.99"},
        {"asin": "B0NOBODY00", "title": "Never reviewed", "description": [], "price": "$1.00"},
    ]
    (directory / "meta_All_Beauty.json").write_text("".join(json.dumps(m) + "\n" for m in meta))
    # Reviewed items missing from meta keep the review file's category and no text.
    w.add(
        Case(
            kind,
            "amazon",
            directory,
            ACCEPTED,
            notes=("items_without_metadata", "catalogue_items_without_events"),
            data_rows=len(reviews),
        )
    )

    rr = FORMATS["retailrocket"]
    directory = w.place(kind, rr)
    events = rr.good(GOOD_ROWS)
    (directory / rr.file).write_text(rr.render(events))
    first = events[0]["itemid"]
    (directory / "item_properties_part1.csv").write_text(
        f"timestamp,itemid,property,value\n1433041200000,{first},categoryid,1338\n"
    )
    w.add(
        Case(
            kind,
            "retailrocket",
            directory,
            ACCEPTED,
            notes=("items_added_from_events",),
            data_rows=len(events),
        )
    )


def _long_text_cases(w: Writer) -> None:
    """A 1 MB description (item text) in every format that carries item or review text."""
    kind, long = "description_1mb", "x" * (LONG_TEXT_CHARS - 9) + " the end."
    fmt = FORMATS["canonical"]
    good = fmt.good(GOOD_ROWS)
    items = _items_for(good)
    items[0]["description"] = long
    w.add(Case(kind, "canonical", w.write(kind, fmt, good, items=items), ACCEPTED, data_rows=len(good)))

    ret = FORMATS["online_retail"]
    rows = ret.good(GOOD_ROWS)
    rows[0] = {**rows[0], "Description": long}
    w.add(Case(kind, "online_retail", w.write(kind, ret, rows), ACCEPTED, data_rows=len(rows)))

    amz = FORMATS["amazon"]
    directory = w.place(kind, amz)
    reviews = amz.good(GOOD_ROWS)
    reviews[1] = {**reviews[1], "reviewText": long}
    (directory / amz.file).write_text(amz.render(reviews))
    meta = [{"asin": reviews[0]["asin"], "title": "Soap", "description": [long], "price": "$3.99"}]
    (directory / "meta_All_Beauty.json").write_text(json.dumps(meta[0]) + "\n")
    w.add(Case(kind, "amazon", directory, ACCEPTED, data_rows=len(reviews)))


def _explicit_decision_cases(w: Writer) -> None:
    """Time zones, session-only users, missing text: handled on the data's behalf and counted."""
    rees = FORMATS["rees46"]
    good = rees.good(GOOD_ROWS)
    rows = [
        {**r, "event_time": r["event_time"].removesuffix(" UTC")} if k % 2 else r for k, r in enumerate(good)
    ]
    w.add(
        Case(
            "timestamps_without_zone",
            "rees46",
            w.write("timestamps_without_zone", rees, rows),
            ACCEPTED,
            notes=("timezone_assumed_utc",),
            data_rows=len(rows),
        )
    )
    rows = [{**r, "user_id": ""} if k % 4 == 0 else r for k, r in enumerate(good)]
    w.add(
        Case(
            "session_only_users",
            "rees46",
            w.write("session_only_users", rees, rows),
            ACCEPTED,
            notes=("session_only_users", "items_without_metadata"),
            data_rows=len(rows),
        )
    )
    # 01:30 on 30 Oct 2011 happened twice in London (clocks went back at 02:00 BST): not guessed.
    ret = FORMATS["online_retail"]
    rows = _with(ret.good(GOOD_ROWS), "InvoiceDate", ["2011-10-30 01:30:00"])
    w.add(
        Case(
            "ambiguous_local_time",
            "online_retail",
            w.write("ambiguous_local_time", ret, rows),
            QUARANTINE,
            reasons=("ambiguous_local_time",),
            notes=("local_time_converted_to_utc",),
            data_rows=len(rows),
        )
    )
    amz = FORMATS["amazon"]
    rows = [
        {**r, "reviewText": "", "summary": ""} if k % 5 == 0 else r for k, r in enumerate(amz.good(GOOD_ROWS))
    ]
    w.add(
        Case(
            "missing_text",
            "amazon",
            w.write("missing_text", amz, rows),
            ACCEPTED,
            notes=("reviews_without_text", "items_without_metadata"),
            data_rows=len(rows),
        )
    )


# Each file handed to the adapter of another format (the adapters' first-row checks must say so).
DIFFERENT_FORMAT = {
    "taobao": "rees46",
    "rees46": "retailrocket",
    "retailrocket": "online_retail",
    "diginetica": "yoochoose",
    "yoochoose": "taobao",
    "amazon": "online_retail",
    "online_retail": "amazon",
    "canonical": "rees46",
}


def _different_format_cases(w: Writer) -> None:
    for source, other in DIFFERENT_FORMAT.items():
        fmt = FORMATS[other]
        directory = w.root / "different_format" / source
        directory.mkdir(parents=True, exist_ok=True)
        target = directory / fmt.file
        target.write_text(fmt.render(fmt.good(GOOD_ROWS)))
        path = target if source != "canonical" else directory
        w.add(
            Case(
                "different_format",
                source,
                path,
                ERROR,
                error=r"not in the \w+ layout|no \w+ (files )?found|no events\.parquet",
            )
        )


def _huge_user_case(w: Writer, n: int) -> None:
    """One Taobao user with `n` events (written with numpy: a few seconds for a million)."""
    fmt = FORMATS["taobao"]
    k = np.arange(n, dtype=np.int64)
    frame = pd.DataFrame(
        {
            "user": 1,
            "item": 2000 + k % 5000,
            "cat": 30 + k % 7,
            "type": np.array(["pv", "pv", "pv", "cart", "buy"])[k % 5],
            "ts": int(BASE.timestamp()) + k,  # one event a second: every event distinct
        }
    )
    target = w.place("user_with_1m_events", fmt) / fmt.file
    frame.to_csv(target, header=False, index=False)
    w.add(Case("user_with_1m_events", "taobao", target, ACCEPTED, data_rows=n))


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "bad_inputs")
    for case in build_corpus(out):
        print(f"{case.id:45s} {case.expect:10s} {case.path}")
