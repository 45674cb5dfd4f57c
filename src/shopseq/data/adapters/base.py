"""What every format adapter shares: the ingest report, file discovery, header checks, finishing.

An adapter reads one public format exactly as published and returns canonical frames plus an
`IngestReport` whose `notes` count every explicit decision it took (duplicate rows dropped,
session-only users, times assumed to be UTC, items without metadata, ...). `finish` applies the
decisions every format shares, so each adapter only maps its own columns.
"""

from __future__ import annotations

import csv
import gzip
import io
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

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
CATALOGUE_ITEMS_WITHOUT_EVENTS = "catalogue_items_without_events"
TIMEZONE_ASSUMED_UTC = "timezone_assumed_utc"
LOCAL_TIME_CONVERTED_TO_UTC = "local_time_converted_to_utc"
TIMESTAMPS_SYNTHESIZED = "timestamps_synthesized"
REVIEWS_WITHOUT_TEXT = "reviews_without_text"
FILES_SKIPPED = "files_skipped"


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

    def count(self, key: str, n: int | float) -> None:
        """Add `n` to the note `key` (creating it at zero)."""
        self.notes[key] = self.notes.get(key, 0) + int(n)

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
    def tables(self) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        return self.events, self.items, self.reviews


class FormatError(ValueError):
    """A file does not have the layout of the format it was given as."""


def strip_gz(name: str) -> str:
    """`x.csv.gz` -> `x.csv`: the name a file has once decompressed."""
    return name[:-3] if name.endswith(".gz") else name


def open_text(file: Path) -> io.TextIOBase:
    """Open a text file for reading, decompressing `.gz` transparently."""
    if file.name.endswith(".gz"):
        return gzip.open(file, "rt", encoding="utf-8", newline="")  # type: ignore[return-value]
    return open(file, encoding="utf-8", newline="")


def first_row(file: Path, sep: str = ",") -> list[str]:
    """The first line of a delimited text file, split like a CSV reader would (quotes removed)."""
    with open_text(file) as handle:
        line = handle.readline()
    if not line:
        return []
    return next(csv.reader([line.lstrip("\ufeff").rstrip("\r\n")], delimiter=sep), [])


def format_error(file: Path, source: str, expected: Sequence[str], found: Sequence[str], hint: str = "") -> FormatError:
    """The error for a file that is not in `source`'s layout: names the file, expected and found columns."""
    message = f"{file}: not in the {source} layout: expected columns {list(expected)}, found {list(found)}"
    return FormatError(message + (f"; {hint}" if hint else ""))


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
    back) becomes NaT and is quarantined by validation rather than guessed.
    """
    report.count(LOCAL_TIME_CONVERTED_TO_UTC, int(naive.notna().sum()))
    return naive.dt.tz_localize(zone, ambiguous="NaT", nonexistent="shift_forward").dt.tz_convert("UTC")


def _drop_duplicates(frame: pd.DataFrame, key: str, report: IngestReport) -> pd.DataFrame:
    before = len(frame)
    frame = frame.drop_duplicates(ignore_index=True)
    report.count(key, before - len(frame))
    report.count(DUPLICATE_ROWS_DROPPED, before - len(frame))
    return frame


def finish(
    events: pd.DataFrame,
    items: pd.DataFrame | None,
    reviews: pd.DataFrame | None,
    report: IngestReport,
) -> Loaded:
    """Conform the adapter's frames to the canonical schema and apply the shared decisions.

    - Rows identical in every canonical column (after mapping) are dropped and counted:
      `duplicate_events_dropped`, `duplicate_reviews_dropped`, total `duplicate_rows_dropped`.
      Events that share user, item, type and time but differ elsewhere (price, session) are
      kept: validation quarantines them as `duplicate_event`, visibly.
    - The items table holds exactly the items that events or reviews mention: catalogue rows
      never seen are dropped (`catalogue_items_without_events`), items seen but missing from
      the catalogue are added without metadata (`items_added_from_events`).
    - Missing title/description become "" and a missing category `unknown`, so the rows pass
      validation's not-null rules; items whose title and description are both empty are
      counted as `items_without_metadata` (their text vector encodes only the category).
    """
    events = s.conform(events, s.EVENTS)
    events = _drop_duplicates(events, DUPLICATE_EVENTS_DROPPED, report)
    if reviews is None or reviews.empty:
        reviews = s.conform(pd.DataFrame(columns=list(s.REVIEWS.required)), s.REVIEWS)
    else:
        reviews = s.conform(reviews, s.REVIEWS)
        report.count(REVIEWS_WITHOUT_TEXT, int((reviews[s.TEXT].fillna("").str.strip() == "").sum()))
        reviews[s.TEXT] = reviews[s.TEXT].fillna(NO_TEXT)
        reviews = _drop_duplicates(reviews, DUPLICATE_REVIEWS_DROPPED, report)
    items = _catalogue(events, items, reviews, report)
    report.notes.setdefault(SESSION_ONLY_USERS, 0)
    report.notes.setdefault(TIMEZONE_ASSUMED_UTC, 0)
    log.info(
        "%s: %d events, %d items, %d reviews; notes %s",
        report.source,
        len(events),
        len(items),
        len(reviews),
        report.notes,
    )
    return Loaded(events, items, reviews, report)


def _catalogue(
    events: pd.DataFrame, items: pd.DataFrame | None, reviews: pd.DataFrame, report: IngestReport
) -> pd.DataFrame:
    seen = pd.Index(pd.concat([events[s.ITEM_ID], reviews[s.ITEM_ID]]).dropna().unique())
    if items is None:
        items = pd.DataFrame({s.ITEM_ID: pd.Series([], dtype="string")})
    items = items.copy()
    items[s.ITEM_ID] = clean_ids(items[s.ITEM_ID])
    items = items.dropna(subset=[s.ITEM_ID]).drop_duplicates(s.ITEM_ID, keep="last")
    in_events = items[s.ITEM_ID].isin(seen)
    report.count(CATALOGUE_ITEMS_WITHOUT_EVENTS, int((~in_events).sum()))
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
