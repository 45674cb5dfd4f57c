"""Plain canonical files: `events`, `items` and optional `reviews` as .parquet, .csv or .csv.gz in a directory.

The columns are already canonical, so little is decided on the data's behalf: a value that is
given but does not parse (text in `ts`, `price`, `quantity`, `rating`) is taken out as
`invalid_ts` / `invalid_price` / `invalid_quantity` / `invalid_rating`, and a row identical to an
earlier one as `duplicate`; both go to quarantine with the raw value. Every other bad row is left
to validation.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from shopseq import schema as s
from shopseq.data.adapters.base import (
    INVALID_PRICE,
    INVALID_QUANTITY,
    INVALID_RATING,
    INVALID_TS,
    FormatError,
    IngestReport,
    Loaded,
    mark_unparsed,
    read_csv,
    reading,
    reject_duplicates,
    take_marked,
)

SOURCE = "canonical"


def load(directory: Path) -> Loaded:
    """Read the canonical tables from `directory`.

    Raises:
        ValueError: `directory` is not a directory, lacks events or items, or a file misses a
            required column (the message names the file, expected and found columns).
    """
    if not directory.is_dir():
        raise FormatError(f"{directory}: the canonical source is a directory holding events, items and reviews files")
    report = IngestReport(SOURCE)
    frames = []
    for table in s.TABLES:
        file = find_table_file(directory, table.name)
        if file is None:
            if table is s.REVIEWS:
                frames.append(s.conform(pd.DataFrame(columns=list(table.required)), table))
                continue
            raise FormatError(f"{directory}: no {table.name}.parquet, {table.name}.csv or {table.name}.csv.gz found")
        if file.suffix == ".parquet":
            with reading(file):
                raw = pd.read_parquet(file)
        else:
            # Only an empty field is missing: "NaN" or "n/a" in a typed column is a value that does
            # not parse (quarantined with its reason), not a silent null.
            raw = read_csv(file, dtype=str, keep_default_na=False, na_values=[""])
        report.files.append(str(file))
        frames.append(_conform(file, raw, table, report))
    return Loaded(frames[0], frames[1], frames[2], report)


# Typed columns whose unparseable values are rejected, with the reason.
INVALID = {s.TS: INVALID_TS, s.PRICE: INVALID_PRICE, s.QUANTITY: INVALID_QUANTITY, s.RATING: INVALID_RATING}


def _conform(file: Path, raw: pd.DataFrame, table: s.Table, report: IngestReport) -> pd.DataFrame:
    """`raw` conformed to `table`, minus unparseable and duplicate rows (rejected, with reasons)."""
    raw = raw.reset_index(drop=True)
    try:
        frame = s.conform(raw, table)
    except ValueError as error:
        raise FormatError(f"{file}: {error}") from None
    for column, reason in INVALID.items():
        if column in table.columns and column in raw.columns:
            mark_unparsed(frame, column, raw[column].astype("string"), reason)
    frame = take_marked(frame, table.name, report)
    if table is s.ITEMS:
        return frame.reset_index(drop=True)  # duplicate item ids are validation's `duplicate_item`
    key = f"duplicate_{table.name}_dropped"
    return reject_duplicates(frame, table.name, key, report).reset_index(drop=True)


def find_table_file(directory: Path, name: str) -> Path | None:
    """The first of `<name>.parquet`, `<name>.csv`, `<name>.csv.gz` that exists in `directory`."""
    for suffix in (".parquet", ".csv", ".csv.gz"):
        candidate = directory / f"{name}{suffix}"
        if candidate.exists():
            return candidate
    return None
