"""Load the sequences stage's outputs (and item text vectors, user profiles) into what training needs."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from shopseq import schema as s
from shopseq.config import Params
from shopseq.io import read_parquet
from shopseq.profiles.inputs import ProfileInputs
from shopseq.sequences.split import split_cuts
from shopseq.sequences.text_vectors import (  # noqa: F401  (use_text_vectors_as_of, vocabulary_rows: older import path)
    load_text_vectors,
    use_text_vectors_as_of,
    vocabulary_rows,
)
from shopseq.training.evaluate import sample_targets
from shopseq.training.fit import WindowProfiles, make_windows
from shopseq.training.tune import TrainingData

log = logging.getLogger(__name__)


def load_training_data(params: Params) -> TrainingData:
    """Training windows, sampled validation targets, text vectors and user profiles (when asked for).

    Item text vectors fuse only the reviews written before the training cut (the validation
    start): a review from the validation or test window would tell the model what was bought then.
    With `train.use_profile`, profiles are built from the validated events, point in time
    (`profiles.inputs`): validation reads them as of the split's training cut, each training
    position as of a snapshot before its own step.
    """
    directory = Path(params.paths.sequences)
    vocabulary = read_parquet(directory / "vocabulary.parquet")
    item_ids = vocabulary[s.ITEM_ID].tolist()
    index = {item: i + 1 for i, item in enumerate(item_ids)}
    train = read_parquet(directory / "train.parquet")
    sequences = [[index[item] for item in items] for items in train["items"]]
    valid = sample_targets(read_parquet(directory / "valid.parquet"), params.train.valid_targets, params.base.seed)
    text = None
    if params.train.use_text:
        training_cut, _ = split_cuts(read_parquet(Path(params.paths.validated) / "events.parquet"), params.sequences)
        text = load_text_vectors(params, item_ids, training_cut)
    profiles = load_profiles(params) if params.train.use_profile else None
    users = train[s.USER_ID].astype(str).tolist()
    return TrainingData(
        sequences=[[str(item) for item in items] for items in train["items"]],
        windows=make_windows(sequences, params.train.max_len),
        valid=valid,
        item_ids=item_ids,
        text_vectors=text,
        profiles=None if profiles is None else profiles.final,
        window_profiles=None if profiles is None else window_profiles(profiles, users, params.train.max_len),
    )


def load_profiles(params: Params) -> ProfileInputs:
    """User profiles of the split (evaluation table and training snapshots) from the validated events and items."""
    from shopseq.profiles.inputs import build_profile_inputs

    validated = Path(params.paths.validated)
    events = read_parquet(validated / "events.parquet")
    items = read_parquet(validated / "items.parquet")
    return build_profile_inputs(events, items, params.sequences, params.profiles)


def window_profiles(profiles: ProfileInputs, users: list[str], max_len: int) -> WindowProfiles:
    """Point-in-time profiles of every training window's positions; `users`: the training sequences' users."""
    table, per_step = profiles.step_rows(users)
    windows = [window[:-1] for rows in per_step for window in make_windows([rows], max_len)]  # input positions
    return WindowProfiles(torch.from_numpy(table), windows)
