"""In-process throttle backend (``MemoryThrottle``): the embedded default when ``IDP_REDIS_URL``
is not set.

Counters live in one dict under one lock, so each primitive is atomic within the process; another
worker or host has counters of its own (correct for ``--workers 1`` only, which ``idp serve``
enforces without Redis). Time comes from the clock passed in (the app's clock service), like the
Redis backend: the arithmetic is ``idp.storage.throttle.core``'s, the limiter logic
``idp.storage.throttle.counter``'s.
"""

from __future__ import annotations

import threading

from idp.core.ports import Clock
from idp.storage.throttle import core
from idp.storage.throttle.core import Policy
from idp.storage.throttle.counter import CounterThrottle

#: Stale counters are swept when the number of keys reaches a multiple of this (amortised cost).
GC_EVERY = 4096


class MemoryThrottle(CounterThrottle):
    """In-process counters under one lock: correct for a single process only (``--workers 1``)."""

    def __init__(self, policy: Policy, clock: Clock, secret: str):
        super().__init__(policy, clock, secret)
        self._data: dict[str, object] = {}
        self._lock = threading.Lock()

    def _take(self, key, rate, now):
        with self._lock:
            ok, tat, value = core.gcra_take(self._data.get(key), now, rate)
            if ok:
                self._data[key] = tat
            return ok, value

    def _give(self, key, rate, now):
        with self._lock:
            tat = core.gcra_give(self._data.get(key), now, rate)
            if tat is None:
                self._data.pop(key, None)
            else:
                self._data[key] = tat

    def _reserve(self, key, free, now):
        with self._lock:
            ok, state, wait = core.delay_reserve(self._data.get(key), now, free, self.policy)
            if ok:
                self._data[key] = state
            self._gc(now)
            return ok, wait

    def _read_tat(self, key):
        with self._lock:
            return self._data.get(key)

    def _read_delay(self, key):
        with self._lock:
            return self._data.get(key)

    def _device_keys(self, prefix):
        with self._lock:
            return [k for k in self._data if k.startswith(prefix)]

    def _read_devices(self, prefix):
        with self._lock:
            return [v for k, v in self._data.items() if k.startswith(prefix)]

    def _delete(self, keys) -> int:
        with self._lock:
            return sum(self._data.pop(k, None) is not None for k in keys)

    def _gc(self, now) -> None:
        if len(self._data) % GC_EVERY:
            return
        horizon = self.policy.reset_seconds + self.policy.max_delay_seconds
        for k in [k for k, v in self._data.items() if core.expired(v, now, horizon)]:
            del self._data[k]
