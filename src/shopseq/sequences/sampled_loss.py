"""Sampled softmax for catalogues too large for a full softmax at every training position.

A full-softmax step scores every catalogue item at every position, (B, T, N): its cost and memory
grow with the catalogue. The sampled loss scores each position's target against one set of
candidates shared by the whole batch (after GRU4Rec's shared negatives and the sampled-softmax
recipes of gSASRec / SASRec):

- `negatives` items drawn with replacement from a sampling distribution q (uniform over the
  catalogue, or proportional to training popularity), and
- with `in_batch`, every target of the batch (a draw from the data's own item distribution, which
  popularity estimates).

Each candidate's logit is corrected by minus the log of its expected count in the candidate pool
(the log-Q correction: Bengio & Senecal 2008; Yi et al. 2019), and so is each target's logit, so
popular items are not punished for being drawn often; a candidate equal to the position's own
target is masked out (an accidental hit). With every catalogue item as a candidate exactly once
and no in-batch candidates, every correction is log 1 = 0 and the loss is the full softmax.

Each position's own history items are candidates of that position for sure (`sure_logits`, each
once, uncorrected): the full softmax ranks a target against the items a shopper returns to at
every position, and a shared draw from a long-tailed catalogue rarely holds them, so without them
the repeat head is pushed up on every repeat and hardly ever down (the suspected cause of the
sampled loss's gap on the Taobao sample: benchmarks/results/catalogue/README.md). A draw of one
of them is not counted again, and a target found in its history takes no correction, so the
full-softmax limit above still holds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from shopseq.config import NEGATIVE_SAMPLINGS


@dataclass(frozen=True)
class Candidates:
    """A batch's shared candidates: item indices (K,) and the log of each one's expected count (K,)."""

    items: torch.Tensor  # (K,) item indices, 1..N
    log_q: torch.Tensor  # (K,) log expected count of the item in the candidate pool


class NegativeSampler:
    """Draws the shared negatives of each batch and knows every item's log-Q correction.

    Args:
        counts: (N + 1,) training count of each item index; index 0 (padding) is never drawn.
        negatives: shared negatives drawn per batch.
        sampling: "uniform" or "popularity" (proportional to `counts`; items never seen count once).
        in_batch: whether the batch's targets join the candidates.
        seed: for the draws.
    """

    def __init__(self, counts: np.ndarray, negatives: int, sampling: str, in_batch: bool, seed: int) -> None:
        if sampling not in NEGATIVE_SAMPLINGS:
            raise ValueError(f"negative sampling {sampling!r}: use {' or '.join(NEGATIVE_SAMPLINGS)}")
        if negatives < 1 and not in_batch:
            raise ValueError("the sampled loss needs negatives >= 1 or in-batch negatives")
        counts = np.asarray(counts, dtype=np.float64).copy()
        counts[0] = 0.0
        seen = np.maximum(counts[1:], 1.0)
        weights = np.ones_like(seen) if sampling == "uniform" else seen
        self.negatives = int(negatives)
        self.in_batch = in_batch
        self.q = torch.from_numpy(np.concatenate([[0.0], weights / weights.sum()]))  # (N+1,) draw probability
        self.popularity = torch.from_numpy(np.concatenate([[0.0], seen / seen.sum()]))  # (N+1,) in-batch estimate
        # Cumulative q, built once: a draw is then a binary search per negative, O(S log N). torch.multinomial
        # rebuilds it from q on every call, a pass over the catalogue per step that grew with N.
        self.cumulative = torch.cumsum(self.q, 0)  # (N+1,) float64, last entry 1
        self.generator = torch.Generator().manual_seed(seed)

    def expected_count(self, items: torch.Tensor, n_in_batch: int) -> torch.Tensor:
        """Expected number of times each of `items` is in a pool of our negatives + `n_in_batch` targets."""
        count = self.negatives * self.q[items]
        if self.in_batch:
            count = count + n_in_batch * self.popularity[items]
        return count

    def draw(self, targets: torch.Tensor) -> Candidates:
        """The shared candidates for a batch whose real targets are `targets` (M,)."""
        drawn = self.draw_negatives()  # (S,)
        pool = torch.cat([drawn, targets.cpu()]) if self.in_batch else drawn  # (K,)
        n_in_batch = len(targets) if self.in_batch else 0
        log_q = torch.log(self.expected_count(pool, n_in_batch)).float()  # (K,)
        return Candidates(pool.to(targets.device), log_q.to(targets.device))

    def draw_negatives(self) -> torch.Tensor:
        """(S,) item indices drawn with replacement from q, in O(S log N) (no pass over the catalogue)."""
        uniforms = torch.rand(self.negatives, generator=self.generator, dtype=torch.float64)  # (S,) in [0, 1)
        drawn = torch.searchsorted(self.cumulative, uniforms, right=True)  # (S,) first index whose cumulative > u
        # Rounding can leave the last cumulative a hair under 1: clamp to the last item, never the padding index 0.
        return drawn.clamp(1, len(self.q) - 1)

    def target_log_q(self, targets: torch.Tensor, n_in_batch: int) -> torch.Tensor:
        """(M,) the log-Q correction of each target, on the same pool as `draw`'s."""
        return torch.log(self.expected_count(targets.cpu(), n_in_batch if self.in_batch else 0)).float().to(targets.device)


def sampled_softmax_loss(
    target_logits: torch.Tensor,
    candidate_logits: torch.Tensor,
    targets: torch.Tensor,
    candidates: Candidates,
    target_log_q: torch.Tensor,
    sure_logits: torch.Tensor | None = None,
    scored_surely: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean cross-entropy of each target against the shared candidates, log-Q corrected.

    Args:
        target_logits: (M,) each position's score of its own target.
        candidate_logits: (M, K) each position's score of every shared candidate.
        targets: (M,) target item indices (to mask accidental hits).
        candidates: the shared candidates and their log-Q.
        target_log_q: (M,) each target's log-Q (0 for a target that is one of its position's sure candidates).
        sure_logits: (M, S) scores of items each position counts exactly once, uncorrected (its own
            history: certain members of the pool, so their log-Q is log 1 = 0); -inf where a
            position has fewer than S.
        scored_surely: (M, K) True where a shared candidate is one of that position's sure items,
            already counted in `sure_logits`, so its draws must not count it a second time.
    """
    corrected = candidate_logits - candidates.log_q[None, :]  # (M, K)
    excluded = candidates.items[None, :] == targets[:, None]  # (M, K) accidental hits
    if scored_surely is not None:
        excluded = excluded | scored_surely
    corrected = corrected.masked_fill(excluded, float("-inf"))  # (M, K)
    columns = [(target_logits - target_log_q)[:, None], corrected]
    if sure_logits is not None:
        columns.append(sure_logits)  # (M, S)
    logits = torch.cat(columns, dim=1)  # (M, 1 + K [+ S])
    zeros = torch.zeros(len(targets), dtype=torch.long, device=targets.device)  # the target is column 0
    return F.cross_entropy(logits, zeros)
