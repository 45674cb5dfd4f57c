"""Prove bf16 is safe on the texts at hand: encode a sample in fp32 and bf16 and compare.

`shopseq.embeddings.precision` decides what "auto" means on this hardware; this module checks the
decision against the data (stage `embed`). It needs the encoder to do so, so it sits above
`encode` rather than beside the precision choice the encoder itself uses.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from shopseq.config import Embed
from shopseq.embeddings.encode import encode_texts
from shopseq.embeddings.model import Encoder, load_encoder

log = logging.getLogger(__name__)

MIN_COSINE = 0.99  # bf16 is used only where every checked vector keeps this cosine with fp32
CHECK_TEXTS = 64  # texts encoded twice (fp32 and bf16) by `verify_precision`


class PrecisionError(ValueError):
    """bf16 was asked for explicitly but changes the vectors of these texts too much."""


def check_sample(texts: Sequence[str], n: int = CHECK_TEXTS) -> list[str]:
    """Up to `n` distinct texts for the precision check: the longest half, the rest evenly spread.

    Long texts are where bf16 rounding accumulates over the most tokens, so they are always in.
    """
    distinct = list(dict.fromkeys(texts))
    if len(distinct) <= n:
        return distinct
    lengths = np.fromiter(map(len, distinct), dtype=np.int64, count=len(distinct))  # (U,) characters
    by_length = np.argsort(-lengths, kind="stable")  # (U,) longest first
    longest, rest = by_length[: n // 2], by_length[n // 2 :]
    spread = rest[np.linspace(0, len(rest) - 1, n - len(longest)).round().astype(np.int64)]
    return [distinct[i] for i in np.unique(np.concatenate([longest, spread]))]


def verify_precision(encoder: Encoder, texts: Sequence[str], batch_size: int = 64) -> float:
    """Smallest cosine between `encoder`'s vectors of `check_sample(texts)` and their fp32 vectors.

    1.0 when the encoder already runs in fp32 or there is nothing to check.
    """
    sample = check_sample(texts)
    if encoder.precision == "fp32" or not sample:
        return 1.0
    fp32 = dataclasses.replace(encoder, precision="fp32")
    reference = encode_texts(fp32, sample, batch_size, progress_mode="logs")  # (S, H), unit rows
    vectors = encode_texts(encoder, sample, batch_size, progress_mode="logs")  # (S, H), unit rows
    return float(np.min(np.sum(reference * vectors, axis=1)))


def settle_precision(
    encoder: Encoder, texts: Sequence[str], requested: str, batch_size: int = 64, min_cosine: float = MIN_COSINE
) -> tuple[Encoder, float]:
    """Keep bf16 only if it holds cosine >= `min_cosine` with fp32 on a sample of `texts`.

    Under `requested` "auto" a failing check falls back to fp32 with a warning; under an explicit
    "bf16" it is an error, since the user asked for vectors this data cannot get.

    Returns:
        The encoder to use (fp32 after a fallback) and the checked min cosine.

    Raises:
        PrecisionError: `requested` is "bf16" and the check failed.
    """
    cosine = verify_precision(encoder, texts, batch_size)
    if cosine >= min_cosine:
        if encoder.precision != "fp32":
            log.info("embed: bf16 kept, min cosine %.5f with fp32 on %d checked texts", cosine,
                     len(check_sample(texts)))
        return encoder, cosine
    message = (f"embed.precision bf16 gives min cosine {cosine:.4f} < {min_cosine} with fp32 on a sample of "
               "these texts")
    if requested == "bf16":
        raise PrecisionError(f"{message}; set embed.precision to fp32 (or auto, which falls back to fp32)")
    log.warning("%s; falling back to fp32", message)
    return dataclasses.replace(encoder, precision="fp32"), cosine


def load_checked_encoder(config: Embed, device: str, cache_dir: str | Path, texts: Sequence[str]) -> tuple[Encoder, float]:
    """The encoder the `embed` section configures, bf16 kept only where `texts` prove it safe.

    The embed stage and `shopseq benchmark quality` both load their encoder here, so both honour
    `embed.backend` and `embed.precision` alike. `device`: `base.device`; `cache_dir`:
    `paths.embed_cache` (where an ONNX export is kept).

    Returns:
        The encoder and the min cosine `settle_precision` checked.
    """
    encoder = load_encoder(config.model, device, config.max_tokens, config.pooling, config.threads,
                           backend=config.backend, cache_dir=cache_dir, precision=config.precision)
    return settle_precision(encoder, texts, config.precision, config.batch_size)
