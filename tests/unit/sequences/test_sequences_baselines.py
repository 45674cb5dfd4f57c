"""Baselines: hand-computed scores on tiny sequences, popularity back-off, and no future in their statistics."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from shopseq import schema as s
from shopseq.config import Sequences
from shopseq.sequences.baselines import (
    BASELINES,
    BaselineSettings,
    ItemKNN,
    Markov,
    RecentPopularity,
    SessionKNN,
    fit_baselines,
    fit_split_baselines,
)
from shopseq.sequences.split import HISTORY, TARGET, split_sequences, training_steps
from shopseq.training.evaluate import evaluate_baseline

# Three training sequences over four items; vocabulary most frequent first.
SEQUENCES = [["a", "b", "c"], ["a", "b", "d"], ["b", "c"]]
ITEMS = ["b", "a", "c", "d"]
COUNTS = np.array([3.0, 2.0, 2.0, 1.0])
# Popularity share count / (max + 1): the fallback, so "no evidence" scores are share - 1.
FALLBACK = {"b": 0.75 - 1, "a": 0.5 - 1, "c": 0.5 - 1, "d": 0.25 - 1}


def scores_of(baseline, history) -> dict[str, float]:
    row = baseline.score([history])[0]
    return dict(zip(baseline.item_ids, row.tolist()))


def test_markov_counts_transitions_from_the_last_item_and_breaks_ties_by_popularity():
    markov = Markov(ITEMS, COUNTS, SEQUENCES)
    # b was followed by c twice and by d once; a and b itself never followed b.
    got = scores_of(markov, ["a", "b"])
    assert got == pytest.approx({"c": 2 + 0.5 * 0.5, "d": 1 + 0.5 * 0.25, "b": FALLBACK["b"], "a": FALLBACK["a"]})
    # a was followed by b twice.
    assert scores_of(markov, ["c", "a"])["b"] == pytest.approx(2 + 0.5 * 0.75)


@pytest.mark.parametrize("history", [[], ["unseen"], ["d"]])  # empty, unknown item, item never followed
def test_markov_without_evidence_is_popularity(history):
    assert scores_of(Markov(ITEMS, COUNTS, SEQUENCES), history) == pytest.approx(FALLBACK)


def test_item_knn_sums_cosine_co_occurrence_over_the_last_items_weighted_by_recency():
    knn = ItemKNN(ITEMS, COUNTS, SEQUENCES, neighbours=10, history=2)
    # support: a 2, b 3, c 2, d 1 sequences; co-occurrence a-b 2, a-c 1, a-d 1, b-c 2, b-d 1, c-d 0
    sim = {("a", "b"): 2 / math.sqrt(6), ("a", "c"): 1 / 2, ("a", "d"): 1 / math.sqrt(2), ("b", "c"): 2 / math.sqrt(6)}
    got = scores_of(knn, ["d", "a", "c"])  # the last two items vote: c with weight 1, a with 1/2
    assert got == pytest.approx(
        {"b": sim["b", "c"] + sim["a", "b"] / 2, "a": sim["a", "c"], "c": sim["a", "c"] / 2, "d": sim["a", "d"] / 2},
        rel=1e-5,
    )


def test_item_knn_keeps_only_the_nearest_neighbours_and_backs_off():
    knn = ItemKNN(ITEMS, COUNTS, SEQUENCES, neighbours=1, history=1)
    got = scores_of(knn, ["a"])  # a's nearest item is b (2/sqrt 6 > 1/sqrt 2 > 1/2)
    assert got == pytest.approx({"b": 2 / math.sqrt(6), "a": FALLBACK["a"], "c": FALLBACK["c"], "d": FALLBACK["d"]})


R6 = math.sqrt(6)


@pytest.mark.parametrize("neighbours, expected", [
    # history [a, c, a]: a weighs 1 (last), c 1/2; |h| = 2 distinct items
    # sim: s1 {a,b,c} 1.5/sqrt 6, s2 {a,b,d} 1/sqrt 6, s3 {b,c} 0.5/sqrt 4
    (2, {"a": 2.5 / R6, "b": 2.5 / R6, "c": 1.5 / R6, "d": 1 / R6}),
    (3, {"a": 2.5 / R6, "b": 2.5 / R6 + 0.25, "c": 1.5 / R6 + 0.25, "d": 1 / R6}),
    (1, {"a": 1.5 / R6, "b": 1.5 / R6, "c": 1.5 / R6, "d": FALLBACK["d"]}),
])
def test_session_knn_votes_with_the_nearest_training_sequences(neighbours, expected):
    knn = SessionKNN(ITEMS, COUNTS, SEQUENCES, neighbours=neighbours)
    assert scores_of(knn, ["a", "c", "a"]) == pytest.approx(expected, rel=1e-5)  # repeats count once


def test_recent_popularity_counts_only_the_window_before_the_cut():
    ts = pd.to_datetime(["2026-06-01", "2026-06-05", "2026-06-06", "2026-06-06T12:00", "2026-06-08"], utc=True, format="ISO8601")
    steps = pd.DataFrame({s.USER_ID: ["u"] * 5, s.ITEM_ID: ["a", "b", "c", "c", "d"], s.TS: ts})
    recent = RecentPopularity(ITEMS, COUNTS, steps, cut=pd.Timestamp("2026-06-07", tz="UTC"), days=2)
    # window [06-05, 06-07): b once, c twice; a is too old, d is after the cut
    assert scores_of(recent, ["a"]) == pytest.approx({"c": 2.0, "b": 1.0, "a": FALLBACK["a"], "d": FALLBACK["d"]})
    assert recent.score([["a"], []]).shape == (2, 4)


def test_scores_are_float32_over_the_whole_vocabulary_for_every_baseline():
    vocabulary = pd.DataFrame({s.ITEM_ID: ITEMS, "count": COUNTS.astype(int)})
    steps = pd.DataFrame({s.USER_ID: ["u"], s.ITEM_ID: ["a"], s.TS: pd.to_datetime(["2026-06-01"], utc=True)})
    fitted = fit_baselines(BASELINES, SEQUENCES, vocabulary, BaselineSettings(), steps=steps)
    assert list(fitted) == list(BASELINES)
    for baseline in fitted.values():
        out = baseline.score([["a"], [], ["unseen", "b"]])
        assert out.shape == (3, 4) and out.dtype == np.float32
    with pytest.raises(ValueError, match="unknown baseline"):
        fit_baselines(["nope"], SEQUENCES, vocabulary, BaselineSettings())


def test_a_perfect_markov_chain_is_ranked_first_by_the_markov_baseline():
    vocabulary = pd.DataFrame({s.ITEM_ID: ITEMS, "count": COUNTS.astype(int)})
    targets = pd.DataFrame({HISTORY: [["a"], ["c", "a"]], TARGET: ["b", "b"]})
    metrics = evaluate_baseline(fit_baselines(["markov"], SEQUENCES, vocabulary, BaselineSettings())["markov"], targets, [1])
    assert metrics["hr@1"] == 1.0 and metrics["ndcg@1"] == 1.0


def shop_events(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(12):
        for d in range(1, 29):
            rows.append((f"u{u}", f"i{rng.integers(0, 9)}", "view", pd.Timestamp(2026, 6, d, 8 + u % 10, tz="UTC")))
    frame = pd.DataFrame(rows, columns=[s.USER_ID, s.ITEM_ID, s.EVENT_TYPE, s.TS])
    return s.conform(frame, s.EVENTS)


def test_baseline_statistics_never_see_an_event_at_or_after_the_validation_cut():
    """Scramble every item from the validation cut on: no baseline's scores may change."""
    config = Sequences(valid_days=7, test_days=7)
    events = shop_events()
    split = split_sequences(events, config)
    future = events[s.TS] >= split.valid_start
    assert future.any() and (~future).any()
    scrambled = events.copy()
    rng = np.random.default_rng(1)
    scrambled.loc[future, s.ITEM_ID] = rng.permutation(scrambled.loc[future, s.ITEM_ID].to_numpy())
    scrambled.loc[future[future].index[::3], s.ITEM_ID] = "i0"  # and make one item much more frequent
    other = split_sequences(scrambled, config)
    assert other.valid_start == split.valid_start
    histories = split.test[HISTORY].tolist()[:20] + [["i1", "i2"], []]
    settings = BaselineSettings(recent_days=3, knn_neighbours=3, knn_history=2, knn_sessions=3)
    fits = [
        fit_baselines(BASELINES, sp.train["items"].tolist(), sp.vocabulary, settings, training_steps(ev, config), sp.valid_start)
        for sp, ev in ((split, events), (other, scrambled))
    ]
    for name in BASELINES:
        np.testing.assert_array_equal(fits[0][name].score(histories), fits[1][name].score(histories), err_msg=name)
    # and the training steps the time-aware baseline counts all lie before the cut
    assert (training_steps(events, config)[s.TS] < split.valid_start).all()


@pytest.mark.parametrize("kind", ["temporal", "leave_last_out"])
def test_fitting_on_a_split_reads_only_its_training_steps(kind):
    """The evaluate stage's and the quality benchmark's one way: the split's training steps, up to its validation start."""
    config = Sequences(split=kind, valid_days=7, test_days=7)
    events = shop_events()
    split = split_sequences(events, config)
    settings = BaselineSettings(recent_days=3, knn_neighbours=3, knn_history=2, knn_sessions=3)
    train = split.train["items"].tolist()
    fitted = fit_split_baselines(BASELINES, train, split.vocabulary, events, config, settings)
    expected = fit_baselines(BASELINES, train, split.vocabulary, settings, training_steps(events, config), split.valid_start)
    histories = split.test[HISTORY].tolist()[:20] + [["i1", "i2"], []]
    for name in BASELINES:
        np.testing.assert_array_equal(fitted[name].score(histories), expected[name].score(histories), err_msg=name)
    # without recent popularity no timestamps are read: the events may be left out entirely
    assert set(fit_split_baselines(["markov"], train, split.vocabulary, events.iloc[:0], config, settings)) == {"markov"}
