"""The ONNX Runtime CPU path: the same BERT-family encoder exported once, run with fused kernels.

`embed.backend: onnx` exports the loaded model (eager attention, so ONNX Runtime's BERT fusions
apply: one Attention, SkipLayerNormalization, BiasGelu and EmbedLayerNormalization node per
block) and runs it with every graph optimisation on and explicit intra-op threads. Its vectors
equal the torch path's to float rounding (cosine >= 0.9999999 on the benchmark texts).

`embed.backend: onnx_int8` quantises that graph's weights to int8, per output channel, with the
reduced 7-bit range (AVX2 without VNNI saturates the u8*s8 products otherwise, STACK.md), and
only in the feed-forward layers named by `INT8_SCOPES`; attention, embeddings and layer norms
stay fp32. Its vectors differ, so it gets its own cache namespace. On the benchmark texts it is
rejected by the cosine >= 0.99 check (min 0.9726, the long Amazon reviews; 0.996 on short
texts), like every dynamic-int8 scope tried: activations are quantised per tensor at run time,
and BERT's layer-norm outputs carry outlier channels that one int8 scale cannot hold. Use it
only where `shopseq benchmark embed` accepts it on your own texts.

Exported files are cached as `<cache_dir>/onnx/<fingerprint>-t<max_tokens>-<variant>.onnx`,
written under a temporary name and renamed, so concurrent runs at worst export twice.
Pooling runs in NumPy on the graph's last hidden states, so one graph serves mean and CLS pooling.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

ONNX_BACKENDS = ("onnx", "onnx_int8")
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OPSET = 17
# Which MatMul nodes int8 may touch (substrings of node names). "ffn_in": the 384->1536 expansion
# of each block (min cosine 0.9726 on the benchmark texts); "matmul": every MatMul outside fused
# attention (0.9311, benchmark candidate only). Measured on the 500 Amazon reviews, by hand:
# int8 only in each block's 1536->384 layer 0.9609; only the attention output projection 0.9984
# (passes, but it is 1/12 of the FLOPs, so no speed to gain).
INT8_SCOPES: dict[str, tuple[str, ...]] = {
    "ffn_in": ("intermediate/dense",),
    "matmul": ("",),
}


class OnnxEncoderModel:
    """An ONNX Runtime session that maps tokenizer output (NumPy) to last hidden states.

    Args:
        path: the .onnx file.
        threads: intra-op threads (the caller's `embed.threads` resolved to a count).
    """

    def __init__(self, path: Path, threads: int) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.path = Path(path)
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_names = {node.name for node in self.session.get_inputs()}

    def hidden_states(self, features: dict[str, np.ndarray]) -> np.ndarray:
        """(B, T) int token arrays -> (B, T, H) float32 last hidden states."""
        feed = {name: np.asarray(features[name], dtype=np.int64) for name in INPUT_NAMES if name in self.input_names}
        if "token_type_ids" in self.input_names and "token_type_ids" not in features:
            feed["token_type_ids"] = np.zeros_like(feed["input_ids"])
        return self.session.run(None, feed)[0]


def pool_numpy(hidden: np.ndarray, attention_mask: np.ndarray, pooling: str) -> np.ndarray:
    """NumPy twin of `pooling.pool`: (B, T, H) -> (B, H) mean (over the mask) or CLS, unit length."""
    if pooling == "mean":
        mask = attention_mask[..., None].astype(np.float32)  # (B, T, 1)
        pooled = (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)  # (B, H)
    elif pooling == "cls":
        pooled = hidden[:, 0]  # (B, H)
    else:
        raise ValueError(f"embed.pooling must be mean or cls; got {pooling!r}")
    norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)  # (B, 1)
    return (pooled / norms).astype(np.float32, copy=False)


def onnx_file(cache_dir: str | Path, fingerprint: str, max_tokens: int, variant: str) -> Path:
    """Where the exported graph of (model fingerprint, max tokens, variant) is cached."""
    return Path(cache_dir) / "onnx" / f"{fingerprint}-t{max_tokens}-{variant}.onnx"


def ensure_onnx(model_path: Path, cache_dir: str | Path, fingerprint: str, max_tokens: int,
                int8_scope: str | None = None) -> Path:
    """The cached .onnx for this model, exporting (and quantising) it on first use.

    Args:
        model_path: the resolved model directory (config.json, weights).
        cache_dir: `paths.embed_cache`.
        fingerprint: the encoder's weights fingerprint (part of the file name).
        max_tokens: the effective truncation length (part of the file name).
        int8_scope: None for fp32, else a key of `INT8_SCOPES`.
    """
    fp32 = onnx_file(cache_dir, fingerprint, max_tokens, "fp32")
    if not fp32.is_file():
        _export_fp32(model_path, fp32)
    if int8_scope is None:
        return fp32
    if int8_scope not in INT8_SCOPES:
        raise ValueError(f"int8 scope must be one of {sorted(INT8_SCOPES)}; got {int8_scope!r}")
    int8 = onnx_file(cache_dir, fingerprint, max_tokens, f"int8-{int8_scope}")
    if not int8.is_file():
        _quantize(fp32, int8, INT8_SCOPES[int8_scope])
    return int8


def _export_fp32(model_path: Path, target: Path) -> None:
    """Export with eager attention (fusable), dynamic batch and sequence axes, then fuse offline."""
    import torch
    from onnxruntime.transformers import optimizer
    from transformers import AutoModel, AutoTokenizer

    log.info("embed: exporting %s to ONNX at %s (once per model and max_tokens)", model_path, target)
    model = AutoModel.from_pretrained(model_path, dtype=torch.float32, attn_implementation="eager").eval()
    tokenizer = AutoTokenizer.from_pretrained(model_path, use_fast=True)
    sample = tokenizer(["an example text", "a second, slightly longer example text"], padding=True,
                       return_tensors="pt")
    inputs = tuple(sample[name] if name in sample else torch.zeros_like(sample["input_ids"]) for name in INPUT_NAMES)
    config = model.config
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".onnx-export-", dir=target.parent) as scratch:
        raw = Path(scratch) / "raw.onnx"
        with torch.inference_mode():
            torch.onnx.export(
                _hidden_states_module(model), inputs, str(raw),
                input_names=list(INPUT_NAMES), output_names=["last_hidden_state"],
                dynamic_axes={name: {0: "batch", 1: "tokens"} for name in (*INPUT_NAMES, "last_hidden_state")},
                opset_version=OPSET, dynamo=False,
            )
        fused = optimizer.optimize_model(
            str(raw), model_type="bert", num_heads=int(config.num_attention_heads),
            hidden_size=int(config.hidden_size), opt_level=0,
        )
        log.info("embed: ONNX fusions %s", {k: v for k, v in fused.get_fused_operator_statistics().items() if v})
        staged = Path(scratch) / "fused.onnx"
        fused.save_model_to_file(str(staged))
        os.replace(staged, target)


def _quantize(fp32: Path, target: Path, name_parts: tuple[str, ...]) -> None:
    """Dynamic int8: per-channel, reduced range, only MatMuls whose name contains one of `name_parts`."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(fp32), load_external_data=False).graph
    nodes = [n.name for n in graph.node if n.op_type == "MatMul" and any(part in n.name for part in name_parts)]
    if not nodes:
        raise ValueError(f"{fp32}: no MatMul node matches {name_parts}; this model cannot take this int8 scope")
    log.info("embed: quantising %d MatMul nodes of %s to int8", len(nodes), fp32.name)
    root_logger = logging.getLogger()
    level = root_logger.level
    root_logger.setLevel(max(level, logging.WARNING))  # the quantiser logs every tensor at INFO on root
    try:
        with tempfile.TemporaryDirectory(prefix=".onnx-int8-", dir=target.parent) as scratch:
            staged = Path(scratch) / "int8.onnx"
            quantize_dynamic(
                str(fp32), str(staged), per_channel=True, reduce_range=True, weight_type=QuantType.QInt8,
                nodes_to_quantize=nodes, extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
            )
            os.replace(staged, target)
    finally:
        root_logger.setLevel(level)


def _hidden_states_module(model: Any) -> Any:
    """Wrap a Hugging Face encoder so the exported graph takes three int tensors and gives one."""
    import torch

    class HiddenStates(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):  # each (B, T)
            return self.inner(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state  # (B, T, H)

    return HiddenStates(model)
