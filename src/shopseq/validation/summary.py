"""The validation summary (`summary.json`) and the content hash naming the validated data."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

DATA_VERSION_PREFIX = "dv-"


@dataclass(frozen=True)
class TableReport:
    """Counts and errors for one table; `rows_in == rows_accepted + rows_quarantined` always."""

    rows_in: int
    rows_accepted: int
    rows_quarantined: int
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.rows_in != self.rows_accepted + self.rows_quarantined:
            raise RuntimeError(
                f"bug: rows_in {self.rows_in} != accepted {self.rows_accepted}"
                f" + quarantined {self.rows_quarantined}"
            )

    @property
    def passed(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "rows_in": self.rows_in,
            "rows_accepted": self.rows_accepted,
            "rows_quarantined": self.rows_quarantined,
            "quarantine_reasons": dict(self.quarantine_reasons),
            "errors": list(self.errors),
        }


def summarise(reports: dict[str, TableReport], data_version: str) -> dict[str, Any]:
    """Totals over tables plus the per-table reports (the keys DESIGN.md promises)."""
    reasons: Counter[str] = Counter()
    for report in reports.values():
        reasons.update(report.quarantine_reasons)
    return {
        "passed": all(r.passed for r in reports.values()),
        "rows_in": sum(r.rows_in for r in reports.values()),
        "rows_accepted": sum(r.rows_accepted for r in reports.values()),
        "rows_quarantined": sum(r.rows_quarantined for r in reports.values()),
        "quarantine_reasons": dict(reasons),
        "errors": [e for r in reports.values() for e in r.errors],
        "tables": {name: r.to_dict() for name, r in reports.items()},
        "data_version": data_version,
    }


def data_version(frames: dict[str, pd.DataFrame]) -> str:
    """A short hash of the tables' content: names, columns, dtypes and every value, in order.

    It depends on the data only (not on parquet metadata or file times), so the same validated
    data always gets the same version, e.g. `dv-3f2a9c01b7de`.
    """
    return data_version_of({name: (frame.dtypes, len(frame), [frame]) for name, frame in frames.items()})


def data_version_of(tables: dict[str, tuple[pd.Series, int, Iterable[pd.DataFrame]]]) -> str:
    """`data_version` of tables given as (dtypes, rows, chunks in order): a table need not fit in memory.

    Rows hash one by one, so a table in chunks gets the version it gets whole.
    """
    digest = hashlib.sha256()
    for name in sorted(tables):
        dtypes, rows, chunks = tables[name]
        header = [name, *(f"{c}:{t}" for c, t in dtypes.astype(str).items()), str(rows)]
        digest.update("\x1f".join(header).encode())
        for chunk in chunks:
            digest.update(pd.util.hash_pandas_object(chunk, index=False).to_numpy().tobytes())
    return DATA_VERSION_PREFIX + digest.hexdigest()[:12]
