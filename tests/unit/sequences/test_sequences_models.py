"""Model interface: causal (no future leakage), padding-safe, and a save/load round trip."""

from __future__ import annotations

import pytest
import torch

from shopseq.sequences.models import ModelConfig, NextItemModel, pad_batch
from shopseq.sequences.recommender import Recommender, load_recommender, save_recommender

FAMILIES = ("gru", "lstm", "transformer")


def model(family: str, text_dim: int = 0, repeat: bool = False) -> NextItemModel:
    torch.manual_seed(0)
    text = torch.randn(11, text_dim) if text_dim else None
    config = ModelConfig(family=family, n_items=10, hidden=16, layers=2, heads=2, dropout=0.0, max_len=8,
                         text_dim=text_dim, repeat=repeat)
    m = NextItemModel(config, text).eval()
    if repeat:  # trained values instead of the zero start, so the head changes the scores
        with torch.no_grad():
            m.repeat_by_distance.copy_(torch.linspace(3.0, 0.5, 8))
            m.repeat_gate.bias.fill_(0.5)
    return m


@pytest.mark.parametrize("family", FAMILIES)
def test_a_later_item_never_changes_an_earlier_state(family):
    m = model(family)
    seq = torch.tensor([[1, 2, 3, 4, 5]])
    changed = torch.tensor([[1, 2, 3, 9, 7]])
    lengths = torch.tensor([5])
    a, b = m(seq, lengths), m(changed, lengths)  # (1, 5, H)
    assert torch.allclose(a[:, :3], b[:, :3], atol=1e-6)
    assert not torch.allclose(a[:, 3:], b[:, 3:])


@pytest.mark.parametrize("family", FAMILIES)
def test_right_padding_does_not_change_the_prediction(family):
    m = model(family, text_dim=4)
    alone = m.full_sort_predict(torch.tensor([[3, 4]]), torch.tensor([2]))
    seq, lengths = pad_batch([[3, 4], [1, 2, 3, 4, 5, 6]], max_len=8)
    batched = m.full_sort_predict(seq, lengths)
    assert torch.allclose(alone[0, 1:], batched[0, 1:], atol=1e-5)
    assert torch.isinf(batched[:, 0]).all()  # padding is never recommended


def test_loss_ignores_padding_positions():
    m = model("gru")
    seq, lengths = pad_batch([[1, 2, 3], [4, 5, 6, 7, 8]], max_len=8)
    inputs, targets = seq[:, :-1], seq[:, 1:]
    loss = m.calculate_loss(inputs, lengths - 1, targets)
    assert torch.isfinite(loss) and loss > 0


def test_pad_batch_keeps_the_most_recent_items():
    seq, lengths = pad_batch([[1, 2, 3, 4, 5]], max_len=3)
    assert seq.tolist() == [[3, 4, 5]] and lengths.tolist() == [3]


def test_save_and_load_give_the_same_scores(tmp_path):
    recommender = Recommender(model("transformer", text_dim=4), [f"item{i}" for i in range(10)], {"note": "x"})
    save_recommender(recommender, tmp_path / "model")
    loaded = load_recommender(tmp_path / "model")
    histories = [["item1", "item2"], ["item3", "unknown-item"]]
    assert torch.allclose(torch.from_numpy(recommender.score(histories)), torch.from_numpy(loaded.score(histories)))
    assert loaded.meta == {"note": "x"}


def test_loading_a_directory_that_is_not_a_model_says_what_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="model.pt"):
        load_recommender(tmp_path)


@pytest.mark.parametrize("family", FAMILIES)
def test_repeat_head_raises_exactly_the_items_in_the_history_by_recency(family):
    m = model(family, repeat=True)
    plain = model(family)
    plain.load_state_dict({k: v for k, v in m.state_dict().items() if not k.startswith("repeat_")})
    seq, lengths = torch.tensor([[2, 5, 7]]), torch.tensor([3])
    bonus = (m.full_sort_predict(seq, lengths) - plain.full_sort_predict(seq, lengths))[0, 1:]  # (N,)
    expected = torch.zeros(10)
    for distance, item in enumerate([7, 5, 2]):  # the last item is 0 steps back
        expected[item - 1] = m.repeat_by_distance[distance] + 0.5
    assert torch.allclose(bonus, expected, atol=1e-5)


@pytest.mark.parametrize("family", FAMILIES)
def test_repeat_head_in_training_sees_only_earlier_positions(family):
    m = model(family, repeat=True)
    seq, lengths = torch.tensor([[1, 2, 3, 4, 5]]), torch.tensor([5])
    states = m(seq, lengths)
    logits = m.add_repeat_scores(states @ m.item_vectors().T, states, seq)  # (1, 5, N+1)
    for t in range(5):  # position t's logits equal a prediction from the first t+1 items alone
        alone = m.full_sort_predict(seq[:, : t + 1], torch.tensor([t + 1]))
        assert torch.allclose(logits[0, t, 1:], alone[0, 1:], atol=1e-5)


def test_old_model_directories_without_the_repeat_key_still_load(tmp_path):
    import json

    recommender = Recommender(model("gru"), [f"item{i}" for i in range(10)])
    save_recommender(recommender, tmp_path / "model")
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    del config["repeat"]  # written before the repeat head existed
    (tmp_path / "model" / "config.json").write_text(json.dumps(config))
    assert not load_recommender(tmp_path / "model").model.config.repeat
