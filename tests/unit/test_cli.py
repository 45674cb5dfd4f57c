"""The command line: readable one-line errors with a hint, never a traceback without --debug."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

SHOPSEQ = Path(sys.executable).with_name("shopseq")


def shopseq(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(SHOPSEQ), *args], cwd=cwd, capture_output=True, text=True)


def test_a_typo_in_params_is_one_line_naming_the_key(tmp_path):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"train": {"epoch": 3}}))
    done = shopseq("run", "sequences", cwd=tmp_path)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith("error: ") and "'epoch'" in lines[0]
    assert lines[1].startswith("hint: ")
    assert "Traceback" not in done.stderr


def test_an_unknown_stage_lists_the_stages(tmp_path):
    (tmp_path / "params.yaml").write_text("{}")
    done = shopseq("run", "trian", cwd=tmp_path)
    assert done.returncode == 1
    assert "unknown stage 'trian'" in done.stderr and "ingest" in done.stderr


def test_a_missing_input_says_which_stage_to_run(tmp_path):
    (tmp_path / "params.yaml").write_text("{}")
    done = shopseq("run", "sequences", cwd=tmp_path)
    assert done.returncode == 1
    assert "data/validated/events.parquet not found" in done.stderr and "dvc repro" in done.stderr


def test_debug_shows_the_traceback(tmp_path):
    (tmp_path / "params.yaml").write_text("{}")
    done = shopseq("--debug", "run", "sequences", cwd=tmp_path)
    assert done.returncode != 0 and "Traceback" in done.stderr
