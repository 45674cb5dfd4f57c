"""Sampled softmax: the full softmax when every item is a candidate, and the log-Q correction by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from shopseq.sequences.models import ModelConfig, NextItemModel, pad_batch
from shopseq.sequences.sampled_loss import Candidates, NegativeSampler, sampled_softmax_loss

N_ITEMS = 10


def trained_like_model(family: str) -> NextItemModel:
    """A small model with text side information and a non-zero repeat head (as after training)."""
    torch.manual_seed(0)
    config = ModelConfig(family=family, n_items=N_ITEMS, hidden=16, layers=1, heads=2, dropout=0.0, max_len=8,
                         text_dim=4, repeat=True)
    model = NextItemModel(config, torch.randn(N_ITEMS + 1, 4))
    with torch.no_grad():
        model.repeat_by_distance.copy_(torch.linspace(2.0, 0.5, 8))
        model.repeat_gate.bias.fill_(0.3)
    return model


def gradients(model: NextItemModel, loss: torch.Tensor) -> dict[str, torch.Tensor]:
    model.zero_grad()
    loss.backward()
    return {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("family", ["gru", "transformer"])
def test_gradient_equals_full_softmax_when_the_candidates_are_the_whole_catalogue(family):
    model = trained_like_model(family)
    seq, lengths = pad_batch([[1, 2, 3, 2, 5], [4, 6, 7, 4, 9, 10, 8], [3, 3]], max_len=9)
    inputs, targets = seq[:, :-1], seq[:, 1:]  # repeats in the history exercise the repeat head
    full = model.calculate_loss(inputs, lengths - 1, targets)
    full_grads = gradients(model, full)

    everything = Candidates(torch.arange(1, N_ITEMS + 1), torch.zeros(N_ITEMS))  # each item once: log-Q 0
    n_targets = int((targets != 0).sum())
    sampled = model.candidate_loss(model(inputs, lengths - 1), inputs, targets, everything, torch.zeros(n_targets))
    sampled_grads = gradients(model, sampled)

    assert torch.allclose(full, sampled, atol=1e-6)
    assert full_grads.keys() == sampled_grads.keys()
    for name, grad in full_grads.items():
        assert torch.allclose(grad, sampled_grads[name], atol=1e-6), name


def test_each_position_ranks_its_target_against_its_own_history_even_when_no_draw_holds_it():
    # The shared pool holds items 2, 3 and 8 only; every position must still count each item of its
    # history once (uncorrected), whether or not the pool drew it: the softmax over
    # {target} + pool + history, with the repeat bonus, computed here from the full logits.
    model = trained_like_model("gru")
    seq, lengths = pad_batch([[1, 2, 3, 2, 5], [4, 6, 7, 4, 9, 10, 8], [3, 3]], max_len=9)
    inputs, targets = seq[:, :-1], seq[:, 1:]
    states = model(inputs, lengths - 1)  # (B, T, H)
    full = model.add_repeat_scores(states @ model.item_vectors().T, states, inputs)  # (B, T, N+1)
    pool = [2, 3, 8]
    by_hand = []
    for b, t in (targets != 0).nonzero().tolist():
        counted = sorted({int(targets[b, t]), *pool, *inputs[b, : t + 1].tolist()})
        row = full[b, t, counted]
        by_hand.append(torch.logsumexp(row, 0) - full[b, t, int(targets[b, t])])
    n_targets = int((targets != 0).sum())
    loss = model.candidate_loss(states, inputs, targets, Candidates(torch.tensor(pool), torch.zeros(3)),
                                torch.zeros(n_targets))
    assert loss.item() == pytest.approx(torch.stack(by_hand).mean().item(), rel=1e-5)


def test_a_target_in_its_own_history_takes_no_log_q_correction():
    # Item 2 is both a repeat target (seen at step 1) and a popular draw: at the position whose
    # history holds it, it is a sure candidate, so a large log-Q on it must not change the loss there.
    model = trained_like_model("gru")
    seq, lengths = pad_batch([[1, 2, 2]], max_len=9)
    inputs, targets = seq[:, :-1], seq[:, 1:]  # positions: 1 -> 2 (new), 2 -> 2 (repeat)
    states = model(inputs, lengths - 1)
    pool = Candidates(torch.tensor([5]), torch.zeros(1))
    plain = model.candidate_loss(states, inputs, targets, pool, torch.zeros(2))
    corrected_repeat_only = model.candidate_loss(states, inputs, targets, pool, torch.tensor([0.0, 3.0]))
    corrected_new_only = model.candidate_loss(states, inputs, targets, pool, torch.tensor([3.0, 0.0]))
    assert corrected_repeat_only.item() == pytest.approx(plain.item(), rel=1e-6)
    assert corrected_new_only.item() != pytest.approx(plain.item(), rel=1e-3)


def test_log_q_correction_by_hand():
    # One position: target logit 1.0 with log-Q log 1; candidates (items 7, 8) at 2.0 and 0.5 with
    # expected counts 2 and 0.5, and an accidental hit (item 3, the target itself) that must not count.
    candidates = Candidates(torch.tensor([7, 8, 3]), torch.log(torch.tensor([2.0, 0.5, 1.0])))
    loss = sampled_softmax_loss(torch.tensor([1.0]), torch.tensor([[2.0, 0.5, 9.0]]), torch.tensor([3]),
                                candidates, torch.tensor([0.0]))
    by_hand = -math.log(math.exp(1.0) / (math.exp(1.0) + math.exp(2.0 - math.log(2.0)) + math.exp(0.5 - math.log(0.5))))
    assert loss.item() == pytest.approx(by_hand, rel=1e-6)
    uncorrected = -math.log(math.exp(1.0) / (math.exp(1.0) + math.exp(2.0) + math.exp(0.5)))
    assert loss.item() != pytest.approx(uncorrected, rel=1e-3)


def test_expected_counts_of_the_sampler():
    counts = np.array([0, 6, 3, 1, 0])  # index 0 is padding; item 4 never seen counts once
    uniform = NegativeSampler(counts, negatives=8, sampling="uniform", in_batch=False, seed=0)
    assert uniform.expected_count(torch.tensor([1, 4]), n_in_batch=5).tolist() == pytest.approx([2.0, 2.0])
    popular = NegativeSampler(counts, negatives=11, sampling="popularity", in_batch=True, seed=0)
    # popularity shares 6/11, 3/11, 1/11, 1/11: 11 draws + 22 in-batch targets -> 33 x share
    assert popular.expected_count(torch.tensor([1, 4]), n_in_batch=22).tolist() == pytest.approx([18.0, 3.0])
    drawn = popular.draw(torch.tensor([1, 2]))
    assert len(drawn.items) == 13 and (drawn.items >= 1).all()  # 11 negatives + 2 in-batch, never padding
    assert drawn.log_q.tolist() == pytest.approx(torch.log(popular.expected_count(drawn.items, 2)).tolist(), rel=1e-6)


def test_the_sampler_draws_negatives_in_proportion_to_q_and_never_padding():
    counts = np.array([0, 60, 30, 10, 0])  # popularity shares 60/101, 30/101, 10/101, 1/101 (unseen counts once)
    sampler = NegativeSampler(counts, negatives=200_000, sampling="popularity", in_batch=False, seed=3)
    drawn = sampler.draw_negatives()
    assert drawn.min() >= 1 and drawn.max() <= 4
    shares = np.bincount(drawn.numpy(), minlength=5)[1:] / len(drawn)
    assert shares == pytest.approx(np.array([60, 30, 10, 1]) / 101, abs=0.005)


def test_sampler_rejects_no_negatives_and_unknown_sampling():
    with pytest.raises(ValueError, match="negatives"):
        NegativeSampler(np.ones(5), negatives=0, sampling="uniform", in_batch=False, seed=0)
    with pytest.raises(ValueError, match="sampling"):
        NegativeSampler(np.ones(5), negatives=4, sampling="zipf", in_batch=False, seed=0)


def test_the_sampled_loss_trains_a_model_that_ranks_the_next_item_first():
    from shopseq.training.fit import fit, negative_sampler

    torch.manual_seed(0)
    config = ModelConfig(family="gru", n_items=40, hidden=16, layers=1, dropout=0.0, max_len=6, repeat=True)
    model = NextItemModel(config)
    windows = [[i, i + 1, i + 2, i + 3] for i in range(1, 38)] * 4  # item i is always followed by i + 1
    sampler = negative_sampler(windows, 40, negatives=8, sampling="popularity", in_batch=True, seed=0)
    losses = fit(model, windows, epochs=30, batch_size=16, lr=0.02, weight_decay=0.0, seed=0, sampler=sampler,
                 progress_mode="off")
    assert losses[-1] < losses[0]
    seq, lengths = pad_batch([[10, 11], [20, 21, 22]], max_len=6)
    best = model.eval().full_sort_predict(seq, lengths).argmax(dim=1)
    assert best.tolist() == [12, 23]


def test_a_sampled_step_updates_only_the_item_rows_it_touched():
    from shopseq.training.fit import fit, negative_sampler

    torch.manual_seed(0)
    model = NextItemModel(ModelConfig(family="gru", n_items=1000, hidden=8, dropout=0.0, max_len=4, repeat=True))
    before = model.item_embedding.weight.detach().clone()
    windows = [[1, 2, 3, 4], [5, 6, 7, 8]]
    sampler = negative_sampler(windows, 1000, negatives=5, sampling="uniform", in_batch=True, seed=0)
    fit(model, windows, epochs=1, batch_size=2, lr=0.1, weight_decay=0.0, seed=0, sampler=sampler, progress_mode="off")
    changed = set((model.item_embedding.weight.detach() != before).any(dim=1).nonzero().flatten().tolist())
    assert {1, 2, 3, 5, 6, 7, 4, 8} <= changed  # inputs and targets of the batch
    assert len(changed) <= 8 + 5  # ... plus at most the 5 drawn negatives: the other rows are untouched


def test_clipping_scales_sparse_and_dense_gradients_together():
    from shopseq.training.fit import clip_gradients

    dense = torch.nn.Parameter(torch.zeros(2))
    dense.grad = torch.tensor([3.0, 0.0])
    sparse = torch.nn.Parameter(torch.zeros(5, 1))
    sparse.grad = torch.sparse_coo_tensor([[1, 1]], torch.tensor([[2.0], [2.0]]), (5, 1), check_invariants=True)  # row 1 twice: 4.0
    assert clip_gradients([dense, sparse], 1.0) == pytest.approx(5.0)
    assert dense.grad.tolist() == pytest.approx([0.6, 0.0], rel=1e-5)
    assert sparse.grad.to_dense()[1].item() == pytest.approx(0.8, rel=1e-5)
