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
    mean_rmsse,
    pinball,
    purchase_panel,
    reorder_suggestions,
    rmsse_scale,
    score_backtest,
    seasonal_naive,
    service_achieved,
    wape,
    with_demand,
)
from shopseq.downstream.forecast_models import (
    PARTS,
    DemandForecast,
    GbmSettings,
    Treatment,
    blend_grid,
    calibrate_band,
    calibrate_spread,
    calibrate_dispersion,
    choose_treatment,
    demand_model,
    exp_smoothing,
    fit_dispersion,
    global_gbm,
    mean_parts,
    seasonal_mean,
    tweedie_gbm,
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


def test_rmsse_hand_computed() -> None:
    # history 1 3 2 4: one-day changes 2 -1 2 -> mean square 3; errors 1 and 3 -> mean square 5
    scale = rmsse_scale(np.array([[1.0, 3.0, 2.0, 4.0], [2.0, 2.0, 2.0, 2.0]]))
    np.testing.assert_allclose(scale, [3.0, 0.0])

    # the flat second series has no scale and is skipped
    actual, forecast = np.array([[2.0, 4.0], [1.0, 1.0]]), np.array([[3.0, 1.0], [0.0, 0.0]])
    assert mean_rmsse(actual, forecast, scale) == pytest.approx(math.sqrt(5 / 3))


def test_rmsse_needs_two_days() -> None:
    with pytest.raises(ValueError, match="at least 2 days"):
        rmsse_scale(np.ones((2, 1)))


def test_pinball_hand_computed() -> None:
    actual = np.array([[2.0, 0.0]])
    # q 0.1, forecast 1 1: under by 1 -> 0.1, over by 1 -> 0.9; sum 1.0
    # q 0.9, forecast 3 0: over by 1 -> 0.1, exact -> 0; sum 0.1
    # mean over levels 0.55, over 2 units sold -> 0.275
    loss = pinball(actual, {0.1: np.array([[1.0, 1.0]]), 0.9: np.array([[3.0, 0.0]])})

    assert loss == pytest.approx(0.55 / 2)
    # at the median, pinball is half the WAPE of that median
    assert pinball(actual, {0.5: np.array([[1.0, 1.0]])}) == pytest.approx(0.5 * wape(actual, np.array([[1.0, 1.0]])))
    assert math.isnan(pinball(np.zeros((1, 2)), {0.5: np.ones((1, 2))}))


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


@pytest.mark.parametrize("peer", [global_gbm, tweedie_gbm])
def test_lightgbm_peers_forecast_every_series_and_day_without_negatives(peer) -> None:
    values = _panel_values(n=5, weeks=6)

    forecast = peer(values, _dates(42), horizon=9, season=7, settings=FAST)

    assert forecast.shape == (5, 9)
    assert np.isfinite(forecast).all() and (forecast >= 0).all()


def test_seasonal_mean_averages_the_same_weekday_over_the_last_seasons() -> None:
    history = np.arange(1.0, 16.0)[None, :]  # days 1..15, season 3: the last 4 seasons are days 4..15

    forecast = seasonal_mean(history, horizon=4, season=3, seasons=4)

    # day 16 is position 0: days 13, 10, 7, 4 -> 8.5; day 17: 14, 11, 8, 5 -> 9.5; ...
    np.testing.assert_allclose(forecast, [[8.5, 9.5, 10.5, 8.5]])
    # fewer seasons than asked: all there are
    np.testing.assert_allclose(seasonal_mean(np.array([[1.0, 2.0, 3.0, 4.0]]), 2, 2, seasons=4), [[2.0, 3.0]])


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

    assert one.dispersion > 0 and two.dispersion > 0
    assert one.treatment != two.treatment  # the second window's holdout moved the choice
    settings = GbmSettings(trees=20, learning_rate=0.1)
    for forecast in (one, two):  # the windows set the spread and the blend; the blend's parts are the full-history fits
        assert forecast.treatment.weights in blend_grid()
        parts = mean_parts(values, _dates(56), 7, 7, settings, None, (forecast.treatment.scaled,))[forecast.treatment.scaled]
        np.testing.assert_allclose(forecast.mean, parts @ np.asarray(forecast.treatment.weights))
        assert forecast.ets_weight == forecast.treatment.weights[PARTS.index("exp_smoothing")]


def test_blend_grid_covers_the_simplex_in_quarters_lightgbm_first() -> None:
    grid = blend_grid()

    assert grid[0] == (1.0, 0.0, 0.0) and len(grid) == 15 and len(set(grid)) == 15
    assert all(sum(w) == pytest.approx(1.0) and min(w) >= 0 for w in grid)
    assert (0.0, 0.0, 1.0) in grid and (0.25, 0.5, 0.25) in grid


def _parts(*forecasts: np.ndarray) -> np.ndarray:
    return np.stack(forecasts, axis=-1)  # (M, H, P)


def test_treatment_follows_the_part_that_forecast_the_holdouts() -> None:
    actual = np.array([[0.0, 3.0, 0.0, 4.0, 5.0, 0.0, 3.0]] * 4)  # (M, H)
    right, wrong = actual.copy(), np.full_like(actual, 0.2)

    assert choose_treatment(actual, {False: _parts(right, wrong, wrong)}).weights == (1.0, 0.0, 0.0)
    assert choose_treatment(actual, {False: _parts(wrong, right, wrong)}).weights == (0.0, 1.0, 0.0)
    chosen = choose_treatment(actual, {False: _parts(wrong, wrong, right)})
    assert chosen.weights == (0.0, 0.0, 1.0) and chosen.holdout_wape == 0.0
    # the scaled LightGBM wins when it alone forecast the holdouts
    scaled = choose_treatment(actual, {False: _parts(wrong, wrong, wrong), True: _parts(right, wrong, wrong)})
    assert scaled == Treatment(weights=(1.0, 0.0, 0.0), scaled=True, holdout_wape=0.0)


def test_treatment_needs_a_real_gain_to_leave_raw_lightgbm_alone() -> None:
    # the seasonal mean is better by 1 unit in 700: noise, the default stays
    actual = np.full((100, 7), 5.0)
    gbm, seasonal = np.full((100, 7), 4.0), np.full((100, 7), 4.0)
    seasonal.flat[0] = 5.0

    assert choose_treatment(actual, {False: _parts(gbm, gbm, seasonal)}).weights == (1.0, 0.0, 0.0)
    seasonal.flat[:50] = 5.0  # 50 units in 700: a real gain
    assert choose_treatment(actual, {False: _parts(gbm, gbm, seasonal)}).weights == (0.0, 0.0, 1.0)


def test_dispersion_is_set_so_the_holdout_band_covers_its_nominal_share() -> None:
    rng = np.random.default_rng(0)
    mean = np.full((400, 7), 20.0)
    actual = rng.negative_binomial(2, 2 / (2 + 20.0), size=mean.shape).astype(float)  # phi 0.5 around mean 20

    phi, coverage = calibrate_dispersion(actual, mean, interval=0.8)

    assert abs(coverage - 0.8) < 0.03
    inside = (DemandForecast(mean, phi).quantile(0.1) <= actual) & (actual <= DemandForecast(mean, phi).quantile(0.9))
    assert coverage == pytest.approx(inside.mean())
    # a Poisson band around the same mean is far too narrow
    poisson = (DemandForecast(mean, 0.0).quantile(0.1) <= actual) & (actual <= DemandForecast(mean, 0.0).quantile(0.9))
    assert poisson.mean() < 0.6


@pytest.mark.parametrize("kind", ["intermittent", "dense"])
def test_spread_and_band_levels_chosen_on_holdouts_cover_new_days_near_nominal(kind: str) -> None:
    """A count's central band overshoots (an item selling on 1 day in 10 gets [0, 0]); the calibrated one less so."""
    rng = np.random.default_rng(3)
    rates = rng.gamma(0.5, 0.4, size=(500, 1)) if kind == "intermittent" else np.full((300, 1), 20.0)
    mean = rates * np.ones((1, 14))  # (N, 14)
    holdout, future = rng.poisson(mean).astype(float), rng.poisson(mean).astype(float)

    phi, levels, holdout_coverage = calibrate_spread(holdout, mean, interval=0.8)

    calibrated, central = DemandForecast(mean, phi, band_levels=levels), DemandForecast(mean, phi)  # central: 0.1, 0.9
    lower, upper = calibrated.band(0.8)
    coverage = float(((lower <= future) & (future <= upper)).mean())
    central_lower, central_upper = central.band(0.8)
    assert float(((central_lower <= future) & (future <= central_upper)).mean()) > 0.85  # what the band used to be
    assert (lower <= calibrated.median()).all() and (calibrated.median() <= upper).all()  # it always holds the median
    assert abs(coverage - holdout_coverage) <= 0.02  # what the holdouts promised, new days keep
    if kind == "dense":
        assert abs(coverage - 0.8) <= 0.03
    else:  # no band holding the median covers less than the days that equal it (here most are 0)
        floor = float((future == calibrated.median()).mean())
        assert floor <= coverage <= floor + 0.02 and abs(coverage - 0.8) <= 0.05


def test_band_levels_stay_central_without_holdouts() -> None:
    assert calibrate_band(np.zeros((0, 7)), np.zeros((0, 7)), 0.0, interval=0.8) == ((0.1, 0.9), None)
    assert calibrate_spread(np.zeros((0, 7)), np.zeros((0, 7)), interval=0.8) == (0.0, (0.1, 0.9), None)


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
    assert refolded[0].model.treatment == folds[0].model.treatment  # blend, scaling, holdout figures
    np.testing.assert_array_equal(refolded[0].squared_scale, folds[0].squared_scale)
    np.testing.assert_array_equal(refolded[0].scale, folds[0].scale)
    assert not np.array_equal(refolded[0].actual, folds[0].actual)  # the truth did change


def test_backtest_does_use_the_past() -> None:
    """The counterpart of the test above: a change before the origin must move the forecasts."""
    values = _panel_values()
    folds = _backtest(values)

    changed = values.copy()
    changed[:, folds[0].origin - 7 : folds[0].origin] += 5
    refolded = _backtest(changed)

    for method in (m for m in METHODS if m != "zero"):  # the all-zero forecast ignores every day by design
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
    assert rows["zero"]["wape"] == 1.0 and rows["zero"]["wape_total"] == 1.0  # forecasting nothing misses all that sold
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


def test_model_scores_its_mean_like_every_method() -> None:
    folds = _backtest(_panel_values(seed=5), n_origins=2)

    for fold in folds:
        np.testing.assert_array_equal(fold.forecasts["model"], fold.model.mean)
        np.testing.assert_allclose(fold.totals["model"], fold.model.mean.sum(axis=1))
        for method in METHODS:
            np.testing.assert_allclose(fold.totals[method], fold.forecasts[method].sum(axis=1))
    rows = {row["method"]: row for row in score_backtest(folds)}
    assert rows["model"]["wape"] == rows["model"]["wape_mean"]
    actual = np.concatenate([f.actual for f in folds])
    assert rows["model"]["wape_median"] == pytest.approx(wape(actual, np.concatenate([f.model.median() for f in folds])))
    assert rows["model"]["pinball"] > 0 and all("pinball" not in row for m, row in rows.items() if m != "model")


def test_coverage_and_service_count_actuals_inside_the_model_quantiles() -> None:
    folds = _backtest(_panel_values(seed=2), n_origins=2)
    inside = np.concatenate([(f.model.quantile(f.model.band_levels[0]) <= f.actual)
                             & (f.actual <= f.model.quantile(f.model.band_levels[1])) for f in folds])
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
