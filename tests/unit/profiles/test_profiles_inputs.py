"""User profiles as a model input: point in time at the split's training cut, lookup and storage."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pandas as pd
import pytest

from shopseq import schema as s
from shopseq.config import Profiles, Sequences
from shopseq.profiles.inputs import (
    SNAPSHOT_DAYS,
    UserProfiles,
    build_profile_inputs,
    profile_events,
)
from shopseq.sequences.split import phase_steps

END = pd.Timestamp("2026-07-01", tz="UTC")
N_ITEMS = 8


def shop(n_users: int = 8, n_events: int = 300, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Events over 40 days before END (the last one exactly at END - 1 h) and their items."""
    rng = np.random.default_rng(seed)
    items = s.conform(
        pd.DataFrame({s.ITEM_ID: [f"i{i}" for i in range(N_ITEMS)], s.TITLE: "t", s.DESCRIPTION: "d",
                      s.CATEGORY: ["a", "b"] * (N_ITEMS // 2), s.PRICE: rng.uniform(5, 50, N_ITEMS).round(2)}),
        s.ITEMS,
    )
    ts = END - pd.to_timedelta(rng.uniform(1 / 24, 40, n_events), unit="D")
    ts = ts.where(np.arange(n_events) != 0, END - pd.Timedelta(hours=1))  # fixes the end of the data
    events = s.conform(
        pd.DataFrame({s.USER_ID: [f"u{u}" for u in rng.integers(0, n_users, n_events)],
                      s.ITEM_ID: [f"i{i}" for i in rng.integers(0, N_ITEMS, n_events)],
                      s.EVENT_TYPE: rng.choice(["view", "view", "cart", "purchase"], n_events),
                      s.TS: ts, s.SESSION_ID: [f"s{x}" for x in rng.integers(0, 40, n_events)]}),
        s.EVENTS,
    )
    return events, items


def profiles_for_split(events, items, config: Sequences, params: Profiles) -> UserProfiles:
    return build_profile_inputs(events, items, config, params).final


def assert_same(a: UserProfiles, b: UserProfiles) -> None:
    assert a.user_ids == b.user_ids and a.feature_names == b.feature_names and a.as_of == b.as_of
    assert np.allclose(a.vectors, b.vectors)


def test_temporal_profiles_use_no_event_from_the_validation_start_on():
    events, items = shop()
    config = Sequences(split="temporal", valid_days=7, test_days=7)
    before = profiles_for_split(events, items, config, Profiles())
    _, valid_start, _ = phase_steps(events, config)
    assert pd.Timestamp(before.as_of) == valid_start
    late = events[s.TS] >= valid_start
    assert late.sum() > 10  # the test means something: many events lie after the cut
    rewritten = events.copy()
    rewritten.loc[late & (rewritten[s.TS] < END - pd.Timedelta(hours=1)), s.EVENT_TYPE] = "purchase"
    newcomer = rewritten[late].assign(**{s.USER_ID: "u_new", s.ITEM_ID: "i1"})
    after = profiles_for_split(pd.concat([rewritten, newcomer], ignore_index=True), items, config, Profiles())
    assert_same(before, after)
    assert "u_new" not in after.user_ids  # a user first seen after the cut has no profile (zeros)


def test_leave_last_out_profiles_use_only_each_users_training_steps():
    events, items = shop()
    config = Sequences(split="leave_last_out")
    steps, _, _ = phase_steps(events, config)
    held_out = steps[steps["phase"] != "train"].groupby(s.USER_ID)[s.TS].min()
    past, _ = profile_events(events, config)
    latest = past.groupby(s.USER_ID)[s.TS].max()
    assert (latest < held_out.reindex(latest.index)).all()
    assert len(past) < len(events)

    before = profiles_for_split(events, items, config, Profiles())
    last = steps[steps["phase"] == "test"].set_index(s.USER_ID)[s.TS]  # each user's test step starts here
    in_test = events[s.TS] >= events[s.USER_ID].map(last)
    rewritten = events.copy()
    rewritten.loc[in_test, s.EVENT_TYPE] = "purchase"  # what the test target's step was
    rewritten.loc[in_test, s.PRICE] = 999.0
    assert_same(before, profiles_for_split(rewritten, items, config, Profiles()))


def test_profile_vectors_are_standardised_and_clipped():
    events, items = shop()
    profiles = profiles_for_split(events, items, Sequences(), Profiles())
    assert profiles.vectors.dtype == np.float32 and np.isfinite(profiles.vectors).all()
    assert np.abs(profiles.vectors).max() <= 5.0
    assert "top_category" not in profiles.feature_names and "n_events" in profiles.feature_names


def test_unknown_users_get_zeros_and_the_table_round_trips(tmp_path):
    table = UserProfiles(["u1", "u2"], np.array([[1.0, 2.0], [3.0, 4.0]], np.float32), ["a", "b"], "2026-07-01")
    table.save(tmp_path / "profiles.npz")
    loaded = UserProfiles.load(tmp_path / "profiles.npz")
    assert loaded.user_ids == ["u1", "u2"] and loaded.feature_names == ["a", "b"] and loaded.as_of == "2026-07-01"
    assert loaded.vectors_for(["u2", "nobody", "u1"]).tolist() == [[3.0, 4.0], [0.0, 0.0], [1.0, 2.0]]


def test_a_split_without_events_before_the_cut_says_so():
    events, items = shop()
    with pytest.raises(ValueError, match="none before as_of"):
        profiles_for_split(events, items, Sequences(valid_days=60, test_days=1), Profiles())


def position_vectors(inputs) -> dict[str, np.ndarray]:
    """user -> (steps, P): the profile each training step (as an input position) reads."""
    users = list(inputs.step_times)
    table, rows = inputs.step_rows(users)
    return {user: table[r] for user, r in zip(users, rows)}


def test_training_positions_read_snapshots_from_before_their_own_step():
    events, items = shop()
    config = Sequences(split="temporal", valid_days=7, test_days=7)
    inputs = build_profile_inputs(events, items, config, Profiles())
    cuts = [pd.Timestamp(snap.as_of) for snap in inputs.snapshots]
    assert cuts and all(b - a == pd.Timedelta(days=SNAPSHOT_DAYS) for a, b in pairwise(cuts))
    assert cuts[-1] < pd.Timestamp(inputs.final.as_of)  # the evaluation table is never a training input

    before = position_vectors(inputs)
    assert any(np.abs(v).sum() > 0 for v in before.values())  # most positions do have a profile
    user = max(inputs.step_times, key=lambda u: len(inputs.step_times[u]))
    times = pd.to_datetime(inputs.step_times[user], utc=True)
    j = len(times) // 2
    rewritten = events.copy()
    later = rewritten[s.TS] >= times[j]  # everything from step j on, for every user
    rewritten.loc[later & (rewritten[s.TS] < END - pd.Timedelta(hours=1)), s.EVENT_TYPE] = "purchase"
    rewritten.loc[later, s.PRICE] = 999.0
    after = position_vectors(build_profile_inputs(rewritten, items, config, Profiles()))
    # input positions 0..j (predicting steps 1..j+1) read only events before step j's time
    assert np.allclose(before[user][: j + 1], after[user][: j + 1])
    assert not all(np.allclose(before[u], after[u]) for u in before)  # later positions did see the change
