"""`shopseq benchmark forecast`: the forecast model against the planner's baselines on any series.

Reads a CSV of demand (`id,date,value`, one row per series and day; missing days count as zero),
runs the same rolling-origin backtest as the `forecast` stage and writes `forecast.json` with
the contract's keys (DESIGN.md): `horizon`, `rows`: [{`method`, `wape`, `mase`, `seconds`}] for
`model`, `seasonal_naive`, `exp_smoothing`, `global_gbm`, `zero` and `tweedie_gbm`, plus per row
`rmsse`, `wape_total` and `wape_by_origin`, and the model's `pinball`, `wape_mean` and
`wape_median`. Every method's point forecast is its mean, so every row is scored on the same
statistic. Also: the model's interval coverage, the service level its reorders reached,
`treatments` (what the holdouts before each origin chose: blend weights, scaling, holdout WAPE
and coverage), `ets_weights` (exponential smoothing's share, per origin),
`hindsight_median_wape` (each series' own median over each window: it knows the future), the
`targets` and, to rerun it, `reproduce` {`command`, `git_commit`, `params`, `seed`}.
`seconds` is the wall time of the method summed over all origins.
"""

from __future__ import annotations

import dataclasses
import logging
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shopseq.config import Forecast
from shopseq.downstream.forecast import (
    Panel,
    backtest,
    hindsight_median_wape,
    interval_coverage,
    score_backtest,
    service_achieved,
    to_panel,
    with_demand,
)
from shopseq.downstream.forecast_models import GbmSettings
from shopseq.io import atomic_path, write_json
from shopseq.lineage import git_commit

log = logging.getLogger(__name__)

SERIES_COLUMNS = ("id", "date", "value")
CODE_PATHS = (":/src", ":/benchmarks/forecast.py", ":/params.yaml")  # what `-dirty` in `reproduce.git_commit` is about


@dataclass(frozen=True)
class ForecastBenchOptions:
    """What `shopseq benchmark forecast` runs: the horizon, origins and season of the backtest."""

    horizon: int
    origins: int
    season: int

    def __post_init__(self) -> None:
        for name in ("horizon", "origins", "season"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1; got {getattr(self, name)}")


def read_series(path: Path) -> Panel:
    """Read `id,date,value` rows into a panel over every day from the first date to the last.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a column is missing, a date or value does not parse, or a value is negative.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"series file {path} does not exist")
    frame = pd.read_csv(path, dtype={"id": str})
    missing = [c for c in SERIES_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; expected columns {list(SERIES_COLUMNS)}")
    if frame.empty:
        raise ValueError(f"{path}: no rows")
    dates = pd.to_datetime(frame["date"], errors="coerce")
    if dates.isna().any():
        row = int(dates.isna().to_numpy().argmax())
        raise ValueError(f"{path}: row {row + 2}: date {frame['date'].iloc[row]!r} does not parse")
    values = pd.to_numeric(frame["value"], errors="coerce")
    if values.isna().any() or (values < 0).any():
        row = int((values.isna() | (values < 0)).to_numpy().argmax())
        raise ValueError(f"{path}: row {row + 2}: value {str(frame['value'].iloc[row])!r} is not a number >= 0")
    if getattr(dates.dt, "tz", None) is not None:
        dates = dates.dt.tz_convert(None)
    long = pd.DataFrame({"id": frame["id"].astype(str), "date": dates.dt.normalize(), "value": values.astype(float)})
    ids = sorted(long["id"].unique())
    return to_panel(long, ids, long["date"].min(), long["date"].max(), id_col="id", date_col="date", value_col="value")


def run_forecast_benchmark(series: Path, out: Path, config: Forecast, options: ForecastBenchOptions, seed: int = 0) -> dict[str, Any]:
    """Backtest every method on the series, write `out/forecast.json` and `out/forecast.md`."""
    panel = with_demand(read_series(series))
    if not panel.ids:
        raise ValueError(f"{series}: every series is all zeros; nothing to forecast")
    settings = GbmSettings.from_config(config, seed)
    folds = backtest(panel.values, panel.dates, options.horizon, options.season, options.origins, settings)
    rows = score_backtest(folds)
    report = {
        "horizon": options.horizon,
        "rows": rows,
        "series": str(series),
        "n_series": len(panel.ids),
        "n_days": len(panel.dates),
        "first_day": panel.dates[0].date().isoformat(),
        "last_day": panel.dates[-1].date().isoformat(),
        "zero_share": float((panel.values == 0).mean()),
        "season": options.season,
        "origins": [panel.dates[f.origin].date().isoformat() for f in folds],
        "interval": config.interval,
        "interval_coverage": interval_coverage(folds, config.interval),
        "service_level": config.service_level,
        "service_level_achieved": service_achieved(folds, config.service_level),
        "hindsight_median_wape": hindsight_median_wape(folds),
        "ets_weights": [f.model.ets_weight for f in folds if f.model is not None],  # per origin, chosen on its holdouts
        "treatments": [f.model.treatment.as_dict() for f in folds if f.model is not None],
        "band_levels": [f.model.band_levels for f in folds if f.model is not None],  # per origin, chosen on its holdouts
        "targets": targets(rows, interval_coverage(folds, config.interval), config.interval),
        "reproduce": {
            "command": rerun_command(series, out, options),
            "git_commit": git_commit(Path(__file__).parent, CODE_PATHS),
            "params": {"forecast": dataclasses.asdict(config)},
            "seed": seed,
        },
    }
    out = Path(out)
    write_json(out / "forecast.json", report)
    with atomic_path(out / "forecast.md") as tmp:
        tmp.write_text(markdown_table(report), encoding="utf-8")
    return report


def rerun_command(series: Path, out: Path, options: ForecastBenchOptions) -> str:
    """The command line that reruns this benchmark with the same settings."""
    args = ["shopseq", "benchmark", "forecast", "--series", str(series), "--horizon", str(options.horizon)]
    args += ["--origins", str(options.origins), "--season", str(options.season), "--out", str(out)]
    return shlex.join(args)


def targets(rows: list[dict], coverage: float | None = None, interval: float | None = None) -> dict[str, Any]:
    """The targets: model WAPE below seasonal naive's and global_gbm's; coverage within 5 points.

    Also the older target, model WAPE <= 0.5 x seasonal naive's, kept under its old keys.
    """
    by = {row["method"]: row for row in rows}
    model, naive, peer = (by.get(m, {}).get("wape") for m in ("model", "seasonal_naive", "global_gbm"))
    ratio = model / naive if model is not None and naive else None
    return {
        "wape_ratio_to_seasonal_naive": ratio,
        "half_of_seasonal_naive_met": ratio is not None and ratio <= 0.5,
        "no_worse_than_global_gbm_met": model is not None and peer is not None and model <= peer,
        "beats_seasonal_naive_met": model is not None and naive is not None and model < naive,
        "beats_global_gbm_met": model is not None and peer is not None and model < peer,
        "coverage_within_5_points_met": coverage is not None and interval is not None and abs(coverage - interval) <= 0.05,
    }


def markdown_table(report: dict[str, Any]) -> str:
    """The rows as a markdown table under one line describing the data and the backtest."""
    lines = [
        (
            f"`{Path(report['series']).name}`: {report['n_series']} series x {report['n_days']} days "
            f"({report['first_day']} .. {report['last_day']}, {100 * report['zero_share']:.0f}% zero days), "
            f"horizon {report['horizon']}, origins {', '.join(report['origins'])}, season {report['season']}"
        ),
        "",
        "| method | WAPE | MASE | RMSSE | WAPE of horizon total | pinball | seconds |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in report["rows"]:
        lines.append(
            f"| {row['method']} | {_num(row['wape'])} | {_num(row['mase'])} | {_num(row['rmsse'])} | "
            f"{_num(row['wape_total'])} | {_num(row.get('pinball'))} | {row['seconds']:.1f} |"
        )
    model = next((r for r in report["rows"] if r["method"] == "model"), None)
    t = report["targets"]
    lines += [
        "",
        (
            f"Every row scores its mean. Model WAPE of its daily median: {_num(model['wape_median']) if model else 'n/a'}; "
            f"{report['interval']:.0%} band coverage {_num(report['interval_coverage'])} (band quantile levels "
            f"chosen on the holdouts per origin: {_levels(report.get('band_levels'))}); "
            f"reorder service level {report['service_level']} reached {_num(report['service_level_achieved'])}."
        ),
        "Chosen on the holdouts before each origin (weights of LightGBM / exp smoothing / seasonal mean; scaling): "
        + "; ".join(_treatment(tr) for tr in report["treatments"])
        + ".",
        (
            f"Each series' own median over each backtest window (knows the future) scores WAPE "
            f"{_num(report['hindsight_median_wape'])}; WAPE by origin: "
            + "; ".join(f"{r['method']} {', '.join(_num(w) for w in r['wape_by_origin'])}" for r in report["rows"])
            + "."
        ),
        (
            f"Targets: model WAPE / seasonal naive = {_num(t['wape_ratio_to_seasonal_naive'])}; "
            f"beats seasonal naive: {_met(t['beats_seasonal_naive_met'])}; beats global_gbm: {_met(t['beats_global_gbm_met'])}; "
            f"coverage within 5 points of {report['interval']:.0%}: {_met(t['coverage_within_5_points_met'])}."
        ),
        "",
    ]
    return "\n".join(lines)


def _treatment(treatment: dict[str, Any]) -> str:
    """One origin's choice: weights, scaling and the holdout WAPE they scored."""
    weights = "/".join(f"{w:g}" for w in treatment["weights"].values())
    return f"{weights} {'scaled' if treatment['scaled'] else 'raw'} (holdout WAPE {_num(treatment['holdout_wape'])})"


def _levels(levels: list | None) -> str:
    """Each origin's band levels as "lower-upper", or "central" where the holdouts chose none."""
    return ", ".join("central" if pair is None else f"{pair[0]:g}-{pair[1]:g}" for pair in levels or []) or "n/a"


def _met(flag: bool) -> str:
    return "met" if flag else "not met"


def _num(value: float | None) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.3f}"
