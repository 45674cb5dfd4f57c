"""Load the sequences stage's outputs (and item text vectors) into what training needs."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from shopseq import schema as s
from shopseq.config import Params
from shopseq.io import read_parquet
from shopseq.training.evaluate import sample_targets
from shopseq.training.fit import make_windows
from shopseq.training.tune import TrainingData

log = logging.getLogger(__name__)


def load_training_data(params: Params) -> TrainingData:
    """Training windows, sampled validation targets and (when `train.use_text`) text vectors."""
    directory = Path(params.paths.sequences)
    vocabulary = read_parquet(directory / "vocabulary.parquet")
    item_ids = vocabulary[s.ITEM_ID].tolist()
    index = {item: i + 1 for i, item in enumerate(item_ids)}
    train = read_parquet(directory / "train.parquet")
    sequences = [[index[item] for item in items] for items in train["items"]]
    valid = sample_targets(read_parquet(directory / "valid.parquet"), params.train.valid_targets, params.base.seed)
    text = load_text_vectors(Path(params.paths.embeddings) / "items.npz", item_ids) if params.train.use_text else None
    return TrainingData(
        sequences=[[str(item) for item in items] for items in train["items"]],
        windows=make_windows(sequences, params.train.max_len),
        valid=valid,
        item_ids=item_ids,
        text_vectors=text,
    )


def load_text_vectors(path: Path, item_ids: list[str]) -> torch.Tensor:
    """(len(item_ids) + 1, D) text vectors in vocabulary order; zeros for padding and items without text."""
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run the embed stage, or set train.use_text: false")
    stored = np.load(path, allow_pickle=False)
    vectors = stored["vectors"].astype(np.float32)
    position = {item: i for i, item in enumerate(stored["ids"].tolist())}
    out = np.zeros((len(item_ids) + 1, vectors.shape[1]), dtype=np.float32)
    found = [(row + 1, position[item]) for row, item in enumerate(item_ids) if item in position]
    if found:
        rows, sources = map(list, zip(*found))
        out[rows] = vectors[sources]
    if missing := len(item_ids) - len(found):
        log.warning("%d of %d items have no text vector; they use a zero vector", missing, len(item_ids))
    return torch.from_numpy(out)
