"""train.use_profile on a tiny shop: profiles as of the training cut travel with the candidate."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shopseq.config import load_params
from shopseq.io import read_json, read_parquet

from tiny import write_tiny_params


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("profile_project")
    old = Path.cwd()
    os.chdir(root)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    try:
        write_tiny_params(root, train={"use_profile": True, "n_trials": 1})
        params = load_params()
        for stage in ("ingest", "validate", "sequences", "train", "champion", "evaluate"):
            importlib.import_module(f"shopseq.stages.{stage}").run(params)
        yield root
    finally:
        os.chdir(old)


def test_the_candidate_carries_profiles_built_as_of_the_training_cut(project):
    from shopseq.sequences.recommender import load_recommender

    candidate = load_recommender(project / "models" / "candidate")
    valid_start = read_json(project / "reports" / "sequences" / "metrics.json")["valid_start"]
    assert candidate.model.config.profile_dim == candidate.profiles.dim > 0
    assert pd.Timestamp(candidate.profiles.as_of) == pd.Timestamp(valid_start)
    assert candidate.meta["use_profile"] is True
    train_users = set(read_parquet(project / "data" / "sequences" / "train.parquet")["user_id"].astype(str))
    assert train_users <= set(candidate.profiles.user_ids)  # every training user has a profile


def test_evaluation_scores_the_candidate_with_each_users_profile(project):
    from shopseq.sequences.recommender import load_recommender
    from shopseq.training.evaluate import evaluate_recommender, sample_targets

    params = load_params()
    metrics = read_json(project / "reports" / "evaluate" / "metrics.json")
    candidate = load_recommender(project / "models" / "candidate")
    test = read_parquet(project / "data" / "sequences" / "test.parquet")
    test = sample_targets(test, params.evaluate.max_targets, params.base.seed)  # as the stage does
    assert np.isclose(evaluate_recommender(candidate, test, [10])["ndcg@10"], metrics["candidate"]["ndcg@10"])
    histories = test["history"].tolist()[:50]
    with_profiles = candidate.score(histories, profiles=candidate.profile_vectors(test["user_id"].tolist()[:50]))
    assert not np.allclose(with_profiles, candidate.score(histories))  # the trained profile input moves scores
