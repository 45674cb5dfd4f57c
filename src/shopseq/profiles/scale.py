"""Profiles for event tables of any size: per-user work on an engine, population statistics once.

`build_profiles` holds every event in pandas (about 0.7 KB per event). Here the events go to
buckets of whole users once (`engine.map_users`: DuckDB buckets or Spark) and each bucket runs
the functions the in-memory build runs; what a user's features are measured against is computed
once over all users and handed to every bucket (`build.Population`), per cut:

- category median prices and the most frequent categories: DuckDB SQL over the bucketed events;
- the price scores (empirical Bayes over all users): each bucket writes its priced views and
  view-to-view moves, SQL counts the users walking each move (a move two users made is a link,
  not a choice), and `features.fit_price_population` fits the gathered views and free choices
  (this step holds the priced views in memory: three columns a view);
- the churn model: features and labels as of its two earlier cuts come from one more pass.

The named features, the decayed item text (one vector per user) and PCA then hold one row per
user, not per event. Outputs equal the in-memory build's up to float rounding (sums in another
order); `tests/pipeline/test_profiles_at_scale.py` checks them.
"""

from __future__ import annotations

import logging
import shutil
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from shopseq import schema as s
from shopseq.config import Base, Profiles
from shopseq.embeddings.vectors import ItemVectors, ReviewVectors
from shopseq.engine import ROW, map_users
from shopseq.engine.embedded import connect
from shopseq.profiles import features as f
from shopseq.profiles.build import Population, ProfileTable, behaviour_features, finish_profiles
from shopseq.profiles.churn import (
    EXCLUDED_PREFIXES, ChurnData, check_label_window, churn_cuts, churn_risk_from, user_labels,
)
from shopseq.profiles.text import decayed_item_vectors

log = logging.getLogger(__name__)

DAY = pd.Timedelta(days=1)
CUT = "cut"  # which cut a row of a pass belongs to (its position in the pass's list of cuts)
SEQ = "seq"  # a row's position in its bucket's output: the bucket's order, kept through SQL
KIND = "kind"  # price inputs: "view" (a priced view and whether it was carted) or "move"
TEXT_PREFIX = "text_"
LABEL = "churned"
PRICE_SCHEMA = pa.schema(
    [(KIND, pa.string()), (CUT, pa.int64()), (SEQ, pa.int64()), (s.USER_ID, pa.string()), ("x", pa.float64()),
     ("carted", pa.float64()), (f.MOVE_FROM, pa.string()), (f.MOVE_TO, pa.string()), (s.CATEGORY, pa.string())]
)


def build_profiles_in_buckets(
    events: Path,
    items: pd.DataFrame,
    item_vectors: ItemVectors,
    params: Profiles,
    base: Base,
    work: Path,
    reviews: ReviewVectors | None = None,
    seed: int = 0,
) -> tuple[ProfileTable, pd.Series | None, dict]:
    """The profile table, churn risk and churn metrics the profiles stage writes, bucket by bucket.

    Args:
        events: the validated events file (whole table, source order).
        items: canonical items (small: one row per item), handed to every bucket.
        work: scratch folder (removed at the end).

    Returns:
        (profiles as of the end of the data, churn risk per user or None, churn metrics), as
        `build_profiles` and `churn.churn_risk` give them on the table in memory.
    """
    shutil.rmtree(work, ignore_errors=True)
    try:
        users = map_users(_whole_users, events, work / "events", _bucket_schema(events), base,
                          "profiles: users into buckets", keep_row=True)
        first, last = _time_range(users)
        end = last.floor("D") + DAY
        sql = _Sql(users, items, base, work)
        named, text = _end_features(users, items, item_vectors, end, params, base, work, sql)
        table = finish_profiles(named, text, end, params, reviews, item_vectors.dim, seed)
        churn = _ChurnInputs(users, items, end, last, params, base, work, sql)
        risk, metrics = churn_risk_from(ChurnData(first, churn.features(named), churn.labels), end, params, seed)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return table, risk, metrics


def _whole_users(frame: pd.DataFrame) -> pd.DataFrame:
    """A bucket as it came (with `_row`): the later passes read the buckets, not the table."""
    return frame


def _bucket_schema(events: Path) -> pa.Schema:
    """The events file's columns (strings as `string`), plus `_row`."""
    fields = [pa.field(f.name, pa.string() if pa.types.is_large_string(f.type) else f.type)
              for f in pq.read_schema(events)]
    return pa.schema(fields + [pa.field(ROW, pa.int64())])


def _time_range(users: Path) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First and last event time over every part (Spark writes `ts` as nanosecond longs)."""
    low, high = [], []
    for part in sorted(users.glob("*.parquet")):
        ts = pq.read_table(part, columns=[s.TS]).column(s.TS).cast(pa.int64())
        if len(ts):
            bounds = pc.min_max(ts)
            low.append(bounds["min"].as_py())
            high.append(bounds["max"].as_py())
    if not high:
        raise ValueError("events: no rows, so there is no end of the data to build profiles at")
    return pd.Timestamp(min(low), unit="ns", tz="UTC"), pd.Timestamp(max(high), unit="ns", tz="UTC")


def _bucket(frame: pd.DataFrame) -> pd.DataFrame:
    """A bucket as the in-memory build sees the table: canonical dtypes, source order."""
    frame = frame.sort_values(ROW, kind="stable") if ROW in frame else frame
    return s.conform(frame.drop(columns=ROW, errors="ignore").reset_index(drop=True), s.EVENTS)


class _Sql:
    """DuckDB over the bucketed events: the population statistics of one cut."""

    def __init__(self, users: Path, items: pd.DataFrame, base: Base, work: Path) -> None:
        self.con = connect(base.engine_memory, work / "spill")
        self.con.register("items_frame", items[[s.ITEM_ID, s.CATEGORY, s.PRICE]])
        self.con.execute(f"CREATE VIEW raw_events AS SELECT * FROM read_parquet('{users}/*.parquet')")
        ts_type = self.con.execute(f"SELECT typeof({s.TS}) FROM raw_events LIMIT 1").fetchall()[0][0]
        ts_ns = s.TS if ts_type == "BIGINT" else f"epoch_ns({s.TS})"
        self.con.execute(
            f"""CREATE VIEW events AS
            SELECT e.{s.USER_ID}, e.{s.EVENT_TYPE}, e.{ROW}, {ts_ns} AS ts_ns, i.{s.CATEGORY},
                   coalesce(e.{s.PRICE}, i.{s.PRICE}) AS unit_price
            FROM raw_events e LEFT JOIN items_frame i ON e.{s.ITEM_ID} = i.{s.ITEM_ID}"""
        )
        self.items = items

    def population(self, cut: pd.Timestamp, params: Profiles, fits: f.PriceFits, frequent: bool) -> Population:
        """Medians and (when `frequent`) the share categories of the events before `cut`; `fits` as given."""
        return Population(self.medians(cut), self.frequent(cut, params.max_categories) if frequent else [], fits)

    def medians(self, cut: pd.Timestamp) -> pd.Series:
        """`features.category_median_prices` of the events before `cut`, the event medians in SQL."""
        observed = self.con.execute(
            f"""SELECT {s.CATEGORY}, median(unit_price) AS m FROM events
            WHERE ts_ns < {cut.value} AND {s.CATEGORY} IS NOT NULL AND unit_price IS NOT NULL
            GROUP BY {s.CATEGORY}"""
        ).df()
        return f.category_median_prices(self.items, None, observed.set_index(s.CATEGORY)["m"].astype("float64"))

    def frequent(self, cut: pd.Timestamp, max_categories: int) -> list:
        """`features.frequent_categories`: counts over all buckets, ties by first appearance in the source."""
        rows = self.con.execute(
            f"""SELECT {s.CATEGORY} FROM events WHERE ts_ns < {cut.value} AND {s.CATEGORY} IS NOT NULL
            GROUP BY {s.CATEGORY} ORDER BY count(*) DESC, min({ROW}) LIMIT {int(max_categories)}"""
        ).fetchall()
        return [row[0] for row in rows]

    def has_priced_views(self, cut: pd.Timestamp, medians: pd.Series) -> bool:
        """Whether any view before `cut` has a price and a category with a known median."""
        if medians.empty:
            return False
        self.con.register("medians_frame", pd.DataFrame({s.CATEGORY: medians.index.astype(str)}))
        return bool(self.con.execute(
            f"""SELECT count(*) FROM events SEMI JOIN medians_frame USING ({s.CATEGORY})
            WHERE ts_ns < {cut.value} AND {s.EVENT_TYPE} = '{s.VIEW}' AND unit_price > 0"""
        ).fetchall()[0][0])

    def price_inputs(self, parts: Path, cut: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(views, free choices) of cut number `cut` from the buckets' price inputs (see `free_choices`)."""
        self.con.execute(f"CREATE OR REPLACE VIEW price AS SELECT * FROM read_parquet('{parts}/*.parquet') WHERE {CUT} = {cut}")
        views = self.con.execute(
            f"SELECT {s.USER_ID}, x, carted FROM price WHERE {KIND} = 'view' ORDER BY {s.USER_ID}, {SEQ}").df()
        choices = self.con.execute(
            f"""WITH walkers AS (
                SELECT "{f.MOVE_FROM}", "{f.MOVE_TO}", count(DISTINCT {s.USER_ID}) AS n FROM price
                WHERE {KIND} = 'move' AND "{f.MOVE_FROM}" IS NOT NULL GROUP BY ALL)
            SELECT p.{s.USER_ID}, p.{s.CATEGORY}, p.x FROM price p
            LEFT JOIN walkers w ON p."{f.MOVE_FROM}" = w."{f.MOVE_FROM}" AND p."{f.MOVE_TO}" = w."{f.MOVE_TO}"
            WHERE p.{KIND} = 'move' AND p.x IS NOT NULL AND coalesce(w.n, 0) < 2
            ORDER BY p.{s.USER_ID}, p.{SEQ}"""
        ).df()
        return _as_strings(views), _as_strings(choices)


def _as_strings(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns of a DuckDB result as pandas' `string`, as the in-memory frames hold them."""
    for column in (s.USER_ID, s.CATEGORY):
        if column in frame:
            frame[column] = frame[column].astype("string")
    return frame


def _populations(
    users: Path, items: pd.DataFrame, cuts: list[pd.Timestamp], params: Profiles, base: Base, work: Path, sql: _Sql,
    frequent: bool,
) -> list[Population]:
    """The population of each cut: SQL statistics, and price fits from one pass over the buckets."""
    medians = [sql.medians(cut) for cut in cuts]
    priced = [sql.has_priced_views(cut, m) for cut, m in zip(cuts, medians)]
    no_views = pd.DataFrame({s.USER_ID: pd.Series(dtype="string"), "x": pd.Series(dtype="float64"),
                             "carted": pd.Series(dtype="float64")})
    no_choices = pd.DataFrame({s.USER_ID: pd.Series(dtype="string"), s.CATEGORY: pd.Series(dtype="string"),
                               "x": pd.Series(dtype="float64")})
    inputs = [(no_views, no_choices)] * len(cuts)
    if any(priced):
        fn = partial(bucket_price_inputs, items=items, cuts=cuts, medians=medians, priced=priced, params=params)
        parts = map_users(fn, users, work / "price", PRICE_SCHEMA, base, "profiles: price inputs", bucketed=True)
        inputs = [sql.price_inputs(parts, k) if priced[k] else inputs[k] for k in range(len(cuts))]
    return [
        Population(m, sql.frequent(cut, params.max_categories) if frequent else [], f.fit_price_population(*io))
        for cut, m, io in zip(cuts, medians, inputs)
    ]


def bucket_price_inputs(
    frame: pd.DataFrame, items: pd.DataFrame, cuts: list[pd.Timestamp], medians: list[pd.Series],
    priced: list[bool], params: Profiles,
) -> pd.DataFrame:
    """Priced views (`view_conversions`) and view moves (`view_moves`) of whole users, per cut."""
    events = _bucket(frame)
    gap = pd.Timedelta(minutes=params.session_gap_minutes)
    out = []
    for k, (cut, median) in enumerate(zip(cuts, medians)):
        past = f.events_before(events, cut)
        if not priced[k] or past.empty:
            continue
        prepared = f.with_log_relative(f.prepare_events(past, items, gap), median)
        views = f.view_conversions(prepared).assign(**{KIND: "view"})
        moves = f.view_moves(prepared).assign(**{KIND: "move"})
        for rows in (views, moves):
            out.append(rows.reset_index(drop=True).assign(**{CUT: k, SEQ: np.arange(len(rows))}))
    if not out:
        return pd.DataFrame({name: pd.Series(dtype="object") for name in PRICE_SCHEMA.names})
    return pd.concat(out, ignore_index=True).reindex(columns=PRICE_SCHEMA.names)


def bucket_features(
    frame: pd.DataFrame, items: pd.DataFrame, cuts: list[pd.Timestamp], populations: list[Population],
    params: Profiles, columns: list[str], names: list[str], item_vectors: ItemVectors | None = None,
    churn_days: int | None = None,
) -> pd.DataFrame:
    """`behaviour_features` of whole users at each cut against the population's statistics.

    With `item_vectors`, each user's decayed item text (`text_0..`) as of the cut; with
    `churn_days`, each user's churn label as of the cut (`churned`). `names`: the output's columns.
    """
    events = _bucket(frame)
    out = []
    for k, (cut, population) in enumerate(zip(cuts, populations)):
        if f.events_before(events, cut).empty:
            continue
        named, prepared = behaviour_features(events, items, cut, params, population)
        rows = named[columns]
        if item_vectors is not None:
            users = pd.Index(named.index.astype("string"), name=s.USER_ID)
            text = decayed_item_vectors(prepared, item_vectors, users, cut, params.text_half_life_days)  # (U, H)
            rows = rows.join(pd.DataFrame(text, index=named.index, columns=_text_columns(item_vectors.dim)))
        if churn_days is not None:
            rows = rows.join(user_labels(events, cut, churn_days).rename(LABEL))
        out.append(rows.rename_axis(s.USER_ID).reset_index().assign(**{CUT: k}))
    return pd.concat(out, ignore_index=True)[names] if out else pd.DataFrame(columns=names)


def _text_columns(dim: int) -> list[str]:
    return [f"{TEXT_PREFIX}{i}" for i in range(dim)]


def _named_columns(frequent: list) -> list[str]:
    """The columns of `behaviour_features`, in its order, when `frequent` get a share column."""
    return [
        "days_since_last_event", "days_since_first_event", "n_events", "n_sessions", "active_days",
        "n_views", "n_carts", "n_purchases", "cart_per_view", "purchase_per_cart", "purchase_per_view",
        "spend", "mean_purchase_price",
        *[f.CATEGORY_SHARE_PREFIX + str(c) for c in frequent], "top_category", "top_category_share", "n_categories",
        "cheap_purchase_share", "price_paid_ratio", "price_choice_score", "price_conversion_slope", "price_sensitivity",
        "weekly_events_last_2w", "weekly_events_prev_2w", "activity_trend",
    ]


def _features_schema(columns: list[str], extra: list[tuple[str, pa.DataType]]) -> pa.Schema:
    fields = [(s.USER_ID, pa.string())]
    fields += [(c, pa.string() if c == "top_category" else pa.float64()) for c in columns]
    return pa.schema(fields + extra + [(CUT, pa.int64())])


def _read_features(parts: Path, cut: int = 0) -> pd.DataFrame:
    """One cut's rows of a features pass, indexed by user id in the in-memory build's order."""
    table = pq.read_table(parts, filters=[(CUT, "=", cut)])
    frame = table.to_pandas().drop(columns=CUT)
    frame[s.USER_ID] = frame[s.USER_ID].astype("string")
    if "top_category" in frame:
        frame["top_category"] = frame["top_category"].astype("string")
    return frame.set_index(s.USER_ID).sort_index()


def _end_features(
    users: Path, items: pd.DataFrame, item_vectors: ItemVectors, end: pd.Timestamp, params: Profiles, base: Base,
    work: Path, sql: _Sql,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Named features and decayed item text of every user as of `end`, sorted by user id."""
    population = _populations(users, items, [end], params, base, work, sql, frequent=True)[0]
    columns = _named_columns(population.frequent)
    text_columns = _text_columns(item_vectors.dim)
    schema = _features_schema(columns, [(c, pa.float32()) for c in text_columns])
    fn = partial(bucket_features, items=items, cuts=[end], populations=[population], params=params,
                 columns=columns, names=schema.names, item_vectors=item_vectors)
    parts = map_users(fn, users, work / "end", schema, base, "profiles: features", bucketed=True)
    frame = _read_features(parts)
    return frame[columns], frame[text_columns].to_numpy(dtype=np.float32)


class _ChurnInputs:
    """Features and labels as of the churn model's two cuts, built by one pass when first asked for."""

    def __init__(self, users: Path, items: pd.DataFrame, end: pd.Timestamp, last: pd.Timestamp, params: Profiles,
                 base: Base, work: Path, sql: _Sql) -> None:
        self.args = (users, items, params, base, work, sql)
        self.cuts = list(churn_cuts(end, params.churn_days))
        self.end, self.last, self.days = end, last, params.churn_days
        self.frames: list[pd.DataFrame] | None = None

    def features(self, at_end: pd.DataFrame):
        """A `FeatureBuilder`: `at_end` as of the end, the pass's rows as of the churn cuts."""

        def build(cut: pd.Timestamp) -> pd.DataFrame:
            return at_end if cut == self.end else self._frames()[self.cuts.index(cut)].drop(columns=LABEL)

        return build

    def labels(self, cut: pd.Timestamp) -> pd.Series:
        """`churn_labels` as of `cut` from the pass's rows (the window checked on the whole table)."""
        check_label_window(self.last, cut, self.days)
        return self._frames()[self.cuts.index(cut)][LABEL].astype("int64")

    def _frames(self) -> list[pd.DataFrame]:
        if self.frames is None:
            users, items, params, base, work, sql = self.args
            populations = _populations(users, items, self.cuts, params, base, work, sql, frequent=False)
            columns = [c for c in _named_columns([]) if not c.startswith(EXCLUDED_PREFIXES)]
            schema = _features_schema(columns, [(LABEL, pa.int64())])
            fn = partial(bucket_features, items=items, cuts=self.cuts, populations=populations, params=params,
                         columns=columns, names=schema.names, churn_days=self.days)
            parts = map_users(fn, users, work / "churn", schema, base, "profiles: churn cuts", bucketed=True)
            self.frames = [_read_features(parts, k) for k in range(len(self.cuts))]
        return self.frames
