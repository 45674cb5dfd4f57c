"""Per-user behaviour features from events: recency, frequency, money, funnel, categories, price, churn.

Every function takes events already cut at `as_of` (see `events_before`) and returns one row per
user, indexed by user id. Ratios whose denominator is zero are NaN (a user who viewed nothing has
no cart-per-view rate); counts and shares are never NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from shopseq import schema as s
from shopseq.profiles import price
from shopseq.profiles.price import conversion_slopes  # noqa: F401  (re-exported: the slope from carts alone)

DAY = pd.Timedelta(days=1)
UNIT_PRICE = "unit_price"  # price of one unit: the event's, else the item's catalogue price
UNITS = "units"  # quantity, 1 when the event does not say
SESSION = "session_key"  # session id, or a derived one for events without a session id
PRICE_SIGNAL_PRIOR = 5.0  # pseudo-views at the category mean: shrinks the choice score of users with few views
CATEGORY_SHARE_PREFIX = "category_share__"
MOVE_FROM, MOVE_TO = "from", "to"  # a view's previous item in its session, and its own item


def utc_timestamp(as_of: str | pd.Timestamp) -> pd.Timestamp:
    """`as_of` as a tz-aware UTC timestamp (a naive value is taken to be UTC)."""
    ts = pd.Timestamp(as_of)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def end_of_data(events: pd.DataFrame) -> pd.Timestamp:
    """Midnight after the last event's UTC day: the `as_of` that keeps every event."""
    if events.empty:
        raise ValueError("events: no rows, so there is no end of the data to build profiles at")
    return events[s.TS].max().floor("D") + DAY


def events_before(events: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Only events strictly before `as_of`: nothing from the future leaks into a profile."""
    return events[events[s.TS] < as_of]


def prepare_events(events: pd.DataFrame, items: pd.DataFrame, session_gap: pd.Timedelta) -> pd.DataFrame:
    """Events joined to their item's category, with unit price, units and a session key.

    Raises:
        ValueError: an item id appears twice in `items` (the join would duplicate events).
    """
    if not items[s.ITEM_ID].is_unique:
        duplicated = items[s.ITEM_ID][items[s.ITEM_ID].duplicated()]
        raise ValueError(f"items: {len(duplicated)} duplicate item_id value(s), e.g. {duplicated.iloc[0]!r}")
    catalogue = items[[s.ITEM_ID, s.CATEGORY, s.PRICE]].rename(columns={s.PRICE: "item_price"})
    frame = events.merge(catalogue, on=s.ITEM_ID, how="left")
    frame[UNIT_PRICE] = frame[s.PRICE].fillna(frame["item_price"]).astype("float64")
    frame[UNITS] = frame[s.QUANTITY].fillna(1.0).astype("float64")
    frame[SESSION] = session_keys(frame, session_gap)
    return frame.drop(columns="item_price")


def session_keys(events: pd.DataFrame, gap: pd.Timedelta) -> pd.Series:
    """The session id where given; else a new session whenever a user is idle longer than `gap`."""
    given = events[s.SESSION_ID]
    if given.notna().all():
        return "s:" + given.astype("string")
    ordered = events.sort_values([s.USER_ID, s.TS], kind="stable")
    idle = ordered.groupby(s.USER_ID, sort=False)[s.TS].diff()
    new_session = idle.isna() | (idle > gap)
    derived = "g:" + ordered[s.USER_ID].astype("string") + ":" + new_session.cumsum().astype("string")
    return ("s:" + given.astype("string")).fillna(derived.reindex(events.index))


def activity_features(events: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Recency and frequency: days since last/first event, #events, #sessions, active days."""
    by_user = events.assign(day=events[s.TS].dt.floor("D")).groupby(s.USER_ID, sort=True)
    return pd.DataFrame(
        {
            "days_since_last_event": (as_of - by_user[s.TS].max()) / DAY,
            "days_since_first_event": (as_of - by_user[s.TS].min()) / DAY,
            "n_events": by_user.size().astype("float64"),
            "n_sessions": by_user[SESSION].nunique().astype("float64"),
            "active_days": by_user["day"].nunique().astype("float64"),
        }
    )


def funnel_features(events: pd.DataFrame) -> pd.DataFrame:
    """Counts per event type and the funnel rates cart/view, purchase/cart, purchase/view."""
    counts = events.groupby([s.USER_ID, s.EVENT_TYPE]).size().unstack(fill_value=0)  # crosstab's counts, vectorised
    views, carts, purchases = (_column(counts, kind) for kind in (s.VIEW, s.CART, s.PURCHASE))
    return pd.DataFrame(
        {
            "n_views": views,
            "n_carts": carts,
            "n_purchases": purchases,
            "cart_per_view": _ratio(carts, views),
            "purchase_per_cart": _ratio(purchases, carts),
            "purchase_per_view": _ratio(purchases, views),
        }
    )


def monetary_features(events: pd.DataFrame) -> pd.DataFrame:
    """Spend (sum of unit price x units over purchases) and mean unit price paid."""
    purchases = events[events[s.EVENT_TYPE] == s.PURCHASE]
    amount = purchases[UNIT_PRICE] * purchases[UNITS]
    by_user = purchases.assign(amount=amount).groupby(s.USER_ID)
    users = events[s.USER_ID].unique()
    return pd.DataFrame(
        {
            "spend": by_user["amount"].sum().reindex(users, fill_value=0.0),
            "mean_purchase_price": by_user[UNIT_PRICE].mean().reindex(users),
        }
    ).rename_axis(s.USER_ID)


def frequent_categories(events: pd.DataFrame, max_categories: int) -> list:
    """The `max_categories` most frequent known categories of `events`, ties in order of first appearance."""
    return list(events[s.CATEGORY].dropna().value_counts().index[:max_categories])


def category_features(events: pd.DataFrame, max_categories: int, frequent: list | None = None) -> pd.DataFrame:
    """Share of each user's events per category (the `max_categories` most frequent), top category.

    Events of items without a known category are left out of the shares.

    Args:
        frequent: the categories that get a share column; by default the most frequent of
            `events` (`frequent_categories`). A bucket of users passes the whole table's.
    """
    known = events[events[s.CATEGORY].notna()]
    users = pd.Index(events[s.USER_ID].unique(), name=s.USER_ID)
    frequent = frequent_categories(known, max_categories) if frequent is None else frequent
    if known.empty:
        out = pd.DataFrame(0.0, index=users, columns=[CATEGORY_SHARE_PREFIX + str(c) for c in frequent])
        out["top_category"] = pd.Series(pd.NA, index=users, dtype="string")
        out["top_category_share"] = 0.0
        out["n_categories"] = 0.0
        return out
    # Counts per (user, category) as a long table: a dense users x categories matrix (what
    # pd.crosstab builds, one Python call per pair) is slow and grows with the catalogue.
    counts = known.groupby([s.USER_ID, s.CATEGORY], sort=True).size().rename("n").reset_index()  # (pairs,)
    total = counts.groupby(s.USER_ID)["n"].sum()  # events with a known category per user
    counts["share"] = counts["n"] / counts[s.USER_ID].map(total)
    wide = counts[counts[s.CATEGORY].isin(frequent)]
    # pivot fails on no rows (no share category, or none of them in a bucket): all shares are 0 then
    wide = wide.pivot(index=s.USER_ID, columns=s.CATEGORY, values="share") if len(wide) else pd.DataFrame()
    out = wide.reindex(index=users, columns=frequent).fillna(0.0).astype("float64")
    out.columns = [CATEGORY_SHARE_PREFIX + str(c) for c in frequent]
    # The top category: the largest count, ties to the first category in sorted order (as idxmax
    # over crosstab's sorted columns picks it).
    top = counts.sort_values([s.USER_ID, "n", s.CATEGORY], ascending=[True, False, True], kind="stable")
    top = top.drop_duplicates(s.USER_ID).set_index(s.USER_ID)
    out["top_category"] = top[s.CATEGORY].reindex(users).astype("string")
    out["top_category_share"] = (top["n"] / total).reindex(users).fillna(0.0).astype("float64")
    out["n_categories"] = counts.groupby(s.USER_ID).size().reindex(users, fill_value=0).astype("float64")
    return out


def category_median_prices(
    items: pd.DataFrame, events: pd.DataFrame | None, observed: pd.Series | None = None
) -> pd.Series:
    """Median catalogue price per category; the median event price where the catalogue has none.

    Args:
        events: prepared events, for the median unit price per category.
        observed: that median when computed elsewhere (over buckets of users, in SQL); then
            `events` is not read.
    """
    catalogue = items.dropna(subset=[s.CATEGORY, s.PRICE]).groupby(s.CATEGORY)[s.PRICE].median()
    if observed is None:
        observed = events.dropna(subset=[s.CATEGORY, UNIT_PRICE]).groupby(s.CATEGORY)[UNIT_PRICE].median()
    medians = catalogue.combine_first(observed)
    return medians[medians > 0]


@dataclass(frozen=True)
class PriceFits:
    """The population fits behind the price features: per-user scores fitted over all users together.

    Attributes:
        choice: price_choice_score per user with freely chosen priced views.
        slope: price_conversion_slope per user with priced views.
        slope_fill: the slope of a user without one (the population mean; 0 without any).
        sensitivity: price_sensitivity per user with priced views or choices.
    """

    choice: pd.Series
    slope: pd.Series
    slope_fill: float
    sensitivity: pd.Series


def with_log_relative(events: pd.DataFrame, medians: pd.Series) -> pd.DataFrame:
    """Prepared events with `relative` (unit price / category median) and its log (NaN where unknown)."""
    relative = events[UNIT_PRICE] / events[s.CATEGORY].map(medians).astype("float64")
    return events.assign(relative=relative, log_relative=np.log(relative.where(relative > 0)))


def fit_price_population(views: pd.DataFrame, choices: pd.DataFrame) -> PriceFits:
    """Fit the price scores over all users at once (empirical Bayes: one population prior).

    Args:
        views: `view_conversions` of every user.
        choices: `free_choices` of every user.
    """
    evidence = price.choice_evidence(choices)
    mean_variance = float(evidence["V"].sum() / max(len(choices), 1))  # category variance of one view
    slope = price.conversion_slopes(views)
    return PriceFits(
        choice=evidence["R"] / (evidence["V"] + PRICE_SIGNAL_PRIOR * mean_variance),
        slope=slope,
        slope_fill=float(slope.mean()) if slope.notna().any() else 0.0,
        sensitivity=price.sensitivity_scores(views, evidence),
    )


def price_features(events: pd.DataFrame, medians: pd.Series, fits: PriceFits | None = None) -> pd.DataFrame:
    """Price sensitivity from what users pick and what they convert on, relative to the category.

    - cheap_purchase_share: share of purchases priced below their category's median (NaN: none).
    - price_paid_ratio: mean of unit price / category median over purchases (NaN: none).
    - price_choice_score: how far below the category's usual price the items a user picks freely
      lie (see `free_choices`): minus the sum of log(unit price / category median) less its
      category mean, over the summed category variance plus `PRICE_SIGNAL_PRIOR` views' worth
      (shrinks users with few views towards 0, the population).
    - price_conversion_slope: how fast a user's chance of carting a viewed item falls as its
      price rises above the category median (empirical Bayes from carts alone, `price.conversion_slopes`);
      the population mean for users with few priced views.
    - price_sensitivity: the combined score: posterior mean of one latent sensitivity driving both
      the conversion slope and the choice tilt, their ratio fitted by marginal likelihood
      (`price.sensitivity_scores`); 0 is the average user, higher is more sensitive. An event's
      price is the price paid, so carts on discounted views count as reactions to price changes.

    Args:
        fits: the population fits; by default fitted on `events` (a bucket of users passes the
            fits over every user, `fit_price_population`).
    """
    priced = with_log_relative(events, medians)
    relative = priced["relative"]  # NaN where price or category median is unknown
    is_purchase = (events[s.EVENT_TYPE] == s.PURCHASE) & relative.notna()
    frame = pd.DataFrame(
        {
            s.USER_ID: events[s.USER_ID],
            "cheap": (relative < 1.0).where(is_purchase).astype("float64"),
            "paid_ratio": relative.where(is_purchase),
        }
    )
    by_user = frame.groupby(s.USER_ID)
    users = by_user.size().index
    if fits is None:
        fits = fit_price_population(view_conversions(priced), free_choices(priced))
    return pd.DataFrame(
        {
            "cheap_purchase_share": by_user["cheap"].mean(),
            "price_paid_ratio": by_user["paid_ratio"].mean(),
            "price_choice_score": fits.choice.reindex(users, fill_value=0.0).fillna(0.0),
            "price_conversion_slope": fits.slope.reindex(users).fillna(fits.slope_fill),
            "price_sensitivity": fits.sensitivity.reindex(users, fill_value=0.0),
        }
    )


def view_conversions(events: pd.DataFrame) -> pd.DataFrame:
    """One row per priced view: user, log relative price, and whether the user carted that item in that session.

    Args:
        events: prepared events with a `log_relative` column (log unit price / category median).
    """
    carts = events.loc[events[s.EVENT_TYPE] == s.CART, [s.USER_ID, s.ITEM_ID, SESSION]].drop_duplicates()
    views = events.loc[(events[s.EVENT_TYPE] == s.VIEW) & events["log_relative"].notna(),
                       [s.USER_ID, s.ITEM_ID, SESSION, "log_relative"]]
    merged = views.merge(carts.assign(carted=1.0), on=[s.USER_ID, s.ITEM_ID, SESSION], how="left")
    return pd.DataFrame(
        {s.USER_ID: merged[s.USER_ID], "x": merged["log_relative"], "carted": merged["carted"].fillna(0.0)}
    )


def view_moves(events: pd.DataFrame) -> pd.DataFrame:
    """Every view with the item viewed before it in its session (`from`, NA for a session's first view).

    Args:
        events: prepared events with a `log_relative` column.

    Returns:
        Columns user_id, from, to, category, x (log relative price), one row per view, each
        user's views in time order.
    """
    views = events.loc[events[s.EVENT_TYPE] == s.VIEW, [s.USER_ID, s.ITEM_ID, SESSION, s.TS, s.CATEGORY, "log_relative"]]
    views = views.sort_values([s.USER_ID, s.TS], kind="stable")
    previous = views.groupby([s.USER_ID, SESSION], sort=False)[s.ITEM_ID].shift()
    return pd.DataFrame(
        {s.USER_ID: views[s.USER_ID], MOVE_FROM: previous, MOVE_TO: views[s.ITEM_ID],
         s.CATEGORY: views[s.CATEGORY], "x": views["log_relative"]}
    )


def free_choices(events: pd.DataFrame) -> pd.DataFrame:
    """Priced views a user chose, not followed from a link: the evidence of what prices a user picks.

    A view that follows the previous item of its session along a transition some other user
    made too (the same item after the same item) is most likely a click on a link the shop shows
    (related items, "customers also viewed"): the shop picked it, not the user's price taste, so
    it is left out. The first view of a session and transitions no one else made stay.

    Args:
        events: prepared events with a `log_relative` column.

    Returns:
        Columns user_id, category, x (log relative price), one row per freely chosen priced view.
    """
    moves = view_moves(events)
    walkers = moves[[MOVE_FROM, MOVE_TO, s.USER_ID]].dropna().groupby([MOVE_FROM, MOVE_TO])[s.USER_ID].nunique()
    shared = pd.Series(
        walkers.reindex(pd.MultiIndex.from_arrays([moves[MOVE_FROM], moves[MOVE_TO]])).to_numpy(), index=moves.index
    ).fillna(0.0) >= 2
    chosen = moves[~shared & moves["x"].notna()]
    return pd.DataFrame({s.USER_ID: chosen[s.USER_ID], s.CATEGORY: chosen[s.CATEGORY], "x": chosen["x"]})


def churn_features(events: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Weekly activity in the last two weeks vs the two before, and its trend in [-1, 1].

    activity_trend = (last - previous) / (last + previous); 0 when both windows are empty.
    """
    age = as_of - events[s.TS]
    last = (age <= 14 * DAY).astype("float64")
    previous = ((age > 14 * DAY) & (age <= 28 * DAY)).astype("float64")
    by_user = pd.DataFrame({s.USER_ID: events[s.USER_ID], "last": last, "previous": previous}).groupby(s.USER_ID)
    counts = by_user[["last", "previous"]].sum()
    total = counts["last"] + counts["previous"]
    return pd.DataFrame(
        {
            "weekly_events_last_2w": counts["last"] / 2.0,
            "weekly_events_prev_2w": counts["previous"] / 2.0,
            "activity_trend": ((counts["last"] - counts["previous"]) / total.where(total > 0)).fillna(0.0),
        }
    )


def _column(counts: pd.DataFrame, kind: str) -> pd.Series:
    if kind in counts.columns:
        return counts[kind].astype("float64")
    return pd.Series(0.0, index=counts.index)


def _ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    return numerator / denominator.where(denominator > 0)
