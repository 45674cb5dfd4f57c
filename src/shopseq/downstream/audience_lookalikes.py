"""Lookalike audiences: the users nearest a seed list in profile space.

A profile's principal components (`pc_*` in data/profiles) place users who behave alike and look
at similar items close together. A candidate's score is the mean cosine similarity to its
`neighbours` most similar seeds, so a user very like a few seeds ranks above one vaguely like
many. Seeds themselves are never in their own lookalike audience.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from shopseq import schema as s

PC_PREFIX = "pc_"
LOOKALIKE_COLUMNS = [s.USER_ID, "score", "rank", "reason"]


def read_seeds(path: str | Path) -> list[str]:
    """User ids from a text file, one per line; blank lines and `#` comments are skipped.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: it names no user.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"audiences.lookalikes.seeds_file {path} does not exist")
    seeds = [line.split("#", 1)[0].strip() for line in path.read_text().splitlines()]
    seeds = [seed for seed in seeds if seed]
    if not seeds:
        raise ValueError(f"audiences.lookalikes.seeds_file {path} names no user id")
    return seeds


def profile_vectors(profiles: pd.DataFrame) -> pd.DataFrame:
    """The PCA coordinates of each user, indexed by user id.

    Raises:
        ValueError: the profiles have no `pc_*` column (rerun the profiles stage).
    """
    columns = [c for c in profiles.columns if c.startswith(PC_PREFIX)]
    if not columns:
        raise ValueError("profiles have no pc_* columns: rerun the profiles stage with profiles.pca_components >= 1")
    return profiles.set_index(profiles[s.USER_ID].astype(str))[columns].astype("float64")


def lookalikes(vectors: pd.DataFrame, seeds: Sequence[str], size: int, neighbours: int) -> pd.DataFrame:
    """The `size` non-seed users most like the seeds, with scores and reasons.

    Args:
        vectors: (U, k) profile coordinates indexed by user id.
        seeds: seed user ids; ids without a profile are ignored.
        size: audience size.
        neighbours: how many of the most similar seeds a candidate's score averages.

    Raises:
        ValueError: no seed has a profile.
    """
    known = [seed for seed in dict.fromkeys(seeds) if seed in vectors.index]
    if not known:
        raise ValueError(f"lookalikes: none of the {len(seeds)} seed users has a profile")
    unit = _unit_rows(vectors.to_numpy())  # (U, k)
    is_seed = vectors.index.isin(known)
    similarity = unit[~is_seed] @ unit[is_seed].T  # (C, S) cosine similarity, candidates x seeds
    n = min(neighbours, similarity.shape[1])
    order = np.argsort(-similarity, axis=1, kind="stable")[:, :n]  # (C, n) nearest seeds first
    nearest = np.take_along_axis(similarity, order, axis=1)  # (C, n)
    score = nearest.mean(axis=1)  # (C,)
    seed_ids = np.array(known, dtype=object)[order[:, 0]]  # (C,) the single nearest seed
    frame = pd.DataFrame({s.USER_ID: vectors.index[~is_seed].astype(str), "score": score,
                          "nearest": seed_ids, "best": nearest[:, 0]})
    frame = frame.sort_values(["score", s.USER_ID], ascending=[False, True], kind="stable").head(size)
    frame["rank"] = np.arange(1, len(frame) + 1)
    frame["reason"] = [
        f"profile like {n_seeds} seed user(s): mean cosine {sc:.2f} to its {n} nearest; closest {seed} ({b:.2f})"
        for sc, seed, b, n_seeds in zip(frame["score"], frame["nearest"], frame["best"], [len(known)] * len(frame))
    ]
    return frame[LOOKALIKE_COLUMNS].reset_index(drop=True)


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)  # (U, 1)
    return matrix / np.where(norms > 0, norms, 1.0)
