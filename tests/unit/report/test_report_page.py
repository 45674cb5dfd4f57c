"""The report page built from hand-written stage outputs: sections, deltas, escaping, images."""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

from shopseq.config import load_params
from shopseq.report import SECTIONS, ReportInputs, build_report, render_html
from shopseq.report.analysis import delta, param_importances, params_diff


def metrics(ndcg: float) -> dict:
    return {"ndcg@10": ndcg, "hr@10": 2 * ndcg, "mrr@10": ndcg / 2, "coverage@20": 0.5, "n_targets": 100}


def segments(ndcg: float) -> dict:
    return {"user:new": {**metrics(ndcg / 2), "n_targets": 10}, "user:returning": {**metrics(ndcg), "n_targets": 90},
            "item:cold": None, "item:warm": {**metrics(ndcg), "n_targets": 100}}


def hand_inputs(tmp_path: Path) -> ReportInputs:
    docs = tmp_path / "reports" / "validation" / "docs" / "index.html"
    docs.parent.mkdir(parents=True)
    docs.write_text("<html></html>")
    table = {"rows_in": 110, "rows_accepted": 100, "rows_quarantined": 10, "errors": [],
             "quarantine_reasons": {"<script>alert(1)</script>": 7, "price < 0": 3}, "passed": True}
    return ReportInputs(
        files={
            "validation": {"data_version": "dv-abc123", "passed": True, "errors": [], "rows_in": 110,
                           "rows_accepted": 100, "rows_quarantined": 10, "quarantine_reasons": {}, "tables": {"events": table}},
            "ingest": {"source": "synthetic", "events": 110, "items": 20, "reviews": 5},
            "sequences": {"split": "temporal", "test_targets": 100},
            "train": {"best_valid_ndcg@10": 0.31, "n_trials": 3, "mlflow_run_id": "r1"},
            "history": [{"epoch": 1, "train_loss": 5.0, "valid_ndcg@10": 0.2, "valid_hr@10": 0.3},
                        {"epoch": 2, "train_loss": 4.0, "valid_ndcg@10": 0.3, "valid_hr@10": 0.4}],
            "trials": [{"number": i, "state": "PRUNED" if i == 2 else "COMPLETE", "value": 0.1 + 0.01 * i,
                        "params": {"lr": 0.001 * (i + 1), "hidden": 32}} for i in range(4)],
            "evaluate": {"candidate": metrics(0.30), "champion": metrics(0.25), "champion_version": "4",
                         "popularity": metrics(0.05), "markov": metrics(0.40), "n_targets": 100,
                         "segments": {"cold_max_count": 5, "candidate": segments(0.30), "champion": segments(0.25),
                                      "popularity": segments(0.05)}},
            "gate": {"passed": False, "metric": "ndcg@10",
                     "reasons": ["pass: ndcg@10 0.3000 vs floor 0.0200", "fail: ndcg@10 below markov"]},
            "audiences": None,
            "forecast": {"horizon": 7, "rows": [{"method": "model", "wape": 0.4, "mase": 0.9},
                                                {"method": "seasonal_naive", "wape": 0.5, "mase": 1.1}]},
        },
        data_docs=docs,
        candidate_meta={"git_commit": "abc", "data_version": "dv-abc123", "best_params": {"lr": 0.002, "hidden": 32}},
        champion_info={"version": "4", "run_id": "r0", "data_version": "dv-old"},
        champion_meta={"best_params": {"lr": 0.01, "hidden": 32}},
        search_space={"lr": {"type": "float", "low": 0.0001, "high": 0.1, "log": True},
                      "hidden": {"type": "categorical", "choices": [32, 64]}},
        git_commit="abc",
    )


class Page(HTMLParser):
    """Collects section ids, image sources, link targets and visible text."""

    def __init__(self) -> None:
        super().__init__()
        self.ids, self.images, self.links, self.text = [], [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.ids.append(attrs.get("id"))
        if tag == "img":
            self.images.append(attrs["src"])
        if tag == "a":
            self.links.append(attrs.get("href"))

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> tuple[str, Page]:
    tmp_path = tmp_path_factory.mktemp("page")
    html = render_html(hand_inputs(tmp_path), tmp_path / "reports" / "report.html")
    parsed = Page()
    parsed.feed(html)
    return html, parsed


def test_every_section_is_on_the_page(page):
    _, parsed = page
    assert [s for s, _ in SECTIONS] == [i for i in parsed.ids if i != "notes"]


def test_text_from_the_data_is_escaped_not_executed(page):
    html, _ = page
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;: 7" in html
    assert "price &lt; 0: 3" in html


def test_candidate_deltas_against_champion_and_baselines(page):
    html, _ = page
    assert "+0.0500 (+20%)" in html  # ndcg@10: 0.30 vs champion 0.25
    assert '<span class="delta down">-0.1000 (-25%)</span>' in html  # vs markov 0.40


def test_gate_segments_and_missing_stages_are_visible(page):
    _, parsed = page
    text = " ".join(parsed.text)
    assert "FAILED" in text and "fail: ndcg@10 below markov" in text
    assert "new users" in text and "cold items" in text
    assert "Audiences — not run yet. They come after approval" in text
    assert "seasonal_naive" in text


def test_every_image_is_an_inline_svg_that_parses(page):
    _, parsed = page
    # metric bars, segment bars, training curves, trial history, importances, forecast backtest bars
    assert len(parsed.images) == 6
    for src in parsed.images:
        assert src.startswith("data:image/svg+xml;base64,")
        root = ET.fromstring(base64.b64decode(src.split(",", 1)[1]))
        assert root.tag.endswith("svg") and float(root.get("width").removesuffix("pt")) > 0


def test_data_docs_link_is_relative_to_the_page(page):
    _, parsed = page
    assert "validation/docs/index.html" in parsed.links


def test_params_diff_lists_changed_params_first():
    rows = params_diff({"lr": 0.002, "hidden": 32, "new": 1}, {"lr": 0.01, "hidden": 32})
    assert [(r["name"], r["changed"]) for r in rows] == [("lr", True), ("new", True), ("hidden", False)]


def test_delta_is_absolute_and_relative():
    assert delta(0.3, 0.25)["abs"] == pytest.approx(0.05)
    assert delta(0.3, 0.25)["rel"] == pytest.approx(0.2)
    assert delta(0.3, None) is None and delta(0.3, 0.0)["rel"] is None


def test_importances_credit_the_parameter_that_moves_the_objective():
    trials = [{"number": i, "state": "COMPLETE", "value": float(i % 5), "params": {"lr": 0.001 * (1 + i % 5), "hidden": [32, 64][i % 2]}}
              for i in range(20)]
    space = {"lr": {"type": "float", "low": 0.0001, "high": 0.1}, "hidden": {"type": "categorical", "choices": [32, 64]}}
    values, note = param_importances(trials, space)
    assert note == "" and values["lr"] > values["hidden"]


def test_importances_explain_why_they_are_missing():
    values, note = param_importances([{"number": 0, "state": "COMPLETE", "value": 0.1, "params": {"lr": 0.01}}],
                                     {"lr": {"type": "float", "low": 0.001, "high": 0.1}})
    assert values == {} and "at least 2 finished trials" in note


def test_build_report_without_any_outputs_says_to_run_the_pipeline(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("{}")
    with pytest.raises(FileNotFoundError, match="run the pipeline first"):
        build_report(load_params("params.yaml"), use_mlflow=False)


def test_without_mlflow_the_lineage_diffs_the_tuned_params_of_both_model_directories(page):
    html, _ = page
    assert '<tr class="changed"><td>best.lr</td><td class="text">0.0020</td><td class="text">0.0100</td></tr>' in html
    assert '<tr class=""><td>best.hidden</td>' in html


def test_the_stylesheet_is_not_html_escaped(page):
    html, _ = page
    style = html.split("<style>", 1)[1].split("</style>", 1)[0]
    assert '"Segoe UI"' in style and "&#34;" not in style  # escaped quotes would drop the font rules


AUDIENCES = {
    "n_audiences": 3, "n_users": 40,
    "offline_check": {
        "best_heuristic": "recent_viewers", "lift_over_heuristic": 1.1, "lift_over_random": 3.7,
        "precision": {"model": 0.7, "random": 0.2, "recent_viewers": 0.6},
        "lift_curve": [{"share": s, "precision": 0.8 - s} for s in (0.05, 0.1, 0.2)],
        "heuristic_lift_curve": [{"share": s, "precision": 0.7 - s} for s in (0.05, 0.1, 0.2)],
        "per_category": [{"category": c, "model": 0.7, "random": 0.2, "recent_viewers": 0.6} for c in ("audio", "coffee")],
    },
    "campaigns": {"kitchen_discount": {"offline_check": {
        "precision": {"random": 0.05},
        "lift_curve": [{"k": k, "share": k / 500, "precision": 0.2} for k in (10, 50)],
        "heuristic_curves": {"recent_buyers": [{"k": k, "share": k / 500, "precision": 0.1} for k in (10, 50)]},
    }}},
}


def test_audiences_and_forecast_are_charts_first_with_the_raw_values_folded(tmp_path):
    inputs = hand_inputs(tmp_path)
    inputs.files["audiences"] = AUDIENCES
    inputs.demand = {"dates": ["2026-07-01", "2026-07-02"], "actual": [3.0, 5.0], "forecast_dates": ["2026-07-03"],
                     "forecast": [4.0], "naive": [3.0], "season": 2}
    page = tmp_path / "reports" / "forecast" / "report.html"
    page.parent.mkdir(parents=True)
    page.write_text("<html></html>")
    inputs.stage_pages["forecast"] = page
    html = render_html(inputs, tmp_path / "reports" / "report.html")
    parsed = Page()
    parsed.feed(html)
    downstream = html.split('<section id="downstream">', 1)[1].split("</section>", 1)[0]
    alts = [alt for alt in ("precision of the top users, model vs heuristics (held-out week)",
                            "precision per category audience", "demand and forecast", "backtest error per method")
            if f'alt="{alt}"' in downstream]
    assert len(alts) == 4, alts
    assert "1.10x" in downstream and "3.70x" in downstream  # headline cards
    # The flattened keys a reader would otherwise scroll through sit inside a closed <details>.
    before, folded = downstream.split("<details>", 1)
    assert "offline_check.lift_over_heuristic" not in before and "offline_check.lift_over_heuristic" in folded
    assert "forecast/report.html" in parsed.links
    assert len(parsed.images) == 9  # five charts before this section, four in it


def test_training_shows_its_headline_and_folds_the_rest(page):
    html, _ = page
    training = html.split('<section id="training">', 1)[1].split("</section>", 1)[0]
    before, folded = training.split("<details>", 1)
    assert "best_valid_ndcg@10" in before and "All 2 values of reports/train/metrics.json" in folded
