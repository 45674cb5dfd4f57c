"""A seeded synthetic shop whose behaviour has learnable structure.

The generator is the project's default data source, so it has to behave like a real shop in the
ways the pipeline cares about:

- items belong to categories with their own vocabulary, brands and price levels; popularity
  inside a category is Zipf-like;
- every item leads to a few related items (mostly the same category, some complementary): the
  sequential structure a next-item model can learn and popularity cannot;
- users have sparse category preferences, a price sensitivity (the truth is written out so the
  profiles can be checked against it), an activity rate, and a quarter of them churn;
- sessions run view -> cart -> purchase with price-dependent conversion, consumables are bought
  again, weekends are busier, prices are sometimes discounted, buyers sometimes write reviews.

Everything is drawn from one seeded generator, and events are cut at `until` only after the
whole history is drawn, so a later `until` always extends an earlier one (growing data).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from shopseq import schema as s
from shopseq.config import Synthetic

log = logging.getLogger(__name__)
# What the generator knows about each user beyond behaviour (for checks, never for training).
TRUTH_COLUMNS = ["user_id", "price_sensitivity", "churned", "churn_ts", "top_category"]

# Category name -> (nouns, adjectives, phrases for descriptions, consumable?).
CATALOGUE: dict[str, tuple[list[str], list[str], list[str], bool]] = {
    "audio": (
        ["headphones", "earbuds", "speaker", "soundbar", "turntable"],
        ["wireless", "noise-cancelling", "bass-boosted", "portable", "hi-fi"],
        ["deep bass and clear highs", "long battery life", "bluetooth pairing in seconds"],
        False,
    ),
    "computers": (
        ["laptop", "monitor", "keyboard", "mouse", "webcam"],
        ["ultralight", "mechanical", "ergonomic", "4k", "gaming"],
        ["fast processor for everyday work", "sharp display", "quiet keys for the office"],
        False,
    ),
    "kitchen": (
        ["blender", "skillet", "kettle", "knife set", "coffee grinder"],
        ["stainless", "non-stick", "cast-iron", "electric", "compact"],
        ["easy to clean after cooking", "heats evenly", "dishwasher safe parts"],
        False,
    ),
    "coffee": (
        ["espresso beans", "ground coffee", "cold brew pack", "decaf roast", "coffee pods"],
        ["dark-roast", "single-origin", "organic", "fair-trade", "medium-roast"],
        ["notes of chocolate and caramel", "freshly roasted every week", "rich crema"],
        True,
    ),
    "beauty": (
        ["moisturizer", "serum", "shampoo", "lip balm", "sunscreen"],
        ["hydrating", "fragrance-free", "vegan", "spf 50", "gentle"],
        ["for sensitive skin", "absorbs quickly without residue", "dermatologist tested"],
        True,
    ),
    "pets": (
        ["dog food", "cat litter", "chew toy", "pet shampoo", "bird seed"],
        ["grain-free", "clumping", "durable", "natural", "high-protein"],
        ["vet recommended formula", "keeps your pet healthy", "made with real chicken"],
        True,
    ),
    "outdoor": (
        ["tent", "sleeping bag", "hiking boots", "backpack", "headlamp"],
        ["waterproof", "lightweight", "insulated", "rugged", "packable"],
        ["built for weekend trips", "survives rain and wind", "sets up in five minutes"],
        False,
    ),
    "fitness": (
        ["yoga mat", "dumbbells", "resistance bands", "protein powder", "jump rope"],
        ["non-slip", "adjustable", "heavy-duty", "vanilla", "speed"],
        ["for home workouts", "builds strength and endurance", "gym quality at home"],
        False,
    ),
    "books": (
        ["novel", "cookbook", "biography", "travel guide", "comic"],
        ["bestselling", "illustrated", "hardcover", "award-winning", "paperback"],
        ["a story you cannot put down", "recipes for every season", "maps and local tips"],
        False,
    ),
    "toys": (
        ["building blocks", "puzzle", "board game", "plush bear", "rc car"],
        ["educational", "family", "colorful", "1000-piece", "remote-controlled"],
        ["hours of fun for kids", "develops problem solving", "great gift for birthdays"],
        False,
    ),
    "garden": (
        ["hose", "pruning shears", "planter", "seed kit", "lawn sprinkler"],
        ["expandable", "ceramic", "heirloom", "oscillating", "rust-proof"],
        ["for balcony and backyard", "grows in any season", "sturdy in the sun"],
        False,
    ),
    "baby": (
        ["diapers", "baby wipes", "stroller", "bottle set", "baby monitor"],
        ["hypoallergenic", "ultra-soft", "foldable", "anti-colic", "video"],
        ["gentle on newborn skin", "parents' favourite", "safe and tested materials"],
        True,
    ),
}
BRAND_STEMS = ["Nova", "Acme", "Orbit", "Lumen", "Kito", "Vale", "Pico", "Zenith", "Mora", "Tern"]
PRICE_LEVEL = [80.0, 400.0, 45.0, 14.0, 18.0, 25.0, 90.0, 35.0, 15.0, 30.0, 28.0, 22.0]
WEEKDAY_WEIGHT = np.array([1.0, 0.95, 0.95, 1.0, 1.15, 1.45, 1.35])  # Monday .. Sunday
REVIEW_PHRASES = {
    "good": ["love this {noun}", "great {adj} {noun}, works as described", "would buy again",
             "excellent quality for the price", "exactly what I needed"],
    "bad": ["the {noun} broke after a week", "not as {adj} as advertised", "disappointed",
            "poor quality, returned it", "arrived damaged"],
    "mid": ["decent {noun}", "okay for the price", "does the job", "average {adj} {noun}"],
}


@dataclass(frozen=True)
class Shop:
    """The generated tables plus the ground truth the generator used (for checks, not training)."""

    events: pd.DataFrame
    items: pd.DataFrame
    reviews: pd.DataFrame
    users_truth: pd.DataFrame


def generate_shop(config: Synthetic, seed: int) -> Shop:
    """Draw a whole shop from `config` and `seed`, then cut it at `config.until` when set."""
    rng = np.random.default_rng(seed)
    if config.n_categories > len(CATALOGUE):
        raise ValueError(f"ingest.synthetic.n_categories is at most {len(CATALOGUE)} (categories with vocabulary)")
    categories = list(CATALOGUE)[: config.n_categories]
    items = _draw_items(config, categories, rng)
    related = _draw_related(items, config.related_items, len(categories), rng)
    users = _draw_users(config, len(categories), rng)
    events, purchases = _draw_events(config, items, related, users, rng)
    reviews = _draw_reviews(config, items, purchases, rng)

    start = pd.Timestamp(config.start, tz="UTC")
    end = start + pd.Timedelta(days=config.days)
    cut = min(end, pd.Timestamp(config.until, tz="UTC")) if config.until else end
    events = events[events[s.TS] < cut].sort_values([s.TS, s.USER_ID], kind="stable")
    reviews = reviews[reviews[s.TS] < cut].sort_values(s.TS, kind="stable")
    log.info(
        "synthetic shop: %d users, %d items, %d events, %d reviews up to %s",
        len(users), len(items), len(events), len(reviews), cut.date(),
    )
    truth = users[TRUTH_COLUMNS].copy()
    truth["top_category"] = [categories[c] for c in truth["top_category"]]
    return Shop(
        events=s.conform(events, s.EVENTS),
        items=s.conform(items, s.ITEMS),
        reviews=s.conform(reviews, s.REVIEWS),
        users_truth=truth.reset_index(drop=True),
    )


def _draw_items(config: Synthetic, categories: list[str], rng: np.random.Generator) -> pd.DataFrame:
    n = config.n_items
    category_idx = np.sort(rng.integers(0, len(categories), size=n))
    category_idx[: len(categories)] = np.arange(len(categories))  # every category has an item
    rows = []
    for i, c in enumerate(category_idx):
        nouns, adjectives, phrases, _ = CATALOGUE[categories[c]]
        noun, adj = rng.choice(nouns), rng.choice(adjectives)
        brand = f"{rng.choice(BRAND_STEMS)}{'' if c % 2 else ' ' + categories[c].title()}"
        level = PRICE_LEVEL[c % len(PRICE_LEVEL)]
        price = float(np.round(level * rng.lognormal(0.0, 0.45), 2))
        picked = rng.choice(len(phrases), size=2, replace=False)
        description = (
            f"The {adj} {noun} from {brand}. "
            f"Known for: {phrases[picked[0]]}; {phrases[picked[1]]}."
        )
        rows.append(
            {
                s.ITEM_ID: f"i{i:05d}",
                s.TITLE: f"{brand} {adj} {noun}",
                s.DESCRIPTION: description,
                s.CATEGORY: categories[c],
                s.BRAND: brand,
                s.PRICE: price,
                "category_idx": int(c),
                "quality": float(np.clip(rng.normal(3.9, 0.7), 1.0, 5.0)),
                "consumable": CATALOGUE[categories[c]][3],
            }
        )
    items = pd.DataFrame(rows)
    # Zipf-like popularity inside each category, in a random order of items.
    items["popularity"] = 0.0
    for _, idx in items.groupby("category_idx").groups.items():
        ranks = rng.permutation(len(idx)) + 1
        items.loc[idx, "popularity"] = ranks ** -0.9
    items["category_median_price"] = items.groupby("category_idx")[s.PRICE].transform("median")
    return items


def _draw_related(
    items: pd.DataFrame, per_item: int, n_categories: int, rng: np.random.Generator
) -> np.ndarray:
    """For each item, `per_item` related items: 75% same category, the rest the next category."""
    by_category = [np.flatnonzero(items["category_idx"].to_numpy() == c) for c in range(n_categories)]
    popularity = items["popularity"].to_numpy()
    related = np.empty((len(items), per_item), dtype=np.int64)
    for i, c in enumerate(items["category_idx"]):
        for j in range(per_item):
            pool_category = c if rng.random() < 0.75 else (c + 1) % n_categories
            pool = by_category[pool_category]
            pool = pool[pool != i] if len(pool) > 1 else pool
            weights = popularity[pool] ** 0.5
            related[i, j] = rng.choice(pool, p=weights / weights.sum())
    return related


def _draw_users(config: Synthetic, n_categories: int, rng: np.random.Generator) -> pd.DataFrame:
    n = config.n_users
    preference = rng.dirichlet(np.full(n_categories, 0.25), size=n)
    start_day = rng.uniform(0, config.days * 0.35, size=n)
    churned = rng.random(n) < config.churn_rate
    churn_day = np.where(churned, start_day + rng.uniform(7, config.days, size=n), np.inf)
    begin = pd.Timestamp(config.start, tz="UTC")
    return pd.DataFrame(
        {
            "user_id": [f"u{u:05d}" for u in range(n)],
            "price_sensitivity": rng.beta(2.0, 2.0, size=n),
            "activity": rng.gamma(2.0, config.sessions_per_week / 2.0, size=n),
            "start_day": start_day,
            "churn_day": churn_day,
            "churned": churned & (churn_day < config.days),
            "churn_ts": [begin + pd.Timedelta(days=d) if np.isfinite(d) else pd.NaT for d in churn_day],
            "preference": list(preference),
            "top_category": preference.argmax(axis=1),
        }
    )


def _draw_events(
    config: Synthetic,
    items: pd.DataFrame,
    related: np.ndarray,
    users: pd.DataFrame,
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    n_categories = int(items["category_idx"].max()) + 1
    by_category = [np.flatnonzero(items["category_idx"].to_numpy() == c) for c in range(n_categories)]
    popularity = items["popularity"].to_numpy()
    price = items[s.PRICE].to_numpy()
    relative_price = np.log(price / items["category_median_price"].to_numpy())
    consumable = items["consumable"].to_numpy()
    begin = pd.Timestamp(config.start, tz="UTC")
    # One discount flag per item and week: price changes a sensitive user reacts to.
    n_weeks = config.days // 7 + 1
    discounted = rng.random((len(items), n_weeks)) < 0.12

    rows: list[tuple] = []
    purchases: list[tuple] = []
    session_no = 0
    for user in users.itertuples(index=False):
        end_day = min(config.days, user.churn_day)
        active_weeks = max(end_day - user.start_day, 0.0) / 7.0
        n_sessions = rng.poisson(user.activity * active_weeks)
        if n_sessions == 0:
            continue
        days = _draw_days(user.start_day, end_day, n_sessions, begin, rng)
        bought: list[int] = []
        last_item = -1
        for day in days:
            session_no += 1
            t = begin + pd.Timedelta(days=float(day)) + pd.Timedelta(hours=float(np.clip(rng.normal(19, 3), 7, 23.5)))
            week = min(int(day // 7), n_weeks - 1)
            item = _first_item(user, bought, last_item, related, by_category, popularity, relative_price, consumable, rng)
            for _ in range(1 + min(rng.geometric(0.28), 15)):
                discount = 0.8 if discounted[item, week] else 1.0
                paid = round(float(price[item] * discount), 2)
                rows.append((user.user_id, item, s.VIEW, t, session_no, paid, np.nan))
                # Conversion falls with relative price for sensitive users, rises with a discount.
                price_effect = np.exp(-2.2 * user.price_sensitivity * (relative_price[item] + np.log(discount)))
                if rng.random() < min(0.1 * price_effect, 0.5):
                    t += pd.Timedelta(seconds=float(rng.exponential(40)))
                    rows.append((user.user_id, item, s.CART, t, session_no, paid, 1.0))
                    if rng.random() < 0.55:
                        t += pd.Timedelta(seconds=float(rng.exponential(90)))
                        quantity = float(1 + (rng.random() < 0.3) * consumable[item])
                        rows.append((user.user_id, item, s.PURCHASE, t, session_no, paid, quantity))
                        purchases.append((user.user_id, item, t))
                        bought.append(item)
                last_item = item
                t += pd.Timedelta(seconds=float(rng.exponential(70)) + 5)
                if rng.random() < config.follow_related:
                    item = int(rng.choice(related[item]))
                else:
                    item = _preferred_item(user, by_category, popularity, relative_price, rng)
    events = pd.DataFrame(
        rows, columns=[s.USER_ID, "item_idx", s.EVENT_TYPE, s.TS, s.SESSION_ID, s.PRICE, s.QUANTITY]
    )
    events[s.ITEM_ID] = items[s.ITEM_ID].to_numpy()[events["item_idx"].to_numpy()]
    events[s.SESSION_ID] = "s" + events[s.SESSION_ID].astype(str)
    purchases_frame = pd.DataFrame(purchases, columns=[s.USER_ID, "item_idx", s.TS])
    return events.drop(columns="item_idx"), purchases_frame


def _draw_days(start: float, end: float, n: int, begin: pd.Timestamp, rng: np.random.Generator) -> np.ndarray:
    """Session days in [start, end), busier at weekends, in time order."""
    candidates = rng.uniform(start, end, size=n * 3)
    weekday = ((begin.dayofweek + np.floor(candidates)) % 7).astype(int)
    weights = WEEKDAY_WEIGHT[weekday]
    picked = rng.choice(len(candidates), size=n, replace=False, p=weights / weights.sum())
    return np.sort(candidates[picked])


def _first_item(user, bought, last_item, related, by_category, popularity, relative_price, consumable, rng) -> int:
    refill = [b for b in bought if consumable[b]]
    if refill and rng.random() < 0.35:
        return int(rng.choice(refill))  # repeat purchase of a consumable
    if last_item >= 0 and rng.random() < 0.3:
        return int(rng.choice(related[last_item]))  # picks up where the last session ended
    return _preferred_item(user, by_category, popularity, relative_price, rng)


def _preferred_item(user, by_category, popularity, relative_price, rng) -> int:
    category = rng.choice(len(by_category), p=user.preference)
    pool = by_category[category]
    # Sensitive users drift towards cheaper items of the category.
    weights = popularity[pool] * np.exp(-1.5 * user.price_sensitivity * relative_price[pool])
    return int(rng.choice(pool, p=weights / weights.sum()))


def _draw_reviews(
    config: Synthetic, items: pd.DataFrame, purchases: pd.DataFrame, rng: np.random.Generator
) -> pd.DataFrame:
    picked = purchases[rng.random(len(purchases)) < config.review_rate]
    rows = []
    for row in picked.itertuples(index=False):
        item = items.iloc[row.item_idx]
        rating = int(np.clip(np.round(item["quality"] + rng.normal(0, 0.8)), 1, 5))
        mood = "good" if rating >= 4 else "bad" if rating <= 2 else "mid"
        noun = item[s.TITLE].split(" ", 2)[-1] if " " in item[s.TITLE] else item[s.TITLE]
        adj = item[s.TITLE].split(" ")[-2] if item[s.TITLE].count(" ") >= 2 else "good"
        phrases = rng.choice(REVIEW_PHRASES[mood], size=2, replace=False)
        text = ". ".join(p.format(noun=noun, adj=adj) for p in phrases).capitalize() + "."
        ts = row.ts + pd.Timedelta(days=float(rng.uniform(1, 10)))
        rows.append((row.user_id, item[s.ITEM_ID], ts, float(rating), text))
    return pd.DataFrame(rows, columns=[s.USER_ID, s.ITEM_ID, s.TS, s.RATING, s.TEXT])
