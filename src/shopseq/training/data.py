"""Load the sequences stage's outputs (and item text vectors, user profiles) into what training needs."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from shopseq import schema as s
from shopseq.config import Params
from shopseq.io import read_parquet
from shopseq.profiles.inputs import ProfileInputs
from shopseq.training.evaluate import sample_targets
from shopseq.training.fit import WindowProfiles, make_windows
from shopseq.training.tune import TrainingData

log = logging.getLogger(__name__)


def load_training_data(params: Params) -> TrainingData:
    """Training windows, sampled validation targets, text vectors and user profiles (when asked for).

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
    text = load_text_vectors(Path(params.paths.embeddings) / "items.npz", item_ids) if params.train.use_text else None
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


def load_text_vectors(path: Path, item_ids: list[str]) -> torch.Tensor:
    """(len(item_ids) + 1, D) text vectors in vocabulary order; zeros for padding and items without text."""
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run the embed stage, or set train.use_text: false")
    stored = np.load(path, allow_pickle=False)
    vectors = stored["vectors"].astype(np.float32)
    position = pd.Series(np.arange(len(vectors)), index=stored["ids"].astype(str))
    position = position[~position.index.duplicated(keep="last")]  # a repeated id: its last vector
    sources = position.reindex(pd.Index(item_ids, dtype=str)).fillna(-1).to_numpy(dtype=np.int64)  # (N,), -1: no text
    out = np.zeros((len(item_ids) + 1, vectors.shape[1]), dtype=np.float32)
    found = np.flatnonzero(sources >= 0)
    out[found + 1] = vectors[sources[found]]
    if missing := len(item_ids) - len(found):
        log.warning("%d of %d items have no text vector; they use a zero vector", missing, len(item_ids))
    return torch.from_numpy(out)
