"""`shopseq benchmark forecast` on a tiny CSV: every contract key, and readable errors on bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from shopseq.benchmarks.forecast import read_series
from shopseq.cli import app

WEEK = np.array([1.0, 1.0, 1.0, 1.0, 2.0, 4.0, 3.0])


def _write_series(path, n_series: int = 4, days: int = 56) -> None:
    """Weekly-shaped Poisson demand; zero days are left out of the file like a sales export would."""
    rng = np.random.default_rng(0)
    dates = pd.date_range("2025-03-03", periods=days, freq="D")
    rows = [
        (f"sku{k}", day.date().isoformat(), value)
        for k in range(n_series)
        for day, value in zip(dates, rng.poisson(np.resize(WEEK, days) * (k + 1)))
        if value > 0
    ]
    pd.DataFrame(rows, columns=["id", "date", "value"]).to_csv(path, index=False)


def _invoke(tmp_path, *extra: str):
    params = tmp_path / "params.yaml"
    params.write_text("base:\n  progress: logs\nforecast:\n  trees: 20\n")
    return CliRunner().invoke(app, ["--params", str(params), "--no-verbose", "benchmark", "forecast", *extra])


def test_writes_forecast_json_with_the_contract_keys(tmp_path) -> None:
    _write_series(tmp_path / "sales.csv")

    result = _invoke(tmp_path, "--series", str(tmp_path / "sales.csv"), "--horizon", "7", "--out", str(tmp_path / "out"), "--origins", "2")

    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out" / "forecast.json").read_text())
    assert report["horizon"] == 7
    assert [row["method"] for row in report["rows"]] == ["model", "seasonal_naive", "exp_smoothing", "global_gbm", "zero", "tweedie_gbm"]
    for row in report["rows"]:
        for key in ("wape", "mase", "rmsse", "seconds", "wape_total"):
            assert isinstance(row[key], float), (row["method"], key)
    assert isinstance(report["rows"][0]["pinball"], float)  # the model gives quantiles
    assert len(report["treatments"]) == 2 and set(report["treatments"][0]["weights"]) == {"gbm", "exp_smoothing", "seasonal_mean"}
    reproduce = report["reproduce"]
    assert reproduce["seed"] == 42 and reproduce["params"]["forecast"]["trees"] == 20 and reproduce["git_commit"]
    assert reproduce["command"].startswith("shopseq benchmark forecast --series ") and "--origins 2" in reproduce["command"]
    assert all(len(row["wape_by_origin"]) == 2 for row in report["rows"])
    assert 0.0 <= report["hindsight_median_wape"] <= 1.0  # a flat median never errs by more than what sold
    assert report["n_series"] == 4 and report["n_days"] == 56
    assert report["origins"] == ["2025-04-14", "2025-04-21"]
    assert {"beats_seasonal_naive_met", "beats_global_gbm_met", "coverage_within_5_points_met"} <= set(report["targets"])
    assert (tmp_path / "out" / "forecast.md").read_text().startswith("`sales.csv`: 4 series x 56 days")


def test_read_series_fills_missing_days_with_zero(tmp_path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("id,date,value\na,2025-01-01,3\na,2025-01-03,1\nb,2025-01-02,2.5\n")

    panel = read_series(path)

    assert panel.ids == ["a", "b"]
    np.testing.assert_array_equal(panel.values, [[3, 0, 1], [0, 2.5, 0]])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sku,date,value\na,2025-01-01,3\n", r"missing column\(s\) \['id'\]"),
        ("id,date,value\na,2025-01-01,3\na,yesterday,1\n", "row 3: date 'yesterday' does not parse"),
        ("id,date,value\na,2025-01-01,-2\n", "row 2: value '-2' is not a number >= 0"),
    ],
)
def test_bad_series_files_are_named_with_the_row(tmp_path, text: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)

    with pytest.raises(ValueError, match=message):
        read_series(path)


def test_cli_says_what_is_wrong_with_too_short_series(tmp_path) -> None:
    _write_series(tmp_path / "short.csv", days=20)

    result = _invoke(tmp_path, "--series", str(tmp_path / "short.csv"), "--horizon", "14", "--out", str(tmp_path / "out"))

    assert result.exit_code != 0
    assert "backtest_origins" in str(result.exception) or "backtest_origins" in result.output
