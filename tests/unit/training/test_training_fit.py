"""Training windows and the Optuna search space."""

from __future__ import annotations

import optuna

from shopseq.config import Train
from shopseq.training.fit import WindowProfiles, fit, make_windows
from shopseq.training.tune import suggest


def test_windows_cover_every_transition_once():
    windows = make_windows([list(range(1, 12))], max_len=4)
    transitions = {(w[i], w[i + 1]) for w in windows for i in range(len(w) - 1)}
    assert transitions == {(i, i + 1) for i in range(1, 11)}
    assert all(len(w) <= 5 for w in windows)
    assert windows[0][-1] == 11  # the most recent behaviour is in a full window


def test_sequences_shorter_than_two_give_no_window():
    assert make_windows([[1], []], max_len=4) == []


def test_suggestions_come_from_the_search_space_over_the_defaults():
    train = Train(
        model="gru",
        defaults={"hidden": 8, "layers": 1, "heads": 1, "dropout": 0.0, "lr": 0.01, "weight_decay": 0.0},
        search_space={
            "hidden": {"type": "categorical", "choices": [16, 32]},
            "lr": {"type": "float", "low": 0.001, "high": 0.1, "log": True},
            "model": {"type": "categorical", "choices": ["gru", "transformer"]},
        },
    )
    trial = optuna.create_study().ask()
    hp = suggest(trial, train)
    assert hp["hidden"] in (16, 32) and 0.001 <= hp["lr"] <= 0.1
    assert hp["model"] in ("gru", "transformer")
    assert hp["layers"] == 1 and hp["dropout"] == 0.0  # untouched defaults


def test_a_family_default_applies_to_the_family_the_trial_chose_unless_the_space_searches_it():
    defaults = {"hidden": 8, "layers": 1, "heads": 1, "dropout": 0.2, "lr": 0.01, "weight_decay": 0.0}
    train = Train(
        model="gru",
        defaults=defaults,
        family_defaults={"transformer": {"lr": 0.005, "dropout": 0.1}},
        search_space={"model": {"type": "categorical", "choices": ["gru", "transformer"]},
                      "dropout": {"type": "float", "low": 0.3, "high": 0.4}},
    )
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    chosen = {}
    for _ in range(12):
        hp = suggest(study.ask(), train)
        chosen[hp["model"]] = hp
    assert chosen["transformer"]["lr"] == 0.005 and chosen["gru"]["lr"] == 0.01
    assert 0.3 <= chosen["transformer"]["dropout"] <= 0.4  # the search space wins over a family default
    assert train.defaults_for("lstm") == defaults


def test_training_learns_from_the_profile_what_the_history_cannot_tell():
    import torch

    from shopseq.sequences.models import ModelConfig, NextItemModel

    # Two kinds of users share the history [1, 2]; only their profile says whether 3 or 4 comes next.
    windows = [[1, 2, 3], [1, 2, 4]] * 16
    table = torch.tensor([[0.0], [1.0], [-1.0]])  # row 0: the zero profile
    profiles = WindowProfiles(table, [[1, 1], [2, 2]] * 16)  # each input position's row
    final_loss = {}
    for use_profile in (False, True):
        torch.manual_seed(0)
        config = ModelConfig(family="gru", n_items=4, hidden=16, dropout=0.0, max_len=4, profile_dim=int(use_profile))
        losses = fit(NextItemModel(config), windows, epochs=40, batch_size=8, lr=0.02, weight_decay=0.0, seed=0,
                     progress_mode="logs", profiles=profiles if use_profile else None)
        final_loss[use_profile] = losses[-1]
    # Without the profile the second step costs log 2 at best: a mean loss near 0.35 over the two steps.
    assert final_loss[False] > 0.3
    assert final_loss[True] < 0.1


def test_profiles_must_match_the_windows():
    import pytest
    import torch

    from shopseq.sequences.models import ModelConfig, NextItemModel

    model = NextItemModel(ModelConfig(family="gru", n_items=4, hidden=8, max_len=4, profile_dim=2))
    with pytest.raises(ValueError, match="3 rows for 2 windows"):
        fit(model, [[1, 2], [2, 3]], 1, 2, 0.01, 0.0, 0, progress_mode="logs",
            profiles=WindowProfiles(torch.zeros(1, 2), [[0], [0], [0]]))


def test_window_profiles_pad_with_the_zero_row():
    import torch

    profiles = WindowProfiles(torch.tensor([[0.0, 0.0], [1.0, 2.0], [3.0, 4.0]]), [[1, 2, 2], [2]])
    batch = profiles.batch([1, 0], length=3)  # (2, 3, 2)
    assert batch.tolist() == [[[3.0, 4.0], [0.0, 0.0], [0.0, 0.0]], [[1.0, 2.0], [3.0, 4.0], [3.0, 4.0]]]


def test_each_window_position_reads_its_own_steps_profile():
    import numpy as np
    import pandas as pd

    from shopseq.profiles.inputs import ProfileInputs, UserProfiles
    from shopseq.training.data import window_profiles

    day = pd.Timestamp("2026-07-01", tz="UTC")
    snapshot = UserProfiles(["u"], np.array([[7.0]], np.float32), ["x"], day.isoformat())
    times = np.array([(day + pd.Timedelta(days=d)).value for d in (-2, -1, 0, 1, 2, 3)], dtype=np.int64)
    inputs = ProfileInputs(final=snapshot, snapshots=[snapshot], step_times={"u": times})
    windows = make_windows([[1, 2, 3, 4, 5, 6]], max_len=3)  # [3, 4, 5, 6] and [1, 2, 3]: inputs [3, 4, 5] and [1, 2]
    profiles = window_profiles(inputs, ["u"], max_len=3)
    assert len(profiles.rows) == len(windows)
    # steps at day -2 and -1 come before the snapshot's cut: zero profile; from day 0 on: the snapshot
    assert [profiles.table[r].flatten().tolist() for r in profiles.rows] == [[7.0, 7.0, 7.0], [0.0, 0.0]]
