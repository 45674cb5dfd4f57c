"""Data versions: DVC-tracked snapshots of a pipeline run, recorded in git by a bot identity.

A data version is named by the content hash the `validate` stage computes for the accepted
tables (`dv-3f2a9c01b7de`: the same data always gets the same name). `snapshot` records it as
an annotated git tag `data/<name>` on a commit whose tree is the checked-out commit's tree plus
the files DVC generated for this run (`dvc.lock`, `*.dvc` files and the stages' uncached metrics
and plots). The commit is built in a private index and never moves a branch, so a user's
uncommitted changes are never swept in and their checkout is left alone. The data itself is
pushed to the configured DVC remote, so `git checkout data/<name> && dvc pull` restores it
anywhere; `restore` does the same in place and verifies every content hash.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import yaml

from shopseq.config import Params
from shopseq.stages import RETRAIN

log = logging.getLogger(__name__)

TAG_PREFIX = "data/"
BOT_NAME = "shopseq-bot"
BOT_EMAIL = "shopseq-bot@users.noreply.shopseq.invalid"
VERSIONED_STAGES = tuple(stage for stage in RETRAIN if stage != "champion")
"""Stages whose cached outputs make up a data version: the retrain pipeline's, except `champion`,
which mirrors the registry rather than the data."""


class VersionError(ValueError):
    """A data version cannot be recorded or restored; the message says why and how to fix it."""


@dataclass(frozen=True)
class DataVersion:
    """One recorded data version: its name, git tag and commit, and what the run saw."""

    name: str
    tag: str
    commit: str
    created_at: str
    rows: dict[str, int] = field(default_factory=dict)
    details: dict = field(default_factory=dict)


# ----------------------------------------------------------------------------------- git / dvc


def _run(
    command: list[str], project: Path, env: dict[str, str] | None = None, what: str = "", text: bool = True
) -> str | bytes:
    done = subprocess.run(command, cwd=project, env={**os.environ, **(env or {})}, capture_output=True, text=text)
    if done.returncode != 0:
        err = done.stderr if text else done.stderr.decode(errors="replace")
        detail = (err or (done.stdout if text else "")).strip().splitlines()
        raise VersionError(
            f"{what or ' '.join(command[:3])} failed in {project}: {detail[-1] if detail else 'exit ' + str(done.returncode)}"
        )
    return done.stdout


def _git(project: Path, *args: str, env: dict[str, str] | None = None) -> str:
    return _run(["git", *args], project, env, what=f"git {args[0]}")


def _dvc(project: Path, *args: str) -> str:
    return _run([sys.executable, "-m", "dvc", *args], project, what=f"dvc {args[0]}")


def _ask(project: Path, *command: str) -> subprocess.CompletedProcess:
    """Run a query whose non-zero exit is an answer ("no such ref"), not a failure."""
    return subprocess.run(list(command), cwd=project, capture_output=True, text=True)


def _bot_env() -> dict[str, str]:
    return {
        "GIT_AUTHOR_NAME": BOT_NAME,
        "GIT_AUTHOR_EMAIL": BOT_EMAIL,
        "GIT_COMMITTER_NAME": BOT_NAME,
        "GIT_COMMITTER_EMAIL": BOT_EMAIL,
    }


def _require_git(project: Path) -> None:
    inside = _ask(project, "git", "rev-parse", "--is-inside-work-tree")
    if inside.returncode != 0 or inside.stdout.strip() != "true":
        raise VersionError(f"{project} is not a git repository: data versions are git tags (run `git init`)")


def _head(project: Path) -> str | None:
    return _ask(project, "git", "rev-parse", "--verify", "-q", "HEAD").stdout.strip() or None


def _tag_exists(project: Path, tag: str) -> bool:
    return _ask(project, "git", "rev-parse", "--verify", "-q", f"refs/tags/{tag}").returncode == 0


def _require_remote(project: Path) -> str:
    """The default DVC remote's name; a clear error when none is configured."""
    found = _ask(project, sys.executable, "-m", "dvc", "remote", "default")
    remote = found.stdout.strip() if found.returncode == 0 else ""
    if not remote:
        raise VersionError(
            f"no default DVC remote in {project}: data versions are pushed to one. Fix: "
            "`dvc remote add -d local /path/to/dvc-remote` (or an s3://, gs://, ... URL)"
        )
    return remote


# ------------------------------------------------------------------------------- what to record


def versioned_files(project: Path) -> list[str]:
    """The DVC-generated files a data version's commit holds, relative to the project.

    `dvc.lock`, every `*.dvc` file, and the outputs dvc.lock lists that git does not ignore:
    the uncached metrics and plots (DVC puts its cached outputs in .gitignore files), so that
    `dvc metrics diff data/<a> data/<b>` compares two data versions.
    """
    lock_path = project / "dvc.lock"
    if not lock_path.is_file():
        raise VersionError(f"{lock_path} not found: run the pipeline (`dvc repro`) before recording a data version")
    lock = yaml.safe_load(lock_path.read_text()) or {}
    outs: list[str] = []
    for name, stage in (lock.get("stages") or {}).items():
        if name == "champion":
            continue
        outs += [out["path"] for out in stage.get("outs") or []]
    candidates = [path for path in outs if (project / path).is_file()]
    ignored = set()
    if candidates:
        checked = subprocess.run(  # exit 1 means "none ignored": an answer, not a failure
            ["git", "check-ignore", "--stdin"], cwd=project, input="\n".join(candidates), capture_output=True, text=True
        )
        ignored = set(checked.stdout.split())
    dvc_files = _git(project, "ls-files", "--cached", "--others", "--exclude-standard", "*.dvc").split()
    return ["dvc.lock", *sorted(set(dvc_files)), *[path for path in candidates if path not in ignored]]


def _summary(project: Path, params: Params) -> dict:
    path = project / params.paths.reports / "validation" / "summary.json"
    if not path.is_file():
        raise VersionError(f"{path} not found: the validate stage has not run")
    return json.loads(path.read_text())


def current_name(project: Path, params: Params) -> str:
    """The data version of the validated data in the workspace (as `validate` recorded it)."""
    return _summary(project, params)["data_version"]


def _rows(project: Path, params: Params, summary: dict) -> dict[str, int]:
    ingest = project / params.paths.reports / "ingest" / "metrics.json"
    counts = json.loads(ingest.read_text()) if ingest.is_file() else {}
    rows = {table: int(counts[table]) for table in ("events", "items", "reviews") if table in counts}
    rows.update({key: int(summary[key]) for key in ("rows_in", "rows_accepted", "rows_quarantined") if key in summary})
    return rows


# ------------------------------------------------------------------------------------ snapshot


def snapshot(project: str | Path, params: Params, push: bool = True) -> DataVersion:
    """Record the workspace's data as a data version (idempotent) and push its data to DVC's remote.

    Raises:
        VersionError: not a git repository, no dvc.lock, no DVC remote, or git/dvc failed.
    """
    project = Path(project).resolve()
    _require_git(project)
    remote = _require_remote(project) if push else None
    summary = _summary(project, params)
    name = summary["data_version"]
    tag = TAG_PREFIX + name
    if _tag_exists(project, tag):
        log.info("data version %s is already recorded as tag %s", name, tag)
    else:
        head = _head(project)
        details = {
            "data_version": name,
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "rows": _rows(project, params, summary),
            "source": params.ingest.source,
            "base_commit": head or "none",
        }
        details["files"] = versioned_files(project)
        commit = _commit_files(project, head, details["files"], f"data version {name}\n\n{json.dumps(details, indent=2)}\n")
        _git(project, "tag", "-a", tag, commit, "-m", json.dumps(details, sort_keys=True), env=_bot_env())
        log.info("recorded data version %s: tag %s on commit %s (by %s)", name, tag, commit[:12], BOT_NAME)
    if remote:
        log.info("pushing the data of %s to DVC remote %s", name, remote)
        _dvc(project, "push", "--quiet", *_lock_stages(project))
    return find(project, name)


def _commit_files(project: Path, head: str | None, files: list[str], message: str) -> str:
    """A commit of `head`'s tree (HEAD) plus `files` from the workspace, built in a private index."""
    with tempfile.TemporaryDirectory(prefix="shopseq-index-") as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index"), **_bot_env()}
        if head:
            _git(project, "read-tree", head, env=env)
        else:
            _git(project, "read-tree", "--empty", env=env)
        for path in files:
            blob = _git(project, "hash-object", "-w", "--", path).strip()
            _git(project, "update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=env)
        tree = _git(project, "write-tree", env=env).strip()
        parent = ["-p", head] if head else []
        return _git(project, "commit-tree", tree, *parent, "-m", message, env=env).strip()


# ------------------------------------------------------------------------------------- listing


def list_versions(project: str | Path) -> list[DataVersion]:
    """Every recorded data version, oldest first."""
    project = Path(project).resolve()
    _require_git(project)
    out = _git(
        project,
        "for-each-ref",
        "--sort=creatordate",
        "--format=%(refname:strip=2)%1f%(*objectname)%1f%(creatordate:iso-strict)%1f%(contents)%1e",
        f"refs/tags/{TAG_PREFIX}",
    )
    versions = []
    for record in out.split("\x1e"):
        if not record.strip():
            continue
        tag, commit, created, message = record.strip("\n").split("\x1f", 3)
        try:
            details = json.loads(message.strip())
        except json.JSONDecodeError:
            details = {}
        versions.append(
            DataVersion(
                name=tag.removeprefix(TAG_PREFIX),
                tag=tag,
                commit=commit,
                created_at=details.get("created_at", created),
                rows=details.get("rows", {}),
                details=details,
            )
        )
    return versions


def find(project: str | Path, name: str) -> DataVersion:
    """The data version called `name` (with or without the `data/` prefix)."""
    name = name.removeprefix(TAG_PREFIX)
    versions = list_versions(project)
    for version in versions:
        if version.name == name:
            return version
    known = ", ".join(v.name for v in versions) or "none recorded yet"
    raise VersionError(f"no data version {name!r} in {Path(project).resolve()} (known: {known})")


# ------------------------------------------------------------------------------------- restore


def restore(project: str | Path, params: Params, name: str) -> dict:
    """Put data version `name` back in the workspace, byte for byte, and verify it.

    dvc.lock and the uncached metrics come from the version's commit; DVC checks the cached
    outputs out of the local cache (pulling from the remote what is missing) and verifies each
    against its md5 in dvc.lock; then the validated tables' content hash is recomputed and must
    equal the version's name.

    Returns: what was restored: {data_version, files, verified_hash}.
    """
    project = Path(project).resolve()
    version = find(project, name)
    files = version.details.get("files") or ["dvc.lock"]
    for path in files:
        target = project / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(_run(["git", "show", f"{version.commit}:{path}"], project, what="git show", text=False))
    stages = _lock_stages(project)
    # --force: replacing the workspace's outputs is what a restore is for (they are the
    # pipeline's, kept in the DVC cache and remote under their own data version).
    try:
        _dvc(project, "checkout", "--force", *stages)
    except VersionError:
        log.info("some outputs of %s are not in the local cache: pulling them from the remote", version.name)
        _dvc(project, "pull", "--force", *stages)
    verified = validated_hash(project, params)
    if verified != version.name:
        raise VersionError(
            f"restored data hashes to {verified}, not {version.name}: the cache or remote holds different data"
        )
    log.info("restored data version %s (%d files from git, stages %s); content hash verified", version.name, len(files), ", ".join(stages))
    return {"data_version": version.name, "files": files, "verified_hash": verified}


def _lock_stages(project: Path) -> list[str]:
    lock = yaml.safe_load((project / "dvc.lock").read_text()) or {}
    return [name for name in VERSIONED_STAGES if name in (lock.get("stages") or {})]


def validated_hash(project: Path, params: Params) -> str:
    """Recompute the validated tables' content hash (the data version name) from the workspace."""
    import pandas as pd

    from shopseq.validation.summary import data_version

    validated = project / params.paths.validated
    frames = {path.stem: pd.read_parquet(path) for path in sorted(validated.glob("*.parquet"))}
    if not frames:
        raise VersionError(f"no validated tables under {validated}")
    return data_version(frames)


# --------------------------------------------------------------------------- unchanged-data check


def stages_to_run(project: str | Path, stages: list[str]) -> list[str]:
    """Which of `stages` DVC would rerun (changed code, data, params or outputs), in order."""
    project = Path(project).resolve()
    out = _dvc(project, "status", "--json", *stages)
    changed = json.loads(out or "{}")
    return [stage for stage in stages if stage in changed]
