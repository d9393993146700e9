"""Short-lived state in the database while Redis is unreachable (issue 3: "already signed-in SSO
keeps working" during a Redis outage).

Pending authorization requests and authorization codes live in Redis (``RedisStore``). Without
a fallback, a Redis outage turns every ``/authorize`` into a 503, even for a user whose session
(in SQL) is intact. ``FallbackStore`` wraps the Redis store with a ``DatabaseStore`` (table
``store_fallback``) and keeps these rules:

* **writes** (``put``) go to Redis; only when Redis raises ``StoreUnavailable`` do they go to the
  database. Nothing is written to both, so the normal path costs no SQL.
* **reads** (``get``, ``pop``) ask Redis first and the database when Redis misses or is down: an
  entry written during the outage is found after Redis is back, by any process. A Redis miss is
  rare on the normal path (a replayed code, an unknown interaction id). When Redis is down *and*
  the database has nothing, the read raises ``StoreUnavailable`` (a 503 "try again shortly"): the
  entry may well exist in Redis (a code issued just before the outage), so answering "no such
  code" (``invalid_grant``) would be wrong.
* ``pop`` in the database is one ``DELETE … RETURNING`` (``idp.storage.store.database``): of two
  concurrent callers only one gets the row, so codes issued during the outage stay single-use.
* ``add`` (replay caches, "first use wins") does **not** fall back: a ``jti`` first used before
  the outage is only in Redis, and accepting it again would be exactly the replay the cache is
  there to stop. It fails closed (``StoreUnavailable``), like password sign-in.
* ``delete`` removes the key from both (an interaction saved in the database during the outage and
  updated in Redis afterwards must not come back). One primary-key ``DELETE`` per finished
  sign-in, on a table that is empty outside outages.
* Expired rows are never returned and are deleted by every database write (the table only grows
  during an outage, so the cleanup costs nothing otherwise).
* Each operation that finds Redis unreachable calls ``on_fallback`` (``build_store`` wires it to
  the metric ``idp_store_fallback_total``); a change of state is logged once, not per request.

Values written before the outage stay in Redis, unreachable until it returns: a sign-in that was
half-way through gets a 503 and is retried. An entry updated in the database and later found
older in Redis can only be an *earlier* state of a pending request (a step done again, never
skipped).

Password sign-in does not use the store to decide anything: the throttle has its own Redis
connection and still fails closed (``idp.storage.throttle``). Why not simply run everything on
the database: Redis keeps the hot path (one round trip per code or interaction) off PostgreSQL,
which is the one dependency whose outage stops everything anyway.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from idp.core.errors import StoreUnavailable
from idp.core.ports import Store

log = logging.getLogger(__name__)


class FallbackStore:
    """Redis first, the database while Redis is unreachable (see the module docstring)."""

    def __init__(self, primary: Store, fallback: Store, on_fallback: Callable[[], None] | None = None) -> None:
        self.primary, self.fallback = primary, fallback
        self._on_fallback = on_fallback
        self._degraded = False
        self._lock = threading.Lock()

    def put(self, key: str, value: dict[str, Any], ttl: int) -> None:
        """Redis; the database only when Redis is unreachable."""
        try:
            self.primary.put(key, value, ttl)
        except StoreUnavailable as exc:
            self._down(exc)
            self.fallback.put(key, value, ttl)
        else:
            self._up()

    def add(self, key: str, value: dict[str, Any], ttl: int) -> bool:
        """Redis only: a replay cache must not forget what it saw before the outage (fails closed)."""
        added = self.primary.add(key, value, ttl)
        self._up()
        return added

    def get(self, key: str) -> dict[str, Any] | None:
        """Redis, then the database (see the module docstring for "unknown" versus "absent")."""
        return self._read(self.primary.get, self.fallback.get, key)

    def pop(self, key: str) -> dict[str, Any] | None:
        """Like ``get``, and the value is gone from wherever it was found."""
        return self._read(self.primary.pop, self.fallback.pop, key)

    def delete(self, key: str) -> None:
        """Remove ``key`` from both (an outage may have written a copy to the database)."""
        try:
            self.primary.delete(key)
        except StoreUnavailable as exc:
            self._down(exc)
        self.fallback.delete(key)

    def _read(
        self,
        primary: Callable[[str], dict[str, Any] | None],
        fallback: Callable[[str], dict[str, Any] | None],
        key: str,
    ) -> dict[str, Any] | None:
        try:
            value = primary(key)
        except StoreUnavailable as exc:
            self._down(exc)
            value = fallback(key)
            if value is None:  # it may be in Redis: unknown, not absent
                raise
            return value
        self._up()
        return value if value is not None else fallback(key)

    # One log line per change of state, not one per request.
    def _down(self, exc: Exception) -> None:
        if self._on_fallback is not None:
            self._on_fallback()
        with self._lock:
            changed, self._degraded = not self._degraded, True
        if changed:
            log.error("store: Redis unreachable (%s); short-lived state goes to the database until it is back", exc)

    def _up(self) -> None:
        if not self._degraded:
            return
        with self._lock:
            changed, self._degraded = self._degraded, False
        if changed:
            log.warning("store: Redis reachable again")
