"""Data versions on real git and DVC: recorded by the bot, listed, restored byte for byte.

A tiny project copy runs `dvc repro validate` on a synthetic shop cut at two dates (growing
data), records each as a data version, and restores the first from the cache and then from
the DVC remote alone.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from shopseq.config import load_params
from shopseq.ops import versions
from tiny import copy_project, write_tiny_params

ROOT = Path(__file__).resolve().parents[2]
DVC = Path(sys.executable).with_name("dvc")
FIRST_CUT, SECOND_CUT = "2026-06-22", "2026-06-29"


def sh(*args: str, cwd: Path) -> str:
    env = {**os.environ, "PATH": f"{DVC.parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("MLFLOW_TRACKING_URI", None)
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def git(*args: str, cwd: Path) -> str:
    return sh("git", "-c", "user.name=a-user", "-c", "user.email=user@example.invalid", *args, cwd=cwd)


def set_until(project: Path, until: str) -> None:
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["ingest"]["synthetic"]["until"] = until
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def data_hashes(project: Path) -> dict[str, str]:
    return {
        str(path.relative_to(project)): hashlib.md5(path.read_bytes()).hexdigest()
        for folder in ("data/raw", "data/validated")
        for path in sorted((project / folder).glob("*.parquet"))
    }


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = copy_project(tmp_path_factory.mktemp("versions"))
    (root / "NOTES.md").write_text("committed text\n")
    git("init", "-q", cwd=root)
    sh(str(DVC), "init", "-q", cwd=root)
    sh(str(DVC), "remote", "add", "-d", "local", str(tmp_path_factory.mktemp("remote")), cwd=root)
    git("add", "-A", cwd=root)
    git("commit", "-qm", "tiny project", cwd=root)
    return root


@pytest.fixture(scope="module")
def recorded(project: Path) -> dict:
    """Two data versions: the shop cut at FIRST_CUT, then at SECOND_CUT (more data)."""
    head_before = git("rev-parse", "HEAD", cwd=project).strip()
    out = {}
    for label, cut in (("first", FIRST_CUT), ("second", SECOND_CUT)):
        set_until(project, cut)
        sh(str(DVC), "repro", "validate", cwd=project)
        # A change the user has not committed: the bot's commit must not sweep it in.
        (project / "NOTES.md").write_text(f"uncommitted edit before the {label} snapshot\n")
        params = load_params(project / "params.yaml")
        out[label] = versions.snapshot(project, params)
        out[f"{label}_hashes"] = data_hashes(project)
    out["head_before"] = head_before
    return out


@pytest.mark.slow
def test_each_run_is_a_tagged_bot_commit_that_leaves_the_branch_alone(project: Path, recorded: dict) -> None:
    first, second = recorded["first"], recorded["second"]
    assert first.name != second.name
    assert second.rows["events"] > first.rows["events"], "the second cut sees more data"
    assert git("rev-parse", "HEAD", cwd=project).strip() == recorded["head_before"], "no branch moved"
    assert git("status", "--porcelain", "NOTES.md", cwd=project).strip() == "M NOTES.md"
    for version in (first, second):
        author = git("log", "-1", "--format=%an <%ae>", version.commit, cwd=project).strip()
        assert author == f"{versions.BOT_NAME} <{versions.BOT_EMAIL}>"
        assert git("rev-parse", f"{version.commit}^", cwd=project).strip() == recorded["head_before"]
        changed = set(git("diff", "--name-only", recorded["head_before"], version.commit, cwd=project).split())
        assert "dvc.lock" in changed and "reports/validation/summary.json" in changed
        assert "NOTES.md" not in changed and "params.yaml" not in changed
        assert git("show", f"{version.commit}:NOTES.md", cwd=project) == "committed text\n"


@pytest.mark.slow
def test_recording_the_same_data_again_adds_nothing(project: Path, recorded: dict) -> None:
    tags_before = git("tag", "--list", "data/*", cwd=project).split()
    again = versions.snapshot(project, load_params(project / "params.yaml"))
    assert again == recorded["second"]
    assert git("tag", "--list", "data/*", cwd=project).split() == tags_before


@pytest.mark.slow
def test_versions_are_listed_oldest_first_with_row_counts(project: Path, recorded: dict) -> None:
    listed = versions.list_versions(project)
    assert [v.name for v in listed] == [recorded["first"].name, recorded["second"].name]
    assert listed[0].rows["rows_accepted"] > 0 and listed[0].details["source"] == "synthetic"


@pytest.mark.slow
def test_restore_brings_back_identical_bytes_from_cache_then_from_the_remote_alone(
    project: Path, recorded: dict
) -> None:
    params = load_params(project / "params.yaml")
    first, second = recorded["first"], recorded["second"]

    restored = versions.restore(project, params, first.name)
    assert restored["verified_hash"] == first.name
    assert data_hashes(project) == recorded["first_hashes"]
    assert versions.current_name(project, params) == first.name

    shutil.rmtree(project / ".dvc" / "cache")  # only the DVC remote has the data now
    versions.restore(project, params, second.name)
    assert data_hashes(project) == recorded["second_hashes"]
    assert versions.current_name(project, params) == second.name


@pytest.mark.slow
def test_restoring_an_unknown_version_names_the_known_ones(project: Path, recorded: dict) -> None:
    with pytest.raises(versions.VersionError, match=recorded["first"].name):
        versions.restore(project, load_params(project / "params.yaml"), "dv-000000000000")


def test_snapshot_without_a_dvc_remote_says_how_to_add_one(tmp_path: Path) -> None:
    git("init", "-q", cwd=tmp_path)
    sh(str(DVC), "init", "-q", cwd=tmp_path)
    write_tiny_params(tmp_path)
    with pytest.raises(versions.VersionError, match="dvc remote add"):
        versions.snapshot(tmp_path, load_params(tmp_path / "params.yaml"))


def test_snapshot_outside_git_says_so(tmp_path: Path) -> None:
    write_tiny_params(tmp_path)
    with pytest.raises(versions.VersionError, match="not a git repository"):
        versions.snapshot(tmp_path, load_params(tmp_path / "params.yaml"))
