"""A trained next-item model together with its item vocabulary, saved as one directory.

The directory (`model.pt`, `config.json`, `items.json`, `meta.json`) is what DVC versions as
`models/candidate`, what MLflow stores as the registered model's artifacts, and what evaluation,
audiences and serving load. Callers speak in item ids; indices stay inside.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from shopseq.io import atomic_dir
from shopseq.sequences.models import ModelConfig, NextItemModel, pad_batch

MODEL_FILES = ("model.pt", "config.json", "items.json", "meta.json")


class Recommender:
    """Scores every catalogue item as the next step after each history of item ids."""

    def __init__(self, model: NextItemModel, item_ids: list[str], meta: dict | None = None) -> None:
        self.model = model.eval()
        self.item_ids = list(item_ids)
        self.meta = meta or {}
        self._index = {item: i + 1 for i, item in enumerate(self.item_ids)}

    def encode(self, history: list[str]) -> list[int]:
        """Item ids -> model indices; items the model never saw are skipped."""
        return [self._index[item] for item in history if item in self._index]

    @torch.inference_mode()
    def score(self, histories: list[list[str]], batch_size: int = 512) -> np.ndarray:
        """(n_histories, n_items) scores, columns in `item_ids` order; higher = more likely next."""
        self.model.eval()
        device = next(self.model.parameters()).device
        out = np.empty((len(histories), len(self.item_ids)), dtype=np.float32)
        for start in range(0, len(histories), batch_size):
            chunk = [self.encode(h) for h in histories[start : start + batch_size]]
            seq, lengths = pad_batch(chunk, self.model.config.max_len)
            scores = self.model.full_sort_predict(seq.to(device), lengths.to(device))  # (B, N+1)
            out[start : start + len(chunk)] = scores[:, 1:].float().cpu().numpy()
        return out


def save_recommender(recommender: Recommender, directory: str | Path) -> None:
    """Write the model directory atomically (a crash never leaves half a model behind)."""
    with atomic_dir(directory) as tmp:
        torch.save(recommender.model.state_dict(), tmp / "model.pt")
        (tmp / "config.json").write_text(json.dumps(recommender.model.config.to_dict(), indent=2))
        (tmp / "items.json").write_text(json.dumps(recommender.item_ids))
        (tmp / "meta.json").write_text(json.dumps(recommender.meta, indent=2, sort_keys=True, default=str))


def load_recommender(directory: str | Path, device: str = "cpu") -> Recommender:
    """Load a model directory written by `save_recommender`."""
    directory = Path(directory)
    missing = [name for name in MODEL_FILES if not (directory / name).exists()]
    if missing:
        raise FileNotFoundError(f"{directory} is not a shopseq model directory: missing {', '.join(missing)}")
    config = ModelConfig(**json.loads((directory / "config.json").read_text()))
    state = torch.load(directory / "model.pt", map_location=device, weights_only=True)
    text_vectors = state.get("text_vectors")
    model = NextItemModel(config, text_vectors=text_vectors)
    model.load_state_dict(state)
    items = json.loads((directory / "items.json").read_text())
    meta = json.loads((directory / "meta.json").read_text())
    return Recommender(model.to(device), items, meta)


def update_meta(directory: str | Path, **facts) -> None:
    """Add facts to a saved model's meta.json (e.g. the MLflow model URI once it is logged)."""
    from shopseq.io import write_json

    path = Path(directory) / "meta.json"
    write_json(path, {**json.loads(path.read_text()), **facts})
