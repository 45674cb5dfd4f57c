"""Fixtures for the benchmark scripts' tests: the scripts under benchmarks/ loaded as modules."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[3] / "benchmarks"


@pytest.fixture
def peer(monkeypatch):
    """benchmarks/recbole_peer.py as a module: stdlib only at import, so no RecBole is needed here."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # it imports its sibling results_paths.py
    spec = importlib.util.spec_from_file_location("recbole_peer", BENCHMARKS / "recbole_peer.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def script(monkeypatch):
    """benchmarks/quality.py as a module (it imports its sibling recbole_peer.py and results_paths.py, stdlib only)."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location("quality_script", BENCHMARKS / "quality.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
