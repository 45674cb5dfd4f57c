"""`shopseq benchmark quality` on a tiny shop: the contract's keys, one split for every row, any source."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shopseq.cli import app
from shopseq.config import BLENDABLE, load_params
from shopseq.data.synthetic import generate_shop

from tiny import write_tiny_params

BASELINES = ["popularity", "recent_popularity", "markov", "item_knn", "session_knn"]
ROW_KEYS = {"model", "ndcg@10", "hr@10", "mrr@20", "recall@20", "train_seconds", "peak_mb"}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("quality")
    write_tiny_params(root)
    old = Path.cwd()
    os.chdir(root)  # relative paths in params (the embedding cache) stay inside the temporary project
    try:
        yield root
    finally:
        os.chdir(old)


def quality(root, *args: str):
    result = CliRunner().invoke(app, ["--params", str(root / "params.yaml"), "--no-verbose", "benchmark", "quality",
                                      "--epochs", "1", "--families", "gru", *args])
    return result


@pytest.fixture(scope="module")
def synthetic(root):
    result = quality(root, "--source", "synthetic", "--out", str(root / "synthetic"), "--text", "off", "--seeds", "2")
    assert result.exit_code == 0, result.output + repr(result.exception)
    return json.loads((root / "synthetic" / "quality.json").read_text())


def test_quality_json_has_the_contract_keys_and_every_model(synthetic, root):
    assert synthetic["dataset"] == "synthetic"
    assert synthetic["split"]["kind"] == "temporal" and synthetic["split"]["test_targets_evaluated"] > 0
    models = [row["model"] for row in synthetic["rows"]]
    assert models[:6] == BASELINES + ["gru"] and models[-1] == "shopseq"
    # then the trained GRU blended with a neighbourhood baseline, when that won on validation
    for row in synthetic["rows"][6:-1]:
        assert row["model"] == f"gru+{row['blend']['kind']}" and row["blend"]["kind"] in BLENDABLE
        assert 0.0 < row["blend"]["weight"] < 1.0
    assert len(models) <= 8
    for row in synthetic["rows"]:
        assert ROW_KEYS <= set(row)
        assert all(0.0 <= row[k] <= 1.0 for k in ("ndcg@10", "hr@10", "mrr@20", "recall@20"))
        assert row["n_targets"] == synthetic["split"]["test_targets_evaluated"]  # the same targets for all
    # the split travels with the report, so a peer library can be scored on exactly these rows
    split = root / "synthetic" / "split"
    assert sum(1 for _ in open(split / "test.jsonl")) == synthetic["split"]["test_targets_evaluated"]
    assert sum(1 for _ in open(split / "train.jsonl")) == synthetic["split"]["train_sequences"]
    table = (root / "synthetic" / "quality.md").read_text()
    assert all(f"| synthetic | {model} |" in table for model in BASELINES + ["gru"])


def test_every_row_has_its_validation_score_and_trained_rows_their_seeds(synthetic):
    assert synthetic["leaky_split"] is False and synthetic["seeds"] == [7, 8]
    for row in synthetic["rows"]:
        assert 0.0 <= row["valid_ndcg@10"] <= 1.0
    for row in (r for r in synthetic["rows"] if r["model"].startswith("gru")):
        assert row["seeds"] == [7, 8] and len(row["ndcg@10_per_seed"]) == 2
        assert row["ndcg@10"] == pytest.approx(sum(row["ndcg@10_per_seed"]) / 2, abs=1e-4)
        assert row["ndcg@10_std"] == pytest.approx(abs(row["ndcg@10_per_seed"][0] - row["ndcg@10_per_seed"][1]) / 2**0.5,
                                                   abs=1e-4)
    gru = next(r for r in synthetic["rows"] if r["model"] == "gru")
    # the first seed's validation curve, one point per epoch trained, for "time to reach a quality"
    assert [point["epoch"] for point in gru["valid_curve"]] == [1]
    assert gru["valid_curve"][0]["seconds"] > 0 and 0.0 <= gru["valid_curve"][0]["valid_ndcg@10"] <= 1.0


def test_the_shopseq_row_is_the_trained_row_best_on_validation_and_is_compared_with_a_bootstrap(synthetic, root):
    rows = {row["model"]: row for row in synthetic["rows"]}
    trained = {name: row for name, row in rows.items() if name.startswith("gru")}
    best = max(trained.values(), key=lambda row: row["valid_ndcg@10"])
    shopseq = rows["shopseq"]
    assert shopseq["chosen"]["row"] == best["model"] and shopseq["ndcg@10"] == best["ndcg@10"]
    assert shopseq["chosen"]["family"] == "gru" and shopseq["chosen"]["hyperparameters"]["lr"] > 0
    baseline = max((rows[b] for b in BASELINES), key=lambda row: row["valid_ndcg@10"])
    [comparison] = synthetic["comparisons"]  # no peer rows here: only the best baseline on validation
    assert (comparison["a"], comparison["b"], comparison["metric"]) == ("shopseq", baseline["model"], "ndcg@10")
    assert comparison["diff"] == pytest.approx(shopseq["ndcg@10"] - baseline["ndcg@10"], abs=2e-4)
    assert comparison["ci95_low"] <= comparison["diff"] <= comparison["ci95_high"]
    per_target = json.loads((root / "synthetic" / "per_target" / f"{best['model']}.json").read_text())
    assert len(per_target["values"]) == synthetic["split"]["test_targets_evaluated"]


def test_the_synthetic_shops_item_to_item_structure_is_found_by_markov(synthetic):
    ndcg = {row["model"]: row["ndcg@10"] for row in synthetic["rows"]}
    assert ndcg["markov"] > 2 * ndcg["popularity"]


def test_canonical_files_of_the_same_shop_give_the_same_baselines_and_a_text_model(synthetic, root):
    params = load_params(root / "params.yaml")
    shop = generate_shop(params.ingest.synthetic, params.base.seed)
    data = root / "canonical-shop"
    data.mkdir()
    for name, frame in (("events", shop.events), ("items", shop.items), ("reviews", shop.reviews)):
        frame.to_parquet(data / f"{name}.parquet", index=False)
    result = quality(root, "--source", "canonical", "--path", str(data), "--out", str(root / "canonical"), "--text", "on")
    assert result.exit_code == 0, result.output + repr(result.exception)
    report = json.loads((root / "canonical" / "quality.json").read_text())
    assert report["dataset"] == "canonical:canonical-shop"
    assert [row["model"] for row in report["rows"]][:6] == BASELINES + ["gru+text"]
    same = {row["model"]: row["ndcg@10"] for row in synthetic["rows"]}
    assert {row["model"]: row["ndcg@10"] for row in report["rows"][:5]} == {m: same[m] for m in BASELINES}


def test_an_unknown_family_is_refused_before_any_work(root):
    result = quality(root, "--source", "synthetic", "--out", str(root / "bad"), "--families", "gru,cnn")
    assert result.exit_code != 0
    assert "unknown model family ['cnn']" in str(result.exception)
    assert not (root / "bad").exists()


def test_profile_rows_train_each_family_again_with_profiles_as_of_the_training_cut(root):
    result = quality(root, "--source", "synthetic", "--out", str(root / "profile"), "--text", "off",
                     "--baselines", "popularity", "--profile")
    assert result.exit_code == 0, result.output + repr(result.exception)
    report = json.loads((root / "profile" / "quality.json").read_text())
    models = [row["model"].split("+")[0] + ("+profile" if "+profile" in row["model"] else "") for row in report["rows"]]
    assert models[0] == "popularity" and {"gru", "gru+profile"} <= set(models)
    assert models.index("gru") < models.index("gru+profile")  # without, then with, on the same split
    assert {row["n_targets"] for row in report["rows"]} == {report["split"]["test_targets_evaluated"]}
    assert report["profiles_as_of"] == report["split"]["valid_start"] and "n_events" in report["profile_features"]
