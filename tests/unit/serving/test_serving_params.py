"""params.yaml `score` and `serve`: the project's values load; bad values name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from shopseq.config import ConfigError, Params, from_dict, load_params

ROOT = Path(__file__).resolve().parents[3]


def test_the_project_params_have_score_serve_and_the_scores_path():
    params = load_params(ROOT / "params.yaml")
    assert params.paths.scores == "data/scores"
    assert params.score.k >= 1 and params.serve.max_k >= params.score.k
    assert params.serve.poll_seconds > 0


@pytest.mark.parametrize(
    "raw, where",
    [
        ({"score": {"k": 0}}, "score.k"),
        ({"score": {"topk": 5}}, "'topk'"),
        ({"serve": {"port": 70000}}, "serve.port"),
        ({"serve": {"max_k": 0}}, "serve.max_k"),
        ({"serve": {"poll_seconds": 0}}, "serve.poll_seconds"),
        ({"serve": {"max_items": "many"}}, "serve.max_items"),
        ({"serve": {"index": "hnsw"}}, "serve.index"),
        ({"serve": {"index_probes": 0}}, "serve.index_probes"),
    ],
)
def test_bad_values_name_the_key(raw, where):
    with pytest.raises(ConfigError, match=where):
        from_dict(Params, raw)
