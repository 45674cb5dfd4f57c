"""Serving-time speed-up: fold the item text vectors into the item table once, at load time.

A model trained with text side information computes every item's vector as its embedding plus the
projected text vector, twice per call (input and output layer). For a single request that
projection (catalogue x text_dim x hidden) costs more than the sequence encoder itself. The
weights are frozen while serving, so the sum is computed once and becomes a plain item table:
the scores are identical and a request costs a fraction of the CPU.
"""

from __future__ import annotations

import dataclasses

import torch

from shopseq.sequences.models import NextItemModel
from shopseq.sequences.recommender import Recommender

TEXT_WEIGHTS = ("text_vectors", "text_projection.")


def fold_text_vectors(recommender: Recommender) -> Recommender:
    """The same recommender without a text branch: item table = embedding + projected text."""
    model = recommender.model
    if not model.config.text_dim:
        return recommender
    device = next(model.parameters()).device
    with torch.inference_mode():
        table = model.item_vectors().detach().clone()  # (N+1, H)
    folded = NextItemModel(dataclasses.replace(model.config, text_dim=0))
    state = {name: value for name, value in model.state_dict().items() if not name.startswith(TEXT_WEIGHTS)}
    state["item_embedding.weight"] = table
    folded.load_state_dict(state)
    return Recommender(folded.to(device), recommender.item_ids, recommender.meta, recommender.blend, recommender.profiles)
