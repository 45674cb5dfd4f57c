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
