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

Choosing the precision lives here, below the encoder (`model`, `encode`); checking that bf16
is safe on the texts at hand encodes them and so lives above, in `precision_check`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "bf16")
# x86 features with native bf16 matrix math (oneDNN uses them for bf16 matmuls).
NATIVE_BF16_FEATURES = ("amx_bf16", "avx512_bf16")


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
