"""User profiles as an input of the next-item model: one standardised behaviour vector per user.

The model gets the named behaviour features (recency, frequency, money, funnel, category shares,
price sensitivity, churn signals; see `profiles.build.behaviour_features`), z-scored over the
users of one cut and clipped, not the PCA'd text aggregate: the item text already reaches the
model through the item vectors. A user without a profile (new, or an ad-hoc sequence) gets the
zero vector, which after z-scoring is the average user.

Point in time, twice over. Validation, test and serving use the profiles as of the split's
training cut (`profile_events`), saved with the model, so no validation or test target's period
is in any profile. Training uses snapshots taken every `SNAPSHOT_DAYS` before that cut: each
training position reads its user's latest snapshot from before its input step. A profile as of
the training cut would summarise the very steps the training positions predict (their categories,
counts, prices): the model could read a training target out of its own profile, which it can never
do on a validation or test target.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from shopseq import schema as s
from shopseq.config import Profiles, Sequences

log = logging.getLogger(__name__)

CLIP = 5.0  # z-scores beyond this are clipped: heavy-tailed counts must not dominate the vector
PROFILES_FILE = "profiles.npz"
SNAPSHOT_DAYS = 7  # training snapshots are this far apart (the first one this long after the first event)


@dataclass(frozen=True)
class UserProfiles:
    """Profile vectors by user id.

    Attributes:
        user_ids: (U,) user ids, row order of `vectors`.
        vectors: (U, P) float32 standardised features.
        feature_names: (P,) the feature of each column.
        as_of: the cut the profiles were built at (exclusive), ISO format; "" when unknown.
    """

    user_ids: list[str]
    vectors: np.ndarray
    feature_names: list[str]
    as_of: str = ""

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    def vectors_for(self, user_ids) -> np.ndarray:
        """(len(user_ids), P) profile rows; zeros (the average user) for users without a profile."""
        row = getattr(self, "_row", None)
        if row is None:
            row = {user: i for i, user in enumerate(self.user_ids)}
            object.__setattr__(self, "_row", row)
        out = np.zeros((len(user_ids), self.dim), dtype=np.float32)
        found = [(i, row[str(u)]) for i, u in enumerate(user_ids) if str(u) in row]
        if found:
            rows, sources = map(list, zip(*found))
            out[rows] = self.vectors[sources]
        return out

    def save(self, path: str | Path) -> None:
        np.savez(path, user_ids=np.asarray(self.user_ids, dtype=str), vectors=self.vectors,
                 feature_names=np.asarray(self.feature_names, dtype=str), as_of=np.asarray(self.as_of))

    @classmethod
    def load(cls, path: str | Path) -> UserProfiles:
        stored = np.load(path, allow_pickle=False)
        return cls(stored["user_ids"].tolist(), stored["vectors"].astype(np.float32),
                   stored["feature_names"].tolist(), str(stored["as_of"]))


def profile_events(events: pd.DataFrame, config: Sequences) -> tuple[pd.DataFrame, pd.Timestamp]:
    """The events a profile may use under the split `config`, and the `as_of` to describe them at.

    Temporal split: every event before the validation start (the training cut), described as of
    that cut. Leave-last-out: each user's events strictly before their own validation step (so
    neither the validation nor the test target is in it), described as of the end of the data.
    """
    from shopseq.profiles.features import end_of_data
    from shopseq.sequences.split import phase_steps

    steps, valid_start, _ = phase_steps(events, config)
    if valid_start is not None:
        return events[events[s.TS] < valid_start], valid_start
    held_out = steps[steps["phase"] != "train"].groupby(s.USER_ID)[s.TS].min()  # each user's first held-out step
    cut = events[s.USER_ID].map(held_out)
    return events[cut.isna() | (events[s.TS] < cut)], end_of_data(events)


def build_user_profiles(
    events: pd.DataFrame, items: pd.DataFrame, as_of: str | pd.Timestamp, params: Profiles
) -> UserProfiles:
    """Standardised behaviour vectors of every user with an event before `as_of` (point in time).

    Raises:
        ValueError: no event lies before `as_of`.
    """
    from shopseq.profiles.build import behaviour_features
    from shopseq.profiles.reduce import standardize

    named, _ = behaviour_features(events, items, as_of, params)
    numeric = [c for c in named.columns if c != "top_category"]
    z = np.clip(standardize(named[numeric].to_numpy(dtype=np.float64)), -CLIP, CLIP)  # (U, P)
    as_of = pd.Timestamp(as_of)
    log.info("profile inputs: %d users x %d features as of %s", len(named), len(numeric), as_of.isoformat())
    return UserProfiles(named.index.astype(str).tolist(), z.astype(np.float32), numeric, as_of.isoformat())


@dataclass(frozen=True)
class ProfileInputs:
    """Profiles for one split: the evaluation table and the point-in-time training snapshots.

    Attributes:
        final: as of the training cut; what validation, test and serving read (saved with the model).
        snapshots: earlier cuts, oldest first; each uses only events before its own `as_of`.
        step_times: user id -> the time of each of the user's training steps (the split's order).
    """

    final: UserProfiles
    snapshots: list[UserProfiles]
    step_times: dict[str, np.ndarray]

    def step_rows(self, users: list[str]) -> tuple[np.ndarray, list[list[int]]]:
        """Which profile each training step of each of `users` reads: (table (R, P), rows per user).

        Row 0 of the table is the zero profile: steps before the first snapshot, or of a user the
        snapshot does not know yet. Every other row is the user's latest snapshot whose cut is at
        or before the step's time, so it holds no event of that step or later.
        """
        dim = self.final.dim
        table = np.vstack([np.zeros((1, dim), np.float32)] + [snap.vectors for snap in self.snapshots])  # (R, P)
        offsets = np.cumsum([1] + [len(snap.user_ids) for snap in self.snapshots])[:-1]
        index = [{user: i for i, user in enumerate(snap.user_ids)} for snap in self.snapshots]
        cuts = np.array([pd.Timestamp(snap.as_of).value for snap in self.snapshots], dtype=np.int64)
        rows: list[list[int]] = []
        for user in users:
            latest = np.searchsorted(cuts, self.step_times[user], side="right") - 1  # (steps,) -1: no snapshot yet
            rows.append([int(offsets[k] + index[k][user]) if k >= 0 and user in index[k] else 0 for k in latest])
        return table, rows


def snapshot_cuts(events: pd.DataFrame, as_of: pd.Timestamp) -> list[pd.Timestamp]:
    """Every `SNAPSHOT_DAYS` from the first event's day until (not including) `as_of`."""
    if events.empty:
        return []
    step = pd.Timedelta(days=SNAPSHOT_DAYS)
    first = events[s.TS].min().floor("D") + step
    return list(pd.date_range(first, as_of, freq=step, inclusive="left"))


def build_profile_inputs(
    events: pd.DataFrame, items: pd.DataFrame, sequences: Sequences, params: Profiles
) -> ProfileInputs:
    """The evaluation profiles and the training snapshots of the split `sequences`."""
    from shopseq.progress import progress
    from shopseq.sequences.split import phase_steps

    events, items = s.conform(events, s.EVENTS), s.conform(items, s.ITEMS)
    past, as_of = profile_events(events, sequences)
    final = build_user_profiles(past, items, as_of, params)
    snapshots = [
        build_user_profiles(past[past[s.TS] < cut], items, cut, params)
        for cut in progress(snapshot_cuts(past, as_of), "profile snapshots", unit="cut")
    ]
    steps, _, _ = phase_steps(events, sequences)
    train = steps[steps["phase"] == "train"]
    step_times = {
        str(user): ts.to_numpy(dtype="datetime64[ns]").astype(np.int64)
        for user, ts in train.groupby(s.USER_ID, sort=False)[s.TS]
    }
    return ProfileInputs(final, snapshots, step_times)
