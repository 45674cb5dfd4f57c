"""A static HTML page a planner opens: forecast against actuals per top item, backtest metrics.

Plots are PNGs inlined as base64, so the page works offline and travels as one file.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence

import numpy as np
import pandas as pd

from shopseq.downstream.forecast import Fold, Panel
from shopseq.downstream.forecast_models import DemandForecast

HISTORY_DAYS = 42  # days of actuals shown before the backtest's first origin and the forecast


def render_report(
    panel: Panel,
    folds: Sequence[Fold],
    forecast: DemandForecast,
    rows: Sequence[dict],
    summary: dict,
    n_items: int,
    interval: float,
    reorder: pd.DataFrame | None = None,
) -> str:
    """The whole page: a summary, the metrics table, reorder levels and one plot per best seller."""
    top = np.argsort(-panel.values.sum(axis=1), kind="stable")[:n_items]  # (K,) best sellers first
    figures = "\n".join(
        f"<figure><img alt='{html.escape(panel.ids[i])}' src='data:image/png;base64,{_item_plot(panel, folds, forecast, i, interval)}'>"
        f"<figcaption>item {html.escape(panel.ids[i])}: {panel.values[i].sum():.0f} units sold</figcaption></figure>"
        for i in top
    )
    facts = "".join(f"<li>{html.escape(str(k))}: {html.escape(_fmt(v))}</li>" for k, v in summary.items())
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>shopseq demand forecast</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 10px;text-align:right}}th{{background:#f4f4f4}}
figure{{display:inline-block;margin:0 1em 1em 0}}img{{width:520px}}</style></head><body>
<h1>Demand forecast</h1>
<ul>{facts}</ul>
<h2>Rolling-origin backtest</h2>
<p>WAPE, MASE and RMSSE of each method's mean forecast over {len(folds)} origins (lower is better);
wape_total scores each item's total over the horizon; pinball scores the model's quantiles.</p>
{_metrics_table(rows)}
{_reorder_table(reorder, n_items)}
<h2>Forecast against actuals, best-selling items</h2>
<p>Black: daily actuals. Orange: the model's backtest forecasts (mean) from each origin.
Blue: the forecast after the last day, with its {interval:.0%} band.</p>
{figures}
</body></html>
"""


def _metrics_table(rows: Sequence[dict]) -> str:
    keys = ["method", "wape", "mase", "rmsse", "wape_total", "pinball", "seconds"]
    head = "".join(f"<th>{k}</th>" for k in keys)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(row.get(k)))}</td>" for k in keys) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _reorder_table(reorder: pd.DataFrame | None, n_rows: int) -> str:
    if reorder is None or reorder.empty:
        return ""
    shown = reorder.head(2 * n_rows)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in shown.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>"
        for row in shown.itertuples(index=False, name=None)
    )
    return f"<h2>Reorder levels, largest expected demand first</h2><table><tr>{head}</tr>{body}</table>"


def _item_plot(panel: Panel, folds: Sequence[Fold], forecast: DemandForecast, i: int, interval: float) -> str:
    """One item's actuals, backtest means and future forecast with its band, as base64 PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    horizon = forecast.mean.shape[1]
    first = max(0, min([f.origin for f in folds], default=len(panel.dates)) - HISTORY_DAYS // 2)
    days = np.arange(first, len(panel.dates))
    future = np.arange(len(panel.dates), len(panel.dates) + horizon)
    fig, ax = plt.subplots(figsize=(7, 2.8), dpi=80)
    ax.plot(days, panel.values[i, first:], color="black", lw=1, label="actual")
    for k, fold in enumerate(folds):
        if fold.model is not None:
            steps = np.arange(fold.origin, fold.origin + fold.actual.shape[1])
            ax.plot(steps, fold.model.mean[i], color="tab:orange", lw=1.5, label="backtest" if k == 0 else None)
    ax.plot(future, forecast.mean[i], color="tab:blue", lw=1.5, label="forecast")
    lower, upper = (bound[i] for bound in forecast.band(interval))
    ax.fill_between(future, lower, upper, color="tab:blue", alpha=0.2, step="mid")
    ticks = np.arange(first, future[-1] + 1, 7)
    labels = [(panel.dates[0] + np.timedelta64(int(t), "D")).strftime("%m-%d") for t in ticks]
    ax.set_xticks(ticks, labels, fontsize=7)
    ax.set_ylabel("units / day")
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _fmt(value: object) -> str:
    if isinstance(value, list):
        return ", ".join(_fmt(v) for v in value)
    if isinstance(value, float):
        return f"{value:.3f}"
    return "n/a" if value is None else str(value)
