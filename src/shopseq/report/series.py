"""The demand series the report charts: recent daily units sold, the forecast after them, seasonal naive's.

Read from the validated events and `data/forecast/forecast.parquet`, summed over items, so one
chart shows whether the forecast continues the shop's demand better than repeating last week.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from shopseq.config import Params

log = logging.getLogger(__name__)

HISTORY_DAYS = 42  # days of actual demand shown before the forecast


def demand_series(params: Params, history_days: int = HISTORY_DAYS) -> dict[str, Any] | None:
    """Total units per day: actuals (last `history_days`), the model's forecast and seasonal naive.

    Returns:
        {"dates", "actual"} for the history and {"forecast_dates", "forecast", "naive"} for the
        horizon (lists, JSON-friendly); None when the forecast stage has not run. No band: summed
        per-item quantiles are not the total's quantiles.
    """
    forecast_file = Path(params.paths.forecast) / "forecast.parquet"
    events_file = Path(params.paths.validated) / "events.parquet"
    if not forecast_file.exists() or not events_file.exists():
        return None
    import numpy as np
    import pandas as pd

    from shopseq.downstream.forecast import DATE, DEMAND, FORECAST, daily_demand, seasonal_naive
    from shopseq.io import read_parquet

    forecast = read_parquet(forecast_file).groupby(DATE)[FORECAST].sum().sort_index()
    demand = daily_demand(read_parquet(events_file)).groupby(DATE)[DEMAND].sum()
    if demand.empty or forecast.empty:
        return None
    last = pd.Timestamp(forecast.index.min()) - pd.Timedelta(days=1)
    days = pd.date_range(last - pd.Timedelta(days=history_days - 1), last, freq="D")
    actual = demand.reindex(days, fill_value=0.0).to_numpy(dtype=np.float64)
    season = params.forecast.season
    naive = seasonal_naive(actual[None, :], len(forecast), season)[0] if len(actual) >= season else None
    return {
        "dates": [d.strftime("%Y-%m-%d") for d in days],
        "actual": actual.tolist(),
        "forecast_dates": [pd.Timestamp(d).strftime("%Y-%m-%d") for d in forecast.index],
        "forecast": forecast.tolist(),
        "naive": None if naive is None else naive.tolist(),
        "season": season,
    }
