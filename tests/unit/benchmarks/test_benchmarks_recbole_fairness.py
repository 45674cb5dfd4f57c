"""RecBole gets what shopseq's models get: the same epochs and patience, a learning rate chosen on validation."""

from __future__ import annotations

import pytest


def test_budget_is_the_benchmarks_epochs_and_patience(peer) -> None:
    report = {"epochs": 30, "hyperparameters": {"patience": 5}}

    assert peer.fair_budget(report, None, None) == (30, 5)
    assert peer.fair_budget(report, 6, 2) == (6, 2)  # explicit overrides win
    assert peer.fair_budget({"epochs": 10, "hyperparameters": {"patience": 0}}, None, None) == (10, 10)  # 0: never stop early


def test_budget_without_a_record_says_what_to_pass(peer) -> None:
    with pytest.raises(SystemExit, match="--epochs and --patience"):
        peer.fair_budget({"rows": []}, None, None)


def _tried(lr: float, valid: float, test: float) -> dict:
    return {"model": "recbole_sasrec", "lr": lr, "valid_ndcg@10": valid, "ndcg@10": test, "best_epoch": 3,
            "epochs_trained": 8, "train_seconds": 10.0}


def test_learning_rate_is_chosen_on_validation_never_on_test(peer) -> None:
    tried = [_tried(0.0003, 0.10, 0.30), _tried(0.001, 0.20, 0.10), _tried(0.003, 0.15, 0.25)]

    row = peer.choose_on_validation(tried)

    assert row["lr"] == 0.001 and row["ndcg@10"] == 0.10  # the best validation score, whatever test says
    assert [point["lr"] for point in row["lr_grid"]] == [0.0003, 0.001, 0.003]
    assert row["lr_grid"][2] == {"lr": 0.003, "valid_ndcg@10": 0.15, "best_epoch": 3, "epochs_trained": 8, "train_seconds": 10.0}


def test_validation_ties_keep_the_first_grid_point(peer) -> None:
    assert peer.choose_on_validation([_tried(0.0003, 0.2, 0.1), _tried(0.001, 0.2, 0.3)])["lr"] == 0.0003


def test_recbole_config_carries_the_budget_and_rate(peer, tmp_path) -> None:
    config = peer.recbole_config(tmp_path, epochs=30, patience=5, lr=0.003)

    assert (config["epochs"], config["stopping_step"], config["learning_rate"], config["eval_step"]) == (30, 5, 0.003, 1)
    assert config["valid_metric"] == "NDCG@10"
