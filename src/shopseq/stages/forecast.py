"""Stage `forecast`: per-item daily demand forecasts with a rolling-origin backtest.

Reads validated events and items; writes data/forecast/forecast.parquet (item_id, date,
forecast, lower, upper) and reports/forecast/metrics.json (WAPE and MASE of the model vs
seasonal naive and exponential smoothing).
"""

from __future__ import annotations

import logging
from pathlib import Path

from shopseq.config import Params
from shopseq.downstream.forecast import (
    backtest,
    band_coverage,
    forecast_panel,
    item_groups,
    purchase_panel,
    score_backtest,
)
from shopseq.io import read_parquet, write_json, write_parquet

log = logging.getLogger(__name__)


def run(params: Params) -> None:
    """Build the demand panel, backtest every method, forecast the next horizon, write both."""
    paths, config = params.paths, params.forecast
    events = read_parquet(Path(paths.validated) / "events.parquet")
    items = read_parquet(Path(paths.validated) / "items.parquet")
    panel = purchase_panel(events, items)  # (N, T)
    groups = item_groups(items, panel.ids)  # (N,)

    folds = backtest(panel.values, groups, config.horizon, config.season, config.backtest_origins)
    rows = score_backtest(folds)
    forecast = forecast_panel(panel, groups, config.horizon, config.season, config.interval)
    write_parquet(forecast, Path(paths.forecast) / "forecast.parquet")
    metrics = {
        "horizon": config.horizon,
        "season": config.season,
        "backtest_origins": config.backtest_origins,
        "origins": [panel.dates[f.origin].date().isoformat() for f in folds],
        "n_items": len(panel.ids),
        "history_days": len(panel.dates),
        "units_per_day": float(panel.values.sum() / len(panel.dates)),
        "interval": config.interval,
        "interval_coverage": band_coverage(folds, config.interval),
        "rows": rows,
    }
    write_json(Path(paths.reports) / "forecast" / "metrics.json", metrics)
    for row in rows:
        log.info("forecast backtest: %-15s WAPE %s  MASE %s", row["method"], row["wape"], row["mase"])
