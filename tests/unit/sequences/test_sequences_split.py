"""Sequence building and the split: steps collapse repeats, and nothing from the future leaks."""

from __future__ import annotations

import pandas as pd
import pytest

from shopseq import schema as s
from shopseq.config import Sequences
from shopseq.sequences.split import HISTORY, TARGET, collapse_steps, split_sequences, training_steps


def events(rows):
    frame = pd.DataFrame(rows, columns=[s.USER_ID, s.ITEM_ID, s.EVENT_TYPE, s.TS])
    frame[s.TS] = pd.to_datetime(frame[s.TS], utc=True)
    return s.conform(frame, s.EVENTS)


def day(d: int, hour: int = 12) -> str:
    return f"2026-06-{d:02d}T{hour:02d}:00:00Z"


def test_view_cart_purchase_of_one_item_is_one_step():
    frame = events(
        [("u1", "a", "view", day(1, 10)), ("u1", "a", "cart", day(1, 11)), ("u1", "a", "purchase", day(1, 12)),
         ("u1", "b", "view", day(2)), ("u1", "a", "view", day(3))]
    )
    steps = collapse_steps(frame)
    assert steps[s.ITEM_ID].tolist() == ["a", "b", "a"]
    assert steps[s.TS].iloc[0] == pd.Timestamp(day(1, 10))


def test_collapsing_never_merges_two_users():
    frame = events([("u1", "a", "view", day(1)), ("u2", "a", "view", day(1, 13))])
    assert len(collapse_steps(frame)) == 2


@pytest.fixture
def shop():
    rows = []
    for user, offset in (("u1", 0), ("u2", 1), ("u3", 2)):
        for d in range(1, 29):
            rows.append((user, f"i{(d + offset) % 7}", "view", day(d, 10 + offset)))
    rows.append(("u4", "new-item", "view", day(27)))  # only in the test period
    rows.append(("u3", "new-item", "view", day(28, 20)))
    return events(rows)


def test_temporal_split_never_puts_a_future_event_in_any_input(shop):
    split = split_sequences(shop, Sequences(valid_days=7, test_days=7, max_len=50))
    ts = {(r[s.USER_ID], r[s.ITEM_ID], r[s.TS]) for r in shop.to_dict("records")}
    assert ts  # the fixture has data
    train_end = shop[s.TS].max() - pd.Timedelta(days=14)
    steps = collapse_steps(shop)
    train_steps = steps[steps[s.TS] < train_end]
    # every training sequence is exactly the user's steps before the validation cut
    for row in split.train.itertuples():
        assert list(row.items) == train_steps[train_steps[s.USER_ID] == row.user_id][s.ITEM_ID].tolist()
    # every evaluation history is exactly the user's steps before the target's time
    for frame, start in ((split.valid, split.valid_start), (split.test, split.test_start)):
        assert (frame[s.TS] >= start).all()
        for row in frame.itertuples():
            earlier = steps[(steps[s.USER_ID] == row.user_id) & (steps[s.TS] < row.ts)][s.ITEM_ID].tolist()
            assert list(getattr(row, HISTORY)) == earlier[-50:]
    assert (split.valid[s.TS] < split.test_start).all()


def test_vocabulary_comes_from_training_only_and_cold_targets_are_counted(shop):
    split = split_sequences(shop, Sequences(valid_days=7, test_days=7))
    assert "new-item" not in set(split.vocabulary[s.ITEM_ID])
    assert "new-item" not in set(split.test[TARGET])
    assert split.cold_targets["test"] == 1  # u3's new-item step; u4's only step has no history


def test_histories_are_capped_at_max_len(shop):
    split = split_sequences(shop, Sequences(max_len=5))
    assert split.test[HISTORY].map(len).max() == 5


def test_leave_last_out_uses_each_users_last_two_steps(shop):
    split = split_sequences(shop, Sequences(split="leave_last_out"))
    last = collapse_steps(shop).groupby(s.USER_ID).tail(1)
    known = set(split.vocabulary[s.ITEM_ID])
    expected = {(u, i) for u, i in zip(last[s.USER_ID], last[s.ITEM_ID]) if i in known}
    assert set(zip(split.test[s.USER_ID], split.test[TARGET])) <= expected
    assert split.test.groupby(s.USER_ID).size().max() == 1


def test_no_events_is_a_clear_error():
    with pytest.raises(ValueError, match="no events"):
        split_sequences(events([]), Sequences())


@pytest.mark.parametrize("split", ["temporal", "leave_last_out"])
def test_no_training_step_is_at_or_after_any_target_of_its_user(shop, split):
    """Training windows and baseline statistics come from steps strictly before every later target."""
    config = Sequences(split=split, valid_days=7, test_days=7)
    result = split_sequences(shop, config)
    train = training_steps(shop, config)
    last_train = train.groupby(s.USER_ID)[s.TS].max()
    for frame in (result.valid, result.test):
        assert len(frame) > 0
        for row in frame.itertuples():
            assert last_train.get(row.user_id, pd.Timestamp.min.tz_localize("UTC")) < row.ts
    if split == "temporal":
        assert train[s.TS].max() < result.valid_start <= result.valid[s.TS].min()
    # the training sequences are exactly the training steps, in time order
    from_steps = train.groupby(s.USER_ID)[s.ITEM_ID].agg(list)
    for row in result.train.itertuples():
        assert list(row.items) == from_steps[row.user_id]


def test_leave_last_out_trains_on_all_but_each_users_last_two_steps(shop):
    config = Sequences(split="leave_last_out")
    steps = collapse_steps(shop)
    expected = steps.groupby(s.USER_ID).apply(lambda g: g.iloc[:-2][s.ITEM_ID].tolist(), include_groups=False)
    train = training_steps(shop, config).groupby(s.USER_ID)[s.ITEM_ID].agg(list)
    for user, items in expected.items():
        assert train.get(user, []) == items


def test_leave_last_out_is_marked_leaky_and_says_why(caplog):
    from shopseq.sequences.split import leaky_split

    with caplog.at_level("WARNING", logger="shopseq.sequences.split"):
        assert leaky_split(Sequences(split="leave_last_out")) is True
    assert "other users' events from after a held-out target" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="shopseq.sequences.split"):
        assert leaky_split(Sequences(split="temporal")) is False
    assert caplog.text == ""


def test_split_cuts_are_the_phase_rules_cuts(shop):
    from shopseq.sequences.split import split_cuts

    config = Sequences(valid_days=7, test_days=7)
    split = split_sequences(shop, config)
    assert split_cuts(shop, config) == (split.valid_start, split.test_start)
    assert split_cuts(shop, Sequences(split="leave_last_out")) == (None, None)


def test_a_model_trained_on_a_split_read_only_events_before_the_test_start(shop):
    """What the forecast's propensity check compares backtest origins with."""
    from shopseq.sequences.split import trained_on_events_before

    config = Sequences(valid_days=7, test_days=7)
    split = split_sequences(shop, config)
    assert trained_on_events_before(shop, config) == split.test_start
    # leave-last-out trains on other users' events up to the very last one
    assert trained_on_events_before(shop, Sequences(split="leave_last_out")) > pd.to_datetime(shop[s.TS], utc=True).max()
