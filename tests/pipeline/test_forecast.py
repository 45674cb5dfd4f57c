"""Stage `forecast` end to end on a tiny shop in tmp_path: forecasts, reorders, metrics and the report."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shopseq import schema as s
from shopseq.config import load_params
from shopseq.downstream.forecast import METHODS
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
        "base:\n  progress: logs\nforecast:\n  horizon: 7\n  season: 7\n  backtest_origins: 3\n  interval: 0.8\n  trees: 30\n  report_items: 2\n"
    )
    _write_shop(tmp_path)
    return tmp_path


def test_forecast_stage_writes_forecasts_and_backtest_metrics(project) -> None:
    stage.run(load_params())

    forecast = pd.read_parquet(project / "data/forecast/forecast.parquet")
    assert list(forecast.columns) == [s.ITEM_ID, "date", "forecast", "median", "lower", "upper"]
    assert len(forecast) == 8 * 7
    assert sorted(forecast["date"].unique()) == list(pd.date_range("2026-07-27", periods=7))
    assert (forecast["lower"] <= forecast["median"]).all() and (forecast["median"] <= forecast["upper"]).all()
    assert (forecast["forecast"] >= 0).all()

    reorder = pd.read_parquet(project / "data/forecast/reorder.parquet")
    assert sorted(reorder[s.ITEM_ID]) == [f"i{i}" for i in range(8)]
    assert (reorder["order_up_to"] >= reorder["expected_demand"].round() - 1).all()
    assert (reorder["service_level"] == 0.95).all()
    totals = forecast.groupby(s.ITEM_ID)["forecast"].sum()
    np.testing.assert_allclose(reorder.set_index(s.ITEM_ID)["expected_demand"], totals.reindex(reorder[s.ITEM_ID]))

    metrics = read_json(project / "reports/forecast/metrics.json")
    assert metrics["horizon"] == 7 and metrics["n_items"] == 8
    assert metrics["origins"] == ["2026-07-06", "2026-07-13", "2026-07-20"]
    assert 0.0 <= metrics["interval_coverage"] <= 1.0 and 0.0 <= metrics["service_level_achieved"] <= 1.0
    rows = {row["method"]: row for row in metrics["rows"]}
    assert list(rows) == ["model", "seasonal_naive", "exp_smoothing", "global_gbm", "zero", "tweedie_gbm"]
    assert sum(metrics["treatment"]["weights"].values()) == pytest.approx(1.0)
    assert all(row["wape"] > 0 and row["mase"] > 0 and row["seconds"] >= 0 for row in rows.values())
    assert metrics["by_method"]["global_gbm"]["wape"] == rows["global_gbm"]["wape"]  # for `dvc metrics diff`

    page = (project / "reports/forecast/report.html").read_text()
    assert page.count("data:image/png;base64,") == 2  # report_items best sellers, plots inlined
    assert "global_gbm" in page and "order_up_to" in page
    assert "http" not in page  # nothing fetched from the network: it works offline


def test_forecast_stage_skips_items_that_never_sold(project) -> None:
    items = pd.read_parquet(project / "data/validated/items.parquet")
    extra = items.iloc[:1].assign(**{s.ITEM_ID: "never_sold"})
    write_parquet(s.conform(pd.concat([items, extra], ignore_index=True), s.ITEMS), project / "data/validated/items.parquet")

    stage.run(load_params())

    assert "never_sold" not in set(pd.read_parquet(project / "data/forecast/forecast.parquet")[s.ITEM_ID])
    assert read_json(project / "reports/forecast/metrics.json")["n_items"] == 8


def test_forecast_stage_is_deterministic(project) -> None:
    stage.run(load_params())
    first = pd.read_parquet(project / "data/forecast/forecast.parquet")
    first_reorder = pd.read_parquet(project / "data/forecast/reorder.parquet")
    stage.run(load_params())

    pd.testing.assert_frame_equal(pd.read_parquet(project / "data/forecast/forecast.parquet"), first)
    pd.testing.assert_frame_equal(pd.read_parquet(project / "data/forecast/reorder.parquet"), first_reorder)


def test_forecast_stage_explains_too_short_history(project) -> None:
    (project / "params.yaml").write_text("base:\n  progress: logs\nforecast:\n  horizon: 14\n  backtest_origins: 4\n")

    with pytest.raises(ValueError, match="backtest_origins"):
        stage.run(load_params())


def test_propensity_feature_without_a_model_says_what_to_run(project) -> None:
    params = (project / "params.yaml").read_text()
    (project / "params.yaml").write_text(params + "  propensity: true\n")

    with pytest.raises(FileNotFoundError, match="shopseq run train"):
        stage.run(load_params())


def _save_propensity_model(project, meta: dict) -> None:
    """A real (small, untrained) next-item model saved as the candidate, with `meta`; propensity switched on."""
    import torch

    from shopseq.sequences.models import ModelConfig, NextItemModel
    from shopseq.sequences.recommender import Recommender, save_recommender

    torch.manual_seed(0)
    item_ids = [f"i{i}" for i in range(8)]
    model = NextItemModel(ModelConfig(family="gru", n_items=len(item_ids), hidden=8, max_len=20))
    save_recommender(Recommender(model, item_ids, meta), project / "models/candidate")
    params = (project / "params.yaml").read_text()
    (project / "params.yaml").write_text(params + "  propensity: true\n")


def test_propensity_feature_from_a_saved_model(project) -> None:
    """The stage wiring, with a model trained on events before the first backtest origin (2026-07-06)."""
    _save_propensity_model(project, {"trained_on_events_before": "2026-07-05T00:00:00+00:00"})

    stage.run(load_params())

    metrics = read_json(project / "reports/forecast/metrics.json")
    assert metrics["propensity_from"] == "candidate"
    assert [row["method"] for row in metrics["rows"]] == list(METHODS)
    assert len(pd.read_parquet(project / "data/forecast/forecast.parquet")) == 8 * 7


def test_propensity_from_a_model_trained_past_a_backtest_origin_is_refused(project) -> None:
    """Origins 2026-07-06, -13, -20: a model that read events up to 2026-07-15 knows two of them."""
    _save_propensity_model(project, {"trained_on_events_before": "2026-07-15T12:00:00+00:00"})

    with pytest.raises(ValueError, match=r"2026-07-06, 2026-07-13.*backtest_origins to 1 or fewer"):
        stage.run(load_params())
    assert not (project / "reports/forecast/metrics.json").exists()


def test_propensity_from_a_model_that_does_not_say_what_it_read_is_refused(project) -> None:
    _save_propensity_model(project, {})

    with pytest.raises(ValueError, match="trained_on_events_before.*retrain"):
        stage.run(load_params())
