"""Load the sequences stage's outputs (and item text vectors, user profiles) into what training needs.

Every function takes its own params sections (`paths`, `train`, `sequences`, `profiles`) or plain
values, never the whole `Params`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import torch

from shopseq import schema as s
from shopseq.config import Paths, Profiles, Sequences, Train
from shopseq.io import read_parquet
from shopseq.profiles.inputs import ProfileInputs
from shopseq.sequences.split import ITEMS, split_cuts
from shopseq.sequences.text_vectors import (  # noqa: F401  (use_text_vectors_as_of, vocabulary_rows: older import path)
    load_text_vectors,
    use_text_vectors_as_of,
    vocabulary_rows,
)
from shopseq.training.evaluate import sample_targets
from shopseq.training.fit import WindowProfiles, make_windows
from shopseq.training.tune import TrainingData

log = logging.getLogger(__name__)


def load_training_data(
    paths: Paths, config: Train, sequences: Sequences, profiles: Profiles, review_weight: float, seed: int
) -> TrainingData:
    """The train stage's inputs from the sequences stage's files (and the embeddings, validated events when asked for).

    Item text vectors fuse only the reviews written before the training cut (the validation
    start): a review from the validation or test window would tell the model what was bought then.
    With `config.use_profile`, profiles are built from the validated events, point in time
    (`profiles.inputs`): validation reads them as of the split's training cut, each training
    position as of a snapshot before its own step. `review_weight`: `embed.review_weight`.
    """
    directory = Path(paths.sequences)
    item_ids = read_parquet(directory / "vocabulary.parquet")[s.ITEM_ID].tolist()
    text = None
    if config.use_text:
        training_cut, _ = split_cuts(read_parquet(Path(paths.validated) / "events.parquet"), sequences)
        text = load_text_vectors(paths.embeddings, review_weight, item_ids, training_cut)
    user_profiles = load_profiles(paths.validated, sequences, profiles) if config.use_profile else None
    return training_data(read_parquet(directory / "train.parquet"), item_ids, read_parquet(directory / "valid.parquet"),
                         config, seed, text, user_profiles)


def training_data(
    train: pd.DataFrame,
    item_ids: list[str],
    valid: pd.DataFrame,
    config: Train,
    seed: int,
    text_vectors: torch.Tensor | None = None,
    profiles: ProfileInputs | None = None,
) -> TrainingData:
    """What a trial trains on, from a split in memory: training windows, sampled validation targets, side inputs.

    The one builder the train stage (`load_training_data`) and `shopseq benchmark quality` share.
    `train`: the split's training sequences (user_id, items); `item_ids`: its vocabulary, the
    model's columns; `valid`: its validation targets, `config.valid_targets` of them sampled with
    `seed`; `text_vectors`: (len(item_ids) + 1, D) or None; `profiles`: the split's point-in-time
    user profiles or None.
    """
    index = {item: i + 1 for i, item in enumerate(item_ids)}
    users = train[s.USER_ID].astype(str).tolist()
    return TrainingData(
        sequences=[[str(item) for item in items] for items in train[ITEMS]],
        windows=make_windows([[index[item] for item in items] for items in train[ITEMS]], config.max_len),
        valid=sample_targets(valid, config.valid_targets, seed),
        item_ids=item_ids,
        text_vectors=text_vectors,
        profiles=None if profiles is None else profiles.final,
        window_profiles=None if profiles is None else window_profiles(profiles, users, config.max_len),
    )


def load_profiles(validated: str | Path, sequences: Sequences, profiles: Profiles) -> ProfileInputs:
    """User profiles of the split (evaluation table and training snapshots) from the validated events and items."""
    from shopseq.profiles.inputs import build_profile_inputs

    validated = Path(validated)
    events = read_parquet(validated / "events.parquet")
    items = read_parquet(validated / "items.parquet")
    return build_profile_inputs(events, items, sequences, profiles)


def window_profiles(profiles: ProfileInputs, users: list[str], max_len: int) -> WindowProfiles:
    """Point-in-time profiles of every training window's positions; `users`: the training sequences' users."""
    table, per_step = profiles.step_rows(users)
    windows = [window[:-1] for rows in per_step for window in make_windows([rows], max_len)]  # input positions
    return WindowProfiles(torch.from_numpy(table), windows)
