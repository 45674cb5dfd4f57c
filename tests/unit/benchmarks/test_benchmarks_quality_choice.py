"""The quality report's choices: seeds summarised, `shopseq` picked on validation only, comparisons."""

from __future__ import annotations

import json

import numpy as np
import pytest

from shopseq.benchmarks.quality_choice import (
    add_choice_and_comparisons,
    best_baseline,
    blend_name,
    choose_shopseq,
    summarize_seeds,
    write_per_target,
)

BASELINES = ("popularity", "markov")


def row(model: str, test: float, valid: float, **extra) -> dict:
    return {"model": model, "ndcg@10": test, "valid_ndcg@10": valid, "train_seconds": 1.0, "peak_mb": 10.0,
            "n_targets": 4, "blend": None, **extra}


def rows() -> list[dict]:
    return [
        row("popularity", 0.05, 0.06),
        row("markov", 0.30, 0.25),
        # best on test, not on validation: must not be chosen
        row("gru", 0.40, 0.20, family="gru", text=False, profile=False, hyperparameters={"lr": 0.01}),
        row("gru+markov", 0.35, 0.31, family="gru", text=False, profile=False, hyperparameters={"lr": 0.01},
            blend={"kind": "markov", "weight": 0.3}),
    ]


def test_shopseq_is_the_trained_row_best_on_validation_never_the_best_on_test():
    chosen = choose_shopseq(rows())
    assert chosen["model"] == "shopseq" and chosen["ndcg@10"] == 0.35
    assert chosen["chosen"]["row"] == "gru+markov" and chosen["chosen"]["blend"] == {"kind": "markov", "weight": 0.3}
    assert chosen["chosen"]["family"] == "gru" and chosen["chosen"]["hyperparameters"] == {"lr": 0.01}
    assert chosen["chosen"]["candidates"] == {"gru": 0.20, "gru+markov": 0.31}


def test_baselines_never_become_shopseq_even_when_best_on_validation():
    table = rows()
    table[1]["valid_ndcg@10"] = 0.9
    assert choose_shopseq(table)["chosen"]["row"] == "gru+markov"
    assert choose_shopseq(table[:2]) is None  # no trained row: no shopseq row


def test_ties_on_validation_keep_the_first_row():
    table = rows()
    table[3]["valid_ndcg@10"] = 0.20
    assert choose_shopseq(table)["chosen"]["row"] == "gru"


def test_the_best_baseline_is_chosen_on_validation():
    table = rows()
    assert best_baseline(table, BASELINES)["model"] == "markov"
    table[0]["valid_ndcg@10"] = 0.5  # popularity now best on validation, though worse on test
    assert best_baseline(table, BASELINES)["model"] == "popularity"


def test_seeds_give_the_mean_the_sample_spread_and_the_worst_memory():
    measured = [(row("gru", 0.30, 0.2, peak_mb=10.0), np.array([1.0, 0.0])),
                (row("gru", 0.34, 0.3, peak_mb=30.0), np.array([0.0, 0.0])),
                (row("gru", 0.32, 0.4, peak_mb=20.0), np.array([1.0, 1.0]))]
    summary, values = summarize_seeds("gru", measured, [7, 8, 9])
    assert summary["ndcg@10"] == 0.32 and summary["valid_ndcg@10"] == 0.3
    assert summary["ndcg@10_std"] == 0.02  # sample std of 0.30, 0.34, 0.32
    assert summary["peak_mb"] == 30.0 and summary["seeds"] == [7, 8, 9]
    assert summary["ndcg@10_per_seed"] == [0.30, 0.34, 0.32]
    np.testing.assert_allclose(values, [2 / 3, 1 / 3])


def test_one_seed_has_no_spread():
    summary, _ = summarize_seeds("gru", [(row("gru", 0.3, 0.2), np.zeros(2))], [7])
    assert summary["ndcg@10_std"] == 0.0 and summary["seeds"] == [7]


def test_the_blended_rows_name_takes_the_kind_most_seeds_chose():
    blends = [{"kind": "item_knn", "weight": 0.2}, None, {"kind": "markov", "weight": 0.3},
              {"kind": "markov", "weight": 0.4}]
    assert blend_name("gru", blends) == "gru+markov"


def test_comparisons_cover_the_best_baseline_and_every_peer_with_per_target_values(tmp_path):
    table = rows() + [row("recbole_sasrec", 0.1, 0.1), row("recbole_gru4rec", 0.1, 0.1)]
    write_per_target(tmp_path, "gru+markov", np.array([1.0, 1.0, 0.5, 0.0]))
    write_per_target(tmp_path, "markov", np.array([0.0, 1.0, 0.5, 0.0]))
    write_per_target(tmp_path, "recbole_sasrec", np.array([1.0, 1.0, 0.5, 0.0]))  # recbole_gru4rec left none
    report = add_choice_and_comparisons({"rows": table}, tmp_path, BASELINES, seed=0)
    assert [r["model"] for r in report["rows"]].count("shopseq") == 1
    by_b = {c["b"]: c for c in report["comparisons"]}
    assert set(by_b) == {"markov", "recbole_sasrec"}
    assert by_b["markov"]["diff"] == 0.25 and by_b["markov"]["ci95_low"] == 0.0
    assert by_b["markov"]["verdict"] == "no clear difference"  # one target of four: no evidence
    assert (by_b["recbole_sasrec"]["diff"], by_b["recbole_sasrec"]["ci95_low"], by_b["recbole_sasrec"]["ci95_high"]) == (0, 0, 0)
    # running it again (after peer rows arrive) replaces the shopseq row, never duplicates it
    again = add_choice_and_comparisons(report, tmp_path, BASELINES, seed=0)
    assert [r["model"] for r in again["rows"]].count("shopseq") == 1 and again["comparisons"] == report["comparisons"]


def test_per_target_values_of_another_metric_are_refused(tmp_path):
    (tmp_path / "per_target").mkdir()
    (tmp_path / "per_target" / "markov.json").write_text(json.dumps({"metric": "hr@10", "values": [1.0]}))
    write_per_target(tmp_path, "gru+markov", np.array([1.0]))
    with pytest.raises(ValueError, match="hr@10"):
        add_choice_and_comparisons({"rows": rows()}, tmp_path, BASELINES, seed=0)
