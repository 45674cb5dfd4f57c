"""`benchmark volume` refuses to time `profiles` without item vectors, before growing anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from shopseq.benchmarks.volume import run_volume


def test_profiles_without_embeddings_is_refused_with_the_option_to_pass(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="--embeddings DIR"):
        run_volume("taobao", tmp_path / "sample.csv", [1000], "embedded", tmp_path / "out", tmp_path / "params.yaml",
                   stages=("ingest", "validate", "profiles"))
    assert not (tmp_path / "out").exists()  # nothing grown


def test_an_embeddings_folder_without_item_vectors_is_named_in_the_error(tmp_path: Path) -> None:
    from shopseq.benchmarks.volume import _copy_embeddings

    params = tmp_path / "params.yaml"
    params.write_text(f"paths:\n  embeddings: {tmp_path / 'work' / 'embeddings'}\n")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no items.npz"):
        _copy_embeddings(tmp_path / "empty", params)
