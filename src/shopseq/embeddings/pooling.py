"""Token vectors -> one vector per text: mean over real tokens, or the [CLS] token."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average token vectors over the attention mask, so padding never moves a text's vector.

    Args:
        hidden: last hidden states, (B, T, H).
        attention_mask: 1 for real tokens, 0 for padding, (B, T).

    Returns:
        (B, H) mean of the real tokens' vectors.
    """
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
    summed = (hidden * mask).sum(dim=1)  # (B, H)
    counts = mask.sum(dim=1).clamp(min=1e-9)  # (B, 1); a text always has [CLS] and [SEP]
    return summed / counts  # (B, H)


def cls_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The first token's vector ([CLS]); padding sits on the right, so it is never pooled.

    Args:
        hidden: last hidden states, (B, T, H).
        attention_mask: unused, kept for one signature with `mean_pool`, (B, T).

    Returns:
        (B, H) the [CLS] vectors.
    """
    return hidden[:, 0]  # (B, H)


POOLERS = {"mean": mean_pool, "cls": cls_pool}


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """Pool with `pooling` ("mean" or "cls") in fp32 and L2-normalise: (B, T, H) -> (B, H)."""
    pooled = POOLERS[pooling](hidden.float(), attention_mask)  # (B, H), fp32 even under autocast
    return F.normalize(pooled, p=2, dim=1)  # (B, H), unit length
