"""Per-user item sequences and a train/valid/test split with no future event in any input.

A sequence is the user's items in time order with consecutive repeats collapsed (a view, cart and
purchase of the same item are one step). The temporal split cuts the whole timeline at two global
times, so no training input is later than any validation or test target; a target's history is
everything the user did before it, which is what a model would see at serving time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

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
    steps["position"] = steps.groupby(s.USER_ID).cumcount()
    if config.split == "temporal":
        end = steps[s.TS].max()
        test_start = end - pd.Timedelta(days=config.test_days)
        valid_start = test_start - pd.Timedelta(days=config.valid_days)
        phase = pd.Series("train", index=steps.index)
        phase[steps[s.TS] >= valid_start] = "valid"
        phase[steps[s.TS] >= test_start] = "test"
    else:  # leave_last_out: each user's last step is test, the one before is valid
        valid_start = test_start = None
        from_end = steps.groupby(s.USER_ID).cumcount(ascending=False)
        phase = pd.Series("train", index=steps.index)
        phase[from_end == 1] = "valid"
        phase[from_end == 0] = "test"
    steps["phase"] = phase
    return steps, valid_start, test_start


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


def training_steps(events: pd.DataFrame, config: Sequences) -> pd.DataFrame:
    """The training phase's steps (user_id, item_id, ts): what time-aware baselines may count."""
    steps, _, _ = phase_steps(events, config)
    return steps.loc[steps["phase"] == "train", [s.USER_ID, s.ITEM_ID, s.TS]].reset_index(drop=True)


def split_sequences(events: pd.DataFrame, config: Sequences) -> Split:
    """Build the split named by `config.split` from validated events."""
    steps, valid_start, test_start = phase_steps(events, config)
    train_steps = steps[steps["phase"] == "train"]
    train = (
        train_steps.groupby(s.USER_ID, sort=True)[s.ITEM_ID]
        .agg(lambda items: [str(item) for item in items])  # plain lists: parquet round-trips them
        .astype(object)
        .rename(ITEMS)
        .reset_index()
    )
    train = train[train[ITEMS].map(len) >= config.min_train_items].reset_index(drop=True)
    vocabulary = (
        train_steps[s.ITEM_ID].value_counts().rename_axis(s.ITEM_ID).rename("count").reset_index()
    )
    known = set(vocabulary[s.ITEM_ID])
    valid, cold_valid = _targets(steps, "valid", known, config.max_len)
    test, cold_test = _targets(steps, "test", known, config.max_len)
    return Split(
        train=train,
        valid=valid,
        test=test,
        vocabulary=vocabulary,
        valid_start=valid_start,
        test_start=test_start,
        cold_targets={"valid": cold_valid, "test": cold_test},
    )


def _targets(
    steps: pd.DataFrame, phase: str, known: set[str], max_len: int
) -> tuple[pd.DataFrame, int]:
    """Each step of `phase` whose item was seen in training, with the user's earlier steps as history.

    Targets on items never seen in training cannot be ranked by any model trained on that data;
    they are left out and counted (the second value) so reports can say how many.
    """
    rows = []
    cold = 0
    for user, group in steps.groupby(s.USER_ID, sort=False):
        items = group[s.ITEM_ID].tolist()
        for position, (item, ts, p) in enumerate(zip(items, group[s.TS], group["phase"])):
            if p != phase or position == 0:
                continue
            if item not in known:
                cold += 1
                continue
            rows.append((user, items[max(0, position - max_len) : position], item, ts))
    return pd.DataFrame(rows, columns=[s.USER_ID, HISTORY, TARGET, s.TS]), cold
