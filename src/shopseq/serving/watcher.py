"""Background threads that keep what the service serves current without a restart.

`ChampionWatcher`: every `poll_seconds` it asks which version holds the registry's `champion`
alias; when that differs from the served version it loads the new one completely and only then
swaps it in.

`UserHistoriesWatcher`: on the same period it looks at the validated events file (a `stat`, no
read); when the file was replaced (new data validated, or a data version restored) it reads the
user histories and the fallback ranking again and swaps the whole snapshot in. It follows the
data, not the champion: new data lands with every pipeline run, while a promotion may come days
later or not at all, and a new user's history is what the current model needs to serve them.

Either way a failed check or load is logged and recorded for /health, and the service keeps
answering with what it has; the next period tries again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from shopseq.serving.champion import ModelHolder, ServedModel
from shopseq.serving.users import (
    UserHistories,
    UsersHolder,
    events_signature,
    load_user_histories,
)

log = logging.getLogger(__name__)


class _Poller:
    """A daemon thread that calls `check()` every `poll_seconds` until stopped."""

    def __init__(self, poll_seconds: float, name: str) -> None:
        self.poll_seconds = poll_seconds
        self.last_checked: datetime | None = None
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the thread to finish and wait for it (a load in progress completes first)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def check(self) -> bool:
        raise NotImplementedError

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            self.check()


class ChampionWatcher(_Poller):
    """Polls `resolve()` for the champion version and swaps in `load(version)` when it moves."""

    def __init__(
        self,
        holder: ModelHolder,
        resolve: Callable[[], str | None],
        load: Callable[[str], ServedModel],
        poll_seconds: float,
    ) -> None:
        super().__init__(poll_seconds, "champion-watcher")
        self.holder = holder
        self.resolve = resolve
        self.load = load

    def check(self) -> bool:
        """Check the alias once; swap when it moved. Returns whether the served model changed."""
        try:
            version = self.resolve()
            self.last_checked = datetime.now(UTC)
            served = self.holder.current
            if version is None:
                self.last_error = f"{served.name} has no champion alias; still serving version {served.version}"
                log.warning(self.last_error)
                return False
            if version == served.version:
                self.last_error = None
                return False
            new = self.load(version)
            self.holder.swap(new)
            self.last_error = None
            log.info("champion moved: now serving %s version %s (was %s)", new.name, new.version, served.version)
            return True
        except Exception as error:  # noqa: BLE001 -- the registry may be briefly unreachable: keep serving, report it
            self.last_error = f"champion check failed: {type(error).__name__}: {error}"
            log.warning("%s; still serving version %s", self.last_error, self.holder.current.version)
            return False


class UserHistoriesWatcher(_Poller):
    """Polls the validated events file and swaps in freshly read user histories when it changed."""

    def __init__(
        self,
        holder: UsersHolder,
        validated_dir: str | Path,
        recent_days: int,
        poll_seconds: float,
        load: Callable[[str | Path, int], UserHistories] = load_user_histories,
    ) -> None:
        super().__init__(poll_seconds, "user-histories-watcher")
        self.holder = holder
        self.validated_dir = validated_dir
        self.recent_days = recent_days
        self.load = load

    def check(self) -> bool:
        """Look at the events file once; reload and swap when it changed. Returns whether the histories changed."""
        try:
            signature = events_signature(self.validated_dir)
            self.last_checked = datetime.now(UTC)
            served = self.holder.current
            if signature == served.source:
                self.last_error = None
                return False
            new = self.load(self.validated_dir, self.recent_days)
            self.holder.swap(new)
            self.last_error = None
            log.info("validated events changed: now serving %d users (was %d)", len(new.histories), len(served.histories))
            return True
        except Exception as error:  # noqa: BLE001 -- the file may be mid-replacement or briefly missing: keep serving, report it
            self.last_error = f"user histories reload failed: {type(error).__name__}: {error}"
            log.warning("%s; still serving %d users", self.last_error, len(self.holder.current.histories))
            return False
