"""Stage `forecast`: per-item daily demand forecasts, a rolling-origin backtest and reorders.

Reads validated events and items (and, with `forecast.propensity`, the champion model); writes
data/forecast/forecast.parquet (item_id, date, forecast, median, lower, upper),
data/forecast/reorder.parquet (item_id, expected_demand, order_up_to, ...),
reports/forecast/metrics.json (WAPE, MASE, RMSSE and horizon-total WAPE of the model vs seasonal
naive, exponential smoothing, a plain global LightGBM, an all-zero forecast and the M5 winners'
Tweedie LightGBM) and reports/forecast/report.html.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from shopseq.config import Params, Paths
from shopseq.downstream.forecast import (
    StaticFeatures,
    backtest,
    backtest_origins,
    forecast_frame,
    interval_coverage,
    purchase_panel,
    reorder_suggestions,
    score_backtest,
    service_achieved,
    with_demand,
)
from shopseq.downstream.forecast_models import PROPENSITY, GbmSettings, demand_model
from shopseq.downstream.forecast_report import render_report
from shopseq.io import atomic_path, read_parquet, write_json, write_parquet

log = logging.getLogger(__name__)


def run(params: Params) -> None:
    """Build the demand panel, backtest every method, forecast the next horizon, write it all."""
    paths, config = params.paths, params.forecast
    events = read_parquet(Path(paths.validated) / "events.parquet")
    items = read_parquet(Path(paths.validated) / "items.parquet")
    panel = with_demand(purchase_panel(events, items))  # (N, T): items that sold anything
    if not panel.ids:
        raise ValueError(f"no purchases in {paths.validated}/events.parquet: nothing to forecast")
    settings = GbmSettings.from_config(config, params.base.seed)
    static_at, scored_by = None, None
    if config.propensity:
        origins = backtest_origins(len(panel.dates), config.horizon, config.backtest_origins, config.season)
        static_at, scored_by = _propensity_at(paths, events, panel.ids, [panel.dates[o] for o in origins])

    mode = params.base.progress
    folds = backtest(panel.values, panel.dates, config.horizon, config.season, config.backtest_origins, settings, static_at=static_at, mode=mode)
    rows = score_backtest(folds)
    static = static_at(panel.dates[-1] + pd.Timedelta(days=1)) if static_at else None
    final = demand_model(panel.values, panel.dates, config.horizon, config.season, settings, static)
    write_parquet(forecast_frame(panel, final, config.interval), Path(paths.forecast) / "forecast.parquet")
    reorder = reorder_suggestions(panel.ids, final, config.service_level)
    write_parquet(reorder, Path(paths.forecast) / "reorder.parquet")
    metrics = {
        "horizon": config.horizon,
        "season": config.season,
        "backtest_origins": config.backtest_origins,
        "origins": [panel.dates[f.origin].date().isoformat() for f in folds],
        "n_items": len(panel.ids),
        "history_days": len(panel.dates),
        "units_per_day": float(panel.values.sum() / len(panel.dates)),
        "interval": config.interval,
        "interval_coverage": interval_coverage(folds, config.interval),
        "service_level": config.service_level,
        "service_level_achieved": service_achieved(folds, config.service_level),
        "dispersion": final.dispersion,
        "treatment": final.treatment.as_dict(),
        "propensity_from": scored_by,
        "rows": rows,
        # the same figures keyed by method, so `dvc metrics show/diff` (which skips lists) lists them
        "by_method": {row["method"]: {k: row[k] for k in ("wape", "mase", "rmsse", "wape_total")} for row in rows},
    }
    write_json(Path(paths.reports) / "forecast" / "metrics.json", metrics)
    summary = {k: v for k, v in metrics.items() if k not in ("rows", "by_method")}
    page = render_report(panel, folds, final, rows, summary, config.report_items, config.interval, reorder)
    with atomic_path(Path(paths.reports) / "forecast" / "report.html") as tmp:
        tmp.write_text(page, encoding="utf-8")
    for row in rows:
        log.info("forecast backtest: %-15s WAPE %s  MASE %s  total WAPE %s", row["method"], row["wape"], row["mase"], row["wape_total"])


def _propensity_at(paths: Paths, events: pd.DataFrame, item_ids: list[str],
                   origins: list[pd.Timestamp]) -> tuple[StaticFeatures, str]:
    """The champion's (else the candidate's) expected purchases per item as of a day, and its name.

    Refuses (ValueError) when the model was trained on events after a backtest origin (`origins`).
    """
    from shopseq.downstream.audiences import choose_model
    from shopseq.downstream.forecast_propensity import expected_purchases, require_trained_before
    from shopseq.sequences.recommender import load_recommender  # torch: import only when asked

    model_dir, scored_by = choose_model(paths.champion, paths.candidate)
    recommender = load_recommender(model_dir)
    require_trained_before(recommender.meta, origins, scored_by)
    return (lambda day: {PROPENSITY: expected_purchases(recommender, events, item_ids, day)}), scored_by
