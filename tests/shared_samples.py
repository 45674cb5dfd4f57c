"""The real data samples in ../shared/data, beside the checkout; absent in a user's clone."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = (Path(__file__).resolve().parents[1] / ".." / "shared" / "data").resolve()


def sample(relative: str) -> Path:
    """The path of a shared sample, or skip (with the reason printed) when it is absent."""
    path = SHARED_DATA / relative
    if not path.exists():
        reason = f"real sample {path} is absent (the shared data folder is not next to the repo)"
        print(reason)
        pytest.skip(reason)
    return path
