"""A trained next-item model together with its item vocabulary, saved as one directory.

The directory (`model.pt`, `config.json`, `items.json`, `meta.json`, `blend.json` +
`blend_sequences.json` for a blended model, and `profiles.npz`, the user profile vectors as of
the training cut, for a model with a profile input) is what DVC versions as `models/candidate`, what
MLflow stores as the registered model's artifacts, and what evaluation, audiences and serving
load. Callers speak in item ids; indices stay inside.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from shopseq.io import atomic_dir
from shopseq.profiles.inputs import PROFILES_FILE, UserProfiles
from shopseq.sequences.models import ModelConfig, NextItemModel, pad_batch
from shopseq.sequences.streaming import chunk_size, summarise

MODEL_FILES = ("model.pt", "config.json", "items.json", "meta.json")
BLEND_FILES = ("blend.json", "blend_sequences.json")


@dataclass
class Blend:
    """A neighbourhood baseline mixed into the model's scores: a weighted hybrid.

    Simple neighbourhood methods are strong on shop data, and a weighted hybrid of a neural
    model with one is better than either (Ludewig & Jannach, "Evaluation of session-based
    recommendation algorithms", 2018). Scores become `(1 - weight) * softmax(model) + weight *
    neighbourhood`, where the neighbourhood's evidence is normalised to sum to one per history.
    The baseline is refitted from `sequences` (the training sequences, saved with the model),
    so the blend is part of the model wherever it is loaded. `training.blend.fit_blend` picks
    `kind` and `weight` on validation targets.
    """

    kind: str  # markov | item_knn | session_knn
    weight: float  # the neighbourhood's share, in (0, 1)
    sequences: list[list[str]] = field(repr=False)
    settings: dict[str, Any] = field(default_factory=dict)  # BaselineSettings fields
    _scorer: Any = field(default=None, init=False, repr=False)

    def scorer(self, item_ids: list[str]):
        """The fitted baseline, with columns in `item_ids` order (fitted once, then reused)."""
        if self._scorer is None:
            from shopseq.sequences.baselines import (
                BaselineSettings,
                fit_baselines,
                vocabulary_of,
            )

            vocabulary = vocabulary_of(self.sequences, item_ids)
            settings = BaselineSettings(**self.settings)
            self._scorer = fit_baselines([self.kind], self.sequences, vocabulary, settings)[self.kind]
        return self._scorer

    def mix_chunks(
        self, model_chunks: Callable[[], Iterable[tuple[int, np.ndarray]]], histories: list[list[str]], item_ids: list[str]
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Blend the model's logits, slice by slice, with the baseline for the same histories: log-probabilities.

        `model_chunks()` yields the model's (n, C) logit slices; it is called twice (the softmax
        needs the whole catalogue's normaliser before any slice can be mixed). The baseline's
        evidence is sparse, so nothing here holds (n x catalogue). Logs, so that every
        consumer's softmax over `Recommender.score` gives the blended probabilities exactly
        (finite: the model's share keeps every item above zero).
        """
        log_normaliser = summarise(model_chunks(), len(histories), 1).log_normaliser  # (n,)
        evidence, share = self.evidence_shares(histories, item_ids)  # (n, I) sparse, (n, 1)
        for start, logits in model_chunks():
            part = evidence[:, start : start + logits.shape[1]].toarray()  # (n, C) evidence share
            probabilities = np.exp(logits.astype(np.float64) - log_normaliser[:, None])  # (n, C)
            yield start, np.log((1.0 - share) * probabilities + share * part).astype(np.float32)

    def evidence_shares(self, histories: list[list[str]], item_ids: list[str]):
        """Each history's baseline evidence normalised to sum to one, (n, I) sparse, and the baseline's share (n, 1).

        The share is `weight`, or 0 for a history without any evidence (no evidence, no say).
        """
        from scipy import sparse

        evidence = self.scorer(item_ids).evidence(histories)  # (n, I) sparse, positive
        totals = np.asarray(evidence.sum(axis=1), dtype=np.float64).ravel()  # (n,)
        share = np.where(totals > 0, self.weight, 0.0)[:, None]  # (n, 1)
        per_unit = 1.0 / np.where(totals > 0, totals, 1.0)  # (n,)
        return sparse.csr_matrix(sparse.diags(per_unit) @ evidence), share


def mix_scores(model_scores: np.ndarray, neighbour_scores: np.ndarray, weight: float) -> np.ndarray:
    """`(1 - weight) * softmax(model_scores) + weight * evidence share`, row by row: (n, n_items).

    A baseline's evidence is its positive scores (no evidence scores below zero); a history with
    no evidence at all keeps the model's probabilities alone. Each row sums to one.
    """
    shifted = model_scores - model_scores.max(axis=1, keepdims=True)
    probabilities = np.exp(shifted, dtype=np.float64)
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    evidence = np.clip(neighbour_scores, 0.0, None).astype(np.float64)
    totals = evidence.sum(axis=1, keepdims=True)
    evidence = np.divide(evidence, totals, out=np.zeros_like(evidence), where=totals > 0)
    share = np.where(totals > 0, weight, 0.0)  # (n, 1): no evidence, no say
    return ((1.0 - share) * probabilities + share * evidence).astype(np.float32)


class Recommender:
    """Scores every catalogue item as the next step after each history of item ids.

    A model with a profile input carries `profiles`, the table it was trained with: callers that
    know the user behind each history pass `profile_vectors(user_ids)` to `score`; histories
    without one (ad-hoc sequences) score with the zero profile, the average user.
    """

    def __init__(
        self,
        model: NextItemModel,
        item_ids: list[str],
        meta: dict | None = None,
        blend: Blend | None = None,
        profiles: UserProfiles | None = None,
    ) -> None:
        self.model = model.eval()
        self.item_ids = list(item_ids)
        self.meta = meta or {}
        self.blend = blend
        self.profiles = profiles
        if model.config.profile_dim and profiles is not None and profiles.dim != model.config.profile_dim:
            raise ValueError(f"profiles have {profiles.dim} features; the model expects {model.config.profile_dim}")
        self._index = {item: i + 1 for i, item in enumerate(self.item_ids)}
        self.candidate_index = None  # serving.index.CandidateIndex: the service attaches one for large catalogues

    @property
    def item_index(self) -> dict[str, int]:
        """Item id -> model index (1..N), built once: membership tests without a per-request catalogue scan."""
        return self._index

    def encode(self, history: list[str]) -> list[int]:
        """Item ids -> model indices; items the model never saw are skipped."""
        return [self._index[item] for item in history if item in self._index]

    def profile_vectors(self, user_ids) -> np.ndarray | None:
        """(n, P) profile rows for `user_ids` (zeros for unknown users); None for a model without profiles."""
        if not self.model.config.profile_dim or self.profiles is None:
            return None
        return self.profiles.vectors_for(list(user_ids))

    def score(
        self, histories: list[list[str]], batch_size: int = 512, profiles: np.ndarray | None = None
    ) -> np.ndarray:
        """(n_histories, n_items) scores, columns in `item_ids` order; higher = more likely next.

        Their softmax is the next-item probability: the model's logits, or with a blend the log of
        the blended probabilities. `profiles` (n_histories, P): each history's user profile (see
        `profile_vectors`); None scores every history with the zero profile.
        """
        return _concat_columns(self.score_chunks(histories, profiles=profiles, batch_size=batch_size), len(histories))

    def score_chunks(
        self,
        histories: list[list[str]],
        chunk: int | None = None,
        profiles: np.ndarray | None = None,
        batch_size: int = 512,
    ) -> Iterator[tuple[int, np.ndarray]]:
        """`score`'s columns `chunk` at a time: yields (first column, (n_histories, C)).

        Memory is bounded by (n_histories x chunk) whatever the catalogue size; `chunk` defaults
        to `streaming.chunk_size(n_histories)`. Consumers keep running results (`streaming.summarise`).
        """
        chunk = chunk or chunk_size(len(histories))

        def model_chunks() -> Iterator[tuple[int, np.ndarray]]:
            return self.model_chunks(histories, chunk, profiles, batch_size)

        return model_chunks() if self.blend is None else self.blend.mix_chunks(model_chunks, histories, self.item_ids)

    def model_scores(
        self, histories: list[list[str]], batch_size: int = 512, profiles: np.ndarray | None = None
    ) -> np.ndarray:
        """The neural model's own (n_histories, n_items) logits, without any blend."""
        chunks = self.model_chunks(histories, chunk_size(len(histories)), profiles, batch_size)
        return _concat_columns(chunks, len(histories))

    def model_chunks(
        self, histories: list[list[str]], chunk: int, profiles: np.ndarray | None = None, batch_size: int = 512
    ) -> Iterator[tuple[int, np.ndarray]]:
        """The neural model's own logits, `chunk` catalogue columns at a time: yields (first column, (n, C))."""
        self.model.eval()
        with torch.inference_mode():
            batches = self._last_states(histories, profiles, batch_size)  # the encoder runs once per history
        for start in range(0, len(self.item_ids), chunk):
            stop = min(start + chunk, len(self.item_ids))
            with torch.inference_mode():
                # Item index = column + 1 (index 0 is padding).
                parts = [self.model.score_items(last, seq, lengths, start + 1, stop + 1) for seq, lengths, last in batches]
            yield start, torch.cat(parts).float().cpu().numpy() if parts else np.zeros((0, stop - start), np.float32)

    def query_states(
        self, histories: list[list[str]], profiles: np.ndarray | None = None, batch_size: int = 512
    ) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """(seq (B, T), lengths (B,), last state (B, H)) per batch of histories: the queries scoring multiplies with the item table."""
        self.model.eval()
        with torch.inference_mode():
            return self._last_states(histories, profiles, batch_size)

    def _last_states(
        self, histories: list[list[str]], profiles: np.ndarray | None, batch_size: int
    ) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """(seq (B, T), lengths (B,), last state (B, H)) per batch of `batch_size` histories."""
        device = next(self.model.parameters()).device
        profile_dim = self.model.config.profile_dim
        if profiles is not None and profile_dim and np.shape(profiles) != (len(histories), profile_dim):
            raise ValueError(f"profiles must have shape ({len(histories)}, {profile_dim}); got {np.shape(profiles)}")
        batches = []
        for start in range(0, len(histories), batch_size):
            chunk = [self.encode(h) for h in histories[start : start + batch_size]]
            seq, lengths = pad_batch(chunk, self.model.config.max_len)
            seq, lengths = seq.to(device), lengths.to(device)
            profile = None
            if profile_dim:  # zeros (the average user) where the caller has no profile
                rows = np.zeros((len(chunk), profile_dim), np.float32) if profiles is None else profiles[start : start + len(chunk)]
                profile = torch.as_tensor(np.asarray(rows, dtype=np.float32), device=device)  # (B, P)
            batches.append((seq, lengths, self.model.last_states(seq, lengths, profile)))
        return batches


def _concat_columns(chunks: Iterable[tuple[int, np.ndarray]], n_rows: int) -> np.ndarray:
    """Column slices (first column, (n, C)) in order -> one (n, total columns) float32 matrix."""
    parts = [scores for _, scores in chunks]
    return np.concatenate(parts, axis=1) if parts else np.zeros((n_rows, 0), np.float32)


def save_recommender(recommender: Recommender, directory: str | Path) -> None:
    """Write the model directory atomically (a crash never leaves half a model behind)."""
    with atomic_dir(directory) as tmp:
        torch.save(recommender.model.state_dict(), tmp / "model.pt")
        (tmp / "config.json").write_text(json.dumps(recommender.model.config.to_dict(), indent=2))
        (tmp / "items.json").write_text(json.dumps(recommender.item_ids))
        (tmp / "meta.json").write_text(json.dumps(recommender.meta, indent=2, sort_keys=True, default=str))
        if (blend := recommender.blend) is not None:
            facts = {"kind": blend.kind, "weight": blend.weight, "settings": blend.settings}
            (tmp / "blend.json").write_text(json.dumps(facts, indent=2))
            (tmp / "blend_sequences.json").write_text(json.dumps(blend.sequences))
        if recommender.profiles is not None:
            recommender.profiles.save(tmp / PROFILES_FILE)


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
    blend = None
    if (directory / "blend.json").exists():
        facts = json.loads((directory / "blend.json").read_text())
        sequences = json.loads((directory / "blend_sequences.json").read_text())
        blend = Blend(facts["kind"], float(facts["weight"]), sequences, facts.get("settings", {}))
    profiles = UserProfiles.load(directory / PROFILES_FILE) if (directory / PROFILES_FILE).exists() else None
    return Recommender(model.to(device), items, meta, blend, profiles)


def update_meta(directory: str | Path, **facts) -> None:
    """Add facts to a saved model's meta.json (e.g. the MLflow model URI once it is logged)."""
    from shopseq.io import write_json

    path = Path(directory) / "meta.json"
    write_json(path, {**json.loads(path.read_text()), **facts})
