"""Library forecasters over a demand panel: the model, the planner's peers, and demand quantiles.

Each method maps a history (N, T) and its dates (T,) to forecasts (N, H); none sees a column after
the history, so the backtest in `shopseq.downstream.forecast` can cut wherever it likes.

- `model`: one global LightGBM (via mlforecast) over every item with a Tweedie objective, which
  suits many zeros and a long right tail; features: lags 1, season, 2 x season, rolling means of
  the last week and four weeks, the expanding mean (the item's level), the mean of the same
  weekday over four seasons, and the day of week. It forecasts the *mean* daily demand.
  Around the mean sits a negative binomial whose dispersion is fitted on holdout windows of
  `horizon` days before the origin (days the holdout fits did not train on); that gives quantiles per day and
  for the horizon's total, and the median, which is the point forecast that WAPE and MASE (both
  absolute errors) reward.
- `global_gbm`: the peer a planner would use: LightGBM with default settings on lags 1, season and
  2 x season, squared error.
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

import numpy as np
import pandas as pd
from scipy import stats

log = logging.getLogger(__name__)

UID, DS, Y = "unique_id", "ds", "y"  # mlforecast / statsforecast column names
PROPENSITY = "propensity"  # optional static feature: the champion's expected purchases per item


@dataclass(frozen=True)
class GbmSettings:
    """What the library model needs from params: trees, step size, threads, seed, holdout windows."""

    trees: int = 300
    learning_rate: float = 0.05
    threads: int = 1
    seed: int = 0
    dispersion_windows: int = 2  # holdout windows of `horizon` days the dispersion is fitted on


@dataclass(frozen=True)
class DemandForecast:
    """A negative binomial per item and day: mean (N, H) and one dispersion phi.

    Variance is mean + phi * mean^2 (phi = 0: Poisson).
    """

    mean: np.ndarray  # (N, H)
    dispersion: float

    def quantile(self, q: float) -> np.ndarray:
        """The q-quantile of each day's demand: (N, H)."""
        return _nbinom_ppf(q, self.mean, self.dispersion)

    def median(self) -> np.ndarray:
        """The per-day median (N, H): the point forecast that absolute-error metrics reward."""
        return self.quantile(0.5)

    def total_quantile(self, q: float) -> np.ndarray:
        """The q-quantile of each item's total demand over the horizon: (N,).

        The total's mean and variance add up over the days (days independent given the mean);
        a negative binomial with those two moments stands for the sum.
        """
        total = self.mean.sum(axis=1)  # (N,)
        variance = (self.mean + self.dispersion * self.mean**2).sum(axis=1)  # (N,)
        phi = np.divide(variance - total, total**2, out=np.zeros_like(total), where=total > 0)  # (N,)
        return _nbinom_ppf(q, total, phi)


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
) -> np.ndarray:
    """The model's mean daily demand (N, H) from one global LightGBM over every series.

    Args:
        static: optional per-series features (name -> (N,)), e.g. the champion's propensity.
    """
    import lightgbm as lgb
    from mlforecast import MLForecast
    from mlforecast.lag_transforms import ExpandingMean, RollingMean

    ids = [str(i) for i in range(history.shape[0])]
    frame = long_frame(history, ids, dates)
    static = dict(static or {})
    for name, column in static.items():
        frame[name] = np.repeat(np.asarray(column, dtype=np.float64), history.shape[1])
    regressor = lgb.LGBMRegressor(
        objective="tweedie",
        n_estimators=settings.trees,
        learning_rate=settings.learning_rate,
        num_leaves=15,
        min_child_samples=20,
        subsample=0.8,
        subsample_freq=1,
        colsample_bytree=0.8,
        n_jobs=settings.threads,
        random_state=settings.seed,
        deterministic=True,
        verbose=-1,
    )
    forecaster = MLForecast(
        models={"model": regressor},
        freq="D",
        lags=[1, season, 2 * season],
        lag_transforms={
            1: [RollingMean(7, min_samples=1), RollingMean(28, min_samples=1), ExpandingMean()],
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
    """The peer: default LightGBM on lags 1, season and 2 x season, squared error. (N, T) -> (N, H)."""
    import lightgbm as lgb
    from mlforecast import MLForecast

    ids = [str(i) for i in range(history.shape[0])]
    regressor = lgb.LGBMRegressor(n_jobs=settings.threads, random_state=settings.seed, deterministic=True, verbose=-1)
    forecaster = MLForecast(models={"global_gbm": regressor}, freq="D", lags=[1, season, 2 * season])
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


def fit_dispersion(actual: np.ndarray, mean: np.ndarray) -> float:
    """Negative binomial phi by moments: sum((y - mu)^2 - mu) / sum(mu^2), at least 0."""
    actual, mean = np.asarray(actual, dtype=float), np.asarray(mean, dtype=float)
    denominator = float((mean**2).sum())
    if denominator <= 0:
        return 0.0
    return max(0.0, float((((actual - mean) ** 2) - mean).sum() / denominator))


def demand_model(
    history: np.ndarray,
    dates: pd.DatetimeIndex,
    horizon: int,
    season: int,
    settings: GbmSettings,
    static: Mapping[str, np.ndarray] | None = None,
) -> DemandForecast:
    """The model: LightGBM's mean plus a dispersion fitted on holdout windows before the origin.

    Window k is a fit that stops k x `horizon` days before the end and forecasts the `horizon` days
    after its stop, so the dispersion measures out-of-sample error the way the real forecast will
    meet it. Pooling two windows steadies it against one window's bulk orders (UCI Online Retail:
    reorder service level 0.89 with one window, 0.925 with two, target 0.95). Windows that would
    leave fewer than 2 x season days of history are skipped; with none left, phi is 0 (Poisson).
    """
    actual, held = [], []
    for k in range(1, settings.dispersion_windows + 1):
        stop = history.shape[1] - k * horizon
        if stop < 2 * season:
            break
        held.append(gbm_mean(history[:, :stop], dates, horizon, season, settings, static))  # (N, H)
        actual.append(history[:, stop : stop + horizon])  # (N, H)
    phi = fit_dispersion(np.concatenate(actual), np.concatenate(held)) if held else 0.0
    return DemandForecast(mean=gbm_mean(history, dates, horizon, season, settings, static), dispersion=phi)


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
