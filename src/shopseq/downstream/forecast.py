"""Per-item daily demand forecasts with a rolling-origin backtest against two classic baselines.

The model is deliberately small and readable: a per-item level from simple exponential
smoothing of the deseasonalised series, times a day-of-week (season) profile pooled over the
item's category. Pooling matters because most items sell a few units a week, far too few to
estimate a weekly shape of their own, while a category sells enough to show its weekend peak.

Every method works on a demand panel: an (N, T) array of N series over T consecutive days.
Season positions are counted from the panel's first column, so history and forecast agree on
which column is which weekday without knowing the calendar.

The backtest cuts the panel at several origins, forecasts `horizon` days from each using only
the columns before the origin, and scores WAPE and MASE for the model, seasonal naive and
simple exponential smoothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from statistics import NormalDist
from typing import Sequence

import numpy as np
import pandas as pd

from shopseq import schema as s

log = logging.getLogger(__name__)

DATE, DEMAND, FORECAST, LOWER, UPPER = "date", "demand", "forecast", "lower", "upper"
METHODS = ("model", "seasonal_naive", "exp_smoothing")
ALPHAS = np.array([0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.8])  # SES grid, best by one-step SSE per series
PROFILE_PRIOR = 5.0  # pseudo-units shrinking a thinly sold category's season profile towards flat


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
    forecasts: dict[str, np.ndarray]  # method -> (N, H)
    spread: np.ndarray  # (N, H) the model's error scale, for its interval band


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


def item_groups(items: pd.DataFrame, ids: Sequence[str]) -> np.ndarray:
    """An integer group per series: its category's code; items without a category share one."""
    lookup = items.drop_duplicates(s.ITEM_ID).set_index(s.ITEM_ID)[s.CATEGORY]
    categories = lookup.reindex(list(ids)).astype("object").fillna("unknown").to_numpy()
    _, codes = np.unique(categories.astype(str), return_inverse=True)
    return codes  # (N,)


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


def mean_mase(actual: np.ndarray, forecast: np.ndarray, scale: np.ndarray) -> float:
    """MASE averaged over the series whose scale is positive: (N, H), (N, H), (N,) -> float."""
    usable = scale > 0  # (N,)
    if not usable.any():
        return float("nan")
    errors = np.abs(actual - forecast).mean(axis=1)  # (N,)
    return float((errors[usable] / scale[usable]).mean())


# ---------------------------------------------------------------------------------------------
# Methods: each maps history (N, T) to forecasts (N, H)


def seasonal_naive(history: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """Repeat the last full season: forecast for day T+h is the value at T+h-k*season."""
    n_days = history.shape[1]
    lags = n_days - season + (np.arange(horizon) % season)  # (H,) columns of the last season
    if lags.min() < 0:
        raise ValueError(f"seasonal naive needs at least {season} days of history, got {n_days}")
    return history[:, lags]  # (N, H)


def smooth_level(
    history: np.ndarray, alphas: np.ndarray = ALPHAS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Simple exponential smoothing with alpha chosen per series by one-step-ahead SSE.

    Returns:
        level (N,) after the last day, alpha (N,), one-step residuals (N, T) at the chosen alpha.
    """
    n_series, n_days = history.shape
    start = history[:, : min(7, n_days)].mean(axis=1)  # (N,) initial level
    level = np.broadcast_to(start, (len(alphas), n_series)).copy()  # (A, N)
    residuals = np.empty((len(alphas), n_series, n_days))  # (A, N, T)
    for t in range(n_days):
        residuals[:, :, t] = history[None, :, t] - level  # (A, N) error of the forecast made at t-1
        level = level + alphas[:, None] * residuals[:, :, t]  # (A, N)
    best = (residuals**2).sum(axis=2).argmin(axis=0)  # (N,)
    rows = np.arange(n_series)
    return level[best, rows], alphas[best], residuals[best, rows]


def exp_smoothing(history: np.ndarray, horizon: int) -> np.ndarray:
    """Simple exponential smoothing: a flat forecast at the last smoothed level."""
    level, _, _ = smooth_level(history)
    return np.repeat(level[:, None], horizon, axis=1)  # (N, H)


def season_profile(
    history: np.ndarray, groups: np.ndarray, season: int, prior: float = PROFILE_PRIOR
) -> np.ndarray:
    """Multiplicative season profile per group, pooled over the group's series, mean 1.

    A position's factor is the units sold there over the units a flat profile would expect,
    with `prior` pseudo-units added to both: a category selling thousands of units keeps its
    shape, one selling a handful gets a nearly flat profile instead of Poisson noise.

    Returns:
        (G, S) factors; row g is the profile of group g.
    """
    n_groups = int(groups.max()) + 1 if len(groups) else 0
    n_days = history.shape[1]
    positions = np.arange(n_days) % season  # (T,)
    by_group = np.zeros((n_groups, n_days))  # (G, T) group demand per day
    np.add.at(by_group, groups, history)
    sums = np.stack([by_group[:, positions == p].sum(axis=1) for p in range(season)], axis=1)  # (G, S)
    share = np.bincount(positions, minlength=season) / n_days  # (S,) share of days at each position
    expected = by_group.sum(axis=1, keepdims=True) * share[None, :]  # (G, S) units under a flat profile
    profile = (sums + prior) / (expected + prior)  # (G, S)
    return profile / profile.mean(axis=1, keepdims=True)


def seasonal_smoothing(
    history: np.ndarray, groups: np.ndarray, horizon: int, season: int
) -> tuple[np.ndarray, np.ndarray]:
    """The model: SES level of the deseasonalised series times the category's season profile.

    Returns:
        Point forecasts (N, H) and their error scale (N, H): the series' one-step error standard
        deviation, times the day's season factor, widened per step as SES's error variance grows.
    """
    n_days = history.shape[1]
    profile = season_profile(history, groups, season)[groups]  # (N, S)
    past = profile[:, np.arange(n_days) % season]  # (N, T)
    future = profile[:, (n_days + np.arange(horizon)) % season]  # (N, H)
    level, alpha, residuals = smooth_level(history / past)  # (N,), (N,), (N, T)
    sigma = np.sqrt(((residuals * past) ** 2).mean(axis=1))  # (N,) one-step error in units
    steps = np.arange(horizon)[None, :]  # (1, H)
    spread = sigma[:, None] * np.sqrt(1.0 + steps * alpha[:, None] ** 2) * future  # (N, H)
    return level[:, None] * future, spread


def band(point: np.ndarray, spread: np.ndarray, interval: float) -> tuple[np.ndarray, np.ndarray]:
    """Central `interval` band of a normal error around `point`, clipped at zero demand."""
    z = NormalDist().inv_cdf(0.5 + interval / 2)
    return np.clip(point - z * spread, 0.0, None), point + z * spread


# ---------------------------------------------------------------------------------------------
# Backtest and the final forecast


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


def backtest(values: np.ndarray, groups: np.ndarray, horizon: int, season: int, n_origins: int) -> list[Fold]:
    """Forecast from each origin with every method, each seeing only the columns before it."""
    folds = []
    for origin in backtest_origins(values.shape[1], horizon, n_origins, season):
        history = values[:, :origin]  # (N, origin): nothing at or after the origin
        point, spread = seasonal_smoothing(history, groups, horizon, season)  # (N, H) each
        forecasts = {
            "model": point,
            "seasonal_naive": seasonal_naive(history, horizon, season),
            "exp_smoothing": exp_smoothing(history, horizon),
        }
        folds.append(
            Fold(
                origin=origin,
                actual=values[:, origin : origin + horizon],
                scale=mase_scale(history, season),
                forecasts={name: forecasts[name] for name in METHODS},
                spread=spread,
            )
        )
    return folds


def score_backtest(folds: Sequence[Fold]) -> list[dict]:
    """WAPE over all series, days and origins, and MASE averaged over series and origins, per method.

    Returns:
        One row per method: {method, wape, mase}; a metric is None where it is undefined.
    """
    actual = np.concatenate([f.actual for f in folds])  # (N * O, H)
    scale = np.concatenate([f.scale for f in folds])  # (N * O,)
    rows = []
    for method in METHODS:
        forecast = np.concatenate([f.forecasts[method] for f in folds])  # (N * O, H)
        rows.append(
            {
                "method": method,
                "wape": _finite(wape(actual, forecast)),
                "mase": _finite(mean_mase(actual, forecast, scale)),
            }
        )
    return rows


def band_coverage(folds: Sequence[Fold], interval: float) -> float:
    """Share of backtest actuals inside the model's band: near `interval` when the band is honest."""
    inside = [
        (lower <= f.actual) & (f.actual <= upper)
        for f in folds
        for lower, upper in [band(f.forecasts["model"], f.spread, interval)]
    ]
    return float(np.mean(np.concatenate(inside)))


def forecast_panel(
    panel: Panel, groups: np.ndarray, horizon: int, season: int, interval: float
) -> pd.DataFrame:
    """The model's forecast for the `horizon` days after the panel, with a central `interval` band.

    Returns:
        Columns item_id, date, forecast, lower, upper; lower is clipped at zero.
    """
    point, spread = seasonal_smoothing(panel.values, groups, horizon, season)  # (N, H), (N, H)
    lower, upper = band(point, spread, interval)  # (N, H) each
    dates = pd.date_range(panel.dates[-1] + pd.Timedelta(days=1), periods=horizon, freq="D")
    return pd.DataFrame(
        {
            s.ITEM_ID: np.repeat(np.array(panel.ids, dtype=object), horizon),
            DATE: np.tile(dates.to_numpy(), len(panel.ids)),
            FORECAST: point.ravel(),
            LOWER: lower.ravel(),
            UPPER: upper.ravel(),
        }
    )


def _utc_day(ts: pd.Series) -> pd.Series:
    """Calendar day in UTC as a tz-naive timestamp at midnight."""
    ts = pd.to_datetime(ts, utc=True)
    return ts.dt.tz_convert(None).dt.normalize()


def _finite(value: float) -> float | None:
    return value if np.isfinite(value) else None
