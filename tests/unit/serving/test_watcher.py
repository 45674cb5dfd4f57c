"""The champion watcher: swap when the alias moves, keep serving when the registry misbehaves."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

import pytest

from shopseq.serving.champion import ModelHolder, ServedModel
from shopseq.serving.watcher import ChampionWatcher


def served(version: str) -> ServedModel:
    return ServedModel(model=object(), name="m", version=version, uri=f"models:/m/{version}", loaded_at=datetime.now(timezone.utc))


class Registry:
    """A stand-in registry: which version is champion, and which versions fail to load."""

    def __init__(self, champion: str | None) -> None:
        self.champion = champion
        self.broken: set[str] = set()
        self.loads: list[str] = []
        self.unreachable = False

    def resolve(self) -> str | None:
        if self.unreachable:
            raise ConnectionError("registry unreachable")
        return self.champion

    def load(self, version: str) -> ServedModel:
        self.loads.append(version)
        if version in self.broken:
            raise OSError(f"artifacts of version {version} are missing")
        return served(version)


@pytest.fixture
def setup():
    registry = Registry("1")
    holder = ModelHolder(served("1"))
    return registry, holder, ChampionWatcher(holder, registry.resolve, registry.load, poll_seconds=0.05)


def test_nothing_is_loaded_while_the_alias_stays(setup):
    registry, holder, watcher = setup
    assert watcher.check() is False
    assert registry.loads == [] and holder.current.version == "1" and watcher.last_checked is not None


def test_a_moved_alias_is_loaded_then_swapped_in(setup):
    registry, holder, watcher = setup
    registry.champion = "2"
    assert watcher.check() is True
    assert registry.loads == ["2"] and holder.current.version == "2" and watcher.last_error is None


@pytest.mark.parametrize("fault", ["unreachable", "broken", "alias removed"])
def test_a_failing_check_keeps_the_served_model_and_says_why(setup, fault):
    registry, holder, watcher = setup
    registry.champion = "2"
    if fault == "unreachable":
        registry.unreachable = True
    elif fault == "broken":
        registry.broken.add("2")
    else:
        registry.champion = None
    assert watcher.check() is False
    assert holder.current.version == "1"
    assert watcher.last_error and ("unreachable" in watcher.last_error or "missing" in watcher.last_error
                                   or "no champion alias" in watcher.last_error)
    # Once the registry is healthy again the next check swaps.
    registry.unreachable, registry.broken, registry.champion = False, set(), "2"
    assert watcher.check() is True and watcher.last_error is None


def test_the_thread_follows_the_alias_until_stopped(setup):
    registry, holder, watcher = setup
    watcher.start()
    try:
        registry.champion = "3"
        deadline = time.monotonic() + 30  # a hang guard, not a timing
        while holder.current.version != "3" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert holder.current.version == "3"
    finally:
        watcher.stop()
    assert not any(t.name == "champion-watcher" and t.is_alive() for t in threading.enumerate())


def test_swap_returns_the_replaced_model():
    holder = ModelHolder(served("1"))
    new = served("2")
    assert holder.swap(new).version == "1" and holder.current is new


def _write_events(directory, users: list[str]) -> None:
    import pandas as pd

    from shopseq import schema as s
    from shopseq.io import write_parquet

    t0 = pd.Timestamp("2026-06-01", tz="UTC")
    events = pd.DataFrame({s.USER_ID: users, s.ITEM_ID: ["i1"] * len(users), s.EVENT_TYPE: s.VIEW,
                           s.TS: [t0 + pd.Timedelta(hours=h) for h in range(len(users))]})
    write_parquet(events, directory / "events.parquet")


def test_user_histories_reload_only_when_the_events_file_changes_and_survive_a_bad_file(tmp_path):
    from shopseq.serving.users import UsersHolder, load_user_histories
    from shopseq.serving.watcher import UserHistoriesWatcher

    _write_events(tmp_path, ["u1"])
    holder = UsersHolder(load_user_histories(tmp_path, recent_days=7))
    watcher = UserHistoriesWatcher(holder, tmp_path, recent_days=7, poll_seconds=0.05)
    first = holder.current
    assert watcher.check() is False and holder.current is first

    _write_events(tmp_path, ["u1", "u2"])
    assert watcher.check() is True
    assert set(holder.current.histories) == {"u1", "u2"} and watcher.last_error is None

    (tmp_path / "events.parquet").write_bytes(b"not parquet")  # a broken replacement: keep serving what we have
    assert watcher.check() is False
    assert set(holder.current.histories) == {"u1", "u2"} and "reload failed" in watcher.last_error
    (tmp_path / "events.parquet").unlink()
    assert watcher.check() is False and "FileNotFoundError" in watcher.last_error

    _write_events(tmp_path, ["u3"])
    watcher.start()
    try:
        deadline = time.monotonic() + 30
        while "u3" not in holder.current.histories and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        watcher.stop()
    assert set(holder.current.histories) == {"u3"} and watcher.last_error is None
