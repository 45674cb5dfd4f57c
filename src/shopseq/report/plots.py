"""The report's charts as self-contained SVG (matplotlib's SVG backend, no pyplot global state).

Each function returns a `data:image/svg+xml;base64,...` URI: the page embeds it in an `<img>`, so
it needs no network and a browser can tell whether the image loaded.
"""

from __future__ import annotations

import base64
import io

ACCENT, GREY, GOOD, BAD = "#3b5bdb", "#868e96", "#2b8a3e", "#c92a2a"
PALETTE = ("#3b5bdb", "#e8590c", "#2b8a3e", "#ae3ec9", "#1098ad", "#f59f00")
STYLE = {
    "svg.fonttype": "none",  # text stays text: smaller files, the page's font
    "svg.hashsalt": "shopseq",  # stable element ids: the same run gives the same page
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e9ecef",
}


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _data_uri(figure) -> str:
    import matplotlib

    buffer = io.BytesIO()
    with matplotlib.rc_context(STYLE):
        figure.savefig(buffer, format="svg")
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def training_curves(history: list[dict]) -> str:
    """Training loss and validation metrics of the best trial, per epoch."""
    import matplotlib

    with matplotlib.rc_context(STYLE):
        figure = _figure(8.0, 2.8)
        loss_ax, metric_ax = figure.subplots(1, 2)
        epochs = [row["epoch"] for row in history]
        loss_ax.plot(epochs, [row.get("train_loss") for row in history], marker="o", color=ACCENT)
        loss_ax.set(title="training loss", xlabel="epoch", ylabel="cross-entropy")
        names = [k for k in history[0] if k.startswith("valid_") and "@10" in k and "coverage" not in k]
        for color, name in zip(PALETTE, names):
            metric_ax.plot(epochs, [row.get(name) for row in history], marker="o", color=color, label=name.removeprefix("valid_"))
        metric_ax.set(title="validation metrics", xlabel="epoch")
        metric_ax.legend(frameon=False)
        for ax in (loss_ax, metric_ax):
            ax.xaxis.get_major_locator().set_params(integer=True)
        return _data_uri(figure)


def trial_history(trials: list[dict], objective: str = "ndcg@10") -> str:
    """Each Optuna trial's validation objective (pruned hollow) and the best value so far."""
    import matplotlib

    with matplotlib.rc_context(STYLE):
        figure = _figure(5.2, 2.8)
        ax = figure.subplots()
        scored = [t for t in trials if t.get("value") is not None]
        for state, style in (("COMPLETE", {"color": ACCENT}), ("PRUNED", {"facecolors": "none", "edgecolors": GREY})):
            rows = [t for t in scored if t["state"] == state]
            ax.scatter([t["number"] for t in rows], [t["value"] for t in rows], label=state.lower(), zorder=3, **style)
        best, xs, ys = float("-inf"), [], []
        for t in sorted(scored, key=lambda t: t["number"]):
            if t["state"] == "COMPLETE":
                best = max(best, t["value"])
            if best > float("-inf"):
                xs.append(t["number"])
                ys.append(best)
        ax.step(xs, ys, where="post", color=GOOD, label="best so far")
        ax.set(title="Optuna trials", xlabel="trial", ylabel=f"valid {objective}")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(frameon=False)
        return _data_uri(figure)


def importances(values: dict[str, float]) -> str:
    """Horizontal bars: each hyperparameter's share of the objective's variance (fANOVA)."""
    import matplotlib

    with matplotlib.rc_context(STYLE):
        figure = _figure(4.2, 0.5 + 0.35 * max(len(values), 2))
        ax = figure.subplots()
        names = list(values)[::-1]
        ax.barh(names, [values[n] for n in names], color=ACCENT)
        ax.set(title="parameter importance", xlim=(0, 1))
        ax.grid(axis="y", visible=False)
        return _data_uri(figure)


def metric_bars(evaluate: dict, models: list[str], metric: str) -> str:
    """One bar per model for the gate's metric, the candidate highlighted."""
    import matplotlib

    with matplotlib.rc_context(STYLE):
        rows = [(m, evaluate[m][metric]) for m in models if isinstance(evaluate.get(m), dict) and metric in evaluate[m]]
        figure = _figure(5.2, 0.5 + 0.32 * max(len(rows), 2))
        ax = figure.subplots()
        names = [m for m, _ in rows][::-1]
        ax.barh(names, [v for _, v in rows][::-1], color=[ACCENT if m == "candidate" else GREY for m in names])
        ax.set(title=f"test {metric}")
        ax.grid(axis="y", visible=False)
        return _data_uri(figure)


def lift_curves(panels: list[dict]) -> str:
    """Small multiples, one per audience: precision by audience size, the model against each heuristic.

    Each panel is {"title", "curves": {name: [{"share" or "k", "precision"}, ...]}, "random": float}; the
    model's line is drawn in the accent colour, heuristics in the others, random as a dashed line.
    """
    import matplotlib
    import matplotlib.ticker

    with matplotlib.rc_context(STYLE):
        columns = min(len(panels), 3)
        rows = -(-len(panels) // columns)
        figure = _figure(3.4 * columns, 2.5 * rows)
        axes = figure.subplots(rows, columns, squeeze=False).ravel()
        for ax, panel in zip(axes, panels):
            others = iter(PALETTE[1:])
            for name, curve in panel["curves"].items():
                xs = [100 * point["share"] if "share" in point else point["k"] for point in curve]
                color = ACCENT if name == "model" else next(others)
                ax.plot(xs, [point["precision"] for point in curve], marker="o", markersize=3, color=color,
                        linewidth=2.2 if name == "model" else 1.2, label=name)
            if panel.get("random") is not None:
                ax.axhline(panel["random"], color=GREY, linestyle="--", linewidth=1, label="random")
            uses_share = all("share" in point for curve in panel["curves"].values() for point in curve)
            ax.set_xscale("log")  # the small audiences a campaign targets are where the curves differ
            ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: f"{x:g}"))
            ax.set(title=panel["title"], xlabel="audience size (% of users)" if uses_share else "audience size (users)",
                   ylabel="precision", ylim=(0, None))
            ax.legend(frameon=False, fontsize=7)
        for ax in axes[len(panels):]:
            ax.set_visible(False)
        return _data_uri(figure)


def grouped_bars(title: str, groups: list[str], series: dict[str, list[float | None]], xlabel: str = "") -> str:
    """Horizontal bars per group, one bar per series (the first series, e.g. the model, in the accent colour)."""
    import matplotlib

    with matplotlib.rc_context(STYLE):
        n = max(len(series), 1)
        figure = _figure(6.4, 0.7 + 0.09 * n * max(len(groups), 2) + 0.1 * len(groups))
        ax = figure.subplots()
        height = 0.8 / n
        positions = range(len(groups))
        for k, (name, values) in enumerate(series.items()):
            color = ACCENT if k == 0 else PALETTE[1:][(k - 1) % (len(PALETTE) - 1)]
            ax.barh([p + k * height for p in positions], [v or 0.0 for v in values], height=height,
                    color=color, label=name)
        ax.set_yticks([p + (n - 1) * height / 2 for p in positions], groups)
        ax.invert_yaxis()
        ax.set(title=title, xlabel=xlabel)
        ax.grid(axis="y", visible=False)
        ax.legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        return _data_uri(figure)


def demand_chart(series: dict) -> str:
    """Daily units sold (all items), then the model's forecast and seasonal naive for the horizon."""
    import matplotlib
    import pandas as pd

    with matplotlib.rc_context(STYLE):
        figure = _figure(8.0, 2.8)
        ax = figure.subplots()
        history = pd.to_datetime(series["dates"])
        ahead = pd.to_datetime(series["forecast_dates"])
        ax.plot(history, series["actual"], color=GREY, linewidth=1.2, label="actual units")
        ax.plot(ahead, series["forecast"], color=ACCENT, linewidth=2, marker="o", markersize=3, label="model forecast")
        if series.get("naive") is not None:
            ax.plot(ahead, series["naive"], color=PALETTE[1], linestyle="--", marker="o", markersize=3,
                    label=f"seasonal naive ({series['season']} days)")
        ax.axvline(ahead[0], color=GREY, linewidth=0.8, linestyle=":")
        ax.set(title="demand, all items: the last weeks and the forecast", ylabel="units per day", ylim=(0, None))
        ax.legend(frameon=False)
        figure.autofmt_xdate()
        return _data_uri(figure)
