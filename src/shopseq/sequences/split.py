"""Per-user item sequences and a train/valid/test split with no future event in any input.

A sequence is the user's items in time order with consecutive repeats collapsed (a view, cart and
purchase of the same item are one step). The temporal split cuts the whole timeline at two global
times, so no training input is later than any validation or test target; a target's history is
everything the user did before it, which is what a model would see at serving time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from shopseq import schema as s
from shopseq.config import Sequences

log = logging.getLogger(__name__)

HISTORY = "history"
TARGET = "target"
ITEMS = "items"


@dataclass(frozen=True)
class Split:
    """Training sequences, evaluation targets with their histories, and the item vocabulary."""

    train: pd.DataFrame  # user_id, items (list of item ids, time order)
    valid: pd.DataFrame  # user_id, history (list), target, ts
    test: pd.DataFrame  # user_id, history (list), target, ts
    vocabulary: pd.DataFrame  # item_id, count (in training sequences), most frequent first
    valid_start: pd.Timestamp | None
    test_start: pd.Timestamp | None
    cold_targets: dict[str, int]  # targets left out per phase: their item never occurs in training


def collapse_steps(events: pd.DataFrame) -> pd.DataFrame:
    """One row per step: a user's consecutive events on the same item become one (first ts kept)."""
    ordered = events.sort_values([s.USER_ID, s.TS], kind="stable")
    # The first row compares with a missing value, which must count as "new", not as unknown.
    new_user = ordered[s.USER_ID].ne(ordered[s.USER_ID].shift()).fillna(True)
    new_item = ordered[s.ITEM_ID].ne(ordered[s.ITEM_ID].shift()).fillna(True)
    steps = ordered[(new_user | new_item).astype(bool)]
    return steps[[s.USER_ID, s.ITEM_ID, s.TS]].reset_index(drop=True)


def phase_steps(
    events: pd.DataFrame, config: Sequences
) -> tuple[pd.DataFrame, pd.Timestamp | None, pd.Timestamp | None]:
    """Collapsed steps with `position` and `phase` (train | valid | test), plus the two time cuts.

    The one place that decides which step is training data: `split_sequences` and the baselines'
    time-aware statistics (`training_steps`) both read it, so they can never disagree.
    """
    steps = collapse_steps(events)
    if steps.empty:
        raise ValueError("sequences: no events to build sequences from")
    valid_start, test_start = time_cuts(steps[s.TS].max(), config)
    return assign_phase(steps, config, valid_start, test_start), valid_start, test_start


def time_cuts(end: pd.Timestamp, config: Sequences) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """The temporal split's validation and test starts, counted back from the last step `end`.

    Both are None for leave_last_out, which cuts each user's own timeline instead.
    """
    if config.split != "temporal":
        return None, None
    test_start = end - pd.Timedelta(days=config.test_days)
    return test_start - pd.Timedelta(days=config.valid_days), test_start


def assign_phase(
    steps: pd.DataFrame, config: Sequences, valid_start: pd.Timestamp | None, test_start: pd.Timestamp | None
) -> pd.DataFrame:
    """Add `position` and `phase` to collapsed steps of whole users, given the split's time cuts.

    Per user, apart from the cuts: any set of whole users (a bucket of a large shop) gets exactly
    the phases it gets as part of the full table, once the cuts come from the full table.
    """
    steps = steps.copy()
    steps["position"] = steps.groupby(s.USER_ID).cumcount()
    phase = pd.Series("train", index=steps.index)
    if config.split == "temporal":
        phase[steps[s.TS] >= valid_start] = "valid"
        phase[steps[s.TS] >= test_start] = "test"
    else:  # leave_last_out: each user's last step is test, the one before is valid
        from_end = steps.groupby(s.USER_ID).cumcount(ascending=False)
        phase[from_end == 1] = "valid"
        phase[from_end == 0] = "test"
    steps["phase"] = phase
    return steps


LEAKY_SPLIT_REASON = (
    "sequences.split is leave_last_out: each user's last two steps are held out whatever their date, so "
    "training holds other users' events from after a held-out target's time, and item vectors fuse every "
    "review (there is no global cut); its figures compare with published protocols, not with what a "
    "model deployed at a date would score"
)


def is_leaky(config: Sequences) -> bool:
    """Whether the split lets data from after an evaluation target's time reach training (leave-last-out)."""
    return config.split == "leave_last_out"


def leaky_split(config: Sequences) -> bool:
    """`is_leaky(config)`, logging why when it is: the value every output of a run records as `leaky_split`."""
    leaky = is_leaky(config)
    if leaky:
        log.warning("leaky_split: %s", LEAKY_SPLIT_REASON)
    return leaky


def split_cuts(events: pd.DataFrame, config: Sequences) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """(validation start, test start) of the split `config` makes of `events`; both None for leave-last-out.

    Training inputs (item text vectors included) may read only what happened before the first;
    test scoring only what happened before the second.
    """
    _, valid_start, test_start = phase_steps(events, config)
    return valid_start, test_start


def trained_on_events_before(events: pd.DataFrame, config: Sequences) -> pd.Timestamp:
    """The time before which every event a model trained on this split read happened.

    Training reads the steps before the validation start and model selection (early stopping,
    Optuna, the blend) the validation targets, all before the test start; leave-last-out reads
    other users' events up to the last one, so its bound is just after the last event. A
    downstream use of the model that must not see a period (the forecast's backtest) compares
    with this.
    """
    _, test_start = split_cuts(events, config)
    if test_start is not None:
        return test_start
    return pd.to_datetime(events[s.TS], utc=True).max() + pd.Timedelta(microseconds=1)


def training_steps(events: pd.DataFrame, config: Sequences) -> pd.DataFrame:
    """The training phase's steps (user_id, item_id, ts): what time-aware baselines may count."""
    steps, _, _ = phase_steps(events, config)
    return steps.loc[steps["phase"] == "train", [s.USER_ID, s.ITEM_ID, s.TS]].reset_index(drop=True)


def split_sequences(events: pd.DataFrame, config: Sequences) -> Split:
    """Build the split named by `config.split` from validated events (all in memory).

    The same per-user function (`sequence_parts`) that the out-of-core engines run bucket by
    bucket (`shopseq.sequences.scale`), here on the whole table at once.
    """
    steps, valid_start, test_start = phase_steps(events, config)
    parts = sequence_parts(steps, config)
    counts = parts[parts[KIND] == COUNT].sort_values([COUNT, s.USER_ID, POSITION], ascending=[False, True, True], kind="stable")
    vocabulary = counts[[s.ITEM_ID, COUNT]].astype({COUNT: "int64"}).reset_index(drop=True)
    known = set(vocabulary[s.ITEM_ID])
    targets = {}
    cold = {}
    for phase in ("valid", "test"):
        rows = parts[parts[KIND] == phase]
        hot = rows[s.ITEM_ID].isin(known)
        cold[phase] = int((~hot).sum())
        targets[phase] = _target_frame(rows[hot])
    train = parts.loc[parts[KIND] == "train", [s.USER_ID, ITEMS]].reset_index(drop=True)
    return Split(
        train=train,
        valid=targets["valid"],
        test=targets["test"],
        vocabulary=vocabulary,
        valid_start=valid_start,
        test_start=test_start,
        cold_targets=cold,
    )


# `sequence_parts` returns one long frame, the same columns for every kind of row, so any engine
# (pandas, DuckDB buckets, Spark's applyInPandas) can carry it with one schema:
#   kind=train:       user_id, items (the user's training sequence)
#   kind=valid|test:  user_id, position, items (history), item_id (target), ts
#   kind=count:       item_id, count (training steps on it), user_id + position (its first step)
KIND, COUNT, POSITION = "kind", "count", "position"
PART_COLUMNS = [KIND, s.USER_ID, POSITION, ITEMS, s.ITEM_ID, s.TS, COUNT]


def sequence_parts(steps: pd.DataFrame, config: Sequences) -> pd.DataFrame:
    """Everything the split needs from phased steps of whole users, as one long frame.

    Targets are not yet checked against the training vocabulary (which needs every user); the
    caller keeps those whose item has a `count` row and counts the others as cold.
    """
    train_steps = steps[steps["phase"] == "train"]
    items = train_steps.groupby(s.USER_ID, sort=True)[s.ITEM_ID].agg(lambda column: [str(i) for i in column])
    items = items[items.map(len) >= config.min_train_items]
    train = pd.DataFrame({KIND: "train", s.USER_ID: items.index, ITEMS: items.to_numpy()})
    counts = train_steps.groupby(s.ITEM_ID, sort=False).agg(
        **{COUNT: (s.USER_ID, "size"), s.USER_ID: (s.USER_ID, "first"), POSITION: ("position", "first")}
    )
    counts = counts.reset_index().assign(**{KIND: COUNT})
    frames = [train, counts, _target_parts(steps, config.max_len)]
    parts = pd.concat([f for f in frames if not f.empty] or frames[:1], ignore_index=True)
    parts = parts.reindex(columns=PART_COLUMNS)
    parts[POSITION] = parts[POSITION].astype("Int64")
    parts[COUNT] = parts[COUNT].astype("Int64")
    parts[s.TS] = pd.to_datetime(parts[s.TS], utc=True).astype(s.EVENTS.required[s.TS])
    return parts


def _target_parts(steps: pd.DataFrame, max_len: int) -> pd.DataFrame:
    """Each valid/test step after a user's first, with the user's (at most max_len) earlier items.

    `steps` holds whole users, each contiguous and in time order, so a history is the slice of
    the flat item array that ends just before the target row.
    """
    steps = steps.reset_index(drop=True)
    flat = steps[s.ITEM_ID].astype(str).to_numpy(dtype=object)
    position = steps["position"].to_numpy()
    order = np.flatnonzero((steps["phase"] != "train").to_numpy() & (position > 0))
    history = [flat[i - min(p, max_len) : i].tolist() for i, p in zip(order, position[order])]
    chosen = steps.iloc[order].reset_index(drop=True)
    return pd.DataFrame(
        {
            KIND: chosen["phase"],
            s.USER_ID: chosen[s.USER_ID],
            POSITION: chosen["position"],
            ITEMS: pd.Series(history, dtype=object),
            s.ITEM_ID: chosen[s.ITEM_ID],
            s.TS: chosen[s.TS],
        }
    )


def _target_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """Target rows of `sequence_parts` in the split's file layout: user_id, history, target, ts."""
    frame = rows.sort_values([s.USER_ID, POSITION], kind="stable").reset_index(drop=True)
    return pd.DataFrame(
        {
            s.USER_ID: frame[s.USER_ID].astype(str),
            HISTORY: frame[ITEMS],
            TARGET: frame[s.ITEM_ID].astype(str),
            s.TS: frame[s.TS],
        }
    )
