"""git_commit: `-dirty` names uncommitted changes, and `paths` narrows which changes count."""

from __future__ import annotations

import subprocess

from shopseq.lineage import git_commit


def _git(repo, *args: str) -> str:
    command = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args]
    return subprocess.run(command, cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


def test_dirty_counts_only_the_given_paths(tmp_path) -> None:
    _git(tmp_path, "init", "-q")
    (tmp_path / "code.py").write_text("x = 1\n")
    (tmp_path / "results.json").write_text("{}\n")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "first")
    head = _git(tmp_path, "rev-parse", "HEAD")

    (tmp_path / "results.json").write_text('{"wape": 0.3}\n')  # a benchmark rewriting its results

    assert git_commit(tmp_path) == f"{head}-dirty"
    assert git_commit(tmp_path, (":/code.py",)) == head
    (tmp_path / "code.py").write_text("x = 2\n")
    assert git_commit(tmp_path, (":/code.py",)) == f"{head}-dirty"


def test_outside_git_is_unknown(tmp_path) -> None:
    assert git_commit(tmp_path / "nowhere") == "unknown"
