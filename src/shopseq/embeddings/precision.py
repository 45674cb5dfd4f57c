"""`embed.precision`: run the encoder in fp32 or under bf16 autocast, and prove bf16 is safe.

bf16 is fast only where the hardware multiplies bf16 natively: CUDA tensor cores, and CPUs with
AMX (`amx_bf16`) or AVX-512 BF16 (`avx512_bf16`). On such a CPU (2 threads, AMX) bf16 autocast
encoded MiniLM ~2.4x faster than fp32, every one of the 2,000 benchmark texts at cosine >= 0.9998
with fp32 (min 0.99987); elsewhere oneDNN emulates bf16 and it is slower than fp32. So "auto"
means bf16 on CUDA and on a CPU with native bf16, fp32 everywhere else.

bf16 is autocast over fp32 weights, not bf16 weights. Casting the weights was ~20% faster still,
but it runs layer norms and softmax in bf16 too (min cosine 0.99975 on the same texts) and would
need a second, fp32 copy of the model for the reference `verify_precision` compares against and
for the fp32 fallback; with autocast one loaded model serves fp32, bf16 and CUDA alike. The
benchmark keeps `bf16_weights` as a candidate to measure that gap.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from shopseq.embeddings.model import Encoder

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "bf16")
# x86 features with native bf16 matrix math (oneDNN uses them for bf16 matmuls).
NATIVE_BF16_FEATURES = ("amx_bf16", "avx512_bf16")
MIN_COSINE = 0.99  # bf16 is used only where every checked vector keeps this cosine with fp32
CHECK_TEXTS = 64  # texts encoded twice (fp32 and bf16) by `verify_precision`


class PrecisionError(ValueError):
    """bf16 was asked for explicitly but changes the vectors of these texts too much."""


def cpu_capabilities() -> Mapping[str, Any]:
    """What this CPU supports, as torch's cpuinfo reads it (`torch.cpu.get_capabilities()`)."""
    import torch

    return torch.cpu.get_capabilities()


def cpu_has_native_bf16(capabilities: Mapping[str, Any] | None = None) -> bool:
    """True when the CPU has bf16 matrix instructions (AMX-BF16 or AVX-512 BF16).

    Not `torch.ops.mkldnn._is_mkldnn_bf16_supported()`: that is also true on plain AVX-512,
    where oneDNN emulates bf16 and runs slower than fp32.

    Args:
        capabilities: `cpu_capabilities()` (None: read them now).
    """
    capabilities = cpu_capabilities() if capabilities is None else capabilities
    return any(bool(capabilities.get(feature, False)) for feature in NATIVE_BF16_FEATURES)


def resolve_precision(precision: str, device: str) -> str:
    """`embed.precision` on `device` ("cpu" or "cuda") -> "fp32" or "bf16".

    "auto" is bf16 on CUDA and on a CPU with native bf16, else fp32. An explicit "bf16" on a
    CPU without native bf16 is honoured (the vectors are as good) with a warning that it is
    slower than fp32 there.

    Raises:
        ValueError: `precision` is not one of `PRECISIONS`.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"embed.precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
    if precision == "fp32":
        return "fp32"
    native = device == "cuda" or cpu_has_native_bf16()
    if precision == "auto":
        return "bf16" if native else "fp32"
    if not native:
        log.warning(
            "embed.precision is bf16 but this CPU has neither AMX-BF16 nor AVX-512 BF16: bf16 is emulated "
            "and slower than fp32 here; set embed.precision to auto or fp32"
        )
    return "bf16"


def autocast_context(device: str, precision: str) -> AbstractContextManager:
    """bf16 autocast on `device` when `precision` is "bf16"; a no-op for "fp32"."""
    import torch

    if precision == "bf16":
        return torch.autocast(device_type=device, dtype=torch.bfloat16)
    return nullcontext()


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
    from shopseq.embeddings.encode import encode_texts

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
