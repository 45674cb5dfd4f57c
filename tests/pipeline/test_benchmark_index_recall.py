"""`shopseq benchmark index-recall` on a tiny shop: a trained model's index answers like exact when every list is probed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import yaml
from typer.testing import CliRunner

from shopseq.cli import app

from tiny import write_tiny_params


def recall_report(root: Path, out: str, **serve) -> dict:
    params = yaml.safe_load((root / "params.yaml").read_text())
    params.setdefault("serve", {}).update(serve)
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    result = CliRunner().invoke(app, ["--params", str(root / "params.yaml"), "--no-verbose", "benchmark", "index-recall",
                                      "--source", "synthetic", "--epochs", "1", "--out", str(root / out)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return json.loads((root / out / "index_recall.json").read_text())


def test_every_list_probed_recalls_everything_and_one_probe_is_measured(tmp_path):
    write_tiny_params(tmp_path)
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        full = recall_report(tmp_path, "all", index_lists=4, index_probes=4)
        narrow = recall_report(tmp_path, "one", index_lists=40, index_probes=1, index_candidates=20)
    finally:
        os.chdir(old)
    assert full["histories"] > 0 and full["index_probes"] == full["index_lists"] == 4
    assert full["recall_at_k_vs_exact"] == 1.0
    assert 0.0 <= narrow["recall_at_k_vs_exact"] <= 1.0 and narrow["index_probes"] == 1
    assert full["n_items"] == narrow["n_items"] and full["exact_ms_per_request"] > 0
