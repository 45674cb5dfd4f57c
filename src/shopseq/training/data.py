"""Load the sequences stage's outputs (and item text vectors, user profiles) into what training needs.

Every function takes its own params sections (`paths`, `train`, `sequences`, `profiles`) or plain
values, never the whole `Params`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from shopseq import schema as s
from shopseq.config import Paths, Profiles, Sequences, Train
from shopseq.io import read_parquet
from shopseq.profiles.inputs import ProfileInputs
from shopseq.sequences.split import ITEMS, split_cuts
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


def load_text_vectors(
    embeddings: str | Path, review_weight: float, item_ids: list[str], cut: pd.Timestamp | None
) -> torch.Tensor:
    """(len(item_ids) + 1, D) text vectors as of `cut`, in vocabulary order; zeros for padding and items without text.

    `embeddings`: the embed stage's directory (`paths.embeddings`); `review_weight`:
    `embed.review_weight`; `cut`: only reviews written before it are fused in (None: every review,
    production).
    """
    from shopseq.embeddings.text import load_item_vectors_as_of

    directory = Path(embeddings)
    if not directory.exists():
        raise FileNotFoundError(f"{directory} not found: run the embed stage, or set train.use_text: false")
    stored = load_item_vectors_as_of(directory, cut, review_weight)
    return vocabulary_rows(stored.ids, stored.vectors, item_ids)


def vocabulary_rows(ids: np.ndarray, vectors: np.ndarray, item_ids: list[str]) -> torch.Tensor:
    """(len(item_ids) + 1, D) rows of `vectors` (one per id of `ids`) in `item_ids` order; row 0 and unknown ids zero."""
    vectors = np.asarray(vectors, dtype=np.float32)
    position = pd.Series(np.arange(len(vectors)), index=np.asarray(ids).astype(str))
    position = position[~position.index.duplicated(keep="last")]  # a repeated id: its last vector
    sources = position.reindex(pd.Index(item_ids, dtype=str)).fillna(-1).to_numpy(dtype=np.int64)  # (N,), -1: no text
    out = np.zeros((len(item_ids) + 1, vectors.shape[1]), dtype=np.float32)
    found = np.flatnonzero(sources >= 0)
    out[found + 1] = vectors[sources[found]]
    if missing := len(item_ids) - len(found):
        log.warning("%d of %d items have no text vector; they use a zero vector", missing, len(item_ids))
    return torch.from_numpy(out)


def use_text_vectors_as_of(
    recommender, embeddings: str | Path, review_weight: float, cut: pd.Timestamp | None
) -> None:
    """Swap a text-using model's item text vectors for those as of `cut`, in place (evaluation and scoring).

    A model trains with the vectors as of its training cut; test scoring may read every review
    before the test start, production every review. A model without text is left as it is, and
    so is one whose vectors come from another encoder (a different width), with a warning.
    `embeddings`, `review_weight`: as `load_text_vectors` takes them.
    """
    model = recommender.model
    if not model.config.text_dim:
        return
    table = load_text_vectors(embeddings, review_weight, recommender.item_ids, cut)  # (N+1, D)
    if tuple(table.shape) != tuple(model.text_vectors.shape):
        log.warning("text vectors as of %s have shape %s, the model's %s: keeping the model's own",
                    cut, tuple(table.shape), tuple(model.text_vectors.shape))
        return
    with torch.no_grad():
        model.text_vectors.copy_(table.to(model.text_vectors.device))
