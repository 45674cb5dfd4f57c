"""Stage `forecast` end to end on a tiny shop in tmp_path: parquet, metrics and a fair backtest."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shopseq import schema as s
from shopseq.config import load_params
from shopseq.io import read_json, write_parquet
from shopseq.stages import forecast as stage

WEEKDAY = np.array([1.0, 0.9, 0.9, 1.0, 1.3, 2.2, 1.8])  # Monday .. Sunday
START = pd.Timestamp("2026-06-01", tz="UTC")  # a Monday
DAYS = 56


def _write_shop(root, seed: int = 7) -> pd.DataFrame:
    """Eight items in two categories bought with a weekend peak, plus views; returns the items."""
    rng = np.random.default_rng(seed)
    items = pd.DataFrame(
        {
            s.ITEM_ID: [f"i{i}" for i in range(8)],
            s.TITLE: [f"item {i}" for i in range(8)],
            s.DESCRIPTION: ["a thing"] * 8,
            s.CATEGORY: ["coffee"] * 4 + ["garden"] * 4,
        }
    )
    rates = np.array([6.0, 3.0, 1.0, 0.3, 4.0, 2.0, 0.5, 0.2])
    rows = []
    for day in range(DAYS):
        date = START + pd.Timedelta(days=day)
        for item, rate in zip(items[s.ITEM_ID], rates):
            for k in range(rng.poisson(rate * WEEKDAY[date.dayofweek])):
                ts = date + pd.Timedelta(minutes=int(rng.integers(0, 24 * 60)))
                user = f"u{rng.integers(0, 50)}"
                rows.append((user, item, s.VIEW, ts, np.nan))
                rows.append((user, item, s.PURCHASE, ts + pd.Timedelta(seconds=30), float(k % 2 + 1) if k % 3 else np.nan))
    events = pd.DataFrame(rows, columns=[s.USER_ID, s.ITEM_ID, s.EVENT_TYPE, s.TS, s.QUANTITY])
    write_parquet(s.conform(events, s.EVENTS), root / "data/validated/events.parquet")
    write_parquet(s.conform(items, s.ITEMS), root / "data/validated/items.parquet")
    return items


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(
        "base:\n  progress: logs\nforecast:\n  horizon: 7\n  season: 7\n  backtest_origins: 3\n  interval: 0.8\n"
    )
    _write_shop(tmp_path)
    return tmp_path


def test_forecast_stage_writes_forecasts_and_backtest_metrics(project) -> None:
    stage.run(load_params())

    forecast = pd.read_parquet(project / "data/forecast/forecast.parquet")
    assert list(forecast.columns) == [s.ITEM_ID, "date", "forecast", "lower", "upper"]
    assert len(forecast) == 8 * 7
    assert sorted(forecast["date"].unique()) == list(pd.date_range("2026-07-27", periods=7))
    assert (forecast["lower"] <= forecast["forecast"]).all() and (forecast["forecast"] <= forecast["upper"]).all()
    weekly = forecast[forecast[s.ITEM_ID] == "i0"].set_index("date")["forecast"]
    assert weekly.idxmax().dayofweek == 5  # the busiest item peaks on Saturday, like its history

    metrics = read_json(project / "reports/forecast/metrics.json")
    assert metrics["horizon"] == 7
    assert 0.5 < metrics["interval_coverage"] <= 1.0  # an 80% band that holds most of the truth
    assert metrics["origins"] == ["2026-07-06", "2026-07-13", "2026-07-20"]
    rows = {row["method"]: row for row in metrics["rows"]}
    assert list(rows) == ["model", "seasonal_naive", "exp_smoothing"]
    assert all(0 < row["wape"] < 2 and 0 < row["mase"] < 3 for row in rows.values())
    # smoothing a pooled weekly shape beats copying last week's noise on a Poisson weekly series
    assert rows["model"]["wape"] < rows["seasonal_naive"]["wape"]
    assert rows["model"]["mase"] < rows["seasonal_naive"]["mase"]


def test_forecast_stage_is_deterministic(project) -> None:
    stage.run(load_params())
    first = pd.read_parquet(project / "data/forecast/forecast.parquet")
    stage.run(load_params())

    pd.testing.assert_frame_equal(pd.read_parquet(project / "data/forecast/forecast.parquet"), first)


def test_forecast_stage_explains_too_short_history(project) -> None:
    (project / "params.yaml").write_text("base:\n  progress: logs\nforecast:\n  horizon: 14\n  backtest_origins: 4\n")

    with pytest.raises(ValueError, match="backtest_origins"):
        stage.run(load_params())
