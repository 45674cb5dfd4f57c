"""Growing a real sample: N rows in the published layout, new users, the sample's items and times."""

from __future__ import annotations

import gzip

import pandas as pd
import pytest

from shopseq.benchmarks.grow import grow_sample
from shopseq.data.adapters.taobao import COLUMNS, check

from shared_samples import sample

TAOBAO = "taobao_userbehavior/UserBehavior_head_users.csv.gz"


def test_a_grown_taobao_sample_has_n_rows_new_users_and_only_real_items_and_times(tmp_path):
    source = sample(TAOBAO)
    original = pd.read_csv(source, header=None, names=COLUMNS, dtype=str)
    grown_file = grow_sample("taobao", source, 200_000, tmp_path / "grown.csv")
    check(grown_file)  # the adapter still recognises the layout
    grown = pd.read_csv(grown_file, header=None, names=COLUMNS, dtype=str)
    assert len(grown) == 200_000
    assert set(grown["item_id"]) <= set(original["item_id"])
    assert set(grown["timestamp"]) <= set(original["timestamp"])
    # Each replica is a disjoint set of users with the sample's exact per-user histories.
    first = grown.iloc[: len(original)]
    second = grown.iloc[len(original) : 2 * len(original)]
    assert first["user_id"].tolist() == original["user_id"].tolist()
    assert not set(second["user_id"]) & set(original["user_id"])
    assert second[["item_id", "timestamp"]].values.tolist() == original[["item_id", "timestamp"]].values.tolist()


def test_a_grown_rees46_sample_gets_new_sessions_too(tmp_path):
    source = sample("rees46_multi_category_store/2019-Oct_head.csv.gz")
    with gzip.open(source, "rt") as handle:
        original = pd.read_csv(handle, dtype=str, keep_default_na=False)
    grown = pd.read_csv(grow_sample("rees46", source, 2 * len(original), tmp_path / "g.csv"), dtype=str, keep_default_na=False)
    assert list(grown.columns) == list(original.columns) and len(grown) == 2 * len(original)
    replica = grown.iloc[len(original) :]
    assert not set(replica["user_session"]) & set(original["user_session"])
    assert not set(replica["user_id"]) & set(original["user_id"])


@pytest.mark.parametrize(
    "source,text,message",
    [("amazon", "x", "implemented for"), ("taobao", "a,1,2,pv,5\n", "not a whole number")],
)
def test_growing_what_cannot_be_grown_says_why(tmp_path, source, text, message):
    path = tmp_path / "sample.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        grow_sample(source, path, 10, tmp_path / "out.csv")
