"""Turn a run's `ReportInputs` into the page's context and render the HTML (Jinja2, autoescaped)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shopseq.report import analysis, plots
from shopseq.report.inputs import ReportInputs
from shopseq.report.template import CSS, TEMPLATE

# (id, title) of every section, in page order: the test checks each one is on the page.
SECTIONS = (
    ("data", "Data"),
    ("validation", "Validation"),
    ("metrics", "Metrics"),
    ("segments", "Segments"),
    ("training", "Training"),
    ("tuning", "Tuning"),
    ("gate", "Gate"),
    ("downstream", "Audiences & forecast"),
    ("lineage", "Lineage"),
)
# The training facts shown before the rest is folded away (train/metrics.json keys, dotted).
TRAINING_HEADLINE = ("best_params.model", "best_valid_ndcg@10", "n_trials", "pruned_trials", "train_seconds", "device")
SEGMENT_LABELS = {"user:new": "new users", "user:returning": "returning users", "item:cold": "cold items", "item:warm": "warm items"}


def fmt(value: Any) -> str:
    """A cell: floats to 4 significant decimals, ints with thousands separators, None as a dash."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if abs(value) >= 1000:
            return f"{value:,.1f}"
        return f"{value:.4g}" if abs(value) >= 1 or (value and abs(value) < 1e-3) else f"{value:.4f}"
    if isinstance(value, list) and all(not isinstance(v, (dict, list)) for v in value):
        shown = ", ".join(fmt(v) for v in value[:8])
        return shown + (f" … ({len(value)} values)" if len(value) > 8 else "")
    return str(value)


def _data(inputs: ReportInputs) -> dict:
    validation, ingest = inputs.get("validation"), inputs.get("ingest") or {}
    cards = [(k, ingest[k]) for k in ("source", "events", "items", "reviews") if k in ingest]
    tables = []
    if validation:
        cards[:0] = [("rows in", validation.get("rows_in")), ("accepted", validation.get("rows_accepted")),
                     ("quarantined", validation.get("rows_quarantined"))]
        for name, table in validation.get("tables", {}).items():
            tables.append({
                "name": name,
                "rows_in": table.get("rows_in"),
                "rows_accepted": table.get("rows_accepted"),
                "rows_quarantined": table.get("rows_quarantined"),
                "reasons": sorted(table.get("quarantine_reasons", {}).items(), key=lambda kv: -kv[1]),
            })
    sequences, profiles = inputs.get("sequences"), inputs.get("profiles")
    return {
        "cards": cards,
        "tables": tables,
        "sequences": scalars(sequences) if sequences else None,
        "profiles": [(k, v) for k, v in scalars(profiles) if k != "explained_variance"] if profiles else None,
    }


def scalars(payload: dict, prefix: str = "") -> list[tuple[str, Any]]:
    """Leaf values of a nested dict as (dotted key, value); lists of dicts are left to `tables`."""
    out: list[tuple[str, Any]] = []
    for key, value in payload.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.extend(scalars(value, f"{name}."))
        elif not (isinstance(value, list) and value and isinstance(value[0], dict)):
            out.append((name, value))
    return out


def tables(payload: dict, prefix: str = "") -> list[dict]:
    """Every list of dicts inside a nested dict, as {title, columns, rows}."""
    out: list[dict] = []
    for key, value in payload.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.extend(tables(value, f"{name}."))
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            columns = list(dict.fromkeys(c for row in value for c in row))
            out.append({"title": name, "columns": columns, "rows": [{c: row.get(c) for c in columns} for row in value]})
    return out


def _validation(inputs: ReportInputs, out: Path) -> dict | None:
    summary = inputs.get("validation")
    if summary is None:
        return None
    errors = list(summary.get("errors", [])) + [e for t in summary.get("tables", {}).values() for e in t.get("errors", [])]
    docs = Path(os.path.relpath(inputs.data_docs.resolve(), out.resolve().parent)).as_posix() if inputs.data_docs else None
    return {"passed": summary.get("passed"), "errors": list(dict.fromkeys(errors)), "docs": docs}


def _metrics(inputs: ReportInputs) -> dict | None:
    evaluate = inputs.get("evaluate")
    if not evaluate or not isinstance(evaluate.get("candidate"), dict):
        return None
    columns = analysis.metric_names(evaluate)
    candidate = evaluate["candidate"]
    rows = []
    for name in analysis.model_rows(evaluate):
        values = evaluate.get(name)
        deltas = None
        if name != "candidate" and values:
            deltas = {m: analysis.delta(candidate.get(m), values.get(m)) for m in columns}
        rows.append({"name": name, "scores": values, "deltas": deltas})
    gate_metric = (inputs.get("gate") or {}).get("metric", "ndcg@10")
    return {
        "columns": columns,
        "rows": rows,
        "n_targets": evaluate.get("n_targets"),
        "champion_version": evaluate.get("champion_version"),
        "gate_metric": gate_metric,
        "plot": plots.metric_bars(evaluate, [r["name"] for r in rows], gate_metric),
    }


def _segments(inputs: ReportInputs) -> dict | None:
    segments = (inputs.get("evaluate") or {}).get("segments")
    if not segments:
        return None
    metric = (inputs.get("gate") or {}).get("metric", "ndcg@10")
    models = [m for m in ("candidate", "champion", "popularity") if isinstance(segments.get(m), dict)]
    rows = []
    for key, label in SEGMENT_LABELS.items():
        cells = {m: (segments[m].get(key) or {}).get(metric) for m in models}
        counts = [(segments[m].get(key) or {}).get("n_targets") for m in models]
        rows.append({"segment": label, "n_targets": next((c for c in counts if c is not None), 0), **cells})
    plot = plots.grouped_bars(
        f"test {metric} per segment", [r["segment"] for r in rows], {m: [r[m] for r in rows] for m in models}
    )
    return {"models": models, "rows": rows, "metric": metric, "cold_max_count": segments.get("cold_max_count"),
            "plot": plot}


def _training(inputs: ReportInputs) -> dict | None:
    train, history = inputs.get("train"), inputs.get("history")
    if train is None and not history:
        return None
    facts = [(k, v) for k, v in scalars(train or {}) if k != "mlflow_run_id"]
    headline = [(k, v) for k, v in facts if k in TRAINING_HEADLINE]
    return {"facts": facts, "headline": headline, "plot": plots.training_curves(history) if history else None}


def _tuning(inputs: ReportInputs) -> dict | None:
    trials = inputs.get("trials")
    if not trials:
        return None
    values, note = analysis.param_importances(trials, inputs.search_space)
    names = list(dict.fromkeys(p for t in trials for p in t.get("params", {})))
    rows = [{"trial": t["number"], "state": t["state"].lower(), "valid ndcg@10": t.get("value"),
             **{p: t.get("params", {}).get(p) for p in names}} for t in trials]
    return {
        "plot": plots.trial_history(trials),
        "importances": list(values.items()),
        "importance_plot": plots.importances(values) if values else None,
        "importance_note": note,
        "table": {"title": "trials", "columns": ["trial", "state", "valid ndcg@10", *names], "rows": rows},
    }


def _downstream(inputs: ReportInputs, out: Path) -> list[dict]:
    """Audiences and forecast: headline figures and charts up front, every raw value in a closed <details>."""
    parts = []
    for name, title in (("audiences", "Audiences"), ("forecast", "Demand forecast")):
        payload = inputs.get(name)
        page = inputs.stage_pages.get(name)
        part = {
            "title": title,
            "found": payload is not None,
            "scalars": scalars(payload) if payload else [],
            "tables": tables(payload) if payload else [],
            "page": Path(os.path.relpath(page.resolve(), out.resolve().parent)).as_posix() if page else None,
            "cards": [],
            "plots": [],
        }
        if payload and name == "audiences":
            part.update(_audience_charts(payload))
        elif payload:
            part.update(_forecast_charts(payload, inputs.demand))
        parts.append(part)
    return parts


def _audience_charts(payload: dict) -> dict:
    """Lift curves (model vs heuristics vs random) per audience and per-category precision bars."""
    check = payload.get("offline_check") or {}
    cards = [("audiences", payload.get("n_audiences")), ("users in audiences", payload.get("n_users")),
             ("precision vs best heuristic", _times(check.get("lift_over_heuristic"))),
             ("precision vs random", _times(check.get("lift_over_random"))),
             ("best heuristic", check.get("best_heuristic"))]
    panels = []
    if check.get("lift_curve"):
        curves = {"model": check["lift_curve"]}
        if check.get("heuristic_lift_curve"):
            curves[check.get("best_heuristic") or "best heuristic"] = check["heuristic_lift_curve"]
        panels.append({"title": "all category audiences", "curves": curves,
                       "random": (check.get("precision") or {}).get("random")})
    for campaign, spec in (payload.get("campaigns") or {}).items():
        campaign_check = spec.get("offline_check") or {}
        if campaign_check.get("lift_curve"):
            curves = {"model": campaign_check["lift_curve"], **(campaign_check.get("heuristic_curves") or {})}
            panels.append({"title": campaign, "curves": curves,
                           "random": (campaign_check.get("precision") or {}).get("random")})
    plot_list = []
    if panels:
        plot_list.append(("precision of the top users, model vs heuristics (held-out week)", plots.lift_curves(panels)))
    per_category = check.get("per_category") or []
    if per_category:
        names = [c for c in per_category[0] if c != "category"]
        names = ["model", *[c for c in names if c != "model"]] if "model" in names else names
        plot_list.append(("precision per category audience", plots.grouped_bars(
            "precision per category audience", [str(r.get("category")) for r in per_category],
            {n: [r.get(n) for r in per_category] for n in names}, xlabel="precision")))
    return {"cards": [(k, v) for k, v in cards if v is not None], "plots": plot_list}


def _forecast_charts(payload: dict, demand: dict | None) -> dict:
    """Backtest error per method (bars) and the forecast after the recent actuals, against seasonal naive."""
    by_method = payload.get("by_method") or {r.get("method"): r for r in payload.get("rows", []) if r.get("method")}
    model, naive = by_method.get("model") or {}, by_method.get("seasonal_naive") or {}
    cards = [("horizon (days)", payload.get("horizon")), ("items", payload.get("n_items")),
             ("model WAPE", model.get("wape")), ("seasonal naive WAPE", naive.get("wape")),
             ("model / naive", model["wape"] / naive["wape"] if model.get("wape") and naive.get("wape") else None)]
    plot_list = []
    if demand:
        plot_list.append(("demand and forecast", plots.demand_chart(demand)))
    if by_method:
        methods = ["model", *[m for m in by_method if m != "model"]] if "model" in by_method else list(by_method)
        metrics = [m for m in ("wape", "wape_total", "mase") if any(m in (by_method[x] or {}) for x in methods)]
        plot_list.append(("backtest error per method", plots.grouped_bars(
            "backtest error (lower is better)", metrics, {x: [(by_method[x] or {}).get(m) for m in metrics] for x in methods})))
    return {"cards": [(k, v) for k, v in cards if v is not None], "plots": plot_list}


def _times(value: Any) -> str | None:
    return None if value is None else f"{float(value):.2f}x"


def _lineage(inputs: ReportInputs) -> dict:
    meta = inputs.candidate_meta or {}
    validation = inputs.get("validation") or {}
    champion = inputs.champion_info or {}
    facts = [
        ("report built at commit", inputs.git_commit),
        ("candidate trained at commit", meta.get("git_commit")),
        ("data version", validation.get("data_version") or meta.get("data_version")),
        ("candidate params hash", meta.get("params_hash")),
        ("candidate MLflow run", meta.get("mlflow_run_id") or (inputs.get("train") or {}).get("mlflow_run_id")),
        ("candidate model URI", meta.get("model_uri")),
        ("champion version", champion.get("version")),
        ("champion data version", champion.get("data_version")),
        ("champion MLflow run", champion.get("run_id")),
        ("champion promoted by", champion.get("promoted_by")),
    ]
    note = ""
    if not champion.get("version"):
        candidate, other, note = None, None, "No champion yet: nothing to diff against."
    elif inputs.candidate_params is not None and inputs.champion_params is not None:
        candidate, other = inputs.candidate_params, inputs.champion_params
    else:  # no MLflow: the tuned hyperparameters both model directories record
        candidate = {f"best.{k}": v for k, v in (meta.get("best_params") or {}).items()}
        other = {f"best.{k}": v for k, v in ((inputs.champion_meta or {}).get("best_params") or {}).items()}
        note = "" if candidate or other else "Neither MLflow nor the model directories record the params."
    diff = analysis.params_diff(candidate, other) if candidate or other else []
    return {"facts": facts, "diff": diff, "n_changed": sum(r["changed"] for r in diff), "diff_note": note}


def render_html(inputs: ReportInputs, out: Path, generated: datetime | None = None) -> str:
    """The whole page for one run; `out` is where it will be written (for relative links)."""
    import jinja2

    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    environment.filters["fmt"] = fmt
    validation = inputs.get("validation") or {}
    context = {
        "css": CSS,
        "sections": SECTIONS,
        "git_commit": inputs.git_commit,
        "generated": (generated or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC"),
        "data_version": validation.get("data_version") or (inputs.candidate_meta or {}).get("data_version") or "unknown",
        "data": _data(inputs),
        "validation": _validation(inputs, out),
        "metrics": _metrics(inputs),
        "segments": _segments(inputs),
        "training": _training(inputs),
        "tuning": _tuning(inputs),
        "gate": inputs.get("gate"),
        "downstream": _downstream(inputs, out),
        "lineage": _lineage(inputs),
        "notes": inputs.notes,
    }
    return environment.from_string(TEMPLATE).render(**context)
