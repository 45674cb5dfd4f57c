"""The training loop for one set of hyperparameters: windows of item sequences, full or sampled softmax CE."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from shopseq.progress import progress
from shopseq.training import distributed
from shopseq.sequences.models import NextItemModel, pad_batch
from shopseq.sequences.sampled_loss import NegativeSampler

log = logging.getLogger(__name__)


class StopTraining(Exception):
    """Raised by an epoch callback to end training early (an Optuna prune)."""


def make_windows(sequences: list[list[int]], max_len: int) -> list[list[int]]:
    """Cut each sequence into windows of at most `max_len + 1` items (inputs + shifted targets).

    Windows step back from the end by `max_len`, so every transition is a training target once
    and the most recent behaviour is always inside a full window.
    """
    windows = []
    for seq in sequences:
        end = len(seq)
        while end >= 2:
            windows.append(seq[max(0, end - max_len - 1) : end])
            end -= max_len
    return windows


@dataclass(frozen=True)
class WindowProfiles:
    """The profile each training window's input positions read: rows of `table` (R, P), row 0 zeros."""

    table: torch.Tensor  # (R, P)
    rows: list[list[int]]  # per window, one table row per input position (len(window) - 1)

    def batch(self, windows: list[int], length: int) -> torch.Tensor:
        """(B, length, P) profiles of the windows at `windows`; padding positions get row 0."""
        index = torch.zeros(len(windows), length, dtype=torch.long)  # (B, T)
        for b, w in enumerate(windows):
            rows = self.rows[w][:length]
            index[b, : len(rows)] = torch.tensor(rows, dtype=torch.long)
        return self.table[index]  # (B, T, P)


def fit(
    model: NextItemModel,
    windows: list[list[int]],
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    seed: int,
    on_epoch: Callable[[int, float], None] | None = None,
    progress_mode: str = "auto",
    profiles: WindowProfiles | None = None,
    sampler: NegativeSampler | None = None,
) -> list[float]:
    """Train `model` in place with Adam; return the mean training loss of each epoch.

    `on_epoch(epoch, loss)` runs after every epoch (validation, logging, pruning); it may raise
    StopTraining to end early. `profiles`: the profile of each window's input positions, for a
    model with a profile input. `sampler`: train with the sampled softmax (None: full softmax).
    """
    if profiles is not None and len(profiles.rows) != len(windows):
        raise ValueError(f"profiles: {len(profiles.rows)} rows for {len(windows)} windows")
    device = next(model.parameters()).device
    distributed.broadcast_parameters(model)
    optimizers = make_optimizers(model, lr, weight_decay, sparse_items=sampler is not None)
    order = random.Random(seed)
    losses: list[float] = []
    for epoch in range(1, epochs + 1):
        model.train()
        shuffled = list(range(len(windows)))
        order.shuffle(shuffled)
        batches = [shuffled[i : i + batch_size] for i in range(0, len(shuffled), batch_size)]
        total, count = 0.0, 0
        for batch in progress(batches, f"epoch {epoch}/{epochs}", mode=progress_mode, unit="batch"):
            mine = distributed.shard(batch)  # the whole batch, or this process's share under torchrun
            if not mine:
                continue  # a last batch smaller than the number of processes: skipped by every process
            seq, lengths = pad_batch([windows[i] for i in mine], model.config.max_len + 1)
            inputs, targets = seq[:, :-1], seq[:, 1:]  # (B, T-1) each; 0 marks padding
            profile = None if profiles is None else profiles.batch(mine, inputs.shape[1]).to(device)  # (B, T-1, P)
            loss = model.calculate_loss(inputs.to(device), (lengths - 1).clamp(min=1).to(device), targets.to(device),
                                        profile, sampler)
            for optimizer in optimizers:
                optimizer.zero_grad(set_to_none=True)
            loss.backward()
            distributed.share_gradients(model, len(mine) / len(batch))
            clip_gradients(model.parameters(), 5.0)
            for optimizer in optimizers:
                optimizer.step()
            total += loss.item() * len(mine)
            count += len(mine)
        total, count = distributed.sum_across(total, device), distributed.sum_across(count, device)
        losses.append(total / max(count, 1))
        log.info("epoch %d/%d: train loss %.4f", epoch, epochs, losses[-1])
        if on_epoch is not None:
            try:
                on_epoch(epoch, losses[-1])
            except StopTraining:
                log.info("stopped after epoch %d", epoch)
                break
    return losses


def make_optimizers(model: NextItemModel, lr: float, weight_decay: float, sparse_items: bool) -> list[torch.optim.Optimizer]:
    """AdamW over every parameter; with `sparse_items`, a lazy Adam for the item embedding table.

    With the sampled loss a step touches only the items in its batch and its candidates, so the
    table gets sparse gradients and `SparseAdam` updates only those rows: a step's cost then does
    not grow with the catalogue (a dense gradient and AdamW pass over 1M x 64 would cost more
    than the rest of the step). The table takes no weight decay then (`train.defaults.weight_decay`
    is 0).
    """
    model.item_embedding.sparse = sparse_items
    if not sparse_items:
        return [torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)]
    table = model.item_embedding.weight
    rest = [p for p in model.parameters() if p is not table]
    return [torch.optim.SparseAdam([table], lr=lr), torch.optim.AdamW(rest, lr=lr, weight_decay=weight_decay)]


def clip_gradients(parameters, max_norm: float) -> float:
    """Scale all gradients, sparse ones included, so that their joint L2 norm is at most `max_norm`; return the norm."""
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return 0.0
    norms = [(g.coalesce().values() if g.is_sparse else g).norm() for g in grads]
    total = float(torch.stack(norms).norm())
    if total > max_norm:
        for g in grads:
            g.mul_(max_norm / (total + 1e-6))
    return total


def negative_sampler(windows: list[list[int]], n_items: int, negatives: int, sampling: str, in_batch: bool,
                     seed: int) -> NegativeSampler:
    """The sampled loss's sampler, with item popularity counted over the training windows' targets."""
    targets = [item for window in windows for item in window[1:]]
    counts = np.bincount(np.asarray(targets, dtype=np.int64), minlength=n_items + 1)  # (N+1,)
    return NegativeSampler(counts, negatives, sampling, in_batch, seed)


def resolve_device(name: str) -> torch.device:
    """`auto` -> CUDA when present, else CPU; `cuda` without a GPU is an error that says so."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("base.device is 'cuda' but no CUDA device is available; use 'auto' or 'cpu'")
    return torch.device(name)

