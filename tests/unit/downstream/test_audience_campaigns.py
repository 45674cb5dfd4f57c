"""Campaign audiences: each objective's pool and ranking, the audience cut, the hits, and config errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shopseq import schema as s
from shopseq.config import Audiences, Campaign, ConfigError, from_dict
from shopseq.downstream.audience_campaigns import (
    Signals,
    campaign_hits,
    campaign_key,
    campaign_target,
    cut_audience,
    rank_campaign,
)

DAY0 = pd.Timestamp("2026-06-01", tz="UTC")
AS_OF = DAY0 + pd.Timedelta(days=20)


def _items() -> pd.DataFrame:
    return pd.DataFrame({
        s.ITEM_ID: ["c1", "c2", "t1"],
        s.CATEGORY: ["coffee", "coffee", "toys"],
        s.PRICE: [10.0, 30.0, 5.0],
    })


def _events() -> pd.DataFrame:
    rows = [
        ("buyer_risky", "c1", 2, s.PURCHASE, 10.0),
        ("buyer_safe", "c2", 3, s.PURCHASE, 30.0),
        ("viewer_cheap", "c1", 15, s.VIEW, 10.0),
        ("viewer_dear", "c2", 16, s.VIEW, 30.0),
        ("old_viewer", "c1", 1, s.VIEW, 10.0),  # interested long ago: not in the discount pool
        ("toy_fan", "t1", 18, s.VIEW, 5.0),
        # after AS_OF: the held-out days
        ("viewer_cheap", "c1", 22, s.PURCHASE, 10.0),  # below the coffee median (20): a deal
        ("viewer_dear", "c2", 23, s.PURCHASE, 30.0),
        ("buyer_safe", "t1", 21, s.VIEW, 5.0),
    ]
    return pd.DataFrame({
        s.USER_ID: [r[0] for r in rows], s.ITEM_ID: [r[1] for r in rows],
        s.TS: [DAY0 + pd.Timedelta(days=r[2]) for r in rows], s.EVENT_TYPE: [r[3] for r in rows],
        s.PRICE: [r[4] for r in rows],
    })


def _signals(campaign: Campaign) -> Signals:
    users = ["buyer_risky", "buyer_safe", "viewer_cheap", "viewer_dear", "old_viewer", "toy_fan"]
    engagement = pd.DataFrame({
        s.USER_ID: users, "target": campaign_key(campaign),
        "score": [0.1, 0.2, 0.9, 0.5, 0.3, 0.05], "propensity": [0.2, 0.1, 0.4, 0.3, 0.2, 0.0],
    })
    return Signals(
        engagement=engagement,
        churn_risk=pd.Series([0.8, 0.1, 0.5, 0.5, 0.9, 0.2], index=users),
        price_sensitivity=pd.Series([0.0, 0.0, 2.0, -1.0, 3.0, 1.0], index=users),
        days_since_last_event=pd.Series([18.0, 17.0, 5.0, 4.0, 19.0, 2.0], index=users),
    )


def _rank(objective: str) -> tuple[Campaign, pd.DataFrame]:
    campaign = Campaign(name=f"coffee_{objective}", objective=objective, category="coffee", size=10)
    target, why = campaign_target(campaign, _items())
    assert why is None and target == {"c1", "c2"}
    return campaign, rank_campaign(campaign, target, _events(), AS_OF, _signals(campaign), recent_days=7)


def test_acquisition_ranks_everyone_by_the_blended_propensity() -> None:
    _, ranked = _rank("acquisition")
    assert list(ranked[s.USER_ID])[:3] == ["viewer_cheap", "viewer_dear", "old_viewer"]
    assert len(ranked) == 6
    assert ranked.loc[0, "reason"].startswith("90% chance to engage with coffee")
    assert "viewed it once in the last 7 days" in ranked.loc[0, "reason"]


def test_retention_ranks_only_past_buyers_of_the_target_by_churn_risk() -> None:
    _, ranked = _rank("retention")
    assert list(ranked[s.USER_ID]) == ["buyer_risky", "buyer_safe"]
    assert list(ranked["score"]) == [0.8, 0.1]
    assert ranked.loc[0, "reason"] == "churn risk 80%; last active 18 days ago; bought coffee once"


def test_discount_ranks_recently_interested_users_by_price_sensitivity() -> None:
    _, ranked = _rank("discount")
    # old_viewer is the most sensitive user but touched coffee 19 days ago, outside the 7-day window
    assert list(ranked[s.USER_ID]) == ["viewer_cheap", "viewer_dear"]
    assert ranked.loc[0, "reason"].startswith("more price-sensitive than")


def test_hits_per_objective() -> None:
    events, items = _events(), _items()
    for objective, expected in (
        ("acquisition", {"viewer_cheap", "viewer_dear"}),
        ("retention", {"buyer_risky", "old_viewer", "toy_fan"}),  # no event at all after the cut
        ("discount", {"viewer_cheap"}),  # bought coffee below the category median
    ):
        campaign = Campaign(name="x", objective=objective, category="coffee", size=5)
        hits, why = campaign_hits(campaign, {"c1", "c2"}, events, items, AS_OF, 7, "interaction")
        assert why is None and hits == expected, objective


def test_discount_cannot_be_judged_without_prices() -> None:
    campaign = Campaign(name="x", objective="discount", category="coffee", size=5)
    hits, why = campaign_hits(campaign, {"c1", "c2"}, _events().assign(**{s.PRICE: np.nan}),
                              _items().assign(**{s.PRICE: np.nan}), AS_OF, 7, "interaction")
    assert hits == set() and "no prices" in why


def test_audience_is_cut_by_size_and_score_threshold() -> None:
    ranked = pd.DataFrame({s.USER_ID: list("abcd"), "score": [0.9, 0.7, 0.5, 0.1], "rank": [1, 2, 3, 4], "reason": ""})
    base = {"name": "c", "objective": "acquisition", "category": "coffee"}
    assert list(cut_audience(ranked, Campaign(**base, size=2))[s.USER_ID]) == ["a", "b"]
    assert list(cut_audience(ranked, Campaign(**base, min_score=0.5))[s.USER_ID]) == ["a", "b", "c"]
    assert list(cut_audience(ranked, Campaign(**base, size=1, min_score=0.5))[s.USER_ID]) == ["a"]


def test_a_target_missing_from_the_catalogue_says_so() -> None:
    _, why = campaign_target(Campaign(name="x", objective="acquisition", category="garden", size=5), _items())
    assert why == "category 'garden' is not in the catalogue"
    ids, why = campaign_target(Campaign(name="y", objective="acquisition", items=["c1", "zz"], size=5), _items())
    assert ids == {"c1"} and why is None


@pytest.mark.parametrize(
    ("campaign", "message"),
    [
        ({"name": "a", "objective": "upsell", "category": "coffee", "size": 5}, "objective must be one of acquisition, retention, discount"),
        ({"name": "a", "objective": "retention", "size": 5}, "exactly one target"),
        ({"name": "a", "objective": "retention", "category": "coffee", "items": ["i1"], "size": 5}, "exactly one target"),
        ({"name": "a", "objective": "retention", "items": [], "size": 5}, "the list is empty"),
        ({"name": "a", "objective": "discount", "category": "coffee"}, "size, a min_score or both"),
        ({"name": "a", "objective": "discount", "category": "coffee", "size": 0}, "size must be >= 1"),
        ({"name": "bad name/..", "objective": "discount", "category": "coffee", "size": 5}, "names a file"),
        ({"name": "a", "objective": "discount", "category": "coffee", "size": 5, "colour": "red"}, "unknown key 'colour'"),
    ],
)
def test_campaign_config_errors_name_the_problem(campaign, message) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        from_dict(Audiences, {"campaigns": [campaign]}, where="audiences")


def test_campaign_names_must_be_unique_and_outcome_known() -> None:
    campaign = {"name": "a", "objective": "discount", "category": "coffee", "size": 5}
    with pytest.raises(ConfigError, match="duplicate name"):
        from_dict(Audiences, {"campaigns": [campaign, campaign]}, where="audiences")
    with pytest.raises(ConfigError, match="audiences.outcome must be one of interaction, purchase"):
        from_dict(Audiences, {"outcome": "click"}, where="audiences")
