"""The canonical schema every source is mapped to: column names and dtypes, defined once."""

from __future__ import annotations

from dataclasses import dataclass

# Column names. Code refers to these constants, never to string literals.
USER_ID = "user_id"
ITEM_ID = "item_id"
EVENT_TYPE = "event_type"
TS = "ts"
SESSION_ID = "session_id"
PRICE = "price"
QUANTITY = "quantity"
TITLE = "title"
DESCRIPTION = "description"
CATEGORY = "category"
BRAND = "brand"
RATING = "rating"
TEXT = "text"

VIEW, CART, PURCHASE, FAV, REMOVE_FROM_CART = "view", "cart", "purchase", "fav", "remove_from_cart"

# Quarantine files carry the offending row plus these two columns.
REASON = "reason"
SOURCE_ROW = "source_row"


@dataclass(frozen=True)
class Table:
    """One canonical table: its file stem, required and optional columns with pandas dtypes."""

    name: str
    required: dict[str, str]
    optional: dict[str, str]

    @property
    def columns(self) -> dict[str, str]:
        return {**self.required, **self.optional}


EVENTS = Table(
    name="events",
    required={USER_ID: "string", ITEM_ID: "string", EVENT_TYPE: "string", TS: "datetime64[ns, UTC]"},
    optional={SESSION_ID: "string", PRICE: "float64", QUANTITY: "float64"},
)
ITEMS = Table(
    name="items",
    required={ITEM_ID: "string", TITLE: "string", DESCRIPTION: "string", CATEGORY: "string"},
    optional={BRAND: "string", PRICE: "float64"},
)
REVIEWS = Table(
    name="reviews",
    required={USER_ID: "string", ITEM_ID: "string", TS: "datetime64[ns, UTC]", TEXT: "string"},
    optional={RATING: "float64"},
)
TABLES = (EVENTS, ITEMS, REVIEWS)


def conform(frame, table: Table):
    """Return `frame` with exactly the table's columns (missing optional ones as nulls) and dtypes.

    Raises:
        ValueError: a required column is missing; the message names the expected and found columns.
    """
    import pandas as pd

    missing = [c for c in table.required if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{table.name}: missing required column(s) {missing}; "
            f"expected {list(table.required)}, found {list(frame.columns)}"
        )
    out = pd.DataFrame(index=frame.index)
    for column, dtype in table.columns.items():
        values = frame[column] if column in frame.columns else pd.Series(pd.NA, index=frame.index)
        if dtype.startswith("datetime64"):
            parsed = pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")
            out[column] = parsed.astype(dtype)
        elif dtype == "float64":
            out[column] = pd.to_numeric(values, errors="coerce").astype("float64")
        else:
            out[column] = values.astype(dtype)
    return out.reset_index(drop=True)
