"""Forecast: metrics against hand-computed values, methods, shapes, reorders, and a backtest that never peeks."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from shopseq import schema as s
from shopseq.config import ConfigError, Forecast
from shopseq.downstream.forecast import (
    METHODS,
    Fold,
    Panel,
    backtest,
    backtest_origins,
    daily_demand,
    forecast_frame,
    hindsight_median_wape,
    interval_coverage,
    mase,
    mean_mase,
    purchase_panel,
    reorder_suggestions,
    score_backtest,
    seasonal_naive,
    service_achieved,
    wape,
    with_demand,
)
from shopseq.downstream.forecast_models import (
    ETS_WEIGHTS,
    DemandForecast,
    GbmSettings,
    choose_blend,
    demand_model,
    exp_smoothing,
    fit_dispersion,
    gbm_mean,
    global_gbm,
)

WEEK = np.array([1.0, 1.0, 1.0, 1.0, 2.0, 4.0, 3.0])
FAST = GbmSettings(trees=20, learning_rate=0.1, threads=1, seed=0)  # tiny data: shapes, not quality


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


def _dates(n_days: int) -> pd.DatetimeIndex:
    return pd.date_range("2026-06-01", periods=n_days, freq="D")


def test_exp_smoothing_is_flat_and_follows_a_level_shift() -> None:
    history = np.concatenate([np.full(20, 2.0), np.full(20, 10.0)])[None, :]

    forecast = exp_smoothing(history, _dates(40), horizon=3)

    assert forecast.shape == (1, 3)
    assert np.ptp(forecast) == pytest.approx(0.0)
    assert 9.0 < forecast[0, 0] <= 10.0


def test_global_gbm_forecasts_every_series_and_day_without_negatives() -> None:
    values = _panel_values(n=5, weeks=6)

    forecast = global_gbm(values, _dates(42), horizon=9, season=7, settings=FAST)

    assert forecast.shape == (5, 9)
    assert np.isfinite(forecast).all() and (forecast >= 0).all()


def test_fit_dispersion_hand_computed() -> None:
    # ((4-2)^2 - 2) + ((0-2)^2 - 2) = 4 over 2^2 + 2^2 = 8 -> 0.5
    assert fit_dispersion(np.array([4.0, 0.0]), np.array([2.0, 2.0])) == pytest.approx(0.5)
    # errors smaller than Poisson noise clip at 0 (no under-dispersion in a negative binomial)
    assert fit_dispersion(np.array([2.0, 2.0]), np.array([2.0, 2.0])) == 0.0
    assert fit_dispersion(np.array([1.0]), np.array([0.0])) == 0.0


def test_dispersion_needs_room_for_a_holdout_before_the_origin() -> None:
    short = _panel_values(weeks=3)[:, :20]  # 20 days: a 7-day holdout would leave 13 < 2 seasons

    forecast = demand_model(short, _dates(20), horizon=7, season=7, settings=FAST)

    assert forecast.dispersion == 0.0 and forecast.mean.shape == (4, 7)


def test_dispersion_pools_holdout_windows() -> None:
    values = np.random.default_rng(4).negative_binomial(1, 0.3, size=(6, 56)).astype(float)  # over-dispersed
    one = demand_model(values, _dates(56), 7, 7, GbmSettings(trees=20, learning_rate=0.1, dispersion_windows=1))
    two = demand_model(values, _dates(56), 7, 7, GbmSettings(trees=20, learning_rate=0.1, dispersion_windows=2))

    assert one.dispersion > 0 and two.dispersion > 0 and one.dispersion != two.dispersion
    gbm, ets = gbm_mean(values, _dates(56), 7, 7, GbmSettings(trees=20, learning_rate=0.1)), exp_smoothing(values, _dates(56), 7)
    for forecast in (one, two):  # the windows set the spread and the blend; the blend's parts are the full-history fits
        assert forecast.ets_weight in ETS_WEIGHTS
        np.testing.assert_allclose(forecast.mean, (1 - forecast.ets_weight) * gbm + forecast.ets_weight * ets)


def test_blend_weight_follows_the_method_that_forecast_the_holdouts() -> None:
    actual = np.array([[0.0, 3.0, 0.0, 4.0, 5.0, 0.0, 3.0]] * 4)  # (M, H)
    right, wrong = actual.copy(), np.full_like(actual, 0.2)

    assert choose_blend(actual, gbm=right, ets=wrong)[0] == 0.0
    assert choose_blend(actual, gbm=wrong, ets=right)[0] == max(ETS_WEIGHTS)


def test_blend_ties_keep_lightgbm_alone() -> None:
    actual = np.zeros((3, 7))  # every blend's median is 0: all tie

    assert choose_blend(actual, gbm=np.full((3, 7), 0.1), ets=np.full((3, 7), 0.3)) == (0.0, 0.0)


@pytest.mark.parametrize(("misses", "weight"), [(1, 0.0), (10, 0.5)])
def test_blend_needs_a_real_gain_to_leave_lightgbm_alone(misses: int, weight: float) -> None:
    # both forecast 4 where 5 sold (error 1 a day); LightGBM also says 2 on `misses` days, where the
    # half blend's median is 3: 1 miss saves 1 of 702 units of error (noise), 10 save 10 of 720
    actual, ets = np.full((100, 7), 5.0), np.full((100, 7), 4.0)
    gbm = ets.copy()
    gbm.flat[:misses] = 2.0

    assert choose_blend(actual, gbm=gbm, ets=ets) == (weight, 0.0)


def test_fitted_total_dispersion_widens_reorder_levels_only() -> None:
    mean = np.full((2, 7), 2.0)
    daily, lasting = DemandForecast(mean, 0.1), DemandForecast(mean, 0.1, total_dispersion=0.5)

    np.testing.assert_array_equal(lasting.quantile(0.9), daily.quantile(0.9))  # days untouched
    assert (lasting.total_quantile(0.95) > daily.total_quantile(0.95)).all()
    # a fitted total spread below what independent days give never narrows the totals
    np.testing.assert_array_equal(DemandForecast(mean, 0.1, total_dispersion=0.001).total_quantile(0.95), daily.total_quantile(0.95))


def test_poisson_quantiles_when_dispersion_is_zero() -> None:
    forecast = DemandForecast(mean=np.array([[2.0, 0.0, 3.0]]), dispersion=0.0)

    np.testing.assert_array_equal(forecast.median(), [[2.0, 0.0, 3.0]])  # Poisson medians of 2, 0 and 3
    # the total of independent Poisson days is Poisson(5): its 95% quantile is 9
    np.testing.assert_array_equal(forecast.total_quantile(0.95), [9.0])


def test_dispersion_widens_the_quantiles() -> None:
    mean = np.full((1, 7), 3.0)
    narrow, wide = DemandForecast(mean, 0.0), DemandForecast(mean, 1.0)

    assert (wide.quantile(0.95) >= narrow.quantile(0.95)).all()
    assert wide.total_quantile(0.95)[0] > narrow.total_quantile(0.95)[0]
    assert wide.quantile(0.1)[0, 0] <= narrow.quantile(0.1)[0, 0]


@pytest.mark.parametrize("dispersion", [0.0, 0.4, 3.0])
def test_reorder_quantities_grow_with_the_service_level(dispersion: float) -> None:
    rng = np.random.default_rng(1)
    forecast = DemandForecast(mean=rng.gamma(1.0, 2.0, size=(6, 7)), dispersion=dispersion)
    ids = [f"i{k}" for k in range(6)]

    levels = [0.5, 0.8, 0.9, 0.95, 0.99]
    tables = [reorder_suggestions(ids, forecast, level).set_index(s.ITEM_ID) for level in levels]

    for low, high in itertools.pairwise(tables):
        assert (high["order_up_to"] >= low["order_up_to"]).all()
    assert (tables[-1]["order_up_to"] > tables[0]["order_up_to"]).any()
    np.testing.assert_allclose(tables[0].loc[ids, "expected_demand"], forecast.mean.sum(axis=1))


def test_reorder_table_lists_best_sellers_first() -> None:
    forecast = DemandForecast(mean=np.array([[0.1] * 7, [5.0] * 7, [0.0] * 7]), dispersion=0.2)

    table = reorder_suggestions(["a", "b", "c"], forecast, 0.95)

    assert list(table.columns) == [s.ITEM_ID, "expected_demand", "order_up_to", "service_level", "horizon_days"]
    assert list(table[s.ITEM_ID]) == ["b", "a", "c"]
    assert table["order_up_to"].iloc[0] >= 35  # at least the expected 5 x 7 units
    assert table["order_up_to"].iloc[2] == 0 and (table["horizon_days"] == 7).all()


# ---- backtest --------------------------------------------------------------------------------


def test_origins_step_back_one_horizon_from_the_end() -> None:
    assert backtest_origins(n_days=35, horizon=7, n_origins=3, season=7) == [14, 21, 28]


def test_too_little_history_for_the_backtest_says_what_to_change() -> None:
    with pytest.raises(ValueError, match="forecast.backtest_origins"):
        backtest_origins(n_days=30, horizon=7, n_origins=3, season=7)


def _panel_values(seed: int = 0, n: int = 4, weeks: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.poisson(np.tile(WEEK, weeks)[None, :] * rng.uniform(0.5, 3.0, size=(n, 1))).astype(float)


def _backtest(values: np.ndarray, n_origins: int = 3) -> list:
    return backtest(values, _dates(values.shape[1]), horizon=7, season=7, n_origins=n_origins, settings=FAST, mode="off")


def test_backtest_never_sees_the_future() -> None:
    values = _panel_values()
    folds = _backtest(values)
    first = folds[0].origin

    changed = values.copy()
    changed[:, first:] = changed[:, first:] * 5 + 7  # rewrite everything from the first origin on
    refolded = _backtest(changed)

    for method in METHODS:
        np.testing.assert_array_equal(refolded[0].forecasts[method], folds[0].forecasts[method])
    np.testing.assert_array_equal(refolded[0].model.mean, folds[0].model.mean)
    assert refolded[0].model.dispersion == folds[0].model.dispersion
    np.testing.assert_array_equal(refolded[0].scale, folds[0].scale)
    assert not np.array_equal(refolded[0].actual, folds[0].actual)  # the truth did change


def test_backtest_does_use_the_past() -> None:
    """The counterpart of the test above: a change before the origin must move the forecasts."""
    values = _panel_values()
    folds = _backtest(values)

    changed = values.copy()
    changed[:, folds[0].origin - 7 : folds[0].origin] += 5
    refolded = _backtest(changed)

    for method in METHODS:
        assert not np.array_equal(refolded[0].forecasts[method], folds[0].forecasts[method]), method


def test_backtest_rejects_unknown_methods() -> None:
    with pytest.raises(ValueError, match="unknown forecast methods"):
        backtest(_panel_values(), _dates(49), 7, 7, 2, FAST, methods=("model", "prophet"))


def test_scores_name_every_method_and_a_perfect_forecast_scores_zero() -> None:
    values = np.tile(np.tile(WEEK, 6), (3, 1))  # exactly periodic: seasonal naive is perfect
    folds = _backtest(values, n_origins=2)

    rows = {row["method"]: row for row in score_backtest(folds)}

    assert list(rows) == list(METHODS)
    assert rows["seasonal_naive"]["wape"] == 0.0 and rows["seasonal_naive"]["wape_total"] == 0.0
    assert rows["seasonal_naive"]["mase"] is None  # a periodic history has no naive error to scale by
    assert rows["exp_smoothing"]["wape"] > 0.0
    assert all(row["seconds"] >= 0 for row in rows.values()) and "wape_mean" in rows["model"]


def test_scores_pool_folds() -> None:
    values = _panel_values(seed=3)
    folds = backtest(values, _dates(49), horizon=7, season=7, n_origins=2, settings=FAST, methods=("seasonal_naive",))
    actual = np.concatenate([f.actual for f in folds])
    naive = np.concatenate([f.forecasts["seasonal_naive"] for f in folds])
    scale = np.concatenate([f.scale for f in folds])

    rows = {row["method"]: row for row in score_backtest(folds)}

    assert list(rows) == ["seasonal_naive"]
    assert rows["seasonal_naive"]["wape"] == pytest.approx(np.abs(actual - naive).sum() / actual.sum())
    assert rows["seasonal_naive"]["mase"] == pytest.approx((np.abs(actual - naive).mean(axis=1) / scale).mean())
    assert rows["seasonal_naive"]["wape_total"] == pytest.approx(
        np.abs(actual.sum(axis=1) - naive.sum(axis=1)).sum() / actual.sum()
    )
    assert rows["seasonal_naive"]["wape_by_origin"] == pytest.approx(
        [np.abs(f.actual - f.forecasts["seasonal_naive"]).sum() / f.actual.sum() for f in folds]
    )


def test_hindsight_ceiling_forecasts_each_window_its_own_median() -> None:
    folds = [
        Fold(origin=10, actual=np.array([[0.0, 1.0, 3.0]]), scale=np.ones(1), forecasts={}, totals={}),
        Fold(origin=13, actual=np.array([[0.0, 0.0, 4.0]]), scale=np.ones(1), forecasts={}, totals={}),
    ]

    # medians 1 and 0: (1 + 0 + 2) + (0 + 0 + 4) = 7 over 8 units sold
    assert hindsight_median_wape(folds) == pytest.approx(7 / 8)


def test_model_scores_its_median_and_totals_its_mean() -> None:
    folds = _backtest(_panel_values(seed=5), n_origins=2)

    for fold in folds:
        np.testing.assert_array_equal(fold.forecasts["model"], fold.model.median())
        np.testing.assert_allclose(fold.totals["model"], fold.model.mean.sum(axis=1))


def test_coverage_and_service_count_actuals_inside_the_model_quantiles() -> None:
    folds = _backtest(_panel_values(seed=2), n_origins=2)
    inside = np.concatenate([(f.model.quantile(0.1) <= f.actual) & (f.actual <= f.model.quantile(0.9)) for f in folds])
    covered = np.concatenate([f.actual.sum(axis=1) <= f.model.total_quantile(0.95) for f in folds])

    assert interval_coverage(folds, 0.8) == pytest.approx(inside.mean())
    assert service_achieved(folds, 0.95) == pytest.approx(covered.mean())


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


def test_forecast_rows_cover_every_item_and_day_after_the_history() -> None:
    items = pd.DataFrame({s.ITEM_ID: ["a1", "b1", "c1"], s.CATEGORY: ["x", "y", "y"]})
    panel = purchase_panel(_purchase_events(), items)
    forecast = DemandForecast(mean=np.array([[2.0] * 4, [0.5] * 4, [0.0] * 4]), dispersion=0.3)

    frame = forecast_frame(panel, forecast, interval=0.8)

    assert list(frame.columns) == [s.ITEM_ID, "date", "forecast", "median", "lower", "upper"]
    assert len(frame) == 3 * 4
    assert list(frame[frame[s.ITEM_ID] == "a1"]["date"]) == list(pd.date_range("2026-06-04", periods=4))
    assert ((frame["lower"] >= 0) & (frame["lower"] <= frame["median"]) & (frame["median"] <= frame["upper"])).all()
    assert (frame.loc[frame[s.ITEM_ID] == "c1", ["forecast", "median", "lower", "upper"]] == 0).all().all()


def test_with_demand_keeps_only_series_that_sold() -> None:
    panel = Panel(ids=["a", "b", "c"], dates=_dates(3), values=np.array([[0.0, 1, 0], [0, 0, 0], [2, 0, 0]]))

    kept = with_demand(panel)

    assert kept.ids == ["a", "c"]
    np.testing.assert_array_equal(kept.values, [[0, 1, 0], [2, 0, 0]])


def test_interval_outside_zero_one_is_rejected() -> None:
    with pytest.raises(ConfigError, match="forecast.interval"):
        Forecast(interval=1.5)


@pytest.mark.parametrize("key", ["service_level", "learning_rate"])
def test_probabilities_outside_zero_one_are_rejected(key: str) -> None:
    with pytest.raises(ConfigError, match=f"forecast.{key}"):
        Forecast(**{key: 1.0})
