"""Paired bootstrap of a metric difference over the same evaluation targets: is A really ahead of B?

Two models scored on the same test targets differ partly by chance: which targets happened to be
drawn. Resampling the targets with replacement, and taking the difference of the two models'
means on each resample, gives the spread of that difference; the 2.5th and 97.5th percentiles
are its 95% interval (the percentile bootstrap, paired because both models are scored on every
resampled target). "A beats B" is claimed only when that interval excludes zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RESAMPLES = 2000  # enough for stable 2.5% / 97.5% percentiles at the sizes reported (hundreds to thousands of targets)
CHUNK = 200  # resamples drawn at once: bounds memory to CHUNK x targets indices


@dataclass(frozen=True)
class PairedDifference:
    """Mean of A minus mean of B over the targets, and the 95% bootstrap interval of that difference."""

    diff: float
    ci95_low: float
    ci95_high: float

    @property
    def excludes_zero(self) -> bool:
        """Whether the interval lies wholly above or wholly below zero (a difference one may call real)."""
        return self.ci95_low > 0.0 or self.ci95_high < 0.0


def paired_bootstrap(a: np.ndarray, b: np.ndarray, resamples: int = RESAMPLES, seed: int = 0) -> PairedDifference:
    """Percentile bootstrap of mean(a) - mean(b), resampling targets (pairs) with replacement.

    Args:
        a: (n,) per-target metric of model A (e.g. NDCG@10 of each test target).
        b: (n,) the same metric of model B on the same targets, in the same order.
        resamples: number of bootstrap resamples.
        seed: the resampling seed (the same seed gives the same interval).

    Raises:
        ValueError: lengths differ, no targets, or fewer than one resample.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired bootstrap needs two 1-D arrays over the same targets; got shapes {a.shape} and {b.shape}")
    if len(a) == 0:
        raise ValueError("paired bootstrap needs at least one target")
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1; got {resamples}")
    differences = a - b  # (n,)
    rng = np.random.default_rng(seed)
    means = np.empty(resamples, dtype=np.float64)  # (R,)
    for start in range(0, resamples, CHUNK):
        size = min(CHUNK, resamples - start)
        picks = rng.integers(0, len(differences), size=(size, len(differences)))  # (r, n)
        means[start : start + size] = differences[picks].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return PairedDifference(diff=float(differences.mean()), ci95_low=float(low), ci95_high=float(high))


def ndcg_per_target(ranks: np.ndarray, k: int = 10) -> np.ndarray:
    """NDCG@k of each target from its 0-based rank (one relevant item per target): (n,) float64."""
    ranks = np.asarray(ranks)
    return np.where(ranks < k, 1.0 / np.log2(ranks + 2.0), 0.0)
