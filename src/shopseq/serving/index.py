"""Approximate candidates for serving very large catalogues: a FAISS IVF index over the item table.

Exact scoring reads the whole item table per request (1M items x 64 floats: 256 MB, ~45 ms on one
thread here), so at 50 requests/s a million-item catalogue saturates the service. Above
`serve.index_above` items (or with `serve.index: approximate`) a request instead:

1. asks an inverted-file index (k-means lists over the item vectors, stored as float16) for the
   `index_candidates` items with the largest inner product with the query state, searching
   `index_probes` lists;
2. adds the history's own items (the repeat head can lift them) and, for a blended model, every
   item the baseline has evidence for;
3. scores those candidates exactly with the model (`NextItemModel.score_given`, repeat head
   included) and blends them as `Recommender.score` would.

The ranking among candidates is exact; what is approximate is whether the true top items are
among the candidates (`recall_against_exact` measures it) and the softmax normaliser: the
candidates' mass plus the rest's, estimated from `index_tail_sample` random items scaled up to
the items not among the candidates. With every list probed and every item a candidate the answer
equals exact scoring.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import torch

from shopseq.config import Serve
from shopseq.sequences.recommender import Recommender
from shopseq.sequences.streaming import chunk_size, item_chunks, summarise

log = logging.getLogger(__name__)

TRAIN_POINTS_PER_LIST = 40  # k-means training sample per list (FAISS warns below 39)
KMEANS_ITERATIONS = 10


@dataclass(frozen=True)
class IndexSettings:
    """How the candidate index is built and searched (the `serve.index_*` params)."""

    lists: int = 0  # 0: 4 x sqrt(catalogue)
    probes: int = 128
    candidates: int = 200
    tail_sample: int = 4096
    seed: int = 0

    @classmethod
    def from_serve(cls, serve: Serve) -> "IndexSettings":
        """The settings in `serve`'s params section."""
        return cls(serve.index_lists, serve.index_probes, serve.index_candidates, serve.index_tail_sample)


def uses_index(serve: Serve, n_items: int) -> bool:
    """Whether a catalogue of `n_items` is served through the approximate index under `serve.index`."""
    return serve.index == "approximate" or (serve.index == "auto" and n_items >= serve.index_above)


class CandidateIndex:
    """Nearest items by inner product with a query state, over one model's item table (columns 0..N-1)."""

    def __init__(self, vectors: np.ndarray, settings: IndexSettings) -> None:
        """Build the index over `vectors` (N, H), one row per catalogue column (k-means, then add)."""
        import faiss

        start = time.perf_counter()
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)  # (N, H)
        n, hidden = vectors.shape
        self.n_items = n
        self.settings = settings
        lists = settings.lists or max(1, int(4 * np.sqrt(n)))
        lists = min(lists, n)
        rng = np.random.default_rng(settings.seed)
        quantizer = faiss.IndexFlatIP(hidden)
        index = faiss.IndexIVFScalarQuantizer(quantizer, hidden, lists, faiss.ScalarQuantizer.QT_fp16,
                                              faiss.METRIC_INNER_PRODUCT)
        index.cp.niter = KMEANS_ITERATIONS
        index.cp.seed = settings.seed
        sample = rng.choice(n, size=min(n, TRAIN_POINTS_PER_LIST * lists), replace=False)
        index.train(vectors[np.sort(sample)])
        index.add(vectors)
        index.nprobe = min(settings.probes, lists)
        self._index, self._quantizer = index, quantizer  # the quantizer must live as long as the index
        self.lists = lists
        self.tail = np.sort(rng.choice(n, size=min(n, settings.tail_sample), replace=False))  # (S,) columns
        self.build_seconds = time.perf_counter() - start
        log.info("candidate index over %d items: %d lists, %d probed, built in %.1f s",
                 n, lists, index.nprobe, self.build_seconds)

    def search(self, queries: np.ndarray, n: int) -> np.ndarray:
        """(B, H) query states -> (B, n) columns of the nearest items found, -1 where fewer were found."""
        _, columns = self._index.search(np.ascontiguousarray(queries, dtype=np.float32), n)
        return columns  # (B, n)

    def memory_mb(self) -> float:
        """The index's own size: float16 codes and ids of every item plus the list centroids."""
        hidden = self._index.d
        return (self.n_items * (2 * hidden + 8) + self.lists * hidden * 4) / 2**20


def build_index(recommender: Recommender, settings: IndexSettings) -> CandidateIndex:
    """The candidate index over `recommender`'s item vectors (text side information included)."""
    model = recommender.model
    with torch.inference_mode():
        vectors = model.item_vectors()[1:].float().cpu().numpy()  # (N, H); row 0 is padding
    return CandidateIndex(vectors, settings)


def with_index(recommender: Recommender, serve: Serve) -> Recommender:
    """`recommender` with a candidate index attached when `serve` asks for one at its catalogue size."""
    if uses_index(serve, len(recommender.item_ids)):
        recommender.candidate_index = build_index(recommender, IndexSettings.from_serve(serve))
    return recommender


def approximate_top_k(
    recommender: Recommender, index: CandidateIndex, histories: list[list[str]], k: int,
    profiles: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-`k` columns and their next-item probabilities per history, from the index's candidates: (U, k) each.

    Histories must hold at least one item the model knows (as `recommend` ensures). Columns are
    ranked by probability, ties to the lower column, as exact scoring ranks them.
    """
    model = recommender.model
    k = min(k, len(recommender.item_ids))
    columns_out = np.zeros((len(histories), k), dtype=np.int64)
    probabilities_out = np.zeros((len(histories), k))
    blend = recommender.blend
    evidence, share = blend.evidence_shares(histories, recommender.item_ids) if blend is not None else (None, None)
    row = 0
    for seq, lengths, last in recommender.query_states(histories, profiles):
        nearest = index.search(last.float().cpu().numpy(), index.settings.candidates)  # (B, C)
        for b in range(len(seq)):
            extra = [seq[b][seq[b] > 0].numpy() - 1]  # the history's columns
            if evidence is not None:
                extra.append(evidence.indices[evidence.indptr[row] : evidence.indptr[row + 1]])
            candidates = np.unique(np.concatenate([nearest[b][nearest[b] >= 0], *extra]))  # (C',) sorted
            probabilities = _candidate_probabilities(model, index, seq[b : b + 1], lengths[b : b + 1],
                                                     last[b : b + 1], candidates)  # (C',)
            if evidence is not None:
                part = evidence[row, candidates].toarray()[0]  # (C',)
                probabilities = (1.0 - share[row, 0]) * probabilities + share[row, 0] * part
            top = np.argsort(-probabilities, kind="stable")[:k]  # candidates are sorted: ties to the lower column
            columns_out[row, : len(top)] = candidates[top]
            probabilities_out[row, : len(top)] = probabilities[top]
            row += 1
    return columns_out, probabilities_out


def _candidate_probabilities(model, index: CandidateIndex, seq: torch.Tensor, lengths: torch.Tensor,
                             last: torch.Tensor, candidates: np.ndarray) -> np.ndarray:
    """The model's softmax probability of each candidate column (C,), the normaliser's tail estimated from a sample."""
    with torch.inference_mode():
        logits = model.score_given(last, seq, lengths, torch.from_numpy(candidates + 1)[None])[0]  # (C,)
        log_mass = torch.logsumexp(logits.double(), 0)
        rest = index.n_items - len(candidates)
        tail = index.tail[~np.isin(index.tail, candidates)]  # (S',) sampled columns outside the candidates
        if rest > 0 and len(tail):
            tail_logits = model.score_given(last, seq, lengths, torch.from_numpy(tail + 1)[None])[0].double()  # (S',)
            tail_mass = torch.logsumexp(tail_logits, 0) + np.log(rest / len(tail))  # scaled to every other item
            log_mass = torch.logaddexp(log_mass, tail_mass)
        return torch.exp(logits.double() - log_mass).numpy()


def exact_top_k(recommender: Recommender, histories: list[list[str]], k: int) -> np.ndarray:
    """(U, k) exact top-`k` columns, by the same chunked pass the service uses without an index."""
    scores = item_chunks(recommender, histories, chunk_size(len(histories)))
    return summarise(scores, len(histories), min(k, len(recommender.item_ids))).top_columns


def recall_against_exact(recommender: Recommender, index: CandidateIndex, histories: list[list[str]], k: int) -> float:
    """Mean share of each history's exact top-`k` items that the approximate top-`k` also returns."""
    exact = exact_top_k(recommender, histories, k)
    approximate, _ = approximate_top_k(recommender, index, histories, k)
    hits = [len(set(e) & set(a)) / len(e) for e, a in zip(exact.tolist(), approximate.tolist())]
    return float(np.mean(hits)) if hits else float("nan")
