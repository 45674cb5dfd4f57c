"""One profile row per user, as of a point in time: named features plus PCA coordinates."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from shopseq import schema as s
from shopseq.config import Profiles
from shopseq.embeddings.vectors import ItemVectors, ReviewVectors
from shopseq.profiles import features as f
from shopseq.profiles.reduce import reduce_profiles
from shopseq.profiles.text import decayed_item_vectors, mean_review_vectors

log = logging.getLogger(__name__)

PC_PREFIX = "pc_"


@dataclass(frozen=True)
class ProfileTable:
    """The profiles and what the reduction kept.

    Attributes:
        frame: user_id, named features, pc_0..pc_{k-1}; one row per user with an event before as_of.
        feature_names: the named feature columns (numeric ones and top_category).
        explained_variance: (k,) share of variance per principal component.
        as_of: the point in time the profiles describe (exclusive).
    """

    frame: pd.DataFrame
    feature_names: list[str]
    explained_variance: np.ndarray
    as_of: pd.Timestamp


def build_profiles(
    events: pd.DataFrame,
    items: pd.DataFrame,
    item_vectors: ItemVectors,
    as_of: str | pd.Timestamp,
    params: Profiles,
    reviews: ReviewVectors | None = None,
    seed: int = 0,
) -> ProfileTable:
    """Profiles of every user from events strictly before `as_of` (point in time, no leakage).

    Args:
        events: canonical events (schema.EVENTS).
        items: canonical items (schema.ITEMS): categories and catalogue prices.
        item_vectors: the embed stage's item vectors.
        as_of: cut-off; events and reviews at or after it are ignored.
        params: the `profiles` section.
        reviews: the embed stage's review vectors, for the mean of each user's own reviews.
        seed: fixes the PCA solver.

    Raises:
        ValueError: no event lies before `as_of`.
    """
    as_of = f.utc_timestamp(as_of)
    named, prepared = behaviour_features(events, items, as_of, params)
    users = pd.Index(named.index.astype("string"), name=s.USER_ID)
    text = decayed_item_vectors(prepared, item_vectors, users, as_of, params.text_half_life_days)  # (U, H)
    return finish_profiles(named, text, as_of, params, reviews, item_vectors.dim, seed)


def finish_profiles(
    named: pd.DataFrame,
    text: np.ndarray,
    as_of: pd.Timestamp,
    params: Profiles,
    reviews: ReviewVectors | None,
    dim: int,
    seed: int = 0,
) -> ProfileTable:
    """The profile table from every user's named features and decayed item text (rows of `named`).

    Adds each user's review text and count, then reduces [features | text] with PCA over all
    users; `build_profiles` and the bucketed build (`profiles.scale`) both end here.

    Args:
        named: `behaviour_features` of every user, sorted by user id.
        text: (U, H) `decayed_item_vectors` in the rows of `named`.
        dim: the item vectors' width H.
    """
    users = pd.Index(named.index.astype("string"), name=s.USER_ID)
    review_text, n_reviews = mean_review_vectors(reviews, users, as_of, dim)  # (U, H), (U,)
    named["n_reviews"] = n_reviews

    numeric = [c for c in named.columns if c != "top_category"]
    reduction = reduce_profiles(
        named[numeric].to_numpy(dtype=np.float64), np.hstack([text, review_text]), params.pca_components, seed
    )
    pcs = pd.DataFrame(
        reduction.components,
        index=named.index,
        columns=[f"{PC_PREFIX}{i}" for i in range(reduction.components.shape[1])],
    )
    frame = pd.concat([named, pcs], axis=1).rename_axis(s.USER_ID).reset_index()
    frame[s.USER_ID] = frame[s.USER_ID].astype("string")
    log.info(
        "profiles: %d users as of %s, %d named features, %d components (%.0f%% of variance)",
        len(frame), as_of.isoformat(), len(named.columns), reduction.components.shape[1],
        100 * float(reduction.explained_variance.sum()),
    )
    return ProfileTable(
        frame=frame,
        feature_names=list(named.columns),
        explained_variance=reduction.explained_variance,
        as_of=as_of,
    )


@dataclass(frozen=True)
class Population:
    """What each user's features are measured against: statistics over every user before one cut.

    Attributes:
        medians: median price per category (`features.category_median_prices`).
        frequent: the categories that get a share column (`features.frequent_categories`).
        price: the price scores fitted over all users together (`features.fit_price_population`).
    """

    medians: pd.Series
    frequent: list
    price: f.PriceFits


def population_of(prepared: pd.DataFrame, items: pd.DataFrame, params: Profiles) -> Population:
    """The population statistics of a whole table of prepared events (all users, one cut)."""
    medians = f.category_median_prices(items, prepared)
    priced = f.with_log_relative(prepared, medians)
    fits = f.fit_price_population(f.view_conversions(priced), f.free_choices(priced))
    return Population(medians, f.frequent_categories(prepared, params.max_categories), fits)


def behaviour_features(
    events: pd.DataFrame,
    items: pd.DataFrame,
    as_of: str | pd.Timestamp,
    params: Profiles,
    population: Population | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The named behaviour features of every user from events strictly before `as_of`.

    Args:
        population: the statistics the features are measured against; by default those of
            `events` (a bucket of users passes the whole table's, `profiles.scale`).

    Returns:
        (features indexed by user id, sorted; the prepared events before `as_of`).

    Raises:
        ValueError: no event lies before `as_of`.
    """
    as_of = f.utc_timestamp(as_of)
    past = f.events_before(events, as_of)
    if past.empty:
        raise ValueError(f"events: none before as_of {as_of.isoformat()}; nothing to build profiles from")
    prepared = f.prepare_events(past, items, pd.Timedelta(minutes=params.session_gap_minutes))
    population = population_of(prepared, items, params) if population is None else population
    named = pd.concat(
        [
            f.activity_features(prepared, as_of),
            f.funnel_features(prepared),
            f.monetary_features(prepared),
            f.category_features(prepared, params.max_categories, population.frequent),
            f.price_features(prepared, population.medians, population.price),
            f.churn_features(prepared, as_of),
        ],
        axis=1,
    ).sort_index()
    return named, prepared


def price_sensitivity_spearman(profiles: pd.DataFrame, truth: pd.DataFrame) -> tuple[float | None, int]:
    """Spearman rank correlation of `price_sensitivity` with the synthetic truth, and users compared."""
    from scipy.stats import spearmanr

    merged = profiles[[s.USER_ID, "price_sensitivity"]].merge(
        truth[[s.USER_ID, "price_sensitivity"]].astype({s.USER_ID: "string"}),
        on=s.USER_ID,
        suffixes=("", "_truth"),
    ).dropna()
    if len(merged) < 3:
        return None, len(merged)
    rho = spearmanr(merged["price_sensitivity"], merged["price_sensitivity_truth"]).statistic
    return (None if np.isnan(rho) else float(rho)), len(merged)
