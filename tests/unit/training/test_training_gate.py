"""The gate's truth table: floor x popularity x champion."""

from __future__ import annotations

import pytest

from shopseq.config import Gate
from shopseq.training.gate import passes_gate

GATE = Gate(metric="ndcg@10", floor=0.05, min_lift_over_popularity=1.1, champion_tolerance=0.02)


def metrics(candidate, popularity, champion=None):
    return {
        "candidate": {"ndcg@10": candidate},
        "popularity": {"ndcg@10": popularity},
        "champion": None if champion is None else {"ndcg@10": champion},
    }


@pytest.mark.parametrize(
    ("candidate", "popularity", "champion", "passed", "failing"),
    [
        (0.30, 0.10, None, True, []),
        (0.04, 0.01, None, False, ["floor"]),
        (0.10, 0.10, None, False, ["popularity"]),
        (0.04, 0.05, None, False, ["floor", "popularity"]),
        (0.30, 0.10, 0.30, True, []),
        (0.30, 0.10, 0.305, True, []),  # within the 2% tolerance
        (0.30, 0.10, 0.32, False, ["champion"]),
        (0.04, 0.10, 0.32, False, ["floor", "popularity", "champion"]),
    ],
)
def test_truth_table(candidate, popularity, champion, passed, failing):
    result = passes_gate(metrics(candidate, popularity, champion), GATE)
    assert result.passed is passed
    failed = [r for r in result.reasons if r.startswith("FAIL")]
    assert len(failed) == len(failing)
    for word, reason in zip(failing, failed):
        assert word in reason
    # every check is reported, passed or not
    assert len(result.reasons) == 3


def test_no_champion_is_said_in_the_reasons():
    result = passes_gate(metrics(0.3, 0.1), GATE)
    assert any("no champion" in r for r in result.reasons)
