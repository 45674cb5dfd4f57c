"""What every adapter shares: dispatch, wrong formats, time zones, duplicates, gzip, validation rules."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pandas as pd
import pytest

from shopseq import schema as s
from shopseq.config import Ingest
from shopseq.data.adapters import adapter_for
from shopseq.data.adapters.base import IngestReport, finish, local_to_utc, parse_times_utc
from shopseq.data.adapters.online_retail import parse_invoice_dates
from shopseq.data.sources import load_source, read_source

FIXTURES = Path(__file__).parent / "fixtures"
REES46_HEADER = "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session"


def _write(path: Path, text: str, gz: bool = False) -> Path:
    if gz:
        with gzip.open(path, "wt") as handle:
            handle.write(text)
    else:
        path.write_text(text)
    return path


def _rees46(directory: Path, rows: list[str], gz: bool = False) -> Path:
    name = "2019-Oct.csv.gz" if gz else "2019-Oct.csv"
    return _write(directory / name, "\n".join([REES46_HEADER, *rows]) + "\n", gz)


ROWS = [
    "2019-10-01 00:00:00 UTC,view,1,10,electronics.phone,acme,9.50,7,s1",
    "2019-10-01 00:01:00 UTC,cart,1,10,electronics.phone,acme,9.50,7,s1",
    "2019-10-01 00:01:00 UTC,cart,1,10,electronics.phone,acme,9.50,7,s1",
    "2019-10-01 00:02:00,purchase,2,11,,,5.00,,s2",
]


def test_rees46_rows_given_as_taobao_fail_naming_file_expected_and_found(tmp_path: Path) -> None:
    file = _rees46(tmp_path, ROWS)
    with pytest.raises(ValueError) as error:
        load_source("taobao", file, Ingest(source="taobao", path=str(file)))
    message = str(error.value)
    assert str(file) in message
    assert "behavior_type" in message  # expected
    assert "event_time" in message  # found


@pytest.mark.parametrize("source", ["rees46", "retailrocket", "diginetica", "online_retail", "amazon", "yoochoose"])
def test_a_taobao_file_given_as_another_format_fails_at_once(tmp_path: Path, source: str) -> None:
    file = _write(tmp_path / "UserBehavior.csv", "1,2268318,2520377,pv,1511544070\n")
    with pytest.raises(ValueError, match="UserBehavior.csv"):
        adapter_for(source)(file)


def test_a_directory_without_the_formats_files_names_what_it_holds(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match="notes.txt"):
        adapter_for("rees46")(tmp_path)


def test_unknown_source_and_missing_path_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="known sources"):
        load_source("ebay", tmp_path, Ingest())
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_source("taobao", tmp_path / "absent.csv", Ingest())


def test_read_source_returns_the_report_and_load_source_the_old_triple(tmp_path: Path) -> None:
    file = _rees46(tmp_path, ROWS)
    loaded = read_source("rees46", file, Ingest())
    triple = load_source("rees46", file, Ingest())
    assert isinstance(triple, tuple) and len(triple) == 3
    pd.testing.assert_frame_equal(triple[0], loaded.events)
    assert loaded.report.source == "rees46" and loaded.report.files == [str(file)]


def test_rees46_utc_suffix_missing_zone_duplicates_and_session_users(tmp_path: Path) -> None:
    loaded = adapter_for("rees46")(_rees46(tmp_path, ROWS))
    notes = loaded.report.notes
    assert notes["duplicate_rows_dropped"] == 1
    assert notes["timezone_assumed_utc"] == 1  # the last row has no " UTC"
    assert notes["session_only_users"] == 1
    last = loaded.events.iloc[-1]
    assert last[s.USER_ID] == "session:s2" and last[s.TS] == pd.Timestamp("2019-10-01 00:02", tz="UTC")
    items = loaded.items.set_index(s.ITEM_ID)
    assert items.loc["2", s.CATEGORY] == "11" and pd.isna(items.loc["2", s.BRAND])
    assert notes["items_without_metadata"] == 2


def test_gzip_is_read_transparently(tmp_path: Path) -> None:
    plain = adapter_for("rees46")(_rees46(tmp_path, ROWS))
    (tmp_path / "gz").mkdir()
    packed = adapter_for("rees46")(_rees46(tmp_path / "gz", ROWS, gz=True))
    pd.testing.assert_frame_equal(plain.events, packed.events)
    for name in ("yoochoose-clicks.dat", "yoochoose-buys.dat"):
        with open(FIXTURES / "yoochoose" / name, "rb") as src, gzip.open(tmp_path / "gz" / f"{name}.gz", "wb") as dst:
            shutil.copyfileobj(src, dst)
    (tmp_path / "gz" / "2019-Oct.csv.gz").unlink()
    packed = adapter_for("yoochoose")(tmp_path / "gz")
    pd.testing.assert_frame_equal(adapter_for("yoochoose")(FIXTURES / "yoochoose").events, packed.events)


@pytest.mark.parametrize(
    "text, expected, assumed",
    [
        ("2019-10-01 00:00:00 UTC", "2019-10-01T00:00:00Z", 0),
        ("2014-04-07T10:51:09.277Z", "2014-04-07T10:51:09.277Z", 0),
        ("2019-10-01 02:00:00+02:00", "2019-10-01T00:00:00Z", 0),
        ("2019-10-01 00:00:00", "2019-10-01T00:00:00Z", 1),
    ],
)
def test_parse_times_utc_honours_zones_and_counts_assumptions(text: str, expected: str, assumed: int) -> None:
    report = IngestReport("test")
    parsed = parse_times_utc(pd.Series([text]), report)
    assert parsed.iloc[0] == pd.Timestamp(expected)
    assert report.notes["timezone_assumed_utc"] == assumed


@pytest.mark.parametrize(
    "text, utc",
    [
        ("12/1/2010 8:45", "2010-12-01 08:45"),  # GMT in winter
        ("6/1/2011 10:00", "2011-06-01 09:00"),  # BST in summer: one hour ahead of UTC
        ("2011-06-01 10:00:00", "2011-06-01 09:00"),  # Online Retail II exported from xlsx
        ("12/1/09 7:45", "2009-12-01 07:45"),
    ],
)
def test_online_retail_uk_local_times_become_utc(text: str, utc: str) -> None:
    report = IngestReport("online_retail")
    converted = local_to_utc(parse_invoice_dates(pd.Series([text])), "Europe/London", report)
    assert converted.iloc[0] == pd.Timestamp(utc, tz="UTC")
    assert report.notes["local_time_converted_to_utc"] == 1


def test_online_retail_ii_headers_missing_customers_and_merged_lines(tmp_path: Path) -> None:
    header = "Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country"
    rows = [
        "489434,85048,15CM CHRISTMAS GLASS BALL 20 LIGHTS,12,2009-12-01 07:45:00,6.95,13085.0,United Kingdom",
        "489434,85048,15CM CHRISTMAS GLASS BALL 20 LIGHTS,6,2009-12-01 07:45:00,6.95,13085.0,United Kingdom",
        "489435,22350,CAT BOWL ,12,2009-12-01 07:46:00,2.55,,United Kingdom",
        "C489449,22087,PAPER BUNTING WHITE LACE,-12,2009-12-01 10:33:00,2.95,16321.0,Australia",
        "489436,POST,POSTAGE,1,2009-12-01 09:06:00,18.00,13078.0,United Kingdom",
        "489437,21523,,-10,2009-12-01 09:08:00,0.00,,United Kingdom",
    ]
    file = _write(tmp_path / "online_retail_II.csv", "\n".join([header, *rows]) + "\n")
    loaded = adapter_for("online_retail")(file)
    notes = loaded.report.notes
    assert notes["invoice_lines_merged"] == 1 and notes["cancelled_invoice_rows_dropped"] == 1
    assert notes["non_product_rows_dropped"] == 1 and notes["non_positive_quantity_rows_dropped"] == 1
    events = loaded.events.set_index(s.ITEM_ID)
    assert events.loc["85048", s.QUANTITY] == 18 and events.loc["85048", s.USER_ID] == "13085"
    assert events.loc["22350", s.USER_ID] == "session:489435" and notes["session_only_users"] == 1
    assert loaded.items.set_index(s.ITEM_ID).loc["22350", s.TITLE] == "CAT BOWL"
    # Every line taken out is kept with its reason and raw position: 6 lines = 2 events + 4 rejected.
    rejected = loaded.rejected["events"].set_index("source_row")["reason"].to_dict()
    assert rejected == {1: "merged_line", 3: "cancelled_invoice", 4: "non_product", 5: "non_positive_quantity"}
    assert len(loaded.events) + len(rejected) == len(rows)


def test_diginetica_products_file_gives_titles_and_prices(tmp_path: Path) -> None:
    views = "sessionId;userId;itemId;timeframe;eventdate\n1;NA;81766;526309;2016-05-09\n"
    _write(tmp_path / "train-item-views.csv", views)
    _write(tmp_path / "products.csv", "itemId;pricelog2;product.name.tokens\n81766;5;4875,20637\n")
    loaded = adapter_for("diginetica")(tmp_path)
    item = loaded.items.set_index(s.ITEM_ID).loc["81766"]
    assert item[s.PRICE] == 32.0 and item[s.TITLE] == "4875 20637"
    assert loaded.report.notes["items_without_metadata"] == 0


def test_amazon_meta_file_supplies_title_description_price(tmp_path: Path) -> None:
    review = (
        '{"overall": 4.0, "verified": true, "reviewerID": "A1", "asin": "B01", "reviewText": "", '
        '"summary": "Nice", "unixReviewTime": 1422662400}\n'
    )
    _write(tmp_path / "Appliances_5.json.gz", review * 2 + review.replace('"A1"', '"A2"'), gz=True)
    # Python-literal style, as some meta dumps are.
    meta = (
        "{'asin': 'B01', 'title': 'Dryer vent', 'description': ['Keeps', 'warm'], "
        "'price': '$12.99', 'category': ['Appliances', 'Parts']}\n"
    )
    _write(tmp_path / "meta_Appliances.json", meta + meta.replace("B01", "B99"))
    loaded = adapter_for("amazon")(tmp_path)
    notes = loaded.report.notes
    assert notes["duplicate_reviews_dropped"] == 1 and len(loaded.reviews) == 2
    assert (loaded.reviews[s.TEXT] == "Nice").all()  # no review text: the summary stands in
    item = loaded.items.set_index(s.ITEM_ID).loc["B01"]
    found = (item[s.TITLE], item[s.DESCRIPTION], item[s.PRICE], item[s.CATEGORY])
    assert found == ("Dryer vent", "Keeps warm", 12.99, "Parts")
    assert len(loaded.items) == 1 and notes["items_without_metadata"] == 0


def test_amazon_review_copied_onto_style_variants_becomes_one_product(tmp_path: Path) -> None:
    def review(user: str, asin: str, text: str, time: int) -> str:
        return (f'{{"overall": 5.0, "reviewerID": "{user}", "asin": "{asin}", "reviewText": "{text}", '
                f'"summary": "", "unixReviewTime": {time}}}\n')

    rows = [  # two reviews, each copied onto the three variants B01-B03 of one product
        review(user, asin, text, time)
        for user, text, time in (("A1", "Fits well", 100), ("A2", "Too small", 200))
        for asin in ("B03", "B01", "B02")
    ]
    rows += [review("A3", "B04", "Good", 300), review("A3", "B05", "Good", 300)]  # one generic text: kept apart
    _write(tmp_path / "AMAZON_FASHION_5.json", "".join(rows))
    meta = "".join(f"{{'asin': '{a}', 'title': 'Shirt {a}'}}\n" for a in ("B01", "B02", "B04"))
    _write(tmp_path / "meta_AMAZON_FASHION.json", meta)
    loaded = adapter_for("amazon")(tmp_path)
    events = loaded.events.sort_values(s.TS)
    assert events[[s.USER_ID, s.ITEM_ID]].values.tolist() == [["A1", "B01"], ["A2", "B01"], ["A3", "B04"], ["A3", "B05"]]
    assert loaded.report.notes["variant_items_merged"] == 2
    assert sorted(loaded.items[s.ITEM_ID]) == ["B01", "B04", "B05"]
    assert loaded.items.set_index(s.ITEM_ID).loc["B01", s.TITLE] == "Shirt B01"  # the product's own meta
    quarantined = loaded.rejected
    assert quarantined["events"]["reason"].tolist() == ["duplicate"] * 4
    assert quarantined["items"]["detail"].tolist() == ["item_id=B02 merged into B01"]


def test_finish_drops_exact_copies_only_and_fills_items_for_validation() -> None:
    ts = pd.Timestamp("2024-01-01", tz="UTC")
    events = pd.DataFrame(
        {
            s.USER_ID: ["u", "u", "u"],
            s.ITEM_ID: ["i", "i", "j"],
            s.EVENT_TYPE: [s.VIEW, s.VIEW, s.VIEW],
            s.TS: [ts, ts, ts],
            s.PRICE: [1.0, 1.0, 2.0],
        }
    )
    items = pd.DataFrame({s.ITEM_ID: ["i", "x"], s.TITLE: ["Lamp", "Unused"]})
    loaded = finish(events, items, None, IngestReport("test"))
    notes = loaded.report.notes
    assert len(loaded.events) == 2 and notes["duplicate_rows_dropped"] == 1
    assert notes["catalogue_items_without_events"] == 1 and notes["items_added_from_events"] == 1
    catalogue = loaded.items.set_index(s.ITEM_ID)
    assert catalogue.loc["j", s.TITLE] == "" and catalogue.loc["j", s.CATEGORY] == "unknown"
    assert notes["items_without_metadata"] == 1
    assert not loaded.items[list(s.ITEMS.required)].isna().any().any()


@pytest.mark.parametrize(
    ("source", "name", "header", "row"),
    [
        ("taobao", "UserBehavior.csv", "user_id,item_id,category_id,behavior_type,timestamp", "1,2,3,pv,1511544070"),
        ("yoochoose", "yoochoose-clicks.dat", "session_id,timestamp,item_id,category", "1,2014-04-07T10:51:09.277Z,5,0"),
    ],
)
def test_a_header_row_in_a_headerless_format_is_named_as_such(
    tmp_path: Path, source: str, name: str, header: str, row: str
) -> None:
    """The message says the first line is a header to remove, not 'expected X, found X'."""
    file = _write(tmp_path / name, f"{header}\n{row}\n")
    with pytest.raises(ValueError) as caught:
        load_source(source, file, Ingest())
    message = str(caught.value)
    assert f"not in the {source} layout" in message
    assert f"its first line `{header}` is a header row, but {source} files have no header" in message
    assert f"tail -n +2 {name} > noheader-{name}" in message
    assert "found [" not in message


def test_a_wrong_first_row_in_a_headerless_format_says_how_it_differs(tmp_path: Path) -> None:
    file = _write(tmp_path / "UserBehavior.csv", "1,2,3\n")
    with pytest.raises(ValueError, match=r"the first line `1,2,3` has 3 field\(s\); expected a headerless data row"):
        load_source("taobao", file, Ingest())


def test_an_unknown_source_suggests_the_close_one(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown source 'taobo' for x \(did you mean 'taobao'\?\)"):
        load_source("taobo", "x", Ingest())
