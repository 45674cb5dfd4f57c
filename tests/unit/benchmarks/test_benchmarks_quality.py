"""The quality benchmark's small parts: user sampling, options, the memory meter and the table."""

from __future__ import annotations

import pandas as pd
import pytest

from shopseq import schema as s
from shopseq.benchmarks.quality import PeakMemory, QualityOptions, has_text, markdown_table, sample_users, target_subsets


def test_sampling_users_keeps_whole_histories_and_is_repeatable():
    events = pd.DataFrame({s.USER_ID: [f"u{i % 10}" for i in range(100)], s.ITEM_ID: [str(i) for i in range(100)]})
    first, second = sample_users(events, 3, seed=1), sample_users(events, 3, seed=1)
    assert first.equals(second)
    assert first[s.USER_ID].nunique() == 3 and len(first) == 30  # every event of each chosen user
    assert sample_users(events, None, seed=1) is events


@pytest.mark.parametrize("kwargs, message", [
    ({"families": ("gru", "cnn")}, "unknown model family"),
    ({"baselines": ("markov", "oracle")}, "unknown baseline"),
    ({"text": "maybe"}, "text must be one of"),
])
def test_options_name_what_is_wrong(kwargs, message):
    with pytest.raises(ValueError, match=message):
        QualityOptions(**kwargs)


def test_peak_memory_sees_an_allocation_that_is_freed_before_the_end():
    import mmap

    # Fresh anonymous pages straight from the kernel: a malloc'd block could be served from
    # memory an earlier test freed but the allocator kept resident, which raises no RSS at all.
    with PeakMemory(every_s=1.0) as memory:  # a slow sampler: only the kernel's mark can see it
        block = mmap.mmap(-1, 64 * 2**20)
        for offset in range(0, len(block), mmap.PAGESIZE):
            block[offset] = 1  # touch every page: 64 MiB resident
        block.close()
    assert memory.peak_mb >= 48


@pytest.mark.parametrize("titles, expected", [(["", None], False), (["", "Blue mug"], True)])
def test_has_text_needs_one_non_empty_title_or_description(titles, expected):
    items = pd.DataFrame({s.ITEM_ID: ["a", "b"], s.TITLE: titles, s.DESCRIPTION: [None, " "]})
    assert has_text(items) is expected


def test_the_markdown_table_has_one_line_per_row_and_a_dash_without_rare_targets():
    row = {"model": "markov", "ndcg@10": 0.41234, "hr@10": 0.6, "mrr@20": 0.35, "recall@20": 0.63,
           "train_seconds": 0.1, "peak_mb": 12.0, "ndcg@10_rare": None, "ndcg@10_known_history": 0.5}
    table = markdown_table([{"dataset": "synthetic", "rows": [row]}])
    assert table.splitlines()[2] == "| synthetic | markov | 0.4123 | – | 0.6000 | 0.3500 | 0.6300 | – | 0.5000 | 0.1 | 12 |"


def test_the_markdown_table_shows_the_seed_spread_the_shopseq_row_and_the_comparisons():
    gru = {"model": "gru", "ndcg@10": 0.3, "valid_ndcg@10": 0.25, "hr@10": 0.5, "mrr@20": 0.2, "recall@20": 0.6,
           "train_seconds": 3.0, "peak_mb": 40.0, "seeds": [7, 8, 9], "ndcg@10_std": 0.012}
    shopseq = {**gru, "model": "shopseq", "chosen": {"row": "gru"}}
    comparison = {"a": "shopseq", "b": "markov", "metric": "ndcg@10", "diff": 0.02, "ci95_low": -0.01,
                  "ci95_high": 0.05, "verdict": "no clear difference"}
    lines = markdown_table([{"dataset": "d", "rows": [gru, shopseq], "comparisons": [comparison]}]).splitlines()
    assert lines[2].startswith("| d | gru | 0.3000 ± 0.0120 | 0.2500 |")
    assert lines[3].startswith("| d | **shopseq** (gru) | 0.3000 ± 0.0120 |")
    assert lines[-1] == "| d | shopseq | markov | ndcg@10 | +0.0200 | [-0.0100, +0.0500] | no clear difference |"


def test_target_subsets_pick_rare_targets_and_histories_with_a_training_item():
    test = pd.DataFrame({
        "history": [["a"], ["x", "b"], ["x", "y"], []],
        "target": ["b", "rare", "a", "b"],
    })
    counts = {"a": 10, "b": 6, "rare": 5}  # training interactions per catalogue item

    subsets = target_subsets(test, counts)

    assert subsets["rare"].index.tolist() == [1]
    # row 2's history is all unknown to training, row 3 has none: a peer library cannot score them
    assert subsets["known_history"].index.tolist() == [0, 1]
