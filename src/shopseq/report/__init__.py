"""The run report: one static HTML page per pipeline run, for the data scientist and the approver.

`build_report(params, out)` reads what the stages wrote under `paths.reports` (plus model
metadata and MLflow), and writes a self-contained page: inline CSS, charts as embedded SVG, so
it opens offline and can be attached to an approval request. Missing stage outputs show as
"not run" instead of failing.
"""

from __future__ import annotations

import logging
from pathlib import Path

from shopseq.config import Params
from shopseq.io import atomic_path
from shopseq.report.inputs import ReportInputs, collect_inputs
from shopseq.report.render import SECTIONS, render_html

log = logging.getLogger(__name__)

__all__ = ["SECTIONS", "ReportInputs", "build_report", "collect_inputs", "default_report_path", "render_html"]


def default_report_path(params: Params) -> Path:
    """Where the report goes unless told otherwise: `<paths.reports>/report.html`."""
    return Path(params.paths.reports) / "report.html"


def build_report(params: Params, out: str | Path | None = None, use_mlflow: bool = True) -> Path:
    """Write the run's HTML report to `out` (default `reports/report.html`) and return its path.

    Raises:
        FileNotFoundError: nothing to report on (no stage has written its outputs yet).
    """
    out = Path(out) if out is not None else default_report_path(params)
    inputs = collect_inputs(params, use_mlflow=use_mlflow)
    if all(value is None for value in inputs.files.values()):
        raise FileNotFoundError(
            f"no pipeline outputs under {params.paths.reports}/: run the pipeline first (dvc repro or shopseq demo)"
        )
    page = render_html(inputs, out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        tmp.write_text(page, encoding="utf-8")
    log.info("report: wrote %s (%d kB)", out, len(page) // 1024)
    return out
