"""What every format adapter shares: the ingest report, file discovery, header checks, finishing.

An adapter reads one public format exactly as published and returns canonical frames plus an
`IngestReport` whose `notes` count every explicit decision it took (duplicate rows dropped,
session-only users, times assumed to be UTC, items without metadata, ...). `finish` applies the
decisions every format shares, so each adapter only maps its own columns.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import logging
import re
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from shopseq import schema as s

log = logging.getLogger(__name__)

# Filler for items the format gives no text or category for (documented in adapters/__init__.py).
NO_TEXT = ""
UNKNOWN_CATEGORY = "unknown"
# Prefix of user ids made from a session id because the format has no user for the session.
SESSION_USER_PREFIX = "session:"

# Note keys (the ingest report's vocabulary; add freely, never rename).
DUPLICATE_ROWS_DROPPED = "duplicate_rows_dropped"
DUPLICATE_EVENTS_DROPPED = "duplicate_events_dropped"
DUPLICATE_REVIEWS_DROPPED = "duplicate_reviews_dropped"
SESSION_ONLY_USERS = "session_only_users"
ITEMS_WITHOUT_METADATA = "items_without_metadata"
ITEMS_ADDED_FROM_EVENTS = "items_added_from_events"
ITEMS_BUILT_FROM_EVENTS = "items_built_from_events"
CATALOGUE_ITEMS_WITHOUT_EVENTS = "catalogue_items_without_events"
TIMEZONE_ASSUMED_UTC = "timezone_assumed_utc"
LOCAL_TIME_CONVERTED_TO_UTC = "local_time_converted_to_utc"
TIMESTAMPS_SYNTHESIZED = "timestamps_synthesized"
REVIEWS_WITHOUT_TEXT = "reviews_without_text"
FILES_SKIPPED = "files_skipped"

# Reasons for rows an adapter takes out of a table (the validation quarantine's vocabulary, like
# its row rules): the row is kept, with the reason, in `Loaded.rejected` and then in quarantine.
DUPLICATE = "duplicate"  # identical in every canonical column to an earlier row
INVALID_TS = "invalid_ts"  # a time is given but is not a time
INVALID_PRICE = "invalid_price"  # a price is given but is not a number
INVALID_QUANTITY = "invalid_quantity"
INVALID_RATING = "invalid_rating"
ITEM_WITHOUT_EVENTS = "item_without_events"  # a catalogue row of an item no event or review mentions
# Rejected rows carry the reason, the row's position among the raw rows and the raw values.
DETAIL = "detail"
# Columns an adapter may add to a frame before `finish`: why (and with what raw value) to reject it.
_REJECT, _REJECT_DETAIL = "_reject", "_reject_detail"
MAX_DETAIL_CHARS = 200


@dataclass
class IngestReport:
    """What an adapter read and every explicit decision it took, counted.

    Attributes:
        source: the format name (`config.SOURCES`).
        files: the files read, in reading order.
        notes: decision -> number of rows, users or items it concerned (zero counts are kept so
            a reader sees the check ran).
    """

    source: str
    files: list[str] = field(default_factory=list)
    notes: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, list[pd.DataFrame]] = field(default_factory=dict, repr=False)

    def count(self, key: str, n: float) -> None:
        """Add `n` to the note `key` (creating it at zero)."""
        self.notes[key] = self.notes.get(key, 0) + int(n)

    def reject(self, table: str, rows: pd.DataFrame, reason: str | pd.Series, detail: pd.Series | None = None) -> None:
        """Record `rows` (raw or mapped, indexed by raw row position) as taken out of `table`.

        Args:
            table: the canonical table the rows would have become (`events`, `items`, `reviews`).
            rows: the rows; their index is kept as `source_row`.
            reason: one reason for all rows, or one per row.
            detail: the raw values to show per row; default: every column of `rows`.
        """
        if rows.empty:
            return
        reasons = reason if isinstance(reason, pd.Series) else pd.Series(reason, index=rows.index)
        frame = pd.DataFrame(
            {
                s.REASON: reasons.astype("string").to_numpy(),
                s.SOURCE_ROW: rows.index.to_numpy(dtype="int64"),
                DETAIL: (describe_rows(rows) if detail is None else detail.astype("string")).to_numpy(),
            }
        )
        self.rejected.setdefault(table, []).append(frame)

    def rejected_tables(self) -> dict[str, pd.DataFrame]:
        """{table: rejected rows (`reason`, `source_row`, `detail`)} for tables that lost rows."""
        return {name: pd.concat(parts, ignore_index=True) for name, parts in self.rejected.items() if parts}

    def to_dict(self) -> dict[str, object]:
        return {"source": self.source, "files": list(self.files), "notes": dict(self.notes)}


@dataclass
class Loaded:
    """Canonical events, items and reviews plus the report of how they were made."""

    events: pd.DataFrame
    items: pd.DataFrame
    reviews: pd.DataFrame
    report: IngestReport

    @property
    def rejected(self) -> dict[str, pd.DataFrame]:
        """Rows the adapter took out of each table, with reasons (see `IngestReport.reject`)."""
        return self.report.rejected_tables()

    @property
    def tables(self) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        return self.events, self.items, self.reviews


class FormatError(ValueError):
    """A file does not have the layout of the format it was given as."""


def strip_gz(name: str) -> str:
    """`x.csv.gz` -> `x.csv`: the name a file has once decompressed."""
    return name.removesuffix(".gz")


def open_text(file: Path) -> io.TextIOBase:
    """Open a text file for reading, decompressing `.gz` transparently."""
    if file.name.endswith(".gz"):
        return gzip.open(file, "rt", encoding="utf-8", newline="")  # type: ignore[return-value]
    return open(file, encoding="utf-8", newline="")


def first_row(file: Path, sep: str = ",") -> list[str]:
    """The first line of a delimited text file, split like a CSV reader would (quotes removed).

    Raises:
        FormatError: the file is empty, not UTF-8, or a damaged gzip (the message names the file).
    """
    with reading(file), open_text(file) as handle:
        line = handle.readline()
    if not line:
        raise FormatError(f"{file}: the file is empty (no header or data line)")
    if not line.strip():
        raise FormatError(f"{file}: the first line is blank; expected a header or a data line")
    return next(csv.reader([line.lstrip("\ufeff").rstrip("\r\n")], delimiter=sep), [])


@contextlib.contextmanager
def reading(file: Path) -> Iterator[None]:
    """Turn the errors of reading a damaged file into a FormatError naming the file and the fault.

    Covers an empty file, a truncated or corrupt gzip, bytes that are not UTF-8 (naming the line
    and showing its bytes) and a CSV the parser cannot split.
    """
    try:
        yield
    except UnicodeDecodeError as error:
        line, sample = _bad_utf8_line(file)
        raise FormatError(
            f"{file}: not UTF-8: line {line} holds {sample!r} ({error.reason}); re-encode the file as "
            "UTF-8, e.g. `iconv -f latin1 -t utf-8`"
        ) from None
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise FormatError(
            f"{file}: damaged gzip ({error}); the file is truncated or not gzip: download it again"
        ) from None
    except pd.errors.EmptyDataError:
        raise FormatError(f"{file}: the file is empty (no header or data line)") from None
    except pd.errors.ParserError as error:
        raise FormatError(f"{file}: cannot be split into columns: {str(error).strip()}") from None


def _bad_utf8_line(file: Path) -> tuple[int, bytes]:
    """The 1-based number of the first line that is not UTF-8, and that line's first bytes."""
    opener = gzip.open if file.name.endswith(".gz") else open
    try:
        with opener(file, "rb") as handle:
            for number, raw in enumerate(handle, start=1):
                try:
                    raw.decode("utf-8")
                except UnicodeDecodeError:
                    return number, raw[:80]
    except (EOFError, OSError, zlib.error):
        pass
    return 0, b""


def read_csv(file: Path, **kwargs: Any) -> pd.DataFrame:
    """`pd.read_csv` of a (possibly gzipped) UTF-8 file whose read errors name the file (see `reading`)."""
    with reading(file):
        return pd.read_csv(file, encoding="utf-8", **kwargs)


def describe_rows(rows: pd.DataFrame) -> pd.Series:
    """`column='value', ...` for each row, each value cut to 60 characters, the whole to MAX_DETAIL_CHARS."""
    shown = [c for c in rows.columns if not str(c).startswith("_")]
    if not shown:
        return pd.Series("", index=rows.index, dtype="string")
    parts = [
        (f"{column}=" + rows[column].astype("string").fillna("<null>").str.slice(0, 60).map(repr))
        for column in shown
    ]
    text = parts[0]
    for part in parts[1:]:
        text = text + ", " + part
    return text.str.slice(0, MAX_DETAIL_CHARS).astype("string")


def mark_unparsed(frame: pd.DataFrame, column: str, raw: pd.Series, reason: str) -> None:
    """Mark rows of `frame` whose raw `column` value was given but did not parse, for `finish` to reject.

    A row already marked keeps its first reason. `raw` shares `frame`'s index.
    """
    given = raw.astype("string").str.strip().fillna("") != ""
    bad = given & frame[column].isna()
    if _REJECT not in frame.columns:
        frame[_REJECT] = pd.Series(pd.NA, index=frame.index, dtype="string")
        frame[_REJECT_DETAIL] = pd.Series(pd.NA, index=frame.index, dtype="string")
    new = bad & frame[_REJECT].isna()
    frame.loc[new, _REJECT] = reason
    frame.loc[new, _REJECT_DETAIL] = f"{column}=" + raw[new].astype("string").str.slice(0, 60).map(repr)


def take_marked(frame: pd.DataFrame, table: str, report: IngestReport) -> pd.DataFrame:
    """`frame` without the rows `mark_unparsed` marked; those go to `report.reject` with their reasons."""
    if _REJECT not in frame.columns:
        return frame
    marked = frame[_REJECT].notna()
    rows = frame[marked]
    report.reject(table, rows, rows[_REJECT], rows[_REJECT_DETAIL])
    return frame[~marked].drop(columns=[_REJECT, _REJECT_DETAIL])


def format_error(file: Path, source: str, expected: Sequence[str], found: Sequence[str], hint: str = "") -> FormatError:
    """The error for a file that is not in `source`'s layout: names the file, expected and found columns."""
    message = f"{file}: not in the {source} layout: expected columns {list(expected)}, found {list(found)}"
    return FormatError(message + (f"; {hint}" if hint else ""))


def headerless_error(
    file: Path, source: str, layouts: dict[str, Sequence[str]], row: Sequence[str], rule: str
) -> FormatError:
    """The error for a headerless format whose first line is not a data row; says how it differs.

    A first line made of the format's own column names is a header row the format does not have:
    the message says so and what to remove, instead of listing two identical-looking column lists.

    Args:
        layouts: the format's column layouts by name (e.g. clicks and buys), in file order.
        row: the first line, split into fields.
        rule: what a data row must look like (field count, kinds of values).
    """
    names = {name.lower() for columns in layouts.values() for name in columns}
    fields = [field.strip().lower() for field in row]
    shown = ",".join(row)
    wanted = "; ".join(f"{kind}: {','.join(cols)}" if len(layouts) > 1 else ",".join(cols) for kind, cols in layouts.items())
    if fields and sum(field in names for field in fields) >= max(2, len(fields) // 2):
        return FormatError(
            f"{file}: not in the {source} layout as published: its first line `{shown}` is a header row, "
            f"but {source} files have no header (the columns are, in order, {wanted}); "
            f"remove that line ({_drop_first_line_command(file)}) or convert the file to the canonical layout"
        )
    return FormatError(
        f"{file}: not in the {source} layout: the first line `{shown}` has {len(row)} field(s); "
        f"expected a headerless data row with the columns {wanted} ({rule})"
    )


def _drop_first_line_command(file: Path) -> str:
    """A shell command that writes `file` without its first line beside it."""
    if file.name.endswith(".gz"):
        stem = file.name[: -len(".gz")]
        return f"`zcat {file.name} | tail -n +2 | gzip > noheader-{stem}.gz`"
    return f"`tail -n +2 {file.name} > noheader-{file.name}`"


def require_header(file: Path, source: str, expected: Sequence[str], sep: str = ",") -> list[str]:
    """Return the file's header after checking it holds every expected column (any order).

    Raises:
        FormatError: a column is missing; the message names the file, expected and found columns.
    """
    found = first_row(file, sep)
    if not set(expected) <= set(found):
        raise format_error(file, source, expected, found)
    return found


def files_in(path: Path, patterns: Iterable[str]) -> list[Path]:
    """`path` itself when it is a file, else the files in the directory matching any glob pattern.

    Each pattern also matches its `.gz` form. Results are sorted by name and unique.
    """
    if path.is_file():
        return [path]
    found: set[Path] = set()
    for pattern in patterns:
        found.update(p for p in path.glob(pattern) if p.is_file())
        found.update(p for p in path.glob(pattern + ".gz") if p.is_file())
    return sorted(found)


def no_files_error(path: Path, source: str, wanted: str) -> FormatError:
    """The error for a directory holding none of the format's files."""
    present = sorted(p.name for p in path.iterdir()) if path.is_dir() else []
    return FormatError(f"{path}: no {source} files found: expected {wanted}; the directory holds {present}")


def pick_matching(files: list[Path], source: str, check, report: IngestReport, path: Path) -> list[Path]:
    """Keep the files `check` accepts; in a directory, skip (and count) the others.

    A file named directly must match: its FormatError propagates. In a directory a file in
    another layout is skipped with a warning; if none matches, the first error is raised.

    Args:
        files: candidate files.
        source: the format name, for messages.
        check: callable(file) raising FormatError when the file is not in the format.
        report: receives `files_skipped`.
        path: what the user gave (file or directory).
    """
    if path.is_file():
        check(path)
        return [path]
    kept, errors = [], []
    for file in files:
        try:
            check(file)
        except FormatError as error:
            errors.append(error)
            log.warning("%s: skipping %s: %s", source, file.name, error)
            report.count(FILES_SKIPPED, 1)
        else:
            kept.append(file)
    if not kept:
        if errors:
            raise errors[0]
        raise no_files_error(path, source, "data files")
    return kept


def clean_ids(values: pd.Series) -> pd.Series:
    """Ids as trimmed strings; empty strings, `NA` and `nan` become missing; `12.0` becomes `12`."""
    text = values.astype("string").str.strip()
    text = text.mask(text.isin(["", "NA", "nan", "NaN", "None", "null"]))
    return text.str.replace(r"^(-?\d+)\.0+$", r"\1", regex=True)


def users_or_sessions(users: pd.Series, sessions: pd.Series, report: IngestReport) -> pd.Series:
    """User ids, with `session:<session id>` where the format has no user for the row.

    Counts the distinct users made that way as `session_only_users`.
    """
    users = clean_ids(users)
    missing = users.isna()
    made = SESSION_USER_PREFIX + clean_ids(sessions[missing])
    report.count(SESSION_ONLY_USERS, made.nunique())
    return users.mask(missing, made)


_ZONED = re.compile(r"(?:Z|[+-]\d{2}:?\d{2}|\s*UTC)$")


def parse_times_utc(values: pd.Series, report: IngestReport) -> pd.Series:
    """Parse ISO-like times to UTC; a trailing `UTC`, `Z` or offset is honoured.

    Times without a zone are taken as UTC and counted as `timezone_assumed_utc`. Unparseable
    values become NaT (validation quarantines them as `null_required`).
    """
    text = values.astype("string").str.strip()
    zoned = text.str.contains(_ZONED, na=False)
    report.count(TIMEZONE_ASSUMED_UTC, int((~zoned & text.notna()).sum()))
    text = text.str.replace(r"\s*UTC$", "+00:00", regex=True)
    return pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")


def unix_to_utc(values: pd.Series, unit: str = "s") -> pd.Series:
    """Unix epoch numbers (seconds or milliseconds) as UTC timestamps; junk becomes NaT."""
    return pd.to_datetime(pd.to_numeric(values, errors="coerce"), unit=unit, utc=True)


def local_to_utc(naive: pd.Series, zone: str, report: IngestReport) -> pd.Series:
    """Naive local wall-clock times of `zone` as UTC, counted as `local_time_converted_to_utc`.

    A wall time that does not exist (clocks forward) moves forward; an ambiguous one (clocks
    back) becomes NaT, for the adapter to quarantine (`ambiguous_local_time`) rather than guess.
    """
    report.count(LOCAL_TIME_CONVERTED_TO_UTC, int(naive.notna().sum()))
    return naive.dt.tz_localize(zone, ambiguous="NaT", nonexistent="shift_forward").dt.tz_convert("UTC")


def reject_duplicates(frame: pd.DataFrame, table: str, key: str, report: IngestReport) -> pd.DataFrame:
    """`frame` without rows identical to an earlier row; those are rejected as `duplicate` and counted.

    The index is kept (rejected rows keep their raw position as `source_row`).
    """
    copies = frame.duplicated(keep="first")
    report.reject(table, frame[copies], DUPLICATE)
    report.count(key, int(copies.sum()))
    report.count(DUPLICATE_ROWS_DROPPED, int(copies.sum()))
    return frame[~copies]


def finish(
    events: pd.DataFrame,
    items: pd.DataFrame | None,
    reviews: pd.DataFrame | None,
    report: IngestReport,
    items_from_events: bool = False,
) -> Loaded:
    """Conform the adapter's frames to the canonical schema and apply the shared decisions.

    `items_from_events`: the format has no item file, so `items` was built from the event (or
    review) rows; the item rows are then counted as `items_built_from_events`, so a reader
    of the row counts can tell rows read from rows built.

    - Rows an adapter marked with `mark_unparsed` are taken out with their reason.
    - Rows identical in every canonical column (after mapping) are taken out as `duplicate` and
      counted: `duplicate_events_dropped`, `duplicate_reviews_dropped`, total `duplicate_rows_dropped`.
      Events that share user, item, type and time but differ elsewhere (price, session) are
      kept: validation quarantines them as `duplicate_event`, visibly.
    - The items table holds exactly the items that events or reviews mention: catalogue rows
      never seen are taken out as `item_without_events` (counted as
      `catalogue_items_without_events`); items seen but missing from the catalogue are added
      without metadata (`items_added_from_events`).
    - Missing title/description become "" and a missing category `unknown`, so the rows pass
      validation's not-null rules; items whose title and description are both empty are
      counted as `items_without_metadata` (their text vector encodes only the category).
    """
    events = conform_keeping_index(take_marked(events, s.EVENTS.name, report), s.EVENTS)
    events = reject_duplicates(events, s.EVENTS.name, DUPLICATE_EVENTS_DROPPED, report).reset_index(drop=True)
    if reviews is None or reviews.empty:
        reviews = s.conform(pd.DataFrame(columns=list(s.REVIEWS.required)), s.REVIEWS)
    else:
        reviews = conform_keeping_index(take_marked(reviews, s.REVIEWS.name, report), s.REVIEWS)
        report.count(REVIEWS_WITHOUT_TEXT, int((reviews[s.TEXT].fillna("").str.strip() == "").sum()))
        reviews[s.TEXT] = reviews[s.TEXT].fillna(NO_TEXT)
        reviews = reject_duplicates(reviews, s.REVIEWS.name, DUPLICATE_REVIEWS_DROPPED, report)
        reviews = reviews.reset_index(drop=True)
    items = finish_items(events[s.ITEM_ID], items, reviews, report, items_from_events)
    log.info(
        "%s: %d events, %d items, %d reviews; notes %s",
        report.source,
        len(events),
        len(items),
        len(reviews),
        report.notes,
    )
    return Loaded(events, items, reviews, report)


def finish_items(
    event_items: pd.Series, items: pd.DataFrame | None, reviews: pd.DataFrame, report: IngestReport, items_from_events: bool
) -> pd.DataFrame:
    """The canonical items table of the items that `event_items` or the reviews mention (see `finish`).

    `event_items` may be any collection of the events' item ids (each once is enough): the
    streamed ingest passes the distinct ids, not one per event.
    """
    items = _catalogue(event_items, items, reviews, report)
    if items_from_events:
        report.count(ITEMS_BUILT_FROM_EVENTS, len(items))
    report.notes.setdefault(SESSION_ONLY_USERS, 0)
    report.notes.setdefault(TIMEZONE_ASSUMED_UTC, 0)
    return items


def conform_keeping_index(frame: pd.DataFrame, table: s.Table) -> pd.DataFrame:
    """`schema.conform`, keeping `frame`'s index (the raw row positions) instead of renumbering."""
    return s.conform(frame, table).set_axis(frame.index)


def _catalogue(
    event_items: pd.Series, items: pd.DataFrame | None, reviews: pd.DataFrame, report: IngestReport
) -> pd.DataFrame:
    seen = pd.Index(pd.concat([event_items, reviews[s.ITEM_ID]]).dropna().unique())
    if items is None:
        items = pd.DataFrame({s.ITEM_ID: pd.Series([], dtype="string")})
    items = items.copy()
    items[s.ITEM_ID] = clean_ids(items[s.ITEM_ID])
    items = items.dropna(subset=[s.ITEM_ID]).drop_duplicates(s.ITEM_ID, keep="last")
    in_events = items[s.ITEM_ID].isin(seen)
    report.count(CATALOGUE_ITEMS_WITHOUT_EVENTS, int((~in_events).sum()))
    unseen = items.loc[~in_events, [s.ITEM_ID]]
    report.reject(s.ITEMS.name, unseen, ITEM_WITHOUT_EVENTS, "item_id=" + unseen[s.ITEM_ID].astype("string"))
    items = items[in_events]
    added = seen.difference(pd.Index(items[s.ITEM_ID]))
    if len(items) and len(added):
        report.count(ITEMS_ADDED_FROM_EVENTS, len(added))
    items = pd.concat([items, pd.DataFrame({s.ITEM_ID: pd.array(added, dtype="string")})], ignore_index=True)
    for column, filler in ((s.TITLE, NO_TEXT), (s.DESCRIPTION, NO_TEXT), (s.CATEGORY, UNKNOWN_CATEGORY)):
        values = items[column] if column in items.columns else pd.Series(pd.NA, index=items.index)
        values = values.astype("string").str.strip()
        items[column] = values.mask(values.isna() | (values == ""), filler)
    items = s.conform(items, s.ITEMS).sort_values(s.ITEM_ID, ignore_index=True)
    report.count(ITEMS_WITHOUT_METADATA, int(((items[s.TITLE] == NO_TEXT) & (items[s.DESCRIPTION] == NO_TEXT)).sum()))
    return items
