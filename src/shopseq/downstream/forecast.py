"""Per-item daily demand: panels, metrics, a rolling-origin backtest, the forecast and reorders.

Every method works on a demand panel: an (N, T) array of N series over T consecutive days.
Season positions are counted from the panel's first column, so history and forecast agree on
which column is which weekday without knowing the calendar.

The backtest cuts the panel at several origins, forecasts `horizon` days from each using only
the columns before the origin, and scores every method on the same statistics: its point
forecast, which is a mean for every method (the model's too), on WAPE, MASE and RMSSE; each
series' horizon total on WAPE (`wape_total`); and, for the model, which also gives quantiles,
the pinball loss. The methods: the library model (`shopseq.downstream.forecast_models`: a
blend chosen on holdouts, negative-binomial quantiles), seasonal naive, exponential smoothing,
a plain global LightGBM (the planner's peer), an all-zero forecast and the M5 winners'
Tweedie LightGBM.

Reorder suggestions: the order-up-to level of an item is the `service_level` quantile of its
total demand over the horizon, so the stock covers the horizon's demand with that probability.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from shopseq import schema as s
from shopseq.downstream.forecast_models import (
    DemandForecast,
    GbmSettings,
    demand_model,
    exp_smoothing,
    global_gbm,
    tweedie_gbm,
)
from shopseq.progress import progress

log = logging.getLogger(__name__)

DATE, DEMAND, FORECAST, MEDIAN, LOWER, UPPER = "date", "demand", "forecast", "median", "lower", "upper"
EXPECTED, ORDER_UP_TO = "expected_demand", "order_up_to"
METHODS = ("model", "seasonal_naive", "exp_smoothing", "global_gbm", "zero", "tweedie_gbm")  # the contract's names and order
PINBALL_LEVELS = (0.1, 0.25, 0.5, 0.75, 0.9)  # quantiles the pinball loss averages over


@dataclass(frozen=True)
class Panel:
    """N demand series over T consecutive days."""

    ids: list[str]  # (N,)
    dates: pd.DatetimeIndex  # (T,) consecutive calendar days (UTC, tz-naive)
    values: np.ndarray  # (N, T) demand, >= 0


@dataclass(frozen=True)
class Fold:
    """One backtest origin: what each method forecast from the history before it, and the truth."""

    origin: int  # first forecast column; the methods saw columns [0, origin)
    actual: np.ndarray  # (N, H)
    scale: np.ndarray  # (N,) in-sample seasonal-naive MAE, MASE's denominator
    forecasts: dict[str, np.ndarray]  # method -> (N, H) point forecast: its mean
    totals: dict[str, np.ndarray]  # method -> (N,) expected horizon total
    seconds: dict[str, float] = field(default_factory=dict)  # method -> wall time at this origin
    model: DemandForecast | None = None  # the model's distribution, for intervals and reorders
    squared_scale: np.ndarray | None = None  # (N,) in-sample mean squared one-day change, RMSSE's denominator


# ---------------------------------------------------------------------------------------------
# Demand panels


def daily_demand(events: pd.DataFrame) -> pd.DataFrame:
    """Units bought per item and UTC day: the quantity when present, else one per purchase.

    Returns:
        Columns item_id, date (tz-naive UTC day), demand; only days with purchases.
    """
    bought = events[events[s.EVENT_TYPE] == s.PURCHASE]
    quantity = bought[s.QUANTITY] if s.QUANTITY in bought.columns else pd.Series(np.nan, index=bought.index)
    frame = pd.DataFrame(
        {
            s.ITEM_ID: bought[s.ITEM_ID].astype(str),
            DATE: _utc_day(bought[s.TS]),
            DEMAND: quantity.astype("float64").fillna(1.0).clip(lower=0.0),
        }
    )
    return frame.groupby([s.ITEM_ID, DATE], as_index=False)[DEMAND].sum()


def to_panel(
    long: pd.DataFrame,
    ids: Sequence[str],
    start: pd.Timestamp,
    end: pd.Timestamp,
    id_col: str = s.ITEM_ID,
    date_col: str = DATE,
    value_col: str = DEMAND,
) -> Panel:
    """Spread long (id, date, value) rows over every day from `start` to `end`, zeros where absent."""
    dates = pd.date_range(pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize(), freq="D")
    wide = long.pivot_table(index=id_col, columns=date_col, values=value_col, aggfunc="sum")
    wide = wide.reindex(index=list(ids), columns=dates).fillna(0.0)
    return Panel(ids=list(ids), dates=dates, values=wide.to_numpy(dtype=np.float64))


def purchase_panel(events: pd.DataFrame, items: pd.DataFrame) -> Panel:
    """Daily demand of every catalogue item (and any other item bought) over the events' days."""
    demand = daily_demand(events)
    days = _utc_day(events[s.TS])
    ids = sorted(set(items[s.ITEM_ID].astype(str)) | set(demand[s.ITEM_ID]))
    return to_panel(demand, ids, days.min(), days.max())


# ---------------------------------------------------------------------------------------------
# Metrics


def wape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Weighted absolute percentage error: sum |actual - forecast| / sum |actual| (nan if no demand)."""
    actual, forecast = np.asarray(actual, dtype=float), np.asarray(forecast, dtype=float)
    total = np.abs(actual).sum()
    return float(np.abs(actual - forecast).sum() / total) if total > 0 else float("nan")


def mase_scale(history: np.ndarray, season: int) -> np.ndarray:
    """In-sample MAE of the seasonal naive forecast per series: (N, T) -> (N,).

    Raises:
        ValueError: the history is not longer than one season.
    """
    history = np.atleast_2d(np.asarray(history, dtype=float))
    if history.shape[1] <= season:
        raise ValueError(f"MASE needs more than {season} days of history, got {history.shape[1]}")
    return np.abs(history[:, season:] - history[:, :-season]).mean(axis=1)


def mase(actual: np.ndarray, forecast: np.ndarray, history: np.ndarray, season: int) -> float:
    """Mean absolute scaled error of one series: forecast MAE over in-sample seasonal-naive MAE.

    Returns nan when the history is flat at the season lag (the scale is zero).
    """
    scale = float(mase_scale(np.asarray(history, dtype=float)[None, :], season)[0])
    error = float(np.abs(np.asarray(actual, dtype=float) - np.asarray(forecast, dtype=float)).mean())
    return error / scale if scale > 0 else float("nan")


def rmsse_scale(history: np.ndarray) -> np.ndarray:
    """In-sample mean squared one-day change per series (the M5 competition's): (N, T) -> (N,)."""
    history = np.atleast_2d(np.asarray(history, dtype=float))
    if history.shape[1] < 2:
        raise ValueError(f"RMSSE needs at least 2 days of history, got {history.shape[1]}")
    return (np.diff(history, axis=1) ** 2).mean(axis=1)


def mean_rmsse(actual: np.ndarray, forecast: np.ndarray, squared_scale: np.ndarray) -> float:
    """Root mean squared scaled error averaged over series with a positive scale: (N, H), (N, H), (N,).

    Per series: sqrt(mean((actual - forecast)^2) / mean squared one-day change of its history).
    Squared error rewards the mean, so RMSSE is where mean forecasts are judged on their own terms.
    """
    usable = squared_scale > 0  # (N,)
    if not usable.any():
        return float("nan")
    errors = ((actual - forecast) ** 2).mean(axis=1)  # (N,)
    return float(np.sqrt(errors[usable] / squared_scale[usable]).mean())


def pinball(actual: np.ndarray, quantiles: Mapping[float, np.ndarray]) -> float:
    """Mean pinball loss over the given quantile levels, divided by mean demand (nan if none).

    Args:
        actual: (N, H); quantiles: level q -> (N, H) forecast q-quantile.

    Loss of one cell at level q: q * (y - f) if y >= f else (1 - q) * (f - y). Divided by the mean
    actual it reads like WAPE: at q = 0.5 it is half the WAPE of that median.
    """
    actual = np.asarray(actual, dtype=float)
    total = np.abs(actual).sum()
    if total <= 0 or not quantiles:
        return float("nan")
    losses = [np.maximum(q * (actual - f), (q - 1) * (actual - f)).sum() for q, f in quantiles.items()]
    return float(np.mean(losses) / total)


def mean_mase(actual: np.ndarray, forecast: np.ndarray, scale: np.ndarray) -> float:
    """MASE averaged over the series whose scale is positive: (N, H), (N, H), (N,) -> float."""
    usable = scale > 0  # (N,)
    if not usable.any():
        return float("nan")
    errors = np.abs(actual - forecast).mean(axis=1)  # (N,)
    return float((errors[usable] / scale[usable]).mean())


# ---------------------------------------------------------------------------------------------
# Methods: each maps history (N, T) and its dates to point forecasts (N, H)


def seasonal_naive(history: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """Repeat the last full season: forecast for day T+h is the value at T+h-k*season."""
    n_days = history.shape[1]
    lags = n_days - season + (np.arange(horizon) % season)  # (H,) columns of the last season
    if lags.min() < 0:
        raise ValueError(f"seasonal naive needs at least {season} days of history, got {n_days}")
    return history[:, lags]  # (N, H)


Method = Callable[[np.ndarray, pd.DatetimeIndex], np.ndarray]  # (history (N, T), dates) -> (N, H)
StaticFeatures = Callable[[pd.Timestamp], Mapping[str, np.ndarray]]  # as-of day -> name -> (N,)


def peer_methods(horizon: int, season: int, settings: GbmSettings) -> dict[str, Method]:
    """The baselines by name: seasonal naive, exponential smoothing, the plain global LightGBM,
    an all-zero forecast and the M5 winners' Tweedie LightGBM."""
    return {
        "seasonal_naive": lambda history, dates: seasonal_naive(history, horizon, season),
        "exp_smoothing": lambda history, dates: exp_smoothing(history, dates, horizon),
        "global_gbm": lambda history, dates: global_gbm(history, dates, horizon, season, settings),
        "zero": lambda history, dates: np.zeros((history.shape[0], horizon)),
        "tweedie_gbm": lambda history, dates: tweedie_gbm(history, dates, horizon, season, settings),
    }


# ---------------------------------------------------------------------------------------------
# Backtest, the final forecast and reorders


def backtest_origins(n_days: int, horizon: int, n_origins: int, season: int) -> list[int]:
    """Origins (first forecast column) stepping back one horizon at a time from the panel's end.

    Raises:
        ValueError: the panel is too short to keep two seasons of history before the first origin.
    """
    origins = [n_days - horizon * k for k in range(n_origins, 0, -1)]
    needed = 2 * season + horizon * n_origins
    if origins[0] < 2 * season:
        raise ValueError(
            f"only {n_days} days of demand: {n_origins} backtest origins of {horizon} days need at "
            f"least {needed}; lower forecast.backtest_origins or forecast.horizon, or add data"
        )
    return origins



def backtest(
    values: np.ndarray,
    dates: pd.DatetimeIndex,
    horizon: int,
    season: int,
    n_origins: int,
    settings: GbmSettings,
    methods: Sequence[str] = METHODS,
    static_at: StaticFeatures | None = None,
    mode: str = "auto",
) -> list[Fold]:
    """Forecast from each origin with every method, each seeing only the columns before it.

    Args:
        values: (N, T) demand panel; dates: its (T,) days.
        methods: which of `METHODS` to run ("model" is the library model).
        static_at: optional per-series features for the model, computed as of each origin's day
            (so they too see nothing from the origin on).
    """
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        raise ValueError(f"unknown forecast methods {unknown}; choose from {list(METHODS)}")
    peers = peer_methods(horizon, season, settings)
    folds = []
    origins = backtest_origins(values.shape[1], horizon, n_origins, season)
    for origin in progress(origins, desc="forecast: backtest origins", unit="origin", mode=mode):
        history = values[:, :origin]  # (N, origin): nothing at or after the origin
        forecasts, totals, seconds, model = {}, {}, {}, None
        for name in methods:
            start = time.perf_counter()
            if name == "model":
                static = static_at(dates[origin]) if static_at is not None else None
                model = demand_model(history, dates[:origin], horizon, season, settings, static)
                forecasts[name], totals[name] = model.mean, model.mean.sum(axis=1)
            else:
                forecasts[name] = peers[name](history, dates[:origin])
                totals[name] = forecasts[name].sum(axis=1)
            seconds[name] = time.perf_counter() - start
        folds.append(
            Fold(
                origin=origin,
                actual=values[:, origin : origin + horizon],
                scale=mase_scale(history, season),
                forecasts=forecasts,
                totals=totals,
                seconds=seconds,
                model=model,
                squared_scale=rmsse_scale(history),
            )
        )
    return folds


def score_backtest(folds: Sequence[Fold]) -> list[dict]:
    """Every method on the same statistics: WAPE pooled over series, days and origins; MASE and
    RMSSE averaged over series and origins; all of the point forecast (a mean for every method).

    Returns:
        One row per method: {method, wape, mase, rmsse, wape_total, wape_by_origin, seconds};
        `wape_total` is the WAPE of each item's horizon total, `wape_by_origin` the WAPE of each
        origin alone (all series and days of that origin); the model's row adds `pinball` (over
        `PINBALL_LEVELS`), `wape_mean` (the same as its `wape`: the key older files used) and
        `wape_median` (WAPE of its daily median). A metric is None where it is undefined; seconds
        sum over the origins.
    """
    actual = np.concatenate([f.actual for f in folds])  # (N * O, H)
    scale = np.concatenate([f.scale for f in folds])  # (N * O,)
    squared_scale = np.concatenate([f.squared_scale for f in folds])  # (N * O,)
    rows = []
    for method in [m for m in METHODS if m in folds[0].forecasts]:
        forecast = np.concatenate([f.forecasts[method] for f in folds])  # (N * O, H)
        total = np.concatenate([f.totals[method] for f in folds])  # (N * O,)
        row = {
            "method": method,
            "wape": _finite(wape(actual, forecast)),
            "mase": _finite(mean_mase(actual, forecast, scale)),
            "rmsse": _finite(mean_rmsse(actual, forecast, squared_scale)),
            "wape_total": _finite(wape(actual.sum(axis=1), total)),
            "wape_by_origin": [_finite(wape(f.actual, f.forecasts[method])) for f in folds],
            "seconds": round(sum(f.seconds.get(method, 0.0) for f in folds), 3),
        }
        if method == "model":
            quantiles = {q: np.concatenate([f.model.quantile(q) for f in folds]) for q in PINBALL_LEVELS}  # q -> (N * O, H)
            row["pinball"] = _finite(pinball(actual, quantiles))
            row["wape_mean"] = row["wape"]
            row["wape_median"] = _finite(wape(actual, quantiles[0.5]))
        rows.append(row)
    return rows


def hindsight_median_wape(folds: Sequence[Fold]) -> float | None:
    """WAPE of each series' own median over each backtest window: it knows the future.

    Not a method but a ceiling for this data: the best flat forecast per series and window, what
    a forecaster that knew every item's coming level exactly would score. On intermittent
    item-day demand it stays near 1, however good the forecaster.
    """
    actual = np.concatenate([f.actual for f in folds])  # (N * O, H)
    return _finite(wape(actual, np.broadcast_to(np.median(actual, axis=1, keepdims=True), actual.shape)))


def interval_coverage(folds: Sequence[Fold], interval: float) -> float | None:
    """Share of backtest actuals inside the model's `interval` band (honest: near it)."""
    inside = [(lower <= f.actual) & (f.actual <= upper)
              for f in folds if f.model is not None
              for lower, upper in [f.model.band(interval)]]
    return float(np.mean(np.concatenate(inside))) if inside else None


def service_achieved(folds: Sequence[Fold], service_level: float) -> float | None:
    """Share of (item, origin) horizon totals the order-up-to level would have covered."""
    covered = [
        f.actual.sum(axis=1) <= f.model.total_quantile(service_level)
        for f in folds
        if f.model is not None and len(f.actual)
    ]
    return float(np.mean(np.concatenate(covered))) if covered else None


def forecast_frame(panel: Panel, forecast: DemandForecast, interval: float) -> pd.DataFrame:
    """The model's forecast for the days after the panel: mean, median and its `interval` band.

    Returns:
        Columns item_id, date, forecast (the mean), median, lower, upper.
    """
    n_series, horizon = forecast.mean.shape
    lower, upper = forecast.band(interval)  # (N, H) each
    dates = pd.date_range(panel.dates[-1] + pd.Timedelta(days=1), periods=horizon, freq="D")
    return pd.DataFrame(
        {
            s.ITEM_ID: np.repeat(np.array(panel.ids, dtype=object), horizon),
            DATE: np.tile(dates.to_numpy(), n_series),
            FORECAST: forecast.mean.ravel(),
            MEDIAN: forecast.median().ravel(),
            LOWER: lower.ravel(),
            UPPER: upper.ravel(),
        }
    )


def reorder_suggestions(ids: Sequence[str], forecast: DemandForecast, service_level: float) -> pd.DataFrame:
    """Per item: expected demand over the horizon and the order-up-to level at `service_level`.

    Order up to the `service_level` quantile of the horizon's total demand: stock at that level
    runs out before the horizon ends with probability 1 - service_level. Subtract stock on hand
    and on order (not in the event data) to get the quantity to order.

    Returns:
        Columns item_id, expected_demand, order_up_to, service_level, horizon_days; sorted by
        expected demand, largest first.
    """
    frame = pd.DataFrame(
        {
            s.ITEM_ID: list(ids),
            EXPECTED: forecast.mean.sum(axis=1),
            ORDER_UP_TO: forecast.total_quantile(service_level).astype(np.int64),
            "service_level": service_level,
            "horizon_days": forecast.mean.shape[1],
        }
    )
    return frame.sort_values([EXPECTED, s.ITEM_ID], ascending=[False, True], kind="stable", ignore_index=True)


def with_demand(panel: Panel) -> Panel:
    """Only the series that sold anything: the rest would forecast zero at full cost."""
    keep = panel.values.sum(axis=1) > 0  # (N,)
    return Panel(ids=[i for i, k in zip(panel.ids, keep) if k], dates=panel.dates, values=panel.values[keep])


def _utc_day(ts: pd.Series) -> pd.Series:
    """Calendar day in UTC as a tz-naive timestamp at midnight."""
    ts = pd.to_datetime(ts, utc=True)
    return ts.dt.tz_convert(None).dt.normalize()


def _finite(value: float) -> float | None:
    return value if np.isfinite(value) else None
