"""UCI Online Retail (I) and Online Retail II: one row per invoice line, CSV with a header.

Online Retail I: `InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country`;
Online Retail II: `Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country`
(the xlsx sheets exported to CSV). Both read the same way:

- Each line is a `purchase` event of StockCode with its quantity and unit price; the invoice is
  the session. Lines of one invoice with the same StockCode are merged (quantities summed,
  `invoice_lines_merged`), since canonical events are unique per user, item, type and time; the
  later lines go to quarantine as `merged_line` (their quantity lives on in the first line).
- `InvoiceDate` is naive UK local time (`M/D/YYYY H:MM` or ISO `YYYY-MM-DD HH:MM:SS`): it is
  converted from Europe/London to UTC (`local_time_converted_to_utc`).
- Cancellations (invoice `C…`) are returns, not purchases: taken out and counted
  (`cancelled_invoice_rows_dropped`); so are bad-debt adjustments (invoice `A…`,
  `adjustment_rows_dropped`), other lines with quantity <= 0 (stock write-offs,
  `non_positive_quantity_rows_dropped`) and non-product codes such as POST, DOT, M, C2, BANK
  CHARGES (`non_product_rows_dropped`). Each such line goes to quarantine with the reason
  `cancelled_invoice`, `adjustment`, `non_positive_quantity` or `non_product`; a quantity, price or
  date that is not a number/date is quarantined as `invalid_quantity`, `invalid_price`, `invalid_ts`;
  a wall-clock time that happened twice (clocks going back) as `ambiguous_local_time`.
- A line without a customer id gets `session:<invoice>` (`session_only_users`).
- Items: title = the most frequent Description of the StockCode, price = its median positive
  unit price; there is no category (`unknown`).

The invoice-level aggregate of Online Retail II (`invoice_id,invoice_date,customer_id,...`, no
StockCode) has no items and is rejected with a message saying so.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from shopseq import schema as s
from shopseq.data.adapters.base import (
    INVALID_PRICE,
    INVALID_QUANTITY,
    INVALID_TS,
    IngestReport,
    Loaded,
    clean_ids,
    files_in,
    finish,
    first_row,
    format_error,
    local_to_utc,
    mark_unparsed,
    no_files_error,
    pick_matching,
    read_csv,
    users_or_sessions,
)

SOURCE = "online_retail"
ZONE = "Europe/London"
# Canonical working name -> the names it has in Online Retail I and II.
ALIASES = {
    "invoice": ("InvoiceNo", "Invoice"),
    "stock_code": ("StockCode",),
    "description": ("Description",),
    "quantity": ("Quantity",),
    "invoice_date": ("InvoiceDate",),
    "unit_price": ("UnitPrice", "Price"),
    "customer": ("CustomerID", "Customer ID"),
}
EXPECTED = [
    "Invoice|InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "Price|UnitPrice",
    "Customer ID|CustomerID",
    "Country",
]
INVOICE_LEVEL = {"invoice_id", "invoice_date", "total_quantity", "total_price"}
# Postage, carriage, manual entries, discounts, samples, bad debt, fees: lines that are not products.
NON_PRODUCT_CODES = {"POST", "DOT", "M", "C2", "D", "S", "B", "CRUK", "AMAZONFEE", "BANK CHARGES", "ADJUST", "ADJUST2"}


def _columns(file: Path) -> dict[str, str]:
    """Working name -> the file's column name. Raises FormatError for another layout."""
    found = first_row(file)
    if INVOICE_LEVEL <= set(found):
        raise format_error(
            file,
            SOURCE,
            EXPECTED,
            found,
            hint="this is an invoice-level aggregate (one row per invoice, no StockCode): it has no items, "
            "so it cannot become item events; use the line-item Online Retail file, or turn its daily "
            "totals into id,date,value for `shopseq benchmark forecast`",
        )
    mapping = {}
    for name, aliases in ALIASES.items():
        hit = next((a for a in aliases if a in found), None)
        if hit is None:
            raise format_error(file, SOURCE, EXPECTED, found)
        mapping[name] = hit
    return mapping


def check(file: Path) -> None:
    """Raise FormatError unless `file` is an Online Retail I or II line-item CSV."""
    _columns(file)


def _read(file: Path) -> pd.DataFrame:
    mapping = _columns(file)
    raw = read_csv(file, dtype=str, keep_default_na=False)
    return raw.rename(columns={v: k for k, v in mapping.items()})[list(mapping)]


def parse_invoice_dates(values: pd.Series) -> pd.Series:
    """Naive datetimes from `M/D/YYYY H:MM`, `M/D/YY H:MM` or ISO strings (per value)."""
    text = values.astype("string").str.strip()
    out = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    for pattern, fmt in (
        (r"^\d{4}-", "ISO8601"),
        (r"^\d{1,2}/\d{1,2}/\d{4}\s", "%m/%d/%Y %H:%M"),
        (r"^\d{1,2}/\d{1,2}/\d{2}\s", "%m/%d/%y %H:%M"),
    ):
        hit = text.str.match(pattern, na=False)
        if hit.any():
            parsed = pd.to_datetime(text[hit], format=fmt, errors="coerce")
            out[hit] = parsed.astype("datetime64[ns]")
    return out


# Quarantine reasons of the lines this format takes out (note key -> reason).
CANCELLED_INVOICE = "cancelled_invoice"
ADJUSTMENT = "adjustment"
NON_PRODUCT = "non_product"
NON_POSITIVE_QUANTITY = "non_positive_quantity"
MERGED_LINE = "merged_line"
AMBIGUOUS_LOCAL_TIME = "ambiguous_local_time"


def _drop(raw: pd.DataFrame, mask: pd.Series, key: str, reason: str, report: IngestReport) -> pd.DataFrame:
    report.count(key, int(mask.sum()))
    report.reject(s.EVENTS.name, raw[mask], reason)
    return raw[~mask]


def load(path: Path) -> Loaded:
    """Read Online Retail line-item file(s) at `path` into canonical frames."""
    report = IngestReport(SOURCE)
    files = files_in(path, ["*.csv"])
    if not files:
        raise no_files_error(path, SOURCE, "Online Retail line-item CSV files")
    files = pick_matching(files, SOURCE, check, report, path)
    raw = pd.concat([_read(f) for f in files], ignore_index=True)
    report.files = [str(f) for f in files]
    invoice = raw["invoice"].str.strip().str.upper()
    raw = raw.assign(invoice=invoice, stock_code=raw["stock_code"].str.strip())
    raw = _drop(raw, raw["invoice"].str.startswith("C"), "cancelled_invoice_rows_dropped", CANCELLED_INVOICE, report)
    raw = _drop(raw, raw["invoice"].str.startswith("A"), "adjustment_rows_dropped", ADJUSTMENT, report)
    code = raw["stock_code"].str.upper()
    non_product = code.isin(NON_PRODUCT_CODES) | code.str.startswith("TEST") | code.str.startswith("GIFT_")
    raw = _drop(raw, non_product, "non_product_rows_dropped", NON_PRODUCT, report)
    quantity = pd.to_numeric(raw["quantity"], errors="coerce")
    given = raw["quantity"].str.strip() != ""
    raw = _drop(raw, given & quantity.isna(), "invalid_quantity_rows", INVALID_QUANTITY, report)
    quantity = quantity[raw.index]
    raw = _drop(raw, ~(quantity > 0), "non_positive_quantity_rows_dropped", NON_POSITIVE_QUANTITY, report)
    price = pd.to_numeric(raw["unit_price"], errors="coerce")
    raw = _drop(raw, (raw["unit_price"].str.strip() != "") & price.isna(), "invalid_price_rows", INVALID_PRICE, report)
    naive = parse_invoice_dates(raw["invoice_date"])
    raw = _drop(raw, (raw["invoice_date"].str.strip() != "") & naive.isna(), "invalid_ts_rows", INVALID_TS, report)
    raw = raw.assign(
        quantity=pd.to_numeric(raw["quantity"]), unit_price=pd.to_numeric(raw["unit_price"], errors="coerce")
    )
    merged = raw.duplicated(["invoice", "stock_code"], keep="first")
    report.reject(s.EVENTS.name, raw[merged], MERGED_LINE)
    lines = raw.groupby(["invoice", "stock_code"], sort=False, as_index=False).agg(
        quantity=("quantity", "sum"),
        unit_price=("unit_price", "first"),
        invoice_date=("invoice_date", "first"),
        customer=("customer", "first"),
    )
    report.count("invoice_lines_merged", len(raw) - len(lines))
    naive = parse_invoice_dates(lines["invoice_date"])
    events = pd.DataFrame(
        {
            s.USER_ID: users_or_sessions(lines["customer"], lines["invoice"], report),
            s.ITEM_ID: clean_ids(lines["stock_code"]),
            s.EVENT_TYPE: s.PURCHASE,
            s.TS: local_to_utc(naive, ZONE, report),
            s.SESSION_ID: lines["invoice"],
            s.PRICE: lines["unit_price"],
            s.QUANTITY: lines["quantity"],
        }
    )
    # A wall time that happened twice (clocks back) is NaT: quarantined with its raw value, not guessed.
    mark_unparsed(events, s.TS, lines["invoice_date"], AMBIGUOUS_LOCAL_TIME)
    return finish(events, _items(raw), None, report, items_from_events=True)


def _items(raw: pd.DataFrame) -> pd.DataFrame:
    described = raw[raw["description"].str.strip() != ""]
    titles = described.groupby("stock_code")["description"].agg(lambda d: d.str.strip().value_counts().index[0])
    prices = raw[raw["unit_price"] > 0].groupby("stock_code")["unit_price"].median()
    items = pd.DataFrame({s.TITLE: titles, s.PRICE: prices})
    items.index.name = s.ITEM_ID
    return items.reset_index()

