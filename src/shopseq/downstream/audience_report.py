"""A small static HTML page a marketer can open offline: audience score distributions and lift curves.

Plots are matplotlib figures inlined as SVG, so the page needs no network and no other file.
"""

from __future__ import annotations

import html
import io
from pathlib import Path

import numpy as np


def _svg(figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def score_distributions(samples: dict[str, np.ndarray]) -> str:
    """One histogram per audience (category audiences pooled), as inline SVG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [name for name, values in samples.items() if len(values)]
    if not names:
        return "<p>No scores to plot.</p>"
    figure, axes = plt.subplots(1, len(names), figsize=(3.6 * len(names), 2.8), squeeze=False)
    for axis, name in zip(axes[0], names):
        axis.hist(samples[name], bins=30, color="#4c72b0")
        axis.set_title(name, fontsize=9)
        axis.set_xlabel("score")
        axis.set_ylabel("users")
    figure.tight_layout()
    svg = _svg(figure)
    plt.close(figure)
    return svg


def lift_curves(curves: dict[str, dict[str, list[dict]]]) -> str:
    """Precision against audience size (share of the pool), model vs heuristic, one panel per audience."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [name for name, lines in curves.items() if any(lines.values())]
    if not names:
        return "<p>No lift curves (no offline check could run).</p>"
    figure, axes = plt.subplots(1, len(names), figsize=(3.6 * len(names), 2.8), squeeze=False)
    for axis, name in zip(axes[0], names):
        for label, points in curves[name].items():
            if points:
                axis.plot([p["share"] for p in points], [p["precision"] for p in points], marker="o", label=label)
        axis.set_xscale("log")
        axis.set_title(name, fontsize=9)
        axis.set_xlabel("audience size (share of pool)")
        axis.set_ylabel("precision")
        axis.legend(fontsize=7)
    figure.tight_layout()
    svg = _svg(figure)
    plt.close(figure)
    return svg


def write_report(path: str | Path, metrics: dict, samples: dict[str, np.ndarray]) -> Path:
    """Write the audiences report page (headline table, score histograms, lift curves)."""
    check = metrics.get("offline_check", {})
    rows = [("category audiences", "acquisition", check)]
    rows += [(name, m.get("objective", ""), m.get("offline_check", m)) for name, m in metrics.get("campaigns", {}).items()]
    rows += [(f"{name} lookalikes", "lookalike", m.get("offline_check", {"skipped": "no cutoff profiles"}))
             for name, m in metrics.get("lookalikes", {}).items()]
    table = [("<tr><th>audience</th><th>objective</th><th>precision</th><th>best heuristic</th>"
              "<th>heuristic precision</th><th>lift over heuristic</th><th>lift over random</th></tr>")]
    for name, objective, result in rows:
        if "skipped" in result:
            table.append(f"<tr><td>{html.escape(name)}</td><td>{objective}</td>"
                         f"<td colspan=5>skipped: {html.escape(str(result['skipped']))}</td></tr>")
            continue
        precision = result.get("precision", {})
        best = result.get("best_heuristic")
        table.append(
            f"<tr><td>{html.escape(name)}</td><td>{objective}</td><td>{_f(precision.get('model'))}</td>"
            f"<td>{best}</td><td>{_f(precision.get(best))}</td><td>{_f(result.get('lift_over_heuristic'))}</td>"
            f"<td>{_f(result.get('lift_over_random'))}</td></tr>"
        )
    curves = {"category audiences (mean)": {"model": check.get("lift_curve", []),
                                            "best heuristic": check.get("heuristic_lift_curve", [])}}
    for name, m in metrics.get("campaigns", {}).items():
        result = m.get("offline_check", {})
        if "lift_curve" in result:
            curves[name] = {"model": result["lift_curve"], **result.get("heuristic_curves", {})}
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>shopseq audiences</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}td:first-child{{text-align:left}}</style></head>
<body><h1>Audiences</h1>
<p>Scored by {html.escape(str(metrics.get('scored_by', '?')))}; offline check: audiences chosen as of
{html.escape(str(check.get('cutoff', '?')))}, judged on the {check.get('holdout_days', '?')} days after
(outcome: {html.escape(str(check.get('outcome', '?')))}).</p>
<h2>Offline check</h2><table>{''.join(table)}</table>
<h2>Score distributions</h2>{score_distributions(samples)}
<h2>Lift curves</h2>{lift_curves(curves)}
</body></html>
"""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(page)
    tmp.replace(path)
    return path


def _f(value) -> str:
    return "–" if value is None else f"{value:.3f}"
