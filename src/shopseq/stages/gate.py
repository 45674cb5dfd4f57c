"""Stage `gate`: decide whether the candidate may be offered for promotion, with every reason."""

from __future__ import annotations

import logging
from pathlib import Path

from shopseq.config import Params
from shopseq.io import read_json, write_json

log = logging.getLogger(__name__)


def run(params: Params) -> None:
    from shopseq.training.gate import passes_gate

    reports = Path(params.paths.reports)
    metrics = read_json(reports / "evaluate" / "metrics.json")
    result = passes_gate(metrics, params.gate)
    write_json(
        reports / "gate.json",
        {
            "passed": result.passed,
            "reasons": result.reasons,
            "metric": params.gate.metric,
            "candidate": metrics["candidate"][params.gate.metric],
            "popularity": metrics["popularity"][params.gate.metric],
            "champion": metrics["champion"][params.gate.metric] if metrics["champion"] else None,
            "champion_version": metrics["champion_version"],
            "leaky_split": metrics.get("leaky_split", False),
        },
    )
    log.info("gate %s: %s", "passed" if result.passed else "FAILED", "; ".join(result.reasons))
