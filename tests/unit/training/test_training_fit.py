"""Training windows and the Optuna search space."""

from __future__ import annotations

import optuna

from shopseq.config import Train
from shopseq.training.fit import make_windows
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
