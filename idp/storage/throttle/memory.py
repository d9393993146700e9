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
from idp.storage.throttle.core import Bucket, DelayState, Policy
from idp.storage.throttle.counter import CounterThrottle

#: Stale counters are swept when the number of keys reaches a multiple of this (amortised cost).
GC_EVERY = 4096


class MemoryThrottle(CounterThrottle):
    """In-process counters under one lock: correct for a single process only (``--workers 1``)."""

    def __init__(self, policy: Policy, clock: Clock, secret: str) -> None:
        super().__init__(policy, clock, secret)
        # Bucket keys (``rate:…``) hold a tat, account keys (``acct:…``, ``dev:…``) a delay state.
        self._tats: dict[str, float] = {}
        self._delays: dict[str, DelayState] = {}
        self._lock = threading.Lock()

    def _take(self, key: str, rate: Bucket, now: float) -> tuple[bool, float]:
        with self._lock:
            ok, tat, value = core.gcra_take(self._tats.get(key), now, rate)
            if ok:
                self._tats[key] = tat
            return ok, value

    def _give(self, key: str, rate: Bucket, now: float) -> None:
        with self._lock:
            tat = core.gcra_give(self._tats.get(key), now, rate)
            if tat is None:
                self._tats.pop(key, None)
            else:
                self._tats[key] = tat

    def _reserve(self, key: str, free: int, now: float) -> tuple[bool, float]:
        with self._lock:
            ok, state, wait = core.delay_reserve(self._delays.get(key), now, free, self.policy)
            if ok:
                self._delays[key] = state
            self._gc(now)
            return ok, wait

    def _read_tat(self, key: str) -> float | None:
        with self._lock:
            return self._tats.get(key)

    def _read_delay(self, key: str) -> DelayState | None:
        with self._lock:
            return self._delays.get(key)

    def _device_keys(self, prefix: str) -> list[str]:
        with self._lock:
            return [k for k in self._delays if k.startswith(prefix)]

    def _read_devices(self, prefix: str) -> list[DelayState | None]:
        with self._lock:
            return [v for k, v in self._delays.items() if k.startswith(prefix)]

    def _delete(self, keys: list[str]) -> int:
        with self._lock:
            return sum((self._tats.pop(k, None) is not None) | (self._delays.pop(k, None) is not None) for k in keys)

    def _gc(self, now: float) -> None:
        if (len(self._tats) + len(self._delays)) % GC_EVERY:
            return
        horizon = self.policy.reset_seconds + self.policy.max_delay_seconds
        for k in [k for k, tat in self._tats.items() if core.expired(tat, now, horizon)]:
            del self._tats[k]
        for k in [k for k, state in self._delays.items() if core.expired(state, now, horizon)]:
            del self._delays[k]
