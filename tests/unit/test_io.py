"""Atomic writes: a failure leaves the previous output in place and no temporary files behind."""

from __future__ import annotations

import pytest

from shopseq.io import atomic_dir, atomic_path, read_json, write_json


def test_a_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "metrics.json"
    write_json(target, {"ok": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed mid-write")
    assert read_json(target) == {"ok": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_a_failed_directory_write_keeps_the_old_directory(tmp_path):
    target = tmp_path / "model"
    with atomic_dir(target) as tmp:
        (tmp / "weights").write_text("v1")
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as tmp:
            (tmp / "weights").write_text("v2-partial")
            raise RuntimeError("killed")
    assert (target / "weights").read_text() == "v1"
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_outputs_are_readable_by_others(tmp_path):
    write_json(tmp_path / "m.json", {})
    assert (tmp_path / "m.json").stat().st_mode & 0o044 == 0o044
