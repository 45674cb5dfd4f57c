"""Exact top-K, softmax normaliser and probability mass over a catalogue scored slice by slice.

Scoring every user against every item at once needs (users x catalogue) memory: 4 GB for 1,000
users and 1M items. Here the catalogue arrives in column slices ("chunks") and one pass keeps,
per user, a running top-K, a running log-sum-exp (so the top items' softmax probabilities are
exact) and, when asked, the running probability mass of item groups (categories, audience
targets) and the score of a known target column; memory is bounded by (users x chunk).

The running top-K is exact, ties included: each score is packed with its column into one
64-bit key (the float's order-preserving bits above, the inverted column below), so keys are
distinct, a larger key is a higher score and, among equal scores, the lower column, exactly like a
stable sort of the whole row.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

CHUNK_CELLS = 1 << 23  # users x items scored at once: 32 MB of float32 scores
MIN_CHUNK = 4096
_LOW = np.uint64(0xFFFFFFFF)


def chunk_size(n_users: int, cells: int = CHUNK_CELLS) -> int:
    """Items per slice for `n_users` scored together, so that one slice holds about `cells` scores."""
    return max(MIN_CHUNK, cells // max(n_users, 1))


def dense_chunks(scores: np.ndarray, chunk: int) -> Iterator[tuple[int, np.ndarray]]:
    """Slices of an already dense (U, I) score matrix: yields (first column, (U, C))."""
    for start in range(0, scores.shape[1], chunk):
        yield start, scores[:, start : start + chunk]


def item_chunks(scorer, histories: list[list[str]], chunk: int, profiles: np.ndarray | None = None):
    """The scorer's (U, C) scores slice by slice: its own `score_chunks` when it has one, else its dense `score`."""
    if hasattr(scorer, "score_chunks"):
        return scorer.score_chunks(histories, chunk, profiles=profiles)
    scores = scorer.score(histories) if profiles is None else scorer.score(histories, profiles=profiles)
    return dense_chunks(scores, chunk)


@dataclass(frozen=True)
class CatalogueSummary:
    """What one pass over a catalogue's score slices keeps per user."""

    top_columns: np.ndarray  # (U, k) columns, highest score first, ties to the lower column
    top_scores: np.ndarray  # (U, k) their scores
    log_normaliser: np.ndarray  # (U,) log-sum-exp of every score: softmax = exp(score - this)
    mass: np.ndarray | None  # (U, G) softmax probability mass of each item group, when groups were given
    target_scores: np.ndarray | None  # (U,) score of each target column (-inf for target -1), when given

    def top_probabilities(self) -> np.ndarray:
        """(U, k) softmax probabilities of the top items over the whole catalogue."""
        return np.exp(self.top_scores.astype(np.float64) - self.log_normaliser[:, None])

    def target_ranks(self, n_items: int) -> np.ndarray:
        """0-based rank of each target, ties counted against it, exact below k - 1; ranks from k - 1 up read k - 1.

        Ranking metrics at any K < k only ask whether a rank is below K, so they are exact.
        Unknown targets (column -1) and targets scored -inf rank `n_items`, as in `metrics.target_ranks`.
        """
        if self.target_scores is None:
            raise ValueError("the summary was made without target columns")
        k = self.top_scores.shape[1]
        at_least = (self.top_scores >= self.target_scores[:, None]).sum(axis=1)  # (U,)
        ranks = np.minimum(at_least, k) - 1
        return np.where(np.isfinite(self.target_scores), ranks, n_items)


def summarise(
    chunks: Iterable[tuple[int, np.ndarray]],
    n_users: int,
    k: int,
    groups: np.ndarray | None = None,
    targets: np.ndarray | None = None,
) -> CatalogueSummary:
    """One pass over (first column, (U, C) scores) slices in column order.

    Args:
        chunks: the catalogue's score slices, from column 0 on, each (n_users, C).
        n_users: U.
        k: how many top items to keep.
        groups: (I, G) weights of each item in each group (one-hot categories); None: no mass.
        targets: (U,) a column per user whose score is wanted (-1: none); None: no target scores.
    """
    keys = np.zeros((n_users, 0), dtype=np.uint64)
    peak = np.full(n_users, -np.inf)  # running max, for a stable log-sum-exp
    total = np.zeros(n_users)  # sum of exp(score - peak)
    mass = None if groups is None else np.zeros((n_users, groups.shape[1]))
    target_scores = None if targets is None else np.full(n_users, -np.inf, dtype=np.float32)
    n_columns = 0
    for start, scores in chunks:
        scores = np.asarray(scores, dtype=np.float32)  # (U, C)
        stop = start + scores.shape[1]
        n_columns = max(n_columns, stop)
        keys = _top_keys(np.concatenate([keys, _chunk_top_keys(scores, start, k)], axis=1), k)  # (U, <=k)
        new_peak = np.maximum(peak, scores.max(axis=1, initial=-np.inf))  # (U,)
        safe = np.where(np.isfinite(new_peak), new_peak, 0.0)  # rows with no finite score yet
        rescale = np.exp(np.where(np.isfinite(peak), peak - safe, -np.inf))  # (U,)
        weights = np.exp(scores - safe[:, None])  # (U, C) float64
        total = total * rescale + weights.sum(axis=1)
        if mass is not None:
            mass = mass * rescale[:, None] + weights @ groups[start:stop]  # (U, G)
        peak = new_peak
        if target_scores is not None:
            inside = (targets >= start) & (targets < stop)
            rows = np.flatnonzero(inside)
            target_scores[rows] = scores[rows, targets[rows] - start]
    order = np.argsort(keys, axis=1)[:, ::-1]  # (U, k) largest key first
    keys = np.take_along_axis(keys, order, axis=1)
    columns = (_LOW - (keys & _LOW)).astype(np.int64)
    top_scores = _float_of((keys >> np.uint64(32)).astype(np.uint32))
    with np.errstate(divide="ignore"):
        log_normaliser = np.where(np.isfinite(peak), peak, -np.inf) + np.log(total)
    if mass is not None:
        mass = mass / np.where(total > 0, total, 1.0)[:, None]
    return CatalogueSummary(columns, top_scores, log_normaliser, mass, target_scores)


def top_k_columns(scores: np.ndarray, k: int, chunk: int) -> np.ndarray:
    """(U, I) -> (U, min(k, I)) columns of the highest scores, ties to the lower column, scanning `chunk` columns at a time."""
    return summarise(dense_chunks(scores, chunk), scores.shape[0], k).top_columns


def _keys(scores: np.ndarray, start: int) -> np.ndarray:
    """(U, C) float32 scores of columns start.. -> distinct uint64 keys ordered like (score, -column)."""
    bits = scores.view(np.uint32)
    ordered = np.where(bits & np.uint32(0x80000000), ~bits, bits | np.uint32(0x80000000))  # (U, C) monotone in score
    columns = np.arange(start, start + scores.shape[1], dtype=np.uint64)
    return (ordered.astype(np.uint64) << np.uint64(32)) | (_LOW - columns)[None, :]


def _chunk_top_keys(scores: np.ndarray, start: int, k: int) -> np.ndarray:
    """Keys of each row's `k` best columns of one slice: (U, C) -> (U, min(k, C)).

    Only scores at or above the row's k-th largest (found with a partition of the floats) are
    turned into keys, so a slice costs one partition, not a key per cell; ties at the threshold
    are all kept and the keys settle them.
    """
    n_rows, width = scores.shape
    if width <= k:
        return _keys(scores, start)
    kth = np.partition(scores, width - k, axis=1)[:, width - k]  # (U,) k-th largest of each row
    rows, columns = np.nonzero(scores >= kth[:, None])  # at least k per row, row-major
    keys = _keys(scores[rows, columns][None, :], 0)[0] & ~_LOW | (_LOW - (columns + start).astype(np.uint64))
    order = np.lexsort((keys, rows))  # by row, then key ascending
    keys = keys[order]
    ends = np.cumsum(np.bincount(rows, minlength=n_rows))  # (U,) one past each row's last entry
    last_k = ends[:, None] - k + np.arange(k)[None, :]  # (U, k) positions of each row's k largest keys
    return keys[last_k]


def _top_keys(keys: np.ndarray, k: int) -> np.ndarray:
    """The `k` largest keys of each row (unordered), or all of them when a row has no more."""
    if keys.shape[1] <= k:
        return keys
    return np.partition(keys, keys.shape[1] - k, axis=1)[:, -k:]


def _float_of(ordered: np.ndarray) -> np.ndarray:
    """Inverse of the order-preserving bit map of `_keys`: uint32 -> float32."""
    bits = np.where(ordered & np.uint32(0x80000000), ordered & np.uint32(0x7FFFFFFF), ~ordered)
    return bits.astype(np.uint32).view(np.float32)
