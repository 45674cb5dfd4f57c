"""Lookalikes: nearest neighbours of the seeds in profile space, seeds left out, seed files read safely."""

from __future__ import annotations

import pandas as pd
import pytest

from shopseq import schema as s
from shopseq.downstream.audience_lookalikes import (
    lookalikes,
    profile_vectors,
    read_seeds,
)


def _profiles() -> pd.DataFrame:
    return pd.DataFrame({
        s.USER_ID: ["seed1", "seed2", "twin", "near", "far", "opposite"],
        "pc_0": [1.0, 0.9, 1.0, 0.7, 0.0, -1.0],
        "pc_1": [0.0, 0.1, 0.05, 0.7, 1.0, 0.0],
        "n_events": [1, 2, 3, 4, 5, 6],  # a named feature: not part of the vectors
    })


def test_neighbours_rank_by_cosine_to_the_nearest_seeds_and_exclude_the_seeds() -> None:
    vectors = profile_vectors(_profiles())
    assert list(vectors.columns) == ["pc_0", "pc_1"]

    found = lookalikes(vectors, ["seed1", "seed2", "unknown"], size=3, neighbours=1)

    assert list(found[s.USER_ID]) == ["twin", "near", "far"]
    assert list(found["rank"]) == [1, 2, 3]
    assert found["score"].is_monotonic_decreasing
    assert found.loc[0, "reason"].startswith("profile like 2 seed user(s)")
    assert "closest seed1" in found.loc[0, "reason"]


def test_no_known_seed_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="none of the 1 seed users has a profile"):
        lookalikes(profile_vectors(_profiles()), ["nobody"], size=3, neighbours=2)


def test_profiles_without_components_ask_for_the_profiles_stage() -> None:
    with pytest.raises(ValueError, match="no pc_"):
        profile_vectors(_profiles().drop(columns=["pc_0", "pc_1"]))


def test_seed_file_skips_blanks_and_comments(tmp_path) -> None:
    path = tmp_path / "seeds.txt"
    path.write_text("# best customers\nu1\n\n u2  # vip\n")
    assert read_seeds(path) == ["u1", "u2"]
    (tmp_path / "empty.txt").write_text("# nobody\n")
    with pytest.raises(ValueError, match="names no user id"):
        read_seeds(tmp_path / "empty.txt")
    with pytest.raises(FileNotFoundError, match="seeds_file"):
        read_seeds(tmp_path / "missing.txt")
