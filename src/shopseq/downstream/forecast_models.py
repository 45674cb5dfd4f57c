"""Library forecasters over a demand panel: the model, the planner's peers, and demand quantiles.

Each method maps a history (N, T) and its dates (T,) to forecasts (N, H); none sees a column after
the history, so the backtest in `shopseq.downstream.forecast` can cut wherever it likes.

- `model`: a blend of three mean forecasts whose treatment is chosen on holdout windows before
  each origin, so one recipe serves dense store-day sales and intermittent item-day counts:
  one global LightGBM (via mlforecast, Tweedie objective; lags 1, season, 2 x season, rolling
  means of the last week and four weeks, the expanding mean, exponentially weighted means, the
  same weekday over four seasons, day of week), trained either on raw demand or on demand divided
  by each series' recent level (the *scaling*, which lets one model serve series of very
  different size); exponential smoothing's level; and the mean of the same weekday over the last
  four seasons. On the holdouts the model picks the scaling and the blend weights (a 0.25 grid
  over the three) by the WAPE of the blended mean. Around the mean sits a negative binomial whose
  dispersion is fitted on the same holdouts and then set so that the holdouts' interval band
  covers its nominal share; that gives quantiles per day and for the horizon's total. Demand is
  counted in whole units, so a central band of a count distribution covers more than its nominal
  share (an item that sells nothing on 90% of days gets [0, 0], right 90% of the time): the
  interval band's two quantile levels are therefore chosen on the same holdouts too
  (`calibrate_band`), so that the holdouts' coverage is as near the nominal share as a band
  that holds the median allows.
- `global_gbm`: the peer a planner would use, mlforecast's standard recipe: LightGBM with default
  settings (squared error) on lags 1, season and 2 x season, rolling means of the last season and
  four seasons, and the day of week, forecast recursively (mlforecast's default).
- `tweedie_gbm`: the M5 accuracy winners' recipe, scaled to this data: LightGBM with a Tweedie
  objective (variance power 1.1), row and feature subsampling of one half, lags 1-7, 14, 21 and
  28, rolling means of 7, 14, 28 and 56 days of lag 1 and of lag 7, day of week and day of month.
- `exp_smoothing`: statsforecast's simple exponential smoothing with the smoothing weight fitted
  per series.

LightGBM runs with `threads` OpenMP threads: on a shared two-core machine more threads than free
cores makes LightGBM spin (measured: one fit 1 s with one thread, 10-17 s with two under load).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

log = logging.getLogger(__name__)

UID, DS, Y = "unique_id", "ds", "y"  # mlforecast / statsforecast column names
PARTS = ("gbm", "exp_smoothing", "seasonal_mean")  # the mean forecasts the model blends
BLEND_STEP = 0.25  # the blend weights tried on the holdouts: every multiple of this summing to 1
BLEND_MIN_GAIN = 0.005  # another treatment must cut holdout absolute error by this fraction: no picks on noise
SEASONS_AVERAGED = 4  # seasons in `seasonal_mean` and in the level the scaled LightGBM divides by
PROPENSITY = "propensity"  # optional static feature: the champion's expected purchases per item


@dataclass(frozen=True)
class GbmSettings:
    """What the library model needs from params: trees, step size, threads, seed, holdout windows."""

    trees: int = 300
    learning_rate: float = 0.05
    threads: int = 1
    seed: int = 0
    dispersion_windows: int = 2  # holdout windows of `horizon` days the treatment and spread are chosen on
    interval: float = 0.8  # the interval whose holdout coverage the dispersion and band levels are set to

    @classmethod
    def from_config(cls, config: Any, seed: int) -> GbmSettings:
        """From the `forecast` params section (trees, learning_rate, threads, dispersion_windows, interval)."""
        return cls(config.trees, config.learning_rate, config.threads, seed, config.dispersion_windows, config.interval)


@dataclass(frozen=True)
class Treatment:
    """What the model chose on the holdout windows before an origin."""

    weights: tuple[float, float, float] = (1.0, 0.0, 0.0)  # shares of `PARTS` in the mean
    scaled: bool = False  # LightGBM trained on demand over each series' recent level
    holdout_wape: float | None = None  # WAPE of the chosen blend's mean on the holdouts
    holdout_coverage: float | None = None  # the interval band's coverage there (levels from `calibrate_band`)

    def as_dict(self) -> dict:
        """JSON-ready: weights by part name, scaling, holdout figures."""
        return {
            "weights": dict(zip(PARTS, self.weights)),
            "scaled": self.scaled,
            "holdout_wape": self.holdout_wape,
            "holdout_coverage": self.holdout_coverage,
        }


@dataclass(frozen=True)
class DemandForecast:
    """A negative binomial per item and day: mean (N, H) and one dispersion phi.

    Variance is mean + phi * mean^2 (phi = 0: Poisson).
    """

    mean: np.ndarray  # (N, H)
    dispersion: float
    ets_weight: float = 0.0  # exponential smoothing's share in the mean
    total_dispersion: float = 0.0  # phi of horizon totals fitted on the holdouts (0: days independent)
    treatment: Treatment = Treatment()  # what the holdouts chose
    band_levels: tuple[float, float] | None = None  # quantile levels of the interval band (None: central)

    def band(self, interval: float) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bound of each day's `interval` band: two (N, H) arrays.

        The levels chosen on the holdouts for the model's own `GbmSettings.interval` (`band_levels`)
        when set, else the central ones (0.5 -/+ interval / 2).
        """
        lower, upper = self.band_levels or (0.5 - interval / 2, 0.5 + interval / 2)
        return self.quantile(lower), self.quantile(upper)

    def quantile(self, q: float) -> np.ndarray:
        """The q-quantile of each day's demand: (N, H)."""
        return _nbinom_ppf(q, self.mean, self.dispersion)

    def median(self) -> np.ndarray:
        """The per-day median (N, H): the point forecast that absolute-error metrics reward."""
        return self.quantile(0.5)

    def total_quantile(self, q: float) -> np.ndarray:
        """The q-quantile of each item's total demand over the horizon: (N,).

        A negative binomial with the total's mean and the larger of two spreads: the days'
        variances added up (days independent given the mean) and `total_dispersion`, fitted on
        holdout totals, which also sees errors that last several days (bulk orders, a level
        that moved).
        """
        total = self.mean.sum(axis=1)  # (N,)
        variance = (self.mean + self.dispersion * self.mean**2).sum(axis=1)  # (N,)
        phi = np.divide(variance - total, total**2, out=np.zeros_like(total), where=total > 0)  # (N,)
        return _nbinom_ppf(q, total, np.maximum(phi, self.total_dispersion))


def long_frame(values: np.ndarray, ids: list[str], dates: pd.DatetimeIndex) -> pd.DataFrame:
    """(N, T) panel -> the libraries' long format: unique_id, ds, y."""
    n_series, n_days = values.shape
    return pd.DataFrame(
        {
            UID: np.repeat(np.asarray(ids, dtype=object), n_days),
            DS: np.tile(np.asarray(dates[:n_days]), n_series),
            Y: values.ravel().astype(np.float64),
        }
    )


def wide(frame: pd.DataFrame, column: str, ids: list[str]) -> np.ndarray:
    """The libraries' long forecast -> (N, H) in `ids` order."""
    table = frame.pivot(index=UID, columns=DS, values=column)
    return table.reindex(ids).to_numpy(dtype=np.float64)


def gbm_mean(
    history: np.ndarray,
    dates: pd.DatetimeIndex,
    horizon: int,
    season: int,
    settings: GbmSettings,
    static: Mapping[str, np.ndarray] | None = None,
    scaled: bool = False,
) -> np.ndarray:
    """The model's mean daily demand (N, H) from one global LightGBM over every series.

    Args:
        static: optional per-series features (name -> (N,)), e.g. the champion's propensity.
        scaled: train on each series divided by its recent level (`recent_level`) and scale the
            forecast back, so series of very different size share one set of trees.
    """
    if scaled:
        level = recent_level(history, season)  # (N,)
        return level[:, None] * gbm_mean(history / level[:, None], dates, horizon, season, settings, static)
    from mlforecast import MLForecast
    from mlforecast.lag_transforms import (
        ExpandingMean,
        ExponentiallyWeightedMean,
        RollingMean,
    )

    ids = [str(i) for i in range(history.shape[0])]
    frame = long_frame(history, ids, dates)
    static = dict(static or {})
    for name, column in static.items():
        frame[name] = np.repeat(np.asarray(column, dtype=np.float64), history.shape[1])
    regressor = tweedie_regressor(settings, num_leaves=15, subsample=0.8, colsample_bytree=0.8)
    forecaster = MLForecast(
        models={"model": regressor},
        freq="D",
        lags=[1, season, 2 * season],
        lag_transforms={
            1: [
                RollingMean(7, min_samples=1),
                RollingMean(28, min_samples=1),
                ExpandingMean(),
                # recent levels that fade over ~10 and ~3 days (synthetic shop, origins before the
                # backtest's: holdout WAPE 0.936 -> 0.927)
                ExponentiallyWeightedMean(0.1),
                ExponentiallyWeightedMean(0.3),
            ],
            season: [RollingMean(4, min_samples=1)],  # the same weekday over the last four seasons
        },
        date_features=["dayofweek"],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        forecaster.fit(frame, static_features=list(static), dropna=False)
        out = forecaster.predict(horizon)
    return np.clip(wide(out, "model", ids), 0.0, None)  # (N, H)


def global_gbm(
    history: np.ndarray, dates: pd.DatetimeIndex, horizon: int, season: int, settings: GbmSettings
) -> np.ndarray:
    """The peer, mlforecast's standard recipe with default LightGBM: (N, T) -> (N, H).

    Lags 1, season and 2 x season, rolling means of the last season and of four seasons, day of
    week; squared error; recursive; every setting the libraries' default. Rows whose rolling
    windows are incomplete are dropped as the recipe does, except on histories too short to leave
    two seasons of complete rows, where partial windows (`min_samples=1`) keep it trainable.
    """
    import lightgbm as lgb
    from mlforecast import MLForecast
    from mlforecast.lag_transforms import RollingMean

    ids = [str(i) for i in range(history.shape[0])]
    partial = None if history.shape[1] >= 6 * season else 1  # complete 4-season windows leave 2 seasons of rows
    regressor = lgb.LGBMRegressor(n_jobs=settings.threads, random_state=settings.seed, deterministic=True, verbose=-1)
    forecaster = MLForecast(
        models={"global_gbm": regressor},
        freq="D",
        lags=[1, season, 2 * season],
        lag_transforms={1: [RollingMean(season, min_samples=partial), RollingMean(4 * season, min_samples=partial)]},
        date_features=["dayofweek"],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        forecaster.fit(long_frame(history, ids, dates), static_features=[])
        out = forecaster.predict(horizon)
    return np.clip(wide(out, "global_gbm", ids), 0.0, None)  # (N, H)


def exp_smoothing(history: np.ndarray, dates: pd.DatetimeIndex, horizon: int) -> np.ndarray:
    """statsforecast's simple exponential smoothing, weight fitted per series: a flat (N, H) forecast."""
    from statsforecast import StatsForecast
    from statsforecast.models import SimpleExponentialSmoothingOptimized

    ids = [str(i) for i in range(history.shape[0])]
    model = StatsForecast(models=[SimpleExponentialSmoothingOptimized(alias="ses")], freq="D", n_jobs=1)
    out = model.forecast(df=long_frame(history, ids, dates), h=horizon)
    return np.clip(wide(out, "ses", ids), 0.0, None)  # (N, H)


def tweedie_regressor(settings: GbmSettings, **overrides: Any) -> Any:
    """A LightGBM regressor with a Tweedie objective, row subsampling every tree and `settings`' trees,
    step, threads and seed (deterministic); `overrides` set the rest (leaves, sampling shares)."""
    import lightgbm as lgb

    options = dict(objective="tweedie", min_child_samples=20, subsample_freq=1, deterministic=True, verbose=-1)
    options.update(n_estimators=settings.trees, learning_rate=settings.learning_rate, n_jobs=settings.threads)
    return lgb.LGBMRegressor(**options, random_state=settings.seed, **overrides)


def tweedie_gbm(
    history: np.ndarray, dates: pd.DatetimeIndex, horizon: int, season: int, settings: GbmSettings
) -> np.ndarray:
    """The M5 accuracy winners' recipe (LightGBM, Tweedie objective), scaled down: (N, T) -> (N, H).

    Tweedie variance power 1.1, half the rows and half the features per tree, lags 1-7, 14, 21,
    28, rolling means of 7, 14, 28 and 56 days of lag 1 and lag 7, day of week and of month;
    recursive. The winners' 2,047 leaves and minimum of 4,095 rows per leaf fit 30 million rows;
    here 63 leaves and 20 rows. Partial windows count (`min_samples=1`) so short histories train.
    """
    from mlforecast import MLForecast
    from mlforecast.lag_transforms import RollingMean

    ids = [str(i) for i in range(history.shape[0])]
    regressor = tweedie_regressor(
        settings, tweedie_variance_power=1.1, num_leaves=63, subsample=0.5, colsample_bytree=0.5, max_bin=100
    )
    forecaster = MLForecast(
        models={"tweedie_gbm": regressor},
        freq="D",
        lags=[1, 2, 3, 4, 5, 6, 7, 14, 21, 28],
        lag_transforms={lag: [RollingMean(w, min_samples=1) for w in (7, 14, 28, 56)] for lag in (1, 7)},
        date_features=["dayofweek", "day"],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        forecaster.fit(long_frame(history, ids, dates), static_features=[], dropna=False)
        out = forecaster.predict(horizon)
    return np.clip(wide(out, "tweedie_gbm", ids), 0.0, None)  # (N, H)


def seasonal_mean(history: np.ndarray, horizon: int, season: int, seasons: int = SEASONS_AVERAGED) -> np.ndarray:
    """Mean of the same season position over the last `seasons` seasons: (N, T) -> (N, H).

    Steadier than seasonal naive on dense series with a weekly shape (closing days stay 0).
    """
    n_days = history.shape[1]
    positions = n_days - season + (np.arange(horizon) % season)  # (H,) columns of the last season
    if positions.min() < 0:
        raise ValueError(f"a seasonal mean needs at least {season} days of history, got {n_days}")
    back = np.arange(min(seasons, n_days // season))[:, None] * season  # (S, 1)
    columns = positions[None, :] - back  # (S, H), all >= 0 since S * season <= n_days
    return history[:, columns].mean(axis=1)  # (N, S, H) -> (N, H)


def recent_level(history: np.ndarray, season: int) -> np.ndarray:
    """Each series' mean over its last `SEASONS_AVERAGED` seasons (1 where that is 0): (N, T) -> (N,)."""
    level = history[:, -SEASONS_AVERAGED * season :].mean(axis=1)  # (N,)
    return np.where(level > 0, level, 1.0)


def fit_dispersion(actual: np.ndarray, mean: np.ndarray) -> float:
    """Negative binomial phi by moments: sum((y - mu)^2 - mu) / sum(mu^2), at least 0."""
    actual, mean = np.asarray(actual, dtype=float), np.asarray(mean, dtype=float)
    denominator = float((mean**2).sum())
    if denominator <= 0:
        return 0.0
    return max(0.0, float((((actual - mean) ** 2) - mean).sum() / denominator))


def mean_parts(
    history: np.ndarray,
    dates: pd.DatetimeIndex,
    horizon: int,
    season: int,
    settings: GbmSettings,
    static: Mapping[str, np.ndarray] | None,
    scalings: tuple[bool, ...],
) -> dict[bool, np.ndarray]:
    """The blend's parts from one history, per LightGBM scaling: scaled -> (N, H, len(PARTS))."""
    ets = exp_smoothing(history, dates, horizon)  # (N, H)
    seasonal = seasonal_mean(history, horizon, season)  # (N, H)
    return {
        scaled: np.stack([gbm_mean(history, dates, horizon, season, settings, static, scaled), ets, seasonal], axis=-1)
        for scaled in scalings
    }


def demand_model(
    history: np.ndarray,
    dates: pd.DatetimeIndex,
    horizon: int,
    season: int,
    settings: GbmSettings,
    static: Mapping[str, np.ndarray] | None = None,
) -> DemandForecast:
    """The model: a blend of mean forecasts and a dispersion, both chosen on holdout windows.

    Window k is a fit that stops k x `horizon` days before the end of `history` and forecasts the
    `horizon` days after its stop, so the holdouts measure out-of-sample error the way the real
    forecast will meet it, and use nothing after `history`. On them the model chooses the
    LightGBM scaling and the blend weights (`choose_treatment`), then the dispersion of that blend
    per day with the interval band's quantile levels (`calibrate_spread`), and the dispersion of
    horizon totals. Windows that would leave fewer than
    2 x season days of history are skipped; with none left, the mean is the raw LightGBM's alone
    and phi is 0 (Poisson).
    """
    actual, held = [], []
    for k in range(1, settings.dispersion_windows + 1):
        stop = history.shape[1] - k * horizon
        if stop < 2 * season:
            break
        held.append(mean_parts(history[:, :stop], dates[:stop], horizon, season, settings, static, (False, True)))
        actual.append(history[:, stop : stop + horizon])  # (N, H)
    treatment, phi, total_phi, levels = Treatment(), 0.0, 0.0, None
    if actual:
        actual_all = np.concatenate(actual)  # (M, H)
        parts = {scaled: np.concatenate([h[scaled] for h in held]) for scaled in (False, True)}  # (M, H, P)
        treatment = choose_treatment(actual_all, parts)
        blend = parts[treatment.scaled] @ np.asarray(treatment.weights)  # (M, H)
        phi, levels, coverage = calibrate_spread(actual_all, blend, settings.interval)
        treatment = Treatment(treatment.weights, treatment.scaled, treatment.holdout_wape, coverage)
        total_phi = fit_dispersion(actual_all.sum(axis=1), blend.sum(axis=1))
    final = mean_parts(history, dates, horizon, season, settings, static, (treatment.scaled,))[treatment.scaled]
    mean = final @ np.asarray(treatment.weights)  # (N, H)
    return DemandForecast(mean=mean, dispersion=phi, ets_weight=treatment.weights[1], total_dispersion=total_phi,
                          treatment=treatment, band_levels=levels)


def blend_grid(step: float = BLEND_STEP) -> list[tuple[float, float, float]]:
    """Every weight triple over `PARTS` in multiples of `step` summing to 1, LightGBM alone first."""
    n = round(1 / step)
    grid = [(a * step, b * step, (n - a - b) * step) for a in range(n, -1, -1) for b in range(n - a + 1)]
    return grid


def choose_treatment(actual: np.ndarray, parts: Mapping[bool, np.ndarray]) -> Treatment:
    """The scaling and blend whose mean had the lowest WAPE on the holdouts.

    Args:
        actual: (M, H) holdout demand; parts: LightGBM scaling -> (M, H, P) the parts' forecasts.

    Candidates are tried raw before scaled and LightGBM-heavy before the rest; a later one wins
    only by cutting the absolute error by `BLEND_MIN_GAIN` or more, so noise picks nothing.
    """
    best = None
    for scaled in sorted(parts):
        for weights in blend_grid():
            error = float(np.abs(actual - parts[scaled] @ np.asarray(weights)).sum())
            if best is None or error < best[0] * (1 - BLEND_MIN_GAIN):
                best = (error, weights, scaled)
    total = float(np.abs(actual).sum())
    return Treatment(weights=best[1], scaled=best[2], holdout_wape=best[0] / total if total > 0 else None)


def calibrate_dispersion(actual: np.ndarray, mean: np.ndarray, interval: float) -> tuple[float, float | None]:
    """The phi whose central `interval` band covers the holdouts' actuals closest to `interval`.

    Candidates: the moments estimate (`fit_dispersion`) times 0.5-3 and a fixed ladder from 0
    (Poisson) to 3; ties go to the one nearest the moments estimate.

    Returns:
        (phi, the holdout coverage it gives); coverage is None when there is nothing to cover.
    """
    moments = fit_dispersion(actual, mean)
    if actual.size == 0:
        return moments, None
    best = None
    for phi in dispersion_ladder(moments):
        inside = (_nbinom_ppf(0.5 - interval / 2, mean, phi) <= actual) & (actual <= _nbinom_ppf(0.5 + interval / 2, mean, phi))
        coverage = float(inside.mean())
        if best is None or abs(coverage - interval) < abs(best[1] - interval) - 1e-12:
            best = (phi, coverage)
    return best


def dispersion_ladder(moments: float) -> list[float]:
    """The phi candidates: the moments estimate times 0.5-3 and a fixed ladder from 0 (Poisson) to 3, nearest first."""
    ladder = {0.0, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0} | {moments * m for m in (0.5, 0.75, 1.0, 1.5, 2.0, 3.0)}
    return sorted(ladder, key=lambda c: (abs(c - moments), c))


def calibrate_spread(actual: np.ndarray, mean: np.ndarray, interval: float) -> tuple[float, tuple[float, float], float | None]:
    """The phi and band levels (`calibrate_band`) whose band covers the holdouts' actuals closest to `interval`.

    Phi candidates as in `calibrate_dispersion`; ties go to the one nearest the moments estimate.

    Returns:
        (phi, (lower level, upper level), the holdout coverage); coverage is None when there is nothing to cover.
    """
    moments = fit_dispersion(actual, mean)
    best = None
    for phi in dispersion_ladder(moments):
        levels, coverage = calibrate_band(actual, mean, phi, interval)
        if coverage is None:
            return moments, levels, None
        if best is None or abs(coverage - interval) < abs(best[2] - interval) - 1e-12:
            best = (phi, levels, coverage)
    return best


def calibrate_band(actual: np.ndarray, mean: np.ndarray, phi: float, interval: float) -> tuple[tuple[float, float], float | None]:
    """The quantile levels (lower, upper) of the band whose holdout coverage is closest to `interval`.

    Whole-unit demand makes a central band too wide: its bounds are whole numbers, and the mass
    on them counts as inside. So the lower level (0.01 .. 0.5, step 0.01) is the one whose
    quantile the holdouts' actuals fell below closest to (1 - interval) / 2 of the time, and the
    upper level (0.5 .. 0.99) the one that brings the band's holdout coverage closest to
    `interval`; ties go to the central levels. On dense demand the result stays near
    (0.5 -/+ interval / 2); on mostly-zero demand few days fall below any band and the upper
    level comes down to make up for it. The band always
    holds the median, so its coverage cannot fall below the share of days that equal their
    median: on item-days that are mostly 0 that floor can stay above the nominal share (a band
    that left out the most likely value to hit the number would be no use to a planner).

    Args:
        actual: (M, H) holdout demand; mean: (M, H) the chosen blend's mean there; phi: its dispersion.

    Returns:
        ((lower, upper), the holdout coverage of that band); coverage is None when there is nothing to cover.
    """
    central = (round(0.5 - interval / 2, 2), round(0.5 + interval / 2, 2))
    if actual.size == 0:
        return central, None
    tail = (1 - interval) / 2
    # For a whole-number quantile k = ppf(q): y < k exactly when cdf(floor(y)) < q, and y > k exactly
    # when cdf(ceil(y) - 1) >= q; one cdf per holdout value scores every level at once.
    below_cdf = _nbinom_cdf(np.floor(actual), mean, phi)  # (M, H)
    above_cdf = _nbinom_cdf(np.ceil(actual) - 1, mean, phi)  # (M, H)
    steps = np.round(np.arange(0.01, 1.0, 0.01), 2)
    lower = min(steps[steps <= 0.5], key=lambda q: (abs(float((below_cdf < q).mean()) - tail), abs(q - central[0])))
    below = float((below_cdf < lower).mean())
    # the upper level takes what the lower tail could not: mostly-zero demand has few days below any band
    upper = min(steps[steps >= 0.5], key=lambda q: (abs(1.0 - below - float((above_cdf >= q).mean()) - interval),
                                                    abs(q - central[1])))
    return (float(lower), float(upper)), 1.0 - below - float((above_cdf >= upper).mean())


def _nbinom_cdf(x: np.ndarray, mean: np.ndarray, phi: float) -> np.ndarray:
    """Negative binomial P(Y <= x) with mean `mean` and var = mean + phi * mean^2 (mean 0: all mass on 0)."""
    x, mean = np.asarray(x, dtype=np.float64), np.asarray(mean, dtype=np.float64)
    out = (x >= 0).astype(np.float64)  # mean 0: a point mass at 0
    positive = mean > 0
    if phi <= 1e-9:
        out[positive] = stats.poisson.cdf(x[positive], mean[positive])
    else:
        size = 1.0 / phi
        out[positive] = stats.nbinom.cdf(x[positive], size, size / (size + mean[positive]))
    return out


def _nbinom_ppf(q: float, mean: np.ndarray, phi: np.ndarray | float) -> np.ndarray:
    """Negative binomial quantile with mean `mean` and var = mean + phi * mean^2 (phi 0: Poisson)."""
    mean = np.asarray(mean, dtype=np.float64)
    phi = np.broadcast_to(np.asarray(phi, dtype=np.float64), mean.shape)
    out = np.zeros_like(mean)
    poisson = (mean > 0) & (phi <= 1e-9)
    negbin = (mean > 0) & (phi > 1e-9)
    out[poisson] = stats.poisson.ppf(q, mean[poisson])
    size = 1.0 / phi[negbin]
    out[negbin] = stats.nbinom.ppf(q, size, size / (size + mean[negbin]))
    return out
