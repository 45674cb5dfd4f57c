"""Forecast: metrics against hand-computed values, methods, shapes, and a backtest that never peeks."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from shopseq import schema as s
from shopseq.config import ConfigError, Forecast
from shopseq.downstream.forecast import (
    METHODS,
    Fold,
    backtest,
    backtest_origins,
    band,
    band_coverage,
    daily_demand,
    exp_smoothing,
    forecast_panel,
    item_groups,
    mase,
    mean_mase,
    purchase_panel,
    score_backtest,
    season_profile,
    seasonal_naive,
    seasonal_smoothing,
    wape,
)

WEEK = np.array([1.0, 1.0, 1.0, 1.0, 2.0, 4.0, 3.0])


# ---- metrics ---------------------------------------------------------------------------------


def test_wape_hand_computed() -> None:
    # |2-3| + |4-1| + |0-1| = 5 over 2 + 4 + 0 = 6
    assert wape(np.array([2.0, 4.0, 0.0]), np.array([3.0, 1.0, 1.0])) == pytest.approx(5 / 6)


def test_wape_pools_over_series() -> None:
    # one big series dominates: (0 + 10) / (1 + 100)
    assert wape(np.array([[1.0], [100.0]]), np.array([[1.0], [90.0]])) == pytest.approx(10 / 101)


def test_wape_without_demand_is_undefined() -> None:
    assert math.isnan(wape(np.zeros(3), np.ones(3)))


@pytest.mark.parametrize(
    ("season", "expected"),
    [
        (1, 2.0 / 1.5),  # lag-1 diffs of 1 3 2 4 3: 2 1 2 1 -> scale 1.5; forecast MAE (1 + 3) / 2 = 2
        (2, 2.0 / 1.0),  # lag-2 diffs: |2-1| |4-3| |3-2| -> scale 1
    ],
)
def test_mase_hand_computed(season: int, expected: float) -> None:
    history = np.array([1.0, 3.0, 2.0, 4.0, 3.0])

    assert mase(np.array([2.0, 4.0]), np.array([3.0, 1.0]), history, season) == pytest.approx(expected)


def test_mase_of_a_flat_history_is_undefined() -> None:
    assert math.isnan(mase(np.array([1.0]), np.array([0.0]), np.full(8, 2.0), season=7))


def test_mase_needs_more_than_one_season() -> None:
    with pytest.raises(ValueError, match="more than 7 days"):
        mase(np.array([1.0]), np.array([0.0]), np.ones(7), season=7)


def test_mean_mase_skips_series_with_zero_scale() -> None:
    actual = np.array([[2.0, 4.0], [5.0, 5.0]])
    forecast = np.array([[3.0, 1.0], [0.0, 0.0]])

    assert mean_mase(actual, forecast, scale=np.array([1.5, 0.0])) == pytest.approx(2.0 / 1.5)


# ---- methods ---------------------------------------------------------------------------------


def test_seasonal_naive_repeats_the_last_season() -> None:
    history = np.arange(1.0, 11.0)[None, :]  # days 1..10; last season = 4..10

    forecast = seasonal_naive(history, horizon=9, season=7)

    np.testing.assert_array_equal(forecast, [[4, 5, 6, 7, 8, 9, 10, 4, 5]])


def test_exp_smoothing_is_flat_and_follows_a_level_shift() -> None:
    history = np.concatenate([np.full(20, 2.0), np.full(20, 10.0)])[None, :]

    forecast = exp_smoothing(history, horizon=3)

    assert forecast.shape == (1, 3)
    assert np.ptp(forecast) == 0.0
    assert 9.0 < forecast[0, 0] <= 10.0


def test_season_profile_is_pooled_per_group_and_flat_without_demand() -> None:
    weeks = 6
    busy = np.tile(WEEK, weeks) * 10  # (42,)
    sparse = np.zeros(7 * weeks)
    history = np.stack([busy, sparse, np.zeros(7 * weeks)])  # item 0, 1 in group 0; item 2 alone
    groups = np.array([0, 0, 1])

    profile = season_profile(history, groups, season=7)

    assert profile.shape == (2, 7)
    np.testing.assert_allclose(profile.mean(axis=1), 1.0)
    assert np.argmax(profile[0]) == 5 and np.argmin(profile[0]) < 4  # WEEK's peak and a weekday
    np.testing.assert_allclose(profile[1], 1.0)


def test_model_gives_a_sparse_item_its_categorys_weekly_shape() -> None:
    weeks = 8
    busy = np.tile(WEEK, weeks) * 20
    sparse = np.zeros(7 * weeks)
    sparse[::9] = 1.0  # a few scattered sales, no shape of its own
    history = np.stack([busy, sparse])

    point, spread = seasonal_smoothing(history, np.array([0, 0]), horizon=7, season=7)

    assert point.shape == spread.shape == (2, 7)
    # forecast days continue the history's positions: day 56 is position 0
    assert np.argmax(point[0]) == 5 and np.argmax(point[1]) == 5
    np.testing.assert_allclose(point[0], WEEK * 20, rtol=0.15)
    assert (spread >= 0).all()


# ---- backtest --------------------------------------------------------------------------------


def test_origins_step_back_one_horizon_from_the_end() -> None:
    assert backtest_origins(n_days=35, horizon=7, n_origins=3, season=7) == [14, 21, 28]


def test_too_little_history_for_the_backtest_says_what_to_change() -> None:
    with pytest.raises(ValueError, match="forecast.backtest_origins"):
        backtest_origins(n_days=30, horizon=7, n_origins=3, season=7)


def _panel_values(seed: int = 0, n: int = 4, weeks: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.poisson(np.tile(WEEK, weeks)[None, :] * rng.uniform(0.5, 3.0, size=(n, 1))).astype(float)


def test_backtest_never_sees_the_future() -> None:
    values = _panel_values()
    groups = np.array([0, 0, 1, 1])
    folds = backtest(values, groups, horizon=7, season=7, n_origins=3)
    first = folds[0].origin

    changed = values.copy()
    changed[:, first:] = changed[:, first:] * 5 + 7  # rewrite everything from the first origin on
    refolded = backtest(changed, groups, horizon=7, season=7, n_origins=3)

    for method in METHODS:
        np.testing.assert_array_equal(refolded[0].forecasts[method], folds[0].forecasts[method])
    np.testing.assert_array_equal(refolded[0].scale, folds[0].scale)
    assert not np.array_equal(refolded[0].actual, folds[0].actual)  # the truth did change


def test_backtest_does_use_the_past() -> None:
    """The counterpart of the test above: a change before the origin must move the forecasts."""
    values = _panel_values()
    groups = np.array([0, 0, 1, 1])
    folds = backtest(values, groups, horizon=7, season=7, n_origins=3)

    changed = values.copy()
    changed[:, folds[0].origin - 7 : folds[0].origin] += 5
    refolded = backtest(changed, groups, horizon=7, season=7, n_origins=3)

    for method in METHODS:
        assert not np.array_equal(refolded[0].forecasts[method], folds[0].forecasts[method])


def test_scores_name_every_method_and_a_perfect_forecast_scores_zero() -> None:
    values = np.tile(np.tile(WEEK, 6), (3, 1))  # exactly periodic: seasonal naive is perfect
    folds = backtest(values, np.zeros(3, dtype=int), horizon=7, season=7, n_origins=2)

    rows = {row["method"]: row for row in score_backtest(folds)}

    assert list(rows) == list(METHODS)
    assert rows["seasonal_naive"]["wape"] == 0.0
    assert rows["seasonal_naive"]["mase"] is None  # a periodic history has no naive error to scale by
    assert rows["exp_smoothing"]["wape"] > 0.0


def test_scores_pool_folds() -> None:
    values = _panel_values(seed=3)
    folds = backtest(values, np.array([0, 0, 1, 1]), horizon=7, season=7, n_origins=2)
    actual = np.concatenate([f.actual for f in folds])
    naive = np.concatenate([f.forecasts["seasonal_naive"] for f in folds])
    scale = np.concatenate([f.scale for f in folds])

    rows = {row["method"]: row for row in score_backtest(folds)}

    assert rows["seasonal_naive"]["wape"] == pytest.approx(np.abs(actual - naive).sum() / actual.sum())
    assert rows["seasonal_naive"]["mase"] == pytest.approx((np.abs(actual - naive).mean(axis=1) / scale).mean())


def test_band_is_symmetric_normal_and_clipped_at_zero() -> None:
    lower, upper = band(np.array([[10.0, 0.5]]), np.array([[1.0, 1.0]]), interval=0.8)

    z = 1.2815515655446004  # the 90th percentile of N(0, 1)
    np.testing.assert_allclose(lower, [[10.0 - z, 0.0]])
    np.testing.assert_allclose(upper, [[10.0 + z, 0.5 + z]])


def test_band_coverage_counts_actuals_inside_the_band() -> None:
    fold = Fold(
        origin=14,
        actual=np.array([[10.0, 12.0, 0.0, 30.0]]),
        scale=np.ones(1),
        forecasts={"model": np.array([[10.0, 10.0, 1.0, 10.0]])},
        spread=np.full((1, 4), 1.0),  # band 10 +- 1.28: holds 10 and 0 (clipped lower), not 12 or 30
    )

    assert band_coverage([fold], interval=0.8) == pytest.approx(0.5)


# ---- demand and the final forecast -----------------------------------------------------------


def _purchase_events() -> pd.DataFrame:
    ts = pd.to_datetime(
        [
            "2026-06-01T10:00:00Z",
            "2026-06-01T23:30:00-02:00",  # 01:30 UTC on June 2nd
            "2026-06-01T11:00:00Z",
            "2026-06-03T09:00:00Z",
            "2026-06-03T09:05:00Z",
        ],
        utc=True,
    )
    return pd.DataFrame(
        {
            s.USER_ID: ["u1", "u2", "u3", "u1", "u2"],
            s.ITEM_ID: ["a1", "a1", "a1", "b1", "b1"],
            s.EVENT_TYPE: ["purchase", "purchase", "view", "purchase", "purchase"],
            s.TS: ts,
            s.QUANTITY: [3.0, np.nan, 5.0, np.nan, 2.0],
        }
    )


def test_daily_demand_counts_quantity_else_one_per_purchase_by_utc_day() -> None:
    demand = daily_demand(_purchase_events())

    assert demand.to_dict("records") == [
        {s.ITEM_ID: "a1", "date": pd.Timestamp("2026-06-01"), "demand": 3.0},
        {s.ITEM_ID: "a1", "date": pd.Timestamp("2026-06-02"), "demand": 1.0},  # the view does not count
        {s.ITEM_ID: "b1", "date": pd.Timestamp("2026-06-03"), "demand": 3.0},  # 1 (no quantity) + 2
    ]


def test_purchase_panel_fills_every_day_and_catalogue_item() -> None:
    items = pd.DataFrame({s.ITEM_ID: ["a1", "b1", "c1"], s.CATEGORY: ["x", "y", "y"]})

    panel = purchase_panel(_purchase_events(), items)

    assert panel.ids == ["a1", "b1", "c1"]
    assert list(panel.dates) == list(pd.date_range("2026-06-01", "2026-06-03"))
    np.testing.assert_array_equal(panel.values, [[3, 1, 0], [0, 0, 3], [0, 0, 0]])
    np.testing.assert_array_equal(item_groups(items, panel.ids), [0, 1, 1])


def test_forecast_rows_cover_every_item_and_day_after_the_history() -> None:
    items = pd.DataFrame({s.ITEM_ID: ["a1", "b1", "c1"], s.CATEGORY: ["x", "y", "y"]})
    panel = purchase_panel(_purchase_events(), items)

    frame = forecast_panel(panel, item_groups(items, panel.ids), horizon=4, season=7, interval=0.8)

    assert list(frame.columns) == [s.ITEM_ID, "date", "forecast", "lower", "upper"]
    assert len(frame) == 3 * 4
    assert list(frame[frame[s.ITEM_ID] == "a1"]["date"]) == list(pd.date_range("2026-06-04", periods=4))
    assert ((frame["lower"] >= 0) & (frame["lower"] <= frame["forecast"]) & (frame["forecast"] <= frame["upper"])).all()
    assert (frame.loc[frame[s.ITEM_ID] == "c1", ["forecast", "lower", "upper"]] == 0).all().all()


def test_interval_outside_zero_one_is_rejected() -> None:
    with pytest.raises(ConfigError, match="forecast.interval"):
        Forecast(interval=1.5)
