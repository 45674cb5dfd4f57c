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


def profile_model(family: str, profile_dim: int = 3) -> NextItemModel:
    """A model with a profile input whose projection is non-zero (it starts at zero untrained)."""
    torch.manual_seed(0)
    config = ModelConfig(family=family, n_items=10, hidden=16, layers=2, heads=2, dropout=0.0, max_len=8,
                         profile_dim=profile_dim)
    m = NextItemModel(config).eval()
    with torch.no_grad():
        m.profile_projection.weight.normal_()
    return m


@pytest.mark.parametrize("family", FAMILIES)
def test_the_profile_changes_predictions_and_the_zero_profile_is_no_profile(family):
    m = profile_model(family)
    seq, lengths = torch.tensor([[1, 2, 3], [1, 2, 3]]), torch.tensor([3, 3])
    profile = torch.tensor([[1.0, 0.0, -1.0], [0.0, 2.0, 0.5]])
    scores = m.full_sort_predict(seq, lengths, profile)  # (2, N+1)
    assert not torch.allclose(scores[0, 1:], scores[1, 1:])  # same history, different users
    assert torch.allclose(m.full_sort_predict(seq, lengths, torch.zeros(2, 3)), m.full_sort_predict(seq, lengths))


@pytest.mark.parametrize("family", FAMILIES)
def test_the_profile_shifts_every_position_alike_and_leaks_nothing_through_time(family):
    m = profile_model(family)
    seq, lengths = torch.tensor([[1, 2, 3, 4, 5]]), torch.tensor([5])
    profile = torch.tensor([[0.5, -1.0, 2.0]])
    shift = m(seq, lengths, profile) - m(seq, lengths)  # (1, 5, H)
    assert torch.allclose(shift, shift[:, :1].expand_as(shift), atol=1e-5)  # constant over positions
    changed = torch.tensor([[1, 2, 3, 9, 7]])
    a, b = m(seq, lengths, profile), m(changed, lengths, profile)
    assert torch.allclose(a[:, :3], b[:, :3], atol=1e-6)  # still causal with a profile


@pytest.mark.parametrize("family", FAMILIES)
def test_right_padding_does_not_change_a_prediction_with_a_profile(family):
    m = profile_model(family)
    profile = torch.tensor([[1.0, -0.5, 0.2], [-2.0, 0.3, 1.0]])
    alone = m.full_sort_predict(torch.tensor([[3, 4]]), torch.tensor([2]), profile[:1])
    seq, lengths = pad_batch([[3, 4], [1, 2, 3, 4, 5, 6]], max_len=8)
    batched = m.full_sort_predict(seq, lengths, profile)
    assert torch.allclose(alone[0, 1:], batched[0, 1:], atol=1e-5)


def test_a_profile_of_the_wrong_width_is_an_error_that_says_so():
    with pytest.raises(ValueError, match=r"profile must have shape \(1, 3\) or \(1, 2, 3\)"):
        profile_model("gru")(torch.tensor([[1, 2]]), torch.tensor([2]), torch.zeros(1, 4))


def user_profiles():
    from shopseq.profiles.inputs import UserProfiles

    vectors = torch.tensor([[1.0, 0.0, -1.0], [0.0, 2.0, 0.5]]).numpy()
    return UserProfiles(["u1", "u2"], vectors, ["a", "b", "c"], "2026-07-01T00:00:00+00:00")


def test_save_and_load_keep_the_profile_input_and_its_table(tmp_path):
    import numpy as np

    recommender = Recommender(profile_model("gru"), [f"item{i}" for i in range(10)], profiles=user_profiles())
    save_recommender(recommender, tmp_path / "model")
    loaded = load_recommender(tmp_path / "model")
    assert loaded.model.config.profile_dim == 3 and loaded.profiles.feature_names == ["a", "b", "c"]
    histories = [["item1", "item2"], ["item1", "item2"], ["item1", "item2"]]
    profiles = loaded.profile_vectors(["u1", "u2", "a-new-user"])
    assert np.array_equal(profiles[2], np.zeros(3))  # unknown user: the average profile
    before = recommender.score(histories, profiles=recommender.profile_vectors(["u1", "u2", "a-new-user"]))
    after = loaded.score(histories, profiles=profiles)
    assert np.allclose(before, after, atol=1e-6)
    assert not np.allclose(after[0], after[1])  # the same history scores differently per user
    assert np.allclose(after[2], loaded.score(histories[:1])[0], atol=1e-6)  # no profile = zeros


def test_old_model_directories_without_the_profile_key_still_load(tmp_path):
    import json

    recommender = Recommender(model("gru"), [f"item{i}" for i in range(10)])
    save_recommender(recommender, tmp_path / "model")
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    del config["profile_dim"]  # written before the profile input existed
    (tmp_path / "model" / "config.json").write_text(json.dumps(config))
    loaded = load_recommender(tmp_path / "model")
    assert loaded.model.config.profile_dim == 0 and loaded.profile_vectors(["u1"]) is None


@pytest.mark.parametrize("family", FAMILIES)
def test_per_position_profiles_reach_only_their_own_position(family):
    m = profile_model(family)
    seq, lengths = torch.tensor([[1, 2, 3, 4]]), torch.tensor([4])
    profiles = torch.randn(1, 4, 3)
    changed = profiles.clone()
    changed[:, 2:] = torch.randn(1, 2, 3)  # a later snapshot differs
    a, b = m(seq, lengths, profiles), m(seq, lengths, changed)  # (1, 4, H)
    assert torch.allclose(a[:, :2], b[:, :2], atol=1e-6) and not torch.allclose(a[:, 2:], b[:, 2:])
    loss = m.calculate_loss(seq[:, :3], torch.tensor([3]), seq[:, 1:], profiles[:, :3])
    assert torch.isfinite(loss)
