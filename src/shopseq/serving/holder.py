"""One served snapshot that a background watcher can replace while requests read it."""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class Holder(Generic[T]):
    """The current snapshot; `swap` replaces it whole, `current` never blocks readers.

    Snapshots are immutable and replaced in one assignment, so a request that read the old one
    finishes with it while the next request gets the new one, never a mix.
    """

    def __init__(self, snapshot: T) -> None:
        self._snapshot = snapshot
        self._lock = threading.Lock()  # serialises writers only

    @property
    def current(self) -> T:
        return self._snapshot  # one attribute read: the old or the new snapshot, whole

    def swap(self, snapshot: T) -> T:
        """Serve `snapshot` from now on; return the one it replaced."""
        with self._lock:
            previous, self._snapshot = self._snapshot, snapshot
        return previous
