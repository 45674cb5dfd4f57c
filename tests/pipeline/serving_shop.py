"""A tiny shop and a quickly trained next-item model for the serving, scoring and audience tests.

Thirty users who mostly browse one favourite category; for serving, one extra user ("u_new")
whose only item ("new01") the model has never seen, so the recent-popularity fallback has
someone to serve.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from shopseq import schema as s
from shopseq.io import write_parquet

CATEGORIES = ["coffee", "garden", "toys"]
START = pd.Timestamp("2026-06-01", tz="UTC")
NEW_USER, NEW_ITEM = "u_new", "new01"


def write_shop(
    root: Path, n_users: int = 30, days: int = 28, seed: int = 3, view_share: float = 1.0, new_user: bool = True
) -> list[str]:
    """Validated events and items under root/data/validated; returns the model's item ids.

    Args:
        view_share: share of events that are views; the rest are purchases.
        new_user: add "u_new", whose only item "new01" the returned item ids do not hold.
    """
    rng = np.random.default_rng(seed)
    item_ids = [f"i{i:02d}" for i in range(12)]
    catalogue = item_ids + [NEW_ITEM] if new_user else item_ids
    items = pd.DataFrame(
        {
            s.ITEM_ID: catalogue,
            s.TITLE: catalogue,
            s.DESCRIPTION: ["a thing"] * len(catalogue),
            s.CATEGORY: [CATEGORIES[i % 3] for i in range(12)] + (["garden"] if new_user else []),
        }
    )
    rows = []
    for u in range(n_users):
        favourite = u % 3
        for _ in range(12):
            category = favourite if rng.random() < 0.8 else int(rng.integers(0, 3))
            item = item_ids[category + 3 * int(rng.integers(0, 4))]
            ts = START + pd.Timedelta(hours=float(rng.uniform(0, days * 24)))
            # Only draw the event type when some are purchases, so the all-views shop stays as it was.
            kind = s.VIEW if view_share >= 1.0 or rng.random() < view_share else s.PURCHASE
            rows.append((f"u{u:02d}", item, kind, ts))
    if new_user:
        rows.append((NEW_USER, NEW_ITEM, s.VIEW, START + pd.Timedelta(days=days - 1)))
    events = pd.DataFrame(rows, columns=[s.USER_ID, s.ITEM_ID, s.EVENT_TYPE, s.TS])
    write_parquet(s.conform(events, s.EVENTS), root / "data/validated/events.parquet")
    write_parquet(s.conform(items, s.ITEMS), root / "data/validated/items.parquet")
    return item_ids


def favourite_category(user_id: str) -> str:
    return CATEGORIES[int(user_id[1:]) % 3]


def train_model(root: Path, item_ids: list[str], seed: int, steps: int = 60):
    """A GRU trained full-batch for `steps` steps on the shop's histories (a second or two)."""
    import torch

    from shopseq.sequences.scoring import build_histories
    from shopseq.sequences.models import ModelConfig, NextItemModel, pad_batch
    from shopseq.sequences.recommender import Recommender

    torch.manual_seed(seed)
    model = NextItemModel(ModelConfig(family="gru", n_items=len(item_ids), hidden=16, max_len=20, dropout=0.0))
    recommender = Recommender(model, item_ids)
    events = pd.read_parquet(root / "data/validated/events.parquet")
    encoded = [recommender.encode(h) for h in build_histories(events)]
    encoded = [h for h in encoded if len(h) >= 2]
    seq, lengths = pad_batch([h[:-1] for h in encoded], 20)  # (B, T)
    targets, _ = pad_batch([h[1:] for h in encoded], 20)  # (B, T), 0 at padding
    optimiser = torch.optim.Adam(model.parameters(), lr=0.02)
    model.train()
    for _ in range(steps):
        optimiser.zero_grad()
        model.calculate_loss(seq, lengths, targets).backward()
        optimiser.step()
    return Recommender(model.eval(), item_ids, {"seed": seed})
