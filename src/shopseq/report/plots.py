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
