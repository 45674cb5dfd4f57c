"""A background thread that follows the registry's `champion` alias and swaps the served model.

Every `poll_seconds` it asks which version holds the alias; when that differs from the served
version it loads the new one completely and only then swaps it in. A failed check or load is
logged and recorded for /health; the service keeps answering with the model it has.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timezone
from typing import Callable

from shopseq.serving.champion import ModelHolder, ServedModel

log = logging.getLogger(__name__)


class ChampionWatcher:
    """Polls `resolve()` for the champion version and swaps in `load(version)` when it moves."""

    def __init__(
        self,
        holder: ModelHolder,
        resolve: Callable[[], str | None],
        load: Callable[[str], ServedModel],
        poll_seconds: float,
    ) -> None:
        self.holder = holder
        self.resolve = resolve
        self.load = load
        self.poll_seconds = poll_seconds
        self.last_checked: datetime | None = None
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="champion-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the thread to finish and wait for it (a load in progress completes first)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def check(self) -> bool:
        """Check the alias once; swap when it moved. Returns whether the served model changed."""
        try:
            version = self.resolve()
            self.last_checked = datetime.now(timezone.utc)
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
        except Exception as error:  # the registry may be briefly unreachable: keep serving, report it
            self.last_error = f"champion check failed: {type(error).__name__}: {error}"
            log.warning("%s; still serving version %s", self.last_error, self.holder.current.version)
            return False

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            self.check()
