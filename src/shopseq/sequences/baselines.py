"""Simple next-item baselines, fitted on training sequences only and scored over the whole catalogue.

Baselines are models: they live beside the neural models, below training and evaluation (the
served `Blend` refits one). Every baseline is a `Scorer` (`item_ids`, `score(histories) ->
(n, n_items)`), so `shopseq.training.evaluate.evaluate_baseline` ranks it on exactly the targets
the models are ranked on.
Statistics come from the split's training sequences (and, for recent popularity, the training
steps' timestamps) and nothing else: a test target never informs the scores it is ranked by.

Each baseline backs off to popularity: an item the baseline has no evidence for scores
`popularity share - 1`, below every item it has evidence for, so ties among "no evidence" items
are broken by how often they were seen in training rather than counted against the target.
Statistics live in scipy sparse matrices (memory grows with observed pairs, not catalogue²),
and scoring works on chunks of histories.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from shopseq import schema as s
from shopseq.config import Sequences
from shopseq.sequences.split import HISTORY, phase_steps

log = logging.getLogger(__name__)

BASELINES = ("popularity", "recent_popularity", "markov", "item_knn", "session_knn")
ITEM_BLOCK = 1024  # items whose similarity rows are computed at once (bounds item-kNN memory)


@dataclass(frozen=True)
class BaselineSettings:
    """Knobs of the baselines (params.yaml `evaluate`)."""

    recent_days: int = 7  # recent popularity counts training steps in the last N days before the cut
    knn_neighbours: int = 100  # item-kNN keeps this many most similar items per item
    knn_history: int = 3  # item-kNN scores from this many most recent history items
    knn_sessions: int = 50  # session-kNN sums over this many nearest training sequences

    @classmethod
    def from_params(cls, evaluate) -> BaselineSettings:
        """The knobs from params.yaml's `evaluate` section (`config.Evaluate`)."""
        return cls(evaluate.recent_days, evaluate.knn_neighbours, evaluate.knn_history, evaluate.knn_sessions)


class Baseline:
    """Common parts: the vocabulary, item indices and the popularity fallback."""

    def __init__(self, item_ids: Sequence[str], counts: np.ndarray) -> None:
        self.item_ids = list(item_ids)
        self._index = {item: i for i, item in enumerate(self.item_ids)}
        counts = np.asarray(counts, dtype=np.float64)
        # In [0, 1): the fallback; "no evidence" items rank by training popularity.
        self._popularity = (counts / (counts.max() + 1.0) if counts.size else counts).astype(np.float32)

    def encode(self, history: Sequence[str]) -> list[int]:
        """Item ids -> column indices; items outside the vocabulary are skipped."""
        return [self._index[item] for item in history if item in self._index]

    def score(self, histories: list[list[str]]) -> np.ndarray:
        """(len(histories), n_items) scores, columns in `item_ids` order; higher = more likely next.

        The baseline's sparse `evidence` where positive, else the popularity fallback.
        """
        return self._back_off(self.evidence(histories).toarray())

    def evidence(self, histories: list[list[str]]) -> sparse.csr_matrix:
        """(len(histories), n_items) sparse positive evidence for each item: what a blend mixes in."""
        raise NotImplementedError

    def _back_off(self, evidence: np.ndarray) -> np.ndarray:
        """Evidence where positive, else the popularity fallback below every positive score."""
        evidence = np.asarray(evidence, dtype=np.float32)  # (n, n_items)
        return np.where(evidence > 0, evidence, self._popularity[None, :] - 1.0).astype(np.float32)


class Popularity(Baseline):
    """Every history gets the items most often seen in training (the same list for everybody)."""

    def score(self, histories: list[list[str]]) -> np.ndarray:
        return np.tile(self._popularity, (len(histories), 1))  # (n, n_items)


class RecentPopularity(Baseline):
    """Items most often seen in the last `days` days of training (before the cut), then popularity."""

    def __init__(
        self, item_ids: Sequence[str], counts: np.ndarray, steps: pd.DataFrame, cut: pd.Timestamp, days: int
    ) -> None:
        super().__init__(item_ids, counts)
        recent = steps[(steps[s.TS] >= cut - pd.Timedelta(days=days)) & (steps[s.TS] < cut)]
        columns = recent[s.ITEM_ID].map(self._index).dropna().astype(int).to_numpy()
        self.recent_counts = np.bincount(columns, minlength=len(self.item_ids)).astype(np.float32)
        self._scores = self._back_off(self.recent_counts[None, :])[0]  # (n_items,)

    def score(self, histories: list[list[str]]) -> np.ndarray:
        return np.tile(self._scores, (len(histories), 1))  # (n, n_items)


class Markov(Baseline):
    """First order: how often each item followed the history's last item in training sequences."""

    def __init__(self, item_ids: Sequence[str], counts: np.ndarray, sequences: list[list[str]]) -> None:
        super().__init__(item_ids, counts)
        rows, cols = [], []
        for seq in sequences:
            encoded = self.encode(seq)
            rows.extend(encoded[:-1])
            cols.extend(encoded[1:])
        n = len(self.item_ids)
        data = np.ones(len(rows), dtype=np.float32)
        self.transitions = sparse.csr_matrix((data, (rows, cols)), shape=(n, n))  # (N, N), duplicates summed

    def evidence(self, histories: list[list[str]]) -> sparse.csr_matrix:
        """(n, N) sparse: transition counts from each history's last item, plus half its popularity share.

        Positive counts are integers; the popularity share (< 1) only breaks ties between them.
        """
        last = np.array([encoded[-1] if (encoded := self.encode(h)) else -1 for h in histories], dtype=np.int64)
        rows = self.transitions[np.clip(last, 0, None)] if len(last) else sparse.csr_matrix((0, len(self.item_ids)))
        rows = sparse.diags((last >= 0).astype(np.float32)) @ rows  # histories with no known item: no evidence
        rows = rows.tocsr()
        rows.eliminate_zeros()
        rows.data = (rows.data + 0.5 * self._popularity[rows.indices]).astype(np.float32)
        return rows


class ItemKNN(Baseline):
    """Cosine similarity of items' co-occurrence in training sequences, summed over the last items.

    sim(i, j) = |sequences with i and j| / sqrt(|sequences with i| * |sequences with j|); each item
    keeps its `neighbours` most similar items; a history scores item j by sum_r sim(h_r, j) / r over
    its `history` most recent distinct items h_1 (the last), h_2, ...
    """

    def __init__(
        self, item_ids: Sequence[str], counts: np.ndarray, sequences: list[list[str]], neighbours: int, history: int
    ) -> None:
        super().__init__(item_ids, counts)
        self.history = history
        occurs = _occurrence_matrix([self.encode(seq) for seq in sequences], len(self.item_ids))  # (S, N)
        occurs_t = occurs.T.tocsr()  # (N, S)
        support = np.asarray(occurs.sum(axis=0)).ravel()  # (N,) sequences holding each item
        norm = np.sqrt(np.maximum(support, 1.0))
        blocks = []
        for start in range(0, len(self.item_ids), ITEM_BLOCK):
            stop = min(start + ITEM_BLOCK, len(self.item_ids))
            together = (occurs_t[start:stop] @ occurs).tocoo()  # (B, N) co-occurrence counts
            other = together.col != together.row + start  # an item is not its own neighbour
            rows, cols = together.row[other], together.col[other]
            cosine = together.data[other] / (norm[rows + start] * norm[cols])
            block = sparse.csr_matrix((cosine.astype(np.float32), (rows, cols)), shape=(stop - start, len(self.item_ids)))
            blocks.append(_keep_top(block, neighbours))
        self.similarity = sparse.vstack(blocks).tocsr() if blocks else sparse.csr_matrix((0, 0))  # (N, N)

    def evidence(self, histories: list[list[str]]) -> sparse.csr_matrix:
        """(n, N) sparse: recency-weighted similarity to the history's last items."""
        picks = _recency_weights([self.encode(h) for h in histories], len(self.item_ids), self.history)  # (n, N)
        return (picks @ self.similarity).tocsr()


class SessionKNN(Baseline):
    """SKNN: the `neighbours` training sequences most similar to the history vote for their items.

    sim(h, s) = sum_{r: h_r in s} (1 / r) / sqrt(|h| * |s|) over distinct items, h_r the r-th most
    recent (V-SKNN's recency weighting: the last item counts most); item j scores the sum of
    sim(h, s) over the nearest sequences s that contain j.
    """

    def __init__(self, item_ids: Sequence[str], counts: np.ndarray, sequences: list[list[str]], neighbours: int) -> None:
        super().__init__(item_ids, counts)
        self.neighbours = neighbours
        self.occurs = _occurrence_matrix([self.encode(seq) for seq in sequences], len(self.item_ids))  # (S, N)
        sizes = np.asarray(self.occurs.sum(axis=1)).ravel()  # (S,)
        self._scaled_t = (sparse.diags(1.0 / np.sqrt(np.maximum(sizes, 1.0))) @ self.occurs).T.tocsr()  # (N, S)

    def evidence(self, histories: list[list[str]]) -> sparse.csr_matrix:
        """(n, N) sparse: the summed similarity of the nearest training sequences holding each item."""
        encoded = [self.encode(h) for h in histories]
        sizes = np.array([len(set(h)) for h in encoded], dtype=np.float64)
        query = _recency_weights(encoded, len(self.item_ids), None)  # (n, N), the last item weighs most
        query = sparse.diags(1.0 / np.sqrt(np.maximum(sizes, 1.0))) @ query
        similar = _keep_top((query @ self._scaled_t).tocsr().astype(np.float32), self.neighbours)  # (n, S)
        return (similar @ self.occurs).tocsr()


def vocabulary_of(sequences: list[list[str]], item_ids: Sequence[str]) -> pd.DataFrame:
    """The (item_id, count) vocabulary `fit_baselines` takes, counted from `sequences`, in `item_ids` order."""
    counts: dict[str, int] = {}
    for sequence in sequences:
        for item in sequence:
            counts[item] = counts.get(item, 0) + 1
    return pd.DataFrame({s.ITEM_ID: list(item_ids), "count": [counts.get(item, 0) for item in item_ids]})


def fit_baselines(
    names: Sequence[str],
    sequences: list[list[str]],
    vocabulary: pd.DataFrame,
    settings: BaselineSettings,
    steps: pd.DataFrame | None = None,
    cut: pd.Timestamp | None = None,
) -> dict[str, Baseline]:
    """Fit the named baselines on training data only.

    Args:
        names: any of `BASELINES`.
        sequences: the split's training sequences (item ids in time order).
        vocabulary: the split's vocabulary (item_id, count), most frequent first; the columns.
        settings: the baselines' knobs.
        steps: training steps with timestamps (`split.training_steps`); needed by recent_popularity.
        cut: the end of training time (the validation start; default: just after the last step).
    """
    if unknown := [name for name in names if name not in BASELINES]:
        raise ValueError(f"unknown baseline(s) {unknown}; known: {', '.join(BASELINES)}")
    item_ids = vocabulary[s.ITEM_ID].astype(str).tolist()
    counts = vocabulary["count"].to_numpy(dtype=np.float64)
    fitted: dict[str, Baseline] = {}
    for name in names:
        if name == "popularity":
            fitted[name] = Popularity(item_ids, counts)
        elif name == "recent_popularity":
            if steps is None or steps.empty:
                raise ValueError("recent_popularity needs the training steps with timestamps")
            end = cut if cut is not None else steps[s.TS].max() + pd.Timedelta(microseconds=1)
            fitted[name] = RecentPopularity(item_ids, counts, steps, end, settings.recent_days)
        elif name == "markov":
            fitted[name] = Markov(item_ids, counts, sequences)
        elif name == "item_knn":
            fitted[name] = ItemKNN(item_ids, counts, sequences, settings.knn_neighbours, settings.knn_history)
        else:
            fitted[name] = SessionKNN(item_ids, counts, sequences, settings.knn_sessions)
    return fitted


def _occurrence_matrix(sequences: list[list[int]], n_items: int) -> sparse.csr_matrix:
    """(len(sequences), n_items) 0/1 matrix: which items each sequence holds."""
    rows = np.repeat(np.arange(len(sequences)), [len(seq) for seq in sequences])
    cols = np.fromiter((item for seq in sequences for item in seq), dtype=np.int64, count=len(rows))
    matrix = sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(sequences), n_items))
    matrix.data[:] = 1.0  # repeated items in a sequence count once
    return matrix


def _recency_weights(histories: list[list[int]], n_items: int, last: int | None) -> sparse.csr_matrix:
    """(len(histories), n_items): weight 1/r for the r-th most recent distinct item (r <= `last`)."""
    rows, cols, weights = [], [], []
    for r, history in enumerate(histories):
        recent = list(dict.fromkeys(reversed(history)))[:last]
        rows.extend([r] * len(recent))
        cols.extend(recent)
        weights.extend(1.0 / np.arange(1, len(recent) + 1))
    return sparse.csr_matrix(
        (np.asarray(weights, dtype=np.float32), (rows, cols)), shape=(len(histories), n_items)
    )


def _keep_top(matrix: sparse.csr_matrix, k: int) -> sparse.csr_matrix:
    """Each row's `k` largest entries (ties: the lower column wins); the rest dropped.

    One sort of all entries by (row, -value, column), no loop over rows: item-kNN calls this on
    item rows, and a per-row Python loop would cost seconds per million items.
    """
    matrix.sum_duplicates()
    indptr, indices, data = matrix.indptr, matrix.indices, matrix.data
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(indptr))
    order = np.lexsort((indices, -data, rows))  # row-major, best first within a row
    rank = np.arange(len(order)) - indptr[rows[order]]  # position of each entry within its row
    keep = order[rank < k]
    return sparse.csr_matrix((data[keep], (rows[keep], indices[keep])), shape=matrix.shape)


def fit_split_baselines(
    names: Sequence[str],
    sequences: list[list[str]],
    vocabulary: pd.DataFrame,
    events: pd.DataFrame,
    split: Sequences,
    settings: BaselineSettings,
) -> dict[str, Baseline]:
    """Fit the named baselines on the training part of the split `split` makes of `events`.

    The one way the evaluate stage and `shopseq benchmark quality` fit baselines: `sequences` and
    `vocabulary` are that split's training sequences and vocabulary; recent popularity also counts
    the training steps of `events` (through the split's own phase rule) up to the validation start.
    """
    steps = cut = None
    if "recent_popularity" in names:
        steps, cut, _ = phase_steps(events, split)  # cut: the validation start (None: leave-last-out)
        steps = steps[steps["phase"] == "train"]
    return fit_baselines(names, sequences, vocabulary, settings, steps, cut)
