"""Next-item models: GRU4Rec / LSTM and a SASRec-style Transformer with item text side information.

All three share one interface (after RecBole): `forward(seq, lengths)` gives a state per
position, `calculate_loss(seq, lengths, targets)` is full-softmax cross-entropy over the catalogue
at every position (or, given a `NegativeSampler`, the sampled softmax of `sampled_loss`, whose
cost does not grow with the catalogue), `full_sort_predict(seq, lengths)` scores every item after
the last position and `score_items` a contiguous slice of the catalogue (chunked scoring).

Item index 0 is padding; sequences are right-padded, so a causal model's state at a real
position never depends on padding, and the prediction is read at position `length - 1`.
Input and output item representations are tied: an item's vector is its learned embedding plus a
projection of its frozen text vector (when text is used), so items with few interactions still
get a sensible place from their description.

A user profile (when `profile_dim` > 0) is projected to the hidden size and added to the
encoder's state after the encoder: one vector per sequence (B, P) shifts every position alike
(prediction), or one per position (B, T, P) in training, where each position gets the profile as
of its own step (`profiles.inputs`). Position t's state gets only position t's profile, so no
later step reaches an earlier state, padding never touches it, and the encoder itself stays the
plain sequence model. The projection has no bias, so the all-zero profile (the average user, as
the features are standardised; also "no profile" for ad-hoc sequences) leaves the states unchanged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

from shopseq.sequences.sampled_loss import Candidates, NegativeSampler, sampled_softmax_loss


@dataclass(frozen=True)
class ModelConfig:
    family: str  # gru | lstm | transformer
    n_items: int  # catalogue size, not counting padding index 0
    hidden: int = 64
    layers: int = 1
    heads: int = 2
    dropout: float = 0.2
    max_len: int = 50
    text_dim: int = 0  # 0: no text side information
    repeat: bool = False  # add a learned repeat score to items already in the history
    profile_dim: int = 0  # 0: no user profile input; else the length of each sequence's profile vector

    def to_dict(self) -> dict:
        return asdict(self)


class NextItemModel(nn.Module):
    def __init__(self, config: ModelConfig, text_vectors: torch.Tensor | None = None) -> None:
        super().__init__()
        self.config = config
        n, h = config.n_items + 1, config.hidden
        self.item_embedding = nn.Embedding(n, h, padding_idx=0)
        nn.init.normal_(self.item_embedding.weight, std=0.02)
        if config.text_dim:
            if text_vectors is None or text_vectors.shape != (n, config.text_dim):
                raise ValueError(f"text_vectors must have shape ({n}, {config.text_dim})")
            self.register_buffer("text_vectors", text_vectors.float())  # (N+1, D), frozen
            self.text_projection = nn.Linear(config.text_dim, h, bias=False)
        self.dropout = nn.Dropout(config.dropout)
        if config.family in ("gru", "lstm"):
            rnn = nn.GRU if config.family == "gru" else nn.LSTM
            self.encoder = rnn(h, h, num_layers=config.layers, batch_first=True,
                               dropout=config.dropout if config.layers > 1 else 0.0)
        elif config.family == "transformer":
            self.position_embedding = nn.Embedding(config.max_len, h)
            # Same scale as the item vectors: with nn.Embedding's N(0, 1) default the positions
            # would drown the items (std 0.02) and the model could only learn popularity.
            nn.init.normal_(self.position_embedding.weight, std=0.02)
            layer = nn.TransformerEncoderLayer(
                h, config.heads, dim_feedforward=2 * h, dropout=config.dropout,
                batch_first=True, norm_first=True, activation="gelu",
            )
            self.encoder = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)
            self.final_norm = nn.LayerNorm(h)
        else:
            raise ValueError(f"unknown model family {config.family!r}: use gru, lstm or transformer")
        if config.repeat:
            # Repeat head (after RepeatNet): an item already in the history gets a bonus that
            # depends on how many steps ago it was seen and on the current state. Both start at
            # zero, so training begins from the plain model and learns how much shoppers return.
            self.repeat_by_distance = nn.Parameter(torch.zeros(config.max_len))
            self.repeat_gate = nn.Linear(h, 1)
            nn.init.zeros_(self.repeat_gate.weight)
            nn.init.zeros_(self.repeat_gate.bias)
        if config.profile_dim:
            # Starts at zero: training begins from the plain sequence model and learns how much
            # the profile should move each user's query.
            self.profile_projection = nn.Linear(config.profile_dim, h, bias=False)
            nn.init.zeros_(self.profile_projection.weight)

    def item_vectors(self, items: torch.Tensor | None = None) -> torch.Tensor:
        """Item representations, used both as input and as output layer: all (N+1, H), or those of `items` (..., H).

        Gathering only the items a step needs keeps the text projection's cost to those items.
        """
        if items is None:
            vectors = self.item_embedding.weight  # (N+1, H)
            if self.config.text_dim:
                vectors = vectors + self.text_projection(self.text_vectors)  # (N+1, H)
            return vectors
        vectors = self.item_embedding(items)  # (..., H); padding's row never trains
        if self.config.text_dim:
            vectors = vectors + self.text_projection(self.text_vectors[items])  # (..., H)
        return vectors

    def forward(self, seq: torch.Tensor, lengths: torch.Tensor, profile: torch.Tensor | None = None) -> torch.Tensor:
        """States for every position of right-padded `seq` (B, T) -> (B, T, H).

        `profile` is each sequence's user profile (B, P), or one per position (B, T, P); None (or a
        model without `profile_dim`) uses none.
        """
        return self.add_profile(self.encode(seq), profile)

    def encode(self, seq: torch.Tensor) -> torch.Tensor:
        """The sequence encoder alone: (B, T) -> (B, T, H)."""
        x = self.dropout(self.item_vectors(seq))  # (B, T, H)
        if self.config.family == "transformer":
            T = seq.shape[1]
            positions = torch.arange(T, device=seq.device)
            x = x + self.position_embedding(positions)[None]  # (B, T, H)
            # Causal: position t attends to positions <= t only; padding keys are masked too.
            causal = torch.triu(torch.ones(T, T, dtype=torch.bool, device=seq.device), diagonal=1)
            padding = seq == 0  # (B, T)
            states = self.encoder(x, mask=causal, src_key_padding_mask=padding)  # (B, T, H)
            return self.final_norm(states)
        states, _ = self.encoder(x)  # (B, T, H); right padding never reaches earlier positions
        return states

    def add_profile(self, states: torch.Tensor, profile: torch.Tensor | None) -> torch.Tensor:
        """`states` (B, T, H) shifted by the projected profile: (B, P) alike at every position, (B, T, P) per position."""
        if not self.config.profile_dim or profile is None:
            return states
        B, T, _ = states.shape
        if profile.shape not in ((B, self.config.profile_dim), (B, T, self.config.profile_dim)):
            raise ValueError(
                f"profile must have shape ({B}, {self.config.profile_dim}) or ({B}, {T}, {self.config.profile_dim}); "
                f"got {tuple(profile.shape)}"
            )
        shift = self.profile_projection(profile.to(states.dtype))  # (B, H) or (B, T, H)
        return states + (shift[:, None, :] if shift.dim() == 2 else shift)  # (B, T, H)

    def calculate_loss(
        self,
        seq: torch.Tensor,
        lengths: torch.Tensor,
        targets: torch.Tensor,
        profile: torch.Tensor | None = None,
        sampler: NegativeSampler | None = None,
    ) -> torch.Tensor:
        """Mean cross-entropy over all real positions; `targets` (B, T) holds 0 at padding.

        Full softmax over the catalogue, or with `sampler` the sampled softmax over the target
        and the batch's shared candidates (`shopseq.sequences.sampled_loss`).
        """
        states = self.forward(seq, lengths, profile)  # (B, T, H)
        if sampler is not None:
            return self.sampled_loss(states, seq, targets, sampler)
        logits = states @ self.item_vectors().T  # (B, T, N+1)
        if self.config.repeat:
            logits = self.add_repeat_scores(logits, states, seq)
        logits[..., 0] = float("-inf")  # never predict padding
        return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=0)

    def sampled_loss(
        self, states: torch.Tensor, seq: torch.Tensor, targets: torch.Tensor, sampler: NegativeSampler
    ) -> torch.Tensor:
        """Sampled softmax of every real position's target against the batch's shared candidates from `sampler`."""
        wanted = targets[targets != 0]  # (M,)
        return self.candidate_loss(states, seq, targets, sampler.draw(wanted), sampler.target_log_q(wanted, len(wanted)))

    def candidate_loss(
        self, states: torch.Tensor, seq: torch.Tensor, targets: torch.Tensor, candidates: Candidates,
        target_log_q: torch.Tensor,
    ) -> torch.Tensor:
        """Softmax of each real position's target against `candidates` (K,) and its own history; repeat bonus included.

        `target_log_q` (M,): the correction of each real target, in row-major order of `targets`; a
        target found in its position's history takes none (it is a sure candidate there). Each
        position's history items (distinct, up to that position) are scored exactly and uncorrected,
        and a shared draw of one of them is not counted again (`sampled_loss.sampled_softmax_loss`).
        """
        real = targets.flatten() != 0  # (B*T,)
        wanted = targets.flatten()[real]  # (M,)
        T = seq.shape[1]
        causal = torch.ones(T, T, dtype=torch.bool, device=seq.device).tril()  # (T, T): query t sees steps s <= t
        same = (seq[:, :, None] == seq[:, None, :]) & (seq[:, :, None] != 0)  # (B, T, T): steps s', s hold one item
        first = ~(same & ~causal[None]).any(1)  # (B, T): no step s' < s (~causal[s', s]) holds step s's item
        target_logits = (states * self.item_vectors(targets)).sum(-1)  # (B, T)
        candidate_logits = states @ self.item_vectors(candidates.items).T  # (B, T, K)
        history_logits = states @ self.item_vectors(seq).transpose(1, 2)  # (B, T, T): query t, history step s
        matches = (seq[:, :, None] == candidates.items[None, None, :])  # (B, T, K): step s holds candidate k
        if self.config.repeat:
            bonus, history = self.repeat_bonus(states, seq)  # (B, T, T) each
            target_logits = target_logits + (bonus * (history == targets[:, :, None])).sum(-1)  # (B, T)
            candidate_logits = candidate_logits + bonus @ matches.to(bonus.dtype)  # (B, T, K)
            history_logits = history_logits + bonus @ same.to(bonus.dtype)  # (B, T, T): all of the item's steps
        target_seen = ((seq[:, None, :] == targets[:, :, None]) & causal[None]).any(-1)  # (B, T)
        history_kept = causal[None] & first[:, None, :] & (seq[:, None, :] != targets[:, :, None])  # (B, T, T)
        history_kept = history_kept & (seq[:, None, :] != 0)
        drawn_in_history = matches.to(states.dtype).cumsum(1) > 0  # (B, T, K): candidate k is at some step s <= t
        # (cumsum, not cummax: cummax over (B, T, K) took seconds per step on the CPU)
        flat = real.nonzero()[:, 0]  # (M,)
        return sampled_softmax_loss(
            target_logits.flatten()[real],
            candidate_logits.flatten(0, 1)[real],
            wanted,
            candidates,
            target_log_q.masked_fill(target_seen.flatten()[flat], 0.0),
            history_logits.masked_fill(~history_kept, float("-inf")).flatten(0, 1)[real],
            drawn_in_history.flatten(0, 1)[real],
        )

    def last_states(
        self, seq: torch.Tensor, lengths: torch.Tensor, profile: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The state at each sequence's last real position: (B, T) -> (B, H)."""
        states = self.forward(seq, lengths, profile)  # (B, T, H)
        return states[torch.arange(seq.shape[0], device=seq.device), lengths - 1]

    def full_sort_predict(
        self, seq: torch.Tensor, lengths: torch.Tensor, profile: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Scores of every item after each sequence's last real position: (B, T) -> (B, N+1)."""
        last = self.last_states(seq, lengths, profile)  # (B, H)
        scores = self.score_items(last, seq, lengths, 0, self.config.n_items + 1)  # (B, N+1)
        scores[:, 0] = float("-inf")
        return scores

    def score_items(
        self, last: torch.Tensor, seq: torch.Tensor, lengths: torch.Tensor, start: int, stop: int
    ) -> torch.Tensor:
        """Scores of item indices `start..stop-1` after each sequence's last state `last` (B, H): (B, stop - start).

        One slice of `full_sort_predict`'s row (index 0, padding, is not masked here): scoring
        the catalogue slice by slice bounds memory by (B x slice) for any catalogue size.
        """
        vectors = self.item_embedding.weight[start:stop]  # (C, H), a view: no copy of the catalogue slice
        if self.config.text_dim:
            vectors = vectors + self.text_projection(self.text_vectors[start:stop])  # (C, H)
        scores = last @ vectors.T  # (B, C)
        if self.config.repeat:
            # The history as seen from the last position only: (B, 1, T) queries over (B, T) items.
            at_last = (lengths - 1)[:, None]  # (B, 1)
            bonus, history = self.repeat_bonus(last[:, None], seq, at_last)  # (B, 1, T) each
            inside = (history >= start) & (history < stop)  # (B, 1, T): history items in this slice
            column = (history - start).clamp(0, stop - start - 1)  # (B, 1, T)
            scores = scores[:, None].scatter_add(2, column, bonus * inside)[:, 0]  # (B, C)
        return scores

    def score_given(
        self, last: torch.Tensor, seq: torch.Tensor, lengths: torch.Tensor, items: torch.Tensor
    ) -> torch.Tensor:
        """Scores of the item indices `items` (B, C) after each sequence's last state `last` (B, H): (B, C).

        The same numbers as `score_items` for those items (repeat bonus included), for a scattered
        set of items: the candidates an approximate index returns.
        """
        scores = (self.item_vectors(items) @ last[:, :, None])[..., 0]  # (B, C, H) @ (B, H, 1) -> (B, C)
        if self.config.repeat:
            at_last = (lengths - 1)[:, None]  # (B, 1)
            bonus, history = self.repeat_bonus(last[:, None], seq, at_last)  # (B, 1, T) each
            matches = (items[:, :, None] == history).to(bonus.dtype)  # (B, C, T): candidate c is history step t
            scores = scores + (matches * bonus).sum(-1)  # (B, C)
        return scores

    def add_repeat_scores(
        self, logits: torch.Tensor, states: torch.Tensor, seq: torch.Tensor, positions: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Add the repeat bonus to `logits` (B, Q, N+1) for queries at `positions` (B, Q).

        Query q at position t scores each history item seq[s] with s <= t by
        `repeat_by_distance[t - s] + repeat_gate(state_q)`; an item seen several times collects
        one bonus per occurrence. `positions` defaults to every position of `seq` (training).
        """
        bonus, index = self.repeat_bonus(states, seq, positions)  # (B, Q, T) each
        return logits.scatter_add(2, index, bonus)

    def repeat_bonus(
        self, states: torch.Tensor, seq: torch.Tensor, positions: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Each query's repeat bonus per history step and that step's item: (B, Q, T) each.

        A step after the query, or padding, gets bonus 0. `positions` (B, Q) defaults to every
        position of `seq` (training).
        """
        B, T = seq.shape
        if positions is None:
            positions = torch.arange(T, device=seq.device).expand(B, T)  # (B, Q=T)
        distance = positions[:, :, None] - torch.arange(T, device=seq.device)[None, None]  # (B, Q, T)
        seen = (distance >= 0) & (seq[:, None, :] != 0)  # (B, Q, T): causal, real items only
        bonus = self.repeat_by_distance[distance.clamp(0, self.config.max_len - 1)]  # (B, Q, T)
        bonus = (bonus + self.repeat_gate(states)) * seen  # gate (B, Q, 1) broadcasts over T
        index = seq[:, None, :].expand(B, positions.shape[1], T)  # (B, Q, T) item of each history step
        return bonus, index


def pad_batch(sequences: list[list[int]], max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad the last `max_len` items of each sequence: -> seq (B, T), lengths (B,)."""
    clipped = [s[-max_len:] if s else [0] for s in sequences]
    lengths = torch.tensor([len(s) for s in clipped], dtype=torch.long)
    seq = torch.zeros(len(clipped), int(lengths.max()), dtype=torch.long)
    for row, items in enumerate(clipped):
        seq[row, : len(items)] = torch.tensor(items, dtype=torch.long)
    return seq, lengths
