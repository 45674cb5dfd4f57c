"""Turn per-check failing rows into one quarantine reason per row, and split the table.

Nothing is dropped silently: every input row ends up either accepted or quarantined, with the
first failing rule (in `ROW_RULES` order) as its reason and its position in the raw table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from shopseq import schema as s
from shopseq.validation.engine import CheckResult
from shopseq.validation.suites import DEDUP_KEYS, ROW, ROW_RULES


def failing_rows(results: list[CheckResult], n_rows: int) -> dict[str, np.ndarray]:
    """Return {rule: boolean mask over rows} for the row-level checks that flagged rows."""
    masks: dict[str, np.ndarray] = {}
    for result in results:
        if result.check.level != ROW or not result.rows:
            continue
        mask = masks.setdefault(result.check.rule, np.zeros(n_rows, dtype=bool))
        mask[result.rows] = True
    return masks


def assign_reasons(frame: pd.DataFrame, flagged: dict[str, np.ndarray]) -> pd.Series:
    """One reason per row: the first rule in `ROW_RULES` that flagged it; <NA> for clean rows.

    A duplicate rule only quarantines later copies among rows still accepted at that point, so
    the first good copy of a duplicated event is kept even when an earlier copy had a bad price.
    """
    unknown = sorted(set(flagged) - set(ROW_RULES))
    if unknown:
        raise ValueError(f"unknown row rule(s) {unknown}; known: {', '.join(ROW_RULES)}")
    reasons = pd.Series(pd.NA, index=frame.index, dtype="string")
    for rule in ROW_RULES:
        if rule not in flagged:
            continue
        hit = flagged[rule] & reasons.isna().to_numpy()
        if rule in DEDUP_KEYS:
            hit &= later_copies(frame, reasons.isna().to_numpy(), DEDUP_KEYS[rule])
        reasons[hit] = rule
    return reasons


def later_copies(frame: pd.DataFrame, alive: np.ndarray, keys: tuple[str, ...]) -> np.ndarray:
    """Mask of rows that repeat the `keys` of an earlier row, looking only at `alive` rows."""
    copies = np.zeros(len(frame), dtype=bool)
    copies[alive] = frame.loc[alive, list(keys)].duplicated(keep="first").to_numpy()
    return copies


def split(frame: pd.DataFrame, reasons: pd.Series) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split `frame` into (accepted, quarantined); quarantined rows gain `reason` and `source_row`.

    `frame` must carry a 0-based RangeIndex, so the index is the row's position in the raw table.
    """
    bad = reasons.notna().to_numpy()
    accepted = frame.loc[~bad].reset_index(drop=True)
    quarantined = frame.loc[bad].copy()
    quarantined[s.REASON] = reasons[bad].astype("string")
    quarantined[s.SOURCE_ROW] = quarantined.index.to_numpy(dtype="int64")
    return accepted, quarantined.reset_index(drop=True)


def reason_counts(quarantined: pd.DataFrame) -> dict[str, int]:
    """{reason: rows}, in `ROW_RULES` order (other reasons, e.g. table-level ones, after)."""
    counts = quarantined[s.REASON].value_counts()
    order = [r for r in ROW_RULES if r in counts.index] + sorted(set(counts.index) - set(ROW_RULES))
    return {str(reason): int(counts[reason]) for reason in order}
