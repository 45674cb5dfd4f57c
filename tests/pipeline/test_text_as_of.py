"""Review text from the future: a review dated after a cut changes no input read before that cut.

Item vectors fuse an item's own text with its reviews. A review written in the validation or test
window tells what was bought then, so training and validation read item vectors as of the
training cut (the validation start) and test scoring as of the test start; production scoring
(the `score` stage, the HTTP service) reads every review. The real embed, sequences and score
stages (MiniLM) run on a tiny shop; every input is compared byte for byte.
"""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from shopseq import schema as s
from shopseq.config import load_params
from shopseq.io import write_parquet
from shopseq.sequences.split import split_cuts

from tiny import write_tiny_params

START = pd.Timestamp("2026-05-01", tz="UTC")
DAYS = 30  # events on every day; valid and test windows are the last 5 days each
ITEMS = [(f"i{i}", f"Item {i} title", f"A description of item {i}.", f"c{i % 2}") for i in range(6)]


def write_shop(root, reviews: list[tuple[str, str, str, pd.Timestamp]]) -> None:
    validated = root / "data" / "validated"
    events = [(f"u{u}", f"i{(day + u) % 6}", "view", START + pd.Timedelta(days=day, hours=u))
              for u in range(4) for day in range(DAYS)]
    frame = pd.DataFrame(events, columns=[s.USER_ID, s.ITEM_ID, s.EVENT_TYPE, s.TS])
    write_parquet(s.conform(frame, s.EVENTS), validated / "events.parquet")
    items = pd.DataFrame(ITEMS, columns=[s.ITEM_ID, s.TITLE, s.DESCRIPTION, s.CATEGORY])
    write_parquet(s.conform(items, s.ITEMS), validated / "items.parquet")
    write_parquet(s.conform(pd.DataFrame(reviews, columns=[s.USER_ID, s.ITEM_ID, s.TEXT, s.TS]), s.REVIEWS),
                  validated / "reviews.parquet")


BASE_REVIEWS = [("u0", "i1", "Sturdy and well made.", START + pd.Timedelta(days=3)),
                ("u1", "i2", "Smaller than expected.", START + pd.Timedelta(days=8))]


@pytest.fixture()
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_tiny_params(tmp_path, train={"use_text": True}, embed={"batch_size": 8, "max_tokens": 64})
    return tmp_path


def inputs(root, reviews) -> dict[str, bytes]:
    """Every model input the stages derive from the shop, as bytes: training data, test-time and production vectors.

    `production_text` is what production scoring swaps into a text model; `production_scores` what
    the score stage writes with such a model saved as the candidate.
    """
    from shopseq.io import write_json
    from shopseq.sequences.models import ModelConfig, NextItemModel
    from shopseq.sequences.recommender import Recommender, load_recommender, save_recommender
    from shopseq.sequences.text_vectors import use_production_text_vectors
    from shopseq.stages import embed, score, sequences
    from shopseq.training.data import load_training_data, use_text_vectors_as_of

    write_shop(root, reviews)
    params = load_params()
    embed.run(params)
    sequences.run(params)
    data = load_training_data(params.paths, params.train, params.sequences, params.profiles,
                              params.embed.review_weight, params.base.seed)
    _, test_start = split_cuts(pd.read_parquet("data/validated/events.parquet"), params.sequences)
    # The evaluate stage's path: a trained text model gets the vectors as of the test start.
    config = ModelConfig("gru", n_items=len(data.item_ids), hidden=8, text_dim=data.text_vectors.shape[1])
    torch.manual_seed(0)  # the same weights in every call: only the text vectors may differ
    recommender = Recommender(NextItemModel(config, data.text_vectors.clone()), data.item_ids)
    save_recommender(recommender, params.paths.candidate)  # trained as of the training cut
    write_json(f"{params.paths.champion}/champion.json", {"model_name": "shopseq-next-item", "version": None})
    use_text_vectors_as_of(recommender, params.paths.embeddings, params.embed.review_weight, test_start)
    production = load_recommender(params.paths.candidate)
    assert use_production_text_vectors(production, params.paths.embeddings, params.embed.review_weight) == "all reviews"
    score.run(params)
    return {
        "train_text": data.text_vectors.numpy().tobytes(),
        "windows": repr(data.windows).encode(),
        "valid": data.valid.to_json().encode(),
        "test_text": recommender.model.text_vectors.numpy().tobytes(),
        "production_text": production.model.text_vectors.numpy().tobytes(),
        "production_scores": pd.read_parquet("data/scores/recommendations.parquet").to_json().encode(),
    }


EVALUATION = ("train_text", "windows", "valid", "test_text")  # what training, validation and test scoring read
PRODUCTION = ("production_text", "production_scores")


def dated(days: float, text: str = "Arrived broken, returned it at once.") -> tuple:
    return ("u3", "i1", text, START + pd.Timedelta(days=days))


def test_the_cuts_are_where_the_windows_start(project):
    write_shop(project, BASE_REVIEWS)
    valid_start, test_start = split_cuts(pd.read_parquet("data/validated/events.parquet"), load_params().sequences)
    assert (valid_start, test_start) == (START + pd.Timedelta(days=DAYS - 11, hours=3),
                                         START + pd.Timedelta(days=DAYS - 6, hours=3))


def test_a_review_after_the_test_start_changes_production_scoring_only(project):
    before = inputs(project, BASE_REVIEWS)
    after = inputs(project, [*BASE_REVIEWS, dated(DAYS - 2)])
    assert {k: after[k] == before[k] for k in EVALUATION} == dict.fromkeys(EVALUATION, True)
    assert {k: after[k] == before[k] for k in PRODUCTION} == dict.fromkeys(PRODUCTION, False)


def test_a_review_in_the_validation_window_changes_only_the_test_time_and_production_inputs(project):
    before = inputs(project, BASE_REVIEWS)
    after = inputs(project, [*BASE_REVIEWS, dated(DAYS - 8)])
    assert {k: after[k] == before[k] for k in before} == {
        "train_text": True, "windows": True, "valid": True, "test_text": False,
        "production_text": False, "production_scores": False}


def test_a_review_before_the_training_cut_reaches_training(project):
    """The control: the comparison above can fail, a review in the past does change the vectors."""
    before = inputs(project, BASE_REVIEWS)
    after = inputs(project, [*BASE_REVIEWS, dated(5)])
    assert after["train_text"] != before["train_text"] and after["test_text"] != before["test_text"]
    assert after["windows"] == before["windows"]


def audience_check_profiles(root, reviews) -> bytes:
    """The audiences stage's offline-check profiles (as of its holdout start), as bytes."""
    from shopseq.stages import audiences, embed

    write_shop(root, reviews)
    params = load_params()
    embed.run(params)
    events = pd.read_parquet("data/validated/events.parquet")
    items = pd.read_parquet("data/validated/items.parquet")
    frame = audiences._cutoff_profiles(params, events, items)
    return frame.to_json().encode()


def test_a_review_after_the_audience_holdout_start_changes_no_offline_check_profile(project):
    holdout_start = START + pd.Timedelta(days=DAYS - load_params().audiences.holdout_days)
    before = audience_check_profiles(project, BASE_REVIEWS)
    after = audience_check_profiles(project, [*BASE_REVIEWS, dated((holdout_start - START).days + 1)])
    assert after == before
    earlier = audience_check_profiles(project, [*BASE_REVIEWS, dated(5)])
    assert earlier != before  # the control: a review before the cut does reach the profiles
