"""Amazon Review Data (2018): 5-core review JSON lines, plus `meta_*` JSON lines when present.

Reviews (`<Category>_5.json`, one object per line: `overall, verified, reviewTime, reviewerID,
asin, style, reviewerName, reviewText, summary, unixReviewTime, vote?, image?`) become:
- `reviews`: user = reviewerID, item = asin, ts = unixReviewTime (UTC, day resolution),
  rating = overall, text = reviewText (the summary when there is no review text; rows with
  neither keep "" and are counted as `reviews_without_text`);
- `events`: one `purchase` per review: a review is the only purchase-like signal the data has.
The data set repeats a review once per style variant of a product, each copy under the variant's
own asin (in the 2018 5-core files 70-93% of the rows of Fashion, Beauty and Appliances are such
copies). Left alone, each copy is a "purchase" of another item at the same second, and a model
learns to predict one variant from its sibling. So asins whose reviews are mostly the same
reviews (`variant_products`) form one product, named by its smallest asin (counted as
`variant_items_merged`); the copies then map to the same item and go to quarantine as
`duplicate` (counted as `duplicate_rows_dropped`); the merged variants' own meta rows are
quarantined as `variant_of_merged_item`. A time
or rating that is given but not a number is quarantined as `invalid_ts` / `invalid_rating`.
Meta rows of items no review mentions are quarantined as `item_without_events`.

Items: from `meta_<Category>.json` when present (title, description joined, price parsed from
"$12.99", brand, the most specific category); otherwise items have no text
(`items_without_metadata`) and their category is the file's category (e.g. `All_Beauty`).

RecBole atomic files (`*.inter.tsv` with `user_id:token, item_id_list:token_seq, item_id:token`
and `*.item.tsv` with `item_id:token, title:token_seq`, e.g. the LLMRank Games sample) are read
too when a directory holds no review JSON: each row is one user's chronological history plus
the next item, all `purchase` events. They carry no times, so times are synthesized
(`timestamps_synthesized`): one day apart, every user's last item on REFERENCE_END. Use them with
`sequences.split: leave_last_out` (or valid_days = test_days = 1); a global time cut means
nothing else there.
"""

from __future__ import annotations

import ast
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from shopseq import schema as s
from shopseq.data.adapters.base import (
    INVALID_RATING,
    INVALID_TS,
    ITEM_WITHOUT_EVENTS,
    TIMESTAMPS_SYNTHESIZED,
    FormatError,
    IngestReport,
    Loaded,
    clean_ids,
    files_in,
    finish,
    first_row,
    format_error,
    mark_unparsed,
    no_files_error,
    open_text,
    read_csv,
    reading,
    strip_gz,
    unix_to_utc,
)

log = logging.getLogger(__name__)

SOURCE = "amazon"
REVIEW_KEYS = ["reviewerID", "asin", "unixReviewTime", "overall", "reviewText", "summary"]
REQUIRED_REVIEW_KEYS = {"reviewerID", "asin", "unixReviewTime"}
META_KEYS = ["asin", "title", "description", "price", "brand", "category"]
INTER_COLUMNS = ["user_id:token", "item_id_list:token_seq", "item_id:token"]
ITEM_COLUMNS = ["item_id:token", "title:token_seq"]
REFERENCE_END = pd.Timestamp("2018-10-01", tz="UTC")
VARIANT_ITEMS_MERGED = "variant_items_merged"
VARIANT_OF_MERGED_ITEM = "variant_of_merged_item"


def _json_lines(file: Path) -> Iterator[dict[str, Any]]:
    """Objects of a JSON-lines file; lines in Python-literal style (older meta dumps) are accepted."""
    with reading(file), open_text(file) as handle:
        for number, line in enumerate(handle, start=1):
            line = line.strip()
            if not line:
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                try:
                    yield ast.literal_eval(line)
                except (ValueError, SyntaxError) as error:
                    raise FormatError(f"{file}: line {number} is neither JSON nor a Python literal: {error}") from None


def _first_object(file: Path) -> dict[str, Any]:
    try:
        first = next(_json_lines(file), {})
    except (ValueError, SyntaxError):
        return {}
    return first if isinstance(first, dict) else {}


def check_reviews(file: Path) -> None:
    """Raise FormatError unless the first line is a 2018 review object."""
    first = _first_object(file)
    if not REQUIRED_REVIEW_KEYS <= set(first):
        found = list(first) if first else first_row(file)
        raise format_error(file, SOURCE, REVIEW_KEYS, found, hint="JSON lines of 2018 reviews")


def category_of(file: Path) -> str:
    """`All_Beauty_5.json.gz` -> `All_Beauty`; `reviews_Books_5.json` -> `Books`."""
    stem = strip_gz(file.name).removesuffix(".json")
    return re.sub(r"^(reviews_|meta_)", "", re.sub(r"_5$", "", stem))


def load(path: Path) -> Loaded:
    """Read Amazon 2018 review file(s), with meta files when present, at `path`."""
    report = IngestReport(SOURCE)
    if path.is_file():
        name = strip_gz(path.name)
        if name.endswith(".inter.tsv") or name.endswith(".inter"):
            return _load_recbole([path], [], report)
        if name.startswith("meta_"):
            raise FormatError(
                f"{path}: a meta file holds no reviews; give the review file or the directory holding both"
            )
        check_reviews(path)
        return _load_reviews([path], [], report)
    jsons = [f for f in files_in(path, ["*.json", "*.jsonl"]) if not f.name.startswith("meta_")]
    metas = files_in(path, ["meta_*.json", "meta_*.jsonl"])
    if jsons:
        for file in jsons:
            check_reviews(file)
        return _load_reviews(jsons, metas, report)
    inters = files_in(path, ["*.inter.tsv", "*.inter"])
    if inters:
        return _load_recbole(inters, files_in(path, ["*.item.tsv", "*.item"]), report)
    wanted = "<Category>_5.json review files (optionally meta_<Category>.json) or RecBole *.inter.tsv"
    raise no_files_error(path, SOURCE, wanted)


def _load_reviews(files: list[Path], metas: list[Path], report: IngestReport) -> Loaded:
    frames = []
    for file in files:
        rows = [{k: obj.get(k) for k in REVIEW_KEYS} for obj in _json_lines(file)]
        frame = pd.DataFrame(rows, columns=REVIEW_KEYS)
        frames.append(frame.assign(_category=category_of(file)))
        report.files.append(str(file))
    raw = pd.concat(frames, ignore_index=True)
    user, asin = clean_ids(raw["reviewerID"]), clean_ids(raw["asin"])
    ts = unix_to_utc(raw["unixReviewTime"], unit="s")
    body = raw["reviewText"].astype("string").str.strip()
    text = body.mask(body.isna() | (body == ""), raw["summary"].astype("string").str.strip())
    rating = pd.to_numeric(raw["overall"], errors="coerce")
    product = variant_products(
        pd.DataFrame({"user": user, "asin": asin, "ts": raw["unixReviewTime"], "rating": rating, "text": text})
    )
    report.count(VARIANT_ITEMS_MERGED, int((product != product.index).sum()))
    item = asin.map(product).astype("string").where(asin.notna())
    reviews = pd.DataFrame(
        {
            s.USER_ID: user,
            s.ITEM_ID: item,
            s.TS: ts,
            s.TEXT: text,
            s.RATING: rating,
        }
    )
    events = pd.DataFrame({s.USER_ID: user, s.ITEM_ID: item, s.EVENT_TYPE: s.PURCHASE, s.TS: ts})
    raw_ts = raw["unixReviewTime"].astype("string")
    mark_unparsed(events, s.TS, raw_ts, INVALID_TS)
    mark_unparsed(reviews, s.TS, raw_ts, INVALID_TS)
    mark_unparsed(reviews, s.RATING, raw["overall"].astype("string"), INVALID_RATING)
    items = pd.DataFrame({s.ITEM_ID: item, s.CATEGORY: raw["_category"]}).drop_duplicates(s.ITEM_ID, keep="last")
    if metas:
        meta = _read_meta(metas, product, report)
        items = items.merge(meta, on=s.ITEM_ID, how="left", suffixes=("_file", ""))
        items[s.CATEGORY] = items[s.CATEGORY].fillna(items.pop(f"{s.CATEGORY}_file"))
    return finish(events, items, reviews, report, items_from_events=True)


def parse_price(value: Any) -> float | None:
    """`"$12.99"` -> 12.99, `"$10.00 - $20.00"` -> 10.0, anything else -> None."""
    if isinstance(value, (int, float)):
        return float(value)
    match = re.search(r"\d[\d,]*(?:\.\d+)?", str(value or ""))
    return float(match.group().replace(",", "")) if match and "$" in str(value) else None


def _text(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(str(v).strip() for v in value if str(v).strip())
    return str(value).strip() if value is not None else ""


def variant_products(reviews: pd.DataFrame) -> pd.Series:
    """asin -> the asin that names its product: the smallest asin of its variant group.

    `reviews` has columns user, asin, ts, rating, text. The 2018 files copy every review of a
    product onto each of its variants, so two asins are variants when most of their reviews are
    the same review (same reviewer, time, rating and non-empty text): at least two, and at least
    half of the smaller asin's reviews. One shared short text ("good magazine") on two different
    magazines is not enough. The relation is closed transitively (union-find).
    """
    parent = {a: a for a in reviews["asin"].dropna().unique()}

    def root(a: str) -> str:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    key = ["user", "ts", "rating", "text"]
    shared = reviews.dropna(subset=["asin", *key]).drop_duplicates(["asin", *key])
    shared = shared[shared["text"].str.len() > 0]
    n_reviews = shared["asin"].value_counts()
    pairs: dict[tuple[str, str], int] = {}
    for _, asins in shared.groupby(key, sort=False)["asin"]:
        group = sorted(asins)
        for i, first in enumerate(group):
            for second in group[i + 1 :]:
                pairs[first, second] = pairs.get((first, second), 0) + 1
    for (first, second), common in pairs.items():
        if common >= max(2, 0.5 * min(n_reviews[first], n_reviews[second])):
            a, b = root(first), root(second)
            if a != b:
                parent[max(a, b)] = min(a, b)
    return pd.Series({a: root(a) for a in parent}, dtype="string")


def _read_meta(files: list[Path], product: pd.Series, report: IngestReport) -> pd.DataFrame:
    rows, unmatched, variants = [], [], []
    for file in files:
        report.files.append(str(file))
        for obj in _json_lines(file):
            if obj.get("asin") not in product.index:
                unmatched.append(str(obj.get("asin")))
                continue
            if product[obj["asin"]] != obj["asin"]:
                variants.append(str(obj["asin"]))
                continue
            categories = obj.get("category") or []
            rows.append(
                {
                    s.ITEM_ID: obj["asin"],
                    s.TITLE: _text(obj.get("title")),
                    s.DESCRIPTION: _text(obj.get("description")),
                    s.BRAND: _text(obj.get("brand")) or None,
                    s.PRICE: parse_price(obj.get("price")),
                    s.CATEGORY: (_text(categories[-1]) if isinstance(categories, list) and categories else None)
                    or _text(obj.get("main_cat"))
                    or None,
                }
            )
    report.count("meta_rows_matched", len(rows))
    report.count("catalogue_items_without_events", len(unmatched))
    skipped = pd.DataFrame({s.ITEM_ID: pd.array(unmatched, dtype="string")})
    report.reject(s.ITEMS.name, skipped, ITEM_WITHOUT_EVENTS, "item_id=" + skipped[s.ITEM_ID])
    merged = pd.DataFrame({s.ITEM_ID: pd.array(variants, dtype="string")})
    report.reject(s.ITEMS.name, merged, VARIANT_OF_MERGED_ITEM,
                  "item_id=" + merged[s.ITEM_ID] + " merged into " + merged[s.ITEM_ID].map(product))
    return pd.DataFrame(rows, columns=[s.ITEM_ID, s.TITLE, s.DESCRIPTION, s.BRAND, s.PRICE, s.CATEGORY])


def _check_tsv(file: Path, expected: list[str]) -> None:
    found = first_row(file, "\t")
    if found[: len(expected)] != expected:
        raise format_error(file, SOURCE, expected, found, hint="RecBole atomic file, tab-separated")


def _load_recbole(inters: list[Path], item_files: list[Path], report: IngestReport) -> Loaded:
    rows = []
    for file in inters:
        _check_tsv(file, INTER_COLUMNS)
        report.files.append(str(file))
        raw = read_csv(file, sep="\t", dtype=str, keep_default_na=False)
        for user, history, target in raw[INTER_COLUMNS].itertuples(index=False):
            sequence = history.split() + [target.strip()]
            last = len(sequence) - 1
            rows.extend((user.strip(), item, last - k) for k, item in enumerate(sequence) if item)
    frame = pd.DataFrame(rows, columns=[s.USER_ID, s.ITEM_ID, "_days_before_end"])
    report.count(TIMESTAMPS_SYNTHESIZED, len(frame))
    log.warning(
        "%s: RecBole sequences carry no times; synthesized one day apart ending %s: use sequences.split "
        "leave_last_out",
        SOURCE,
        REFERENCE_END.date(),
    )
    events = pd.DataFrame(
        {
            s.USER_ID: frame[s.USER_ID],
            s.ITEM_ID: frame[s.ITEM_ID],
            s.EVENT_TYPE: s.PURCHASE,
            s.TS: REFERENCE_END - pd.to_timedelta(frame["_days_before_end"], unit="D"),
        }
    )
    items = None
    if item_files:
        parts = []
        for file in item_files:
            _check_tsv(file, ITEM_COLUMNS)
            report.files.append(str(file))
            parts.append(read_csv(file, sep="\t", dtype=str, keep_default_na=False, quoting=3)[ITEM_COLUMNS])
        both = pd.concat(parts, ignore_index=True)
        items = pd.DataFrame({s.ITEM_ID: clean_ids(both[ITEM_COLUMNS[0]]), s.TITLE: both[ITEM_COLUMNS[1]]})
    return finish(events, items, None, report)
