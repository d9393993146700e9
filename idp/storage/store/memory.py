"""In-process store (``MemoryStore``): the embedded default when ``IDP_REDIS_URL`` is not set.

Correct for one process only (``--workers 1``): another worker or host sees none of its entries.
Values are JSON objects, serialised on the way in so a caller never shares a mutable dict with
the store (as with Redis).

Time: expiry is computed from ``now``, a callable returning POSIX seconds (default ``time.time``;
``build_store`` passes the app's clock), so tests move time instead of sleeping and every backend
that computes expiry in Python uses the same clock. The TTL is garbage collection only: callers
keep their own expiry in the value and check it against the clock service.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

#: Expired entries are swept when the number of entries reaches a multiple of this (amortised cost).
GC_EVERY = 1024


class MemoryStore:
    """``idp.core.ports.Store`` in a dict under one lock (each method is atomic)."""

    def __init__(self, now: Callable[[], float] = time.time) -> None:
        self._data: dict[str, tuple[float, str]] = {}  # key -> (expires at, JSON)
        self._lock = threading.Lock()
        self._now = now

    def put(self, key: str, value: dict[str, Any], ttl: int) -> None:
        """Save ``value`` under ``key`` for ``ttl`` seconds (at least one), replacing any earlier value."""
        entry = (self._now() + max(1, int(ttl)), json.dumps(value))
        with self._lock:
            self._gc()
            self._data[key] = entry

    def get(self, key: str) -> dict[str, Any] | None:
        """The live value under ``key``, or None."""
        with self._lock:
            item = self._data.get(key)
        return self._live(item)

    def pop(self, key: str) -> dict[str, Any] | None:
        """Remove ``key`` and return its live value (None if absent or expired), atomically."""
        with self._lock:
            item = self._data.pop(key, None)
        return self._live(item)

    def delete(self, key: str) -> None:
        """Remove ``key`` if present."""
        with self._lock:
            self._data.pop(key, None)

    def add(self, key: str, value: dict[str, Any], ttl: int) -> bool:
        """Save ``value`` only if ``key`` holds no live value; False if it does. An expired entry
        counts as absent."""
        entry = (self._now() + max(1, int(ttl)), json.dumps(value))
        with self._lock:
            if self._live(self._data.get(key)) is not None:
                return False
            self._gc()
            self._data[key] = entry
            return True

    def _live(self, item: tuple[float, str] | None) -> dict[str, Any] | None:
        if item is None or item[0] <= self._now():
            return None
        return json.loads(item[1])

    def _gc(self) -> None:
        """Called under the lock."""
        if len(self._data) % GC_EVERY:
            return
        now = self._now()
        for k in [k for k, (expires, _) in self._data.items() if expires <= now]:
            del self._data[k]
