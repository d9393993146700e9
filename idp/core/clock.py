"""Clock service: everything that expires asks the app's clock, so tests move time instead of sleeping."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime


class SystemClock:
    def now(self) -> float:
        return time.time()


class FixedClock:
    """A clock that only moves when told to; shared by the app and the test that drives it."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds


def utc(ts: float) -> datetime:
    """POSIX seconds to an aware UTC datetime (for storage and display)."""
    return datetime.fromtimestamp(ts, tz=UTC)
