"""`shopseq benchmark embed`: embedding paths side by side on the same texts and model, in one run.

Paths (the contract's names, DESIGN.md):
- `seed_style`: the seed document's way, each text tokenised alone with `padding="max_length"`
  (the model's 512 positions; truncated at `embed.max_tokens` like every path), batches of 16, no
  inference mode. At ~7 texts/s on two cores it is timed on the first
  `seed_style_max` texts only (its `n_texts` says how many).
- `sentence_transformers`: `SentenceTransformer(path).encode(batch_size=64)`, what users would pick.
- `default`: shopseq's `encode_texts` with the params' batch size (fp32, dynamic padding), whatever
  `embed.precision` says: it is the fp32 reference (on CUDA it runs under bf16 autocast, see below).
- `fastest`: the fastest candidate that keeps every vector at cosine >= `min_cosine` with the
  fp32 reference. Candidates that fail the check are listed under `candidates` with
  `accepted: false` and are never chosen; when none beats `default`, `fastest` is `default`.
  Candidates: fp32 torch at other batch sizes, torch int8 (`int8_*`), ONNX Runtime fp32
  (`onnx`, `onnx_batch_32`: `embed.backend: onnx`) and ONNX Runtime int8 (`onnx_int8`:
  `embed.backend: onnx_int8`; `onnx_int8_matmul`: int8 in every MatMul outside attention), bf16
  autocast (`bf16`, `bf16_batch_32`: `embed.precision: bf16`, the `auto` choice on a CPU with AMX
  or AVX-512 BF16) and bf16 weights (`bf16_weights`: benchmark only, the weights cast to bf16).

The fp32 reference is the `default` path's vectors on every text (the unit tests prove they equal
unpadded single-text encoding); `min_cosine_vs_reference` of `seed_style` is over its own texts.
`peak_mb` is the rise of the process's resident memory while the path ran. Every path is warmed up
on the first texts before it is timed.
The incremental run encodes all texts through an empty cache, changes 1% of them and runs again:
`incremental.share_of_full` is the second run's wall time over the first's.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shopseq.benchmarks.quality import PeakMemory
from shopseq.config import Params
from shopseq.io import atomic_path

log = logging.getLogger(__name__)

PATH_NAMES = ("seed_style", "sentence_transformers", "default", "fastest")


@dataclass(frozen=True)
class EmbedBenchOptions:
    """What `shopseq benchmark embed` measures.

    Attributes:
        threads: torch CPU threads for every path (set explicitly so runs compare).
        seed_style_max: texts the slow seed-style path is timed on (a prefix of the file).
        min_cosine: a candidate path is accepted only if every vector keeps this cosine.
        incremental_share: share of texts changed for the incremental run.
        candidates: extra paths tried for `fastest` (see `CANDIDATES`).
        max_texts: use only the first this many texts of the file (None: all).
        device: "cpu", "cuda" or "auto" (on CUDA shopseq's paths run under bf16 autocast, so
            `default` is then the reference only for speed; `seed_style` runs in fp32).
    """

    threads: int = 2
    seed_style_max: int = 200
    min_cosine: float = 0.99
    incremental_share: float = 0.01
    candidates: tuple[str, ...] = ("batch_32", "int8_dynamic", "onnx", "onnx_int8", "onnx_int8_matmul", "bf16")
    max_texts: int | None = None
    device: str = "cpu"

    def __post_init__(self) -> None:
        unknown = set(self.candidates) - set(CANDIDATES)
        if unknown:
            raise ValueError(f"unknown embed candidates {sorted(unknown)}; choose from {sorted(CANDIDATES)}")
        if not 0 < self.incremental_share < 1:
            raise ValueError(f"incremental share must be in (0, 1); got {self.incremental_share}")
        if self.threads < 1:
            raise ValueError(f"threads must be >= 1; got {self.threads}")


def read_texts(path: Path) -> list[str]:
    """Texts from `path`: one per line, or `.jsonl` objects with a `text` field. Blank lines skipped."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"texts file {path} does not exist")
    texts: list[str] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            if path.suffix == ".jsonl":
                try:
                    texts.append(str(json.loads(line)["text"]))
                except (json.JSONDecodeError, KeyError, TypeError) as error:
                    raise ValueError(f"{path}:{number}: not a JSON object with a 'text' field ({error})") from None
            else:
                texts.append(line.rstrip("\n"))
    if not texts:
        raise ValueError(f"texts file {path} holds no texts")
    return texts


def min_cosine(vectors: np.ndarray, reference: np.ndarray) -> float:
    """Smallest row-wise cosine between two (n, d) arrays of the same texts."""
    if vectors.shape != reference.shape:
        raise ValueError(f"shapes differ: {vectors.shape} vs {reference.shape}")
    a = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    b = reference / np.maximum(np.linalg.norm(reference, axis=1, keepdims=True), 1e-12)
    return float(np.min(np.sum(a * b, axis=1)))


def passes_cosine_check(vectors: np.ndarray, reference: np.ndarray, threshold: float = 0.99) -> bool:
    """True when every vector keeps cosine >= `threshold` with its fp32 reference vector."""
    return min_cosine(vectors, reference) >= threshold


# --- the paths -----------------------------------------------------------------------------------


def seed_pad_length(encoder) -> int:
    """What the seed document padded every text to: the model's full length (512 for MiniLM)."""
    limits = [getattr(encoder.model.config, "max_position_embeddings", 512), encoder.tokenizer.model_max_length]
    return int(min(limit for limit in limits if limit and limit < 100_000))


def encode_seed_style(encoder, texts: Sequence[str], batch_size: int = 16) -> np.ndarray:
    """The seed document's way: per-text tokenisation padded to the model's max length, no inference mode.

    Texts are truncated at `encoder.max_tokens` like every other path (so vectors compare), then
    padded to `seed_pad_length` (so the cost is the seed document's).
    """
    import torch

    from shopseq.embeddings.pooling import pool

    pad_to = max(seed_pad_length(encoder), encoder.max_tokens)
    out = np.empty((len(texts), encoder.dim), dtype=np.float32)  # (N, H)
    for start in range(0, len(texts), batch_size):
        chunk = texts[start : start + batch_size]
        encoded = [
            encoder.tokenizer.pad(
                encoder.tokenizer(t, truncation=True, max_length=encoder.max_tokens),
                padding="max_length", max_length=pad_to, return_tensors="pt",
            )
            for t in chunk
        ]
        ids = torch.stack([e["input_ids"] for e in encoded]).to(encoder.device)  # (B, T)
        mask = torch.stack([e["attention_mask"] for e in encoded]).to(encoder.device)  # (B, T)
        with torch.no_grad():
            hidden = encoder.model(input_ids=ids, attention_mask=mask).last_hidden_state  # (B, T, H)
            vectors = pool(hidden, mask, encoder.pooling)  # (B, H)
        out[start : start + len(chunk)] = vectors.cpu().numpy()
    return out


def encode_sentence_transformers(model_path: Path, texts: Sequence[str], max_tokens: int,
                                 device: str = "cpu") -> np.ndarray:
    """sentence-transformers' `encode(batch_size=64)` on the same model directory, normalised."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_path), device=device)
    model.max_seq_length = max_tokens
    return model.encode(list(texts), batch_size=64, normalize_embeddings=True, show_progress_bar=False)


def _batch_path(batch_size: int) -> Callable:
    def build(encoder):
        from shopseq.embeddings.encode import encode_texts

        return lambda texts: encode_texts(encoder, texts, batch_size=batch_size, progress_mode="logs")

    return build


def _int8_dynamic(encoder):
    """torch dynamic int8 on every Linear layer (STACK.md: fails cosine >= 0.99 on AVX2 without VNNI)."""
    import copy

    import torch

    from shopseq.embeddings.encode import encode_texts

    quantized = torch.ao.quantization.quantize_dynamic(copy.deepcopy(encoder.model), {torch.nn.Linear},
                                                       dtype=torch.qint8)
    int8_encoder = dataclasses.replace(encoder, model=quantized)
    return lambda texts: encode_texts(int8_encoder, texts, batch_size=64, progress_mode="logs")


def _int8_ffn_per_channel(encoder):
    """The careful int8 variant: per-channel weights, only the FFN input layers, attention kept fp32."""
    import copy

    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    from shopseq.embeddings.encode import encode_texts

    spec = {name: per_channel_dynamic_qconfig for name, module in encoder.model.named_modules()
            if isinstance(module, torch.nn.Linear) and name.endswith("intermediate.dense")}
    quantized = quantize_dynamic(copy.deepcopy(encoder.model), spec, dtype=torch.qint8)
    int8_encoder = dataclasses.replace(encoder, model=quantized)
    return lambda texts: encode_texts(int8_encoder, texts, batch_size=64, progress_mode="logs")


def _onnx_path(int8_scope: str | None, batch_size: int = 64) -> Callable:
    """ONNX Runtime on the same weights: fp32 (`embed.backend: onnx`) or an int8 scope.

    The graph is exported (and quantised) before the clock starts, and cached under
    `cache_dir`, like `load_encoder` does for the stage.
    """

    def build(encoder, model_path: Path, cache_dir: Path):
        from shopseq.embeddings.encode import encode_texts
        from shopseq.embeddings.onnx_runtime import OnnxEncoderModel, ensure_onnx

        onnx_path = ensure_onnx(model_path, cache_dir, encoder.fingerprint, encoder.max_tokens, int8_scope)
        runtime = OnnxEncoderModel(onnx_path, _torch_threads())
        onnx_encoder = dataclasses.replace(encoder, runtime=runtime, backend="onnx" if int8_scope is None else "onnx_int8")
        return lambda texts: encode_texts(onnx_encoder, texts, batch_size=batch_size, progress_mode="logs")

    return build


def _bf16_autocast(batch_size: int) -> Callable:
    """`embed.precision: bf16`: the same fp32 weights run under bf16 autocast."""

    def build(encoder):
        from shopseq.embeddings.encode import encode_texts

        bf16_encoder = dataclasses.replace(encoder, precision="bf16")
        return lambda texts: encode_texts(bf16_encoder, texts, batch_size=batch_size, progress_mode="logs")

    return build


def _bf16_weights(encoder):
    """The weights cast to bf16 (no autocast): layer norms and softmax in bf16 too. Benchmark only."""
    import copy

    import torch

    from shopseq.embeddings.encode import encode_texts

    bf16_encoder = dataclasses.replace(encoder, model=copy.deepcopy(encoder.model).to(torch.bfloat16), precision="fp32")
    return lambda texts: encode_texts(bf16_encoder, texts, batch_size=64, progress_mode="logs")


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


# name -> builder(encoder, model_path, cache_dir) -> encode(texts) -> (N, H) vectors
CANDIDATES: dict[str, Callable] = {
    "batch_128": lambda encoder, model_path, cache_dir: _batch_path(128)(encoder),
    "batch_32": lambda encoder, model_path, cache_dir: _batch_path(32)(encoder),
    "batch_256": lambda encoder, model_path, cache_dir: _batch_path(256)(encoder),
    "int8_dynamic": lambda encoder, model_path, cache_dir: _int8_dynamic(encoder),
    "int8_ffn_per_channel": lambda encoder, model_path, cache_dir: _int8_ffn_per_channel(encoder),
    "onnx": _onnx_path(None),  # embed.backend: onnx
    "onnx_batch_32": _onnx_path(None, batch_size=32),
    "onnx_int8": _onnx_path("ffn_in"),  # embed.backend: onnx_int8
    "onnx_int8_matmul": _onnx_path("matmul"),  # benchmark only: every MatMul outside attention
    "bf16": lambda encoder, model_path, cache_dir: _bf16_autocast(64)(encoder),  # embed.precision: bf16
    "bf16_batch_32": lambda encoder, model_path, cache_dir: _bf16_autocast(32)(encoder),
    "bf16_weights": lambda encoder, model_path, cache_dir: _bf16_weights(encoder),  # benchmark only
}


# --- the run -------------------------------------------------------------------------------------


def run_embed_benchmark(texts_path: Path, out: Path, params: Params, options: EmbedBenchOptions) -> dict[str, Any]:
    """Measure every path on the texts in `texts_path`; write `out/embed.json` and `out/embed.md`."""
    from shopseq.embeddings.encode import encode_texts
    from shopseq.embeddings.model import (
        configure_threads,
        load_encoder,
        resolve_device,
        resolve_model,
    )
    from shopseq.embeddings.precision import cpu_has_native_bf16

    texts = read_texts(texts_path)
    if options.max_texts is not None:
        texts = texts[: options.max_texts]
    config = params.embed
    device = resolve_device(options.device)
    # `default` is the fp32 reference on CPU; on CUDA it keeps its bf16 autocast (speed reference only)
    encoder = load_encoder(config.model, device=device, max_tokens=config.max_tokens, pooling=config.pooling,
                           threads=options.threads, precision="bf16" if device == "cuda" else "fp32")
    configure_threads(options.threads)
    model_path = resolve_model(config.model).path
    log.info("benchmark embed: %d texts, model %s, %d threads", len(texts), encoder.model_id, options.threads)

    def timed(name: str, run: Callable[[], np.ndarray], n: int) -> tuple[np.ndarray, dict[str, Any]]:
        with PeakMemory() as memory:
            start = time.perf_counter()
            vectors = run()
            seconds = time.perf_counter() - start
        row = {"name": name, "n_texts": n, "seconds": round(seconds, 3),
               "texts_per_s": round(n / max(seconds, 1e-9), 2), "peak_mb": round(memory.peak_mb, 1)}
        log.info("benchmark embed: %s %.1f texts/s", name, row["texts_per_s"])
        return np.asarray(vectors, dtype=np.float32), row

    # Warm-up (first kernels, CUDA context, allocator) so no path pays the cold start
    encode_texts(encoder, texts[: min(len(texts), 2 * config.batch_size)], config.batch_size, "logs")
    # default first: its vectors are the fp32 reference for every other path
    reference, default_row = timed("default", lambda: encode_texts(encoder, texts, config.batch_size, "logs"), len(texts))
    default_row["min_cosine_vs_reference"] = 1.0
    default_row["accepted"] = True

    n_seed = min(options.seed_style_max, len(texts))
    seed_vectors, seed_row = timed("seed_style", lambda: encode_seed_style(encoder, texts[:n_seed]), n_seed)
    seed_row["min_cosine_vs_reference"] = round(min_cosine(seed_vectors, reference[:n_seed]), 6)

    st_vectors, st_row = timed(
        "sentence_transformers",
        lambda: encode_sentence_transformers(model_path, texts, encoder.max_tokens, encoder.device), len(texts),
    )
    st_row["min_cosine_vs_reference"] = round(min_cosine(st_vectors, reference), 6)

    candidates = [default_row]
    for name in options.candidates:
        encode = CANDIDATES[name](encoder, model_path, Path(params.paths.embed_cache))
        encode(texts[: min(len(texts), 2 * config.batch_size)])  # warm-up: first kernels of this path
        vectors, row = timed(name, lambda encode=encode: encode(texts), len(texts))
        cosine = min_cosine(vectors, reference)
        row["min_cosine_vs_reference"] = round(cosine, 6)
        row["accepted"] = cosine >= options.min_cosine
        if not row["accepted"]:
            log.warning("benchmark embed: %s rejected: min cosine %.4f < %.2f", name, cosine, options.min_cosine)
        candidates.append(row)
    best = max((row for row in candidates if row["accepted"]), key=lambda row: row["texts_per_s"])
    fastest_row = {**best, "name": "fastest", "path": best["name"]}

    paths = [seed_row, st_row, default_row, fastest_row]
    for row in paths:
        row["ratio_vs_seed_style"] = round(row["texts_per_s"] / seed_row["texts_per_s"], 2)
        row["ratio_vs_sentence_transformers"] = round(row["texts_per_s"] / st_row["texts_per_s"], 2)

    report = {
        "model": encoder.model_id,
        "n_texts": len(texts),
        "threads": options.threads,
        "device": encoder.device,
        "cpu_native_bf16": cpu_has_native_bf16(),
        "max_tokens": encoder.max_tokens,
        "batch_size": config.batch_size,
        "min_cosine_required": options.min_cosine,
        "reference": f"default path ({encoder.precision}, dynamic padding); seed_style compared on its own texts",
        "paths": paths,
        "candidates": candidates,
        "incremental": measure_incremental(encoder, texts, config.batch_size, options.incremental_share),
    }
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "embed.json") as tmp:
        tmp.write_text(json.dumps(report, indent=2) + "\n")
    with atomic_path(out / "embed.md") as tmp:
        tmp.write_text(markdown_table(report))
    return report


def measure_incremental(encoder, texts: Sequence[str], batch_size: int, share: float) -> dict[str, Any]:
    """Full run through an empty cache, then a run with `share` of the texts changed: times and counts."""
    from shopseq.embeddings.cache import VectorCache
    from shopseq.embeddings.encode import embed_texts

    step = max(1, round(1 / share))
    changed = [f"{text} (updated)" if i % step == 0 else text for i, text in enumerate(texts)]
    with tempfile.TemporaryDirectory(prefix="shopseq-embed-cache-") as root:
        cache = VectorCache(Path(root), encoder.cache_model_id, encoder.max_tokens, encoder.pooling, encoder.dim)
        start = time.perf_counter()
        full = embed_texts(texts, encoder, cache, batch_size, progress_mode="logs")
        full_seconds = time.perf_counter() - start
        start = time.perf_counter()
        again = embed_texts(changed, encoder, cache, batch_size, progress_mode="logs")
        incremental_seconds = time.perf_counter() - start
    return {
        "n_texts": len(texts),
        "n_changed": sum(a != b for a, b in zip(texts, changed)),
        "full_encoded": full.n_encoded,
        "incremental_encoded": again.n_encoded,
        "incremental_cache_hits": again.cache_hits,
        "full_seconds": round(full_seconds, 3),
        "incremental_seconds": round(incremental_seconds, 3),
        "share_of_full": round(incremental_seconds / max(full_seconds, 1e-9), 4),
    }


def markdown_table(report: dict[str, Any]) -> str:
    """The paths as a markdown table, then the candidates and the incremental run."""
    lines = [
        (f"model `{report['model']}`, {report['n_texts']} texts, {report['threads']} threads, "
         f"device {report['device']}, max_tokens {report['max_tokens']}"
         + (f", CPU native bf16: {'yes' if report['cpu_native_bf16'] else 'no'}" if "cpu_native_bf16" in report else "")),
        "",
        "| path | texts | texts/s | × seed_style | × sentence-transformers | peak MB | min cosine vs fp32 |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in report["paths"]:
        name = row["name"] + (f" (= {row['path']})" if "path" in row else "")
        lines.append(
            f"| {name} | {row['n_texts']} | {row['texts_per_s']:.1f} | {row['ratio_vs_seed_style']:.1f} | "
            f"{row['ratio_vs_sentence_transformers']:.2f} | {row['peak_mb']:.0f} | {row['min_cosine_vs_reference']:.4f} |"
        )
    lines += ["", f"Candidates for `fastest` (accepted only with min cosine >= {report['min_cosine_required']}):", "",
              "| candidate | texts/s | min cosine | accepted |", "|---|---:|---:|---|"]
    for row in report["candidates"]:
        lines.append(f"| {row['name']} | {row['texts_per_s']:.1f} | {row['min_cosine_vs_reference']:.4f} | "
                     f"{'yes' if row['accepted'] else 'no'} |")
    inc = report["incremental"]
    lines += ["", (f"Incremental: {inc['n_changed']} of {inc['n_texts']} texts changed, "
                   f"{inc['incremental_encoded']} encoded, {inc['incremental_seconds']:.2f} s vs "
                   f"{inc['full_seconds']:.2f} s full = {100 * inc['share_of_full']:.1f}% of a full run."), ""]
    return "\n".join(lines)
