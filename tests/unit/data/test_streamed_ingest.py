"""The streamed ingest gives exactly what the in-memory adapter gives, chunk size whatever it is."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest

from shopseq.config import Base
from shopseq.data.adapters import taobao
from shopseq.data.streamed import ingest_streamed
from tests.shared_samples import sample

# Headerless UserBehavior rows with everything the adapter decides on: an exact copy in a later
# chunk, a copy of a row whose time does not parse, an unknown behaviour, a missing item id, an
# item whose category changes (its last row wins) and an item seen only on a rejected row.
MESSY_ROWS = """\
1,10,100,pv,1511544070
1,11,101,cart,1511544071
2,10,100,buy,1511544072
1,10,100,pv,1511544070
3,12,102,pv,not-a-time
3,12,102,pv,not-a-time
4,13,103,like,1511544073
5,,104,pv,1511544074
2,11,109,fav,1511544075
6,14,105,pv,bad
1,10,100,pv,1511544070
"""


def _assert_same_as_in_memory(path: Path, tmp_path: Path, chunk_rows: int) -> int:
    """Run both ingests on `path`; every table, note and rejected row must match. Returns the events."""
    loaded = taobao.load(path)
    events_file = tmp_path / "events.parquet"
    streamed = ingest_streamed("taobao", path, events_file, Base(bucket_events=chunk_rows))
    pd.testing.assert_frame_equal(pd.read_parquet(events_file), loaded.events)
    pd.testing.assert_frame_equal(streamed.items, loaded.items)
    pd.testing.assert_frame_equal(streamed.reviews, loaded.reviews)
    assert streamed.report.notes == loaded.report.notes
    assert streamed.report.files == loaded.report.files
    rejected = streamed.report.rejected_tables()
    assert rejected.keys() == loaded.rejected.keys()
    for table, frame in loaded.rejected.items():
        pd.testing.assert_frame_equal(rejected[table], frame)
    assert streamed.events == len(loaded.events)
    return streamed.events


@pytest.mark.parametrize("chunk_rows", [1, 3, 100])
def test_streamed_ingest_equals_the_adapter_on_messy_rows(tmp_path: Path, chunk_rows: int) -> None:
    path = tmp_path / "UserBehavior.csv"
    path.write_text(MESSY_ROWS)
    events = _assert_same_as_in_memory(path, tmp_path, chunk_rows)
    loaded = taobao.load(path)
    # The case is not vacuous: copies and unparseable times were rejected, rows in = kept + rejected.
    reasons = loaded.rejected["events"]["reason"].tolist()
    assert reasons == ["invalid_ts", "invalid_ts", "invalid_ts", "duplicate", "duplicate"]
    assert events + len(reasons) == len(MESSY_ROWS.splitlines())
    assert loaded.items.set_index("item_id").loc["11", "category"] == "109"


def test_streamed_ingest_reads_gzip_and_directories(tmp_path: Path) -> None:
    folder = tmp_path / "split"
    folder.mkdir()
    lines = MESSY_ROWS.splitlines(keepends=True)
    (folder / "part-a.csv").write_text("".join(lines[:5]))
    with gzip.open(folder / "part-b.csv.gz", "wt") as handle:
        handle.write("".join(lines[5:]))
    _assert_same_as_in_memory(folder, tmp_path, chunk_rows=2)


def test_streamed_ingest_equals_the_adapter_on_the_taobao_sample(tmp_path: Path) -> None:
    path = sample("taobao_userbehavior/UserBehavior_head_users.csv.gz")
    assert _assert_same_as_in_memory(path, tmp_path, chunk_rows=20_000) == 84_475


def test_streamed_ingest_names_sources_it_cannot_stream(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot be read in chunks; streamed sources: taobao"):
        ingest_streamed("yoochoose", tmp_path, tmp_path / "events.parquet", Base())
