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
* ``pop`` in the database is one ``DELETE … RETURNING`` (SQLite ≥ 3.35 and PostgreSQL): of two
  concurrent callers only one gets the row, so codes issued during the outage stay single-use.
* ``add`` (replay caches, "first use wins") does **not** fall back: a ``jti`` first used before
  the outage is only in Redis, and accepting it again would be exactly the replay the cache is
  there to stop. It fails closed (``StoreUnavailable``), like password sign-in.
* ``delete`` removes the key from both (an interaction saved in the database during the outage and
  updated in Redis afterwards must not come back). One primary-key ``DELETE`` per finished
  sign-in, on a table that is empty outside outages.
* Expired rows are never returned and are deleted by every database write (the table only grows
  during an outage, so the cleanup costs nothing otherwise).

Values written before the outage stay in Redis, unreachable until it returns: a sign-in that was
half-way through gets a 503 and is retried. An entry updated in the database and later found
older in Redis can only be an *earlier* state of a pending request (a step done again, never
skipped).

Password sign-in does not use the store to decide anything: the throttle has its own Redis
connection and still fails closed (``idp.storage.throttle.counter``). Why not simply run everything on
the database: Redis keeps the hot path (one round trip per code or interaction) off PostgreSQL,
which is the one dependency whose outage stops everything anyway.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Callable

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite

from idp.storage.sql.models import StoreEntry
from idp.core.tokens import token_hash
from idp.core.ports import Store
from idp.core.errors import StoreUnavailable

log = logging.getLogger("idp.storage.store.memory")


class DatabaseStore:
    """``put``, ``get``, ``pop`` and ``delete`` on table ``store_fallback``, each call in its own
    transaction (like a Redis command: independent of the request's session, which may roll back).

    Keys are stored as their SHA-256 (keys can be long URIs; none is a secret, but a fixed width
    keeps the primary key small). Expiry uses wall-clock time like Redis TTLs do: callers keep
    their own expiry in the value and check it against the clock service.
    """

    def __init__(self, database, now: Callable[[], float] = time.time):
        self._db, self._now = database, now
        self._insert = postgresql.insert if database.engine.dialect.name == "postgresql" else sqlite.insert

    def put(self, key: str, value: dict, ttl: int) -> None:
        now = self._now()
        row = {"key_hash": token_hash(key), "value": json.dumps(value), "expires_at": now + max(1, int(ttl))}
        stmt = self._insert(StoreEntry).values(**row)
        stmt = stmt.on_conflict_do_update(index_elements=["key_hash"],
                                          set_={"value": row["value"], "expires_at": row["expires_at"]})
        with self._db.engine.begin() as conn:
            self._collect(conn, now)
            conn.execute(stmt)

    def get(self, key: str) -> dict | None:
        with self._db.engine.connect() as conn:
            raw = conn.scalar(select(StoreEntry.value).where(StoreEntry.key_hash == token_hash(key),
                                                             StoreEntry.expires_at > self._now()))
        return None if raw is None else json.loads(raw)

    def pop(self, key: str) -> dict | None:
        stmt = delete(StoreEntry).where(StoreEntry.key_hash == token_hash(key)).returning(
            StoreEntry.value, StoreEntry.expires_at)
        with self._db.engine.begin() as conn:
            row = conn.execute(stmt).first()
        if row is None or row.expires_at <= self._now():
            return None
        return json.loads(row.value)

    def delete(self, key: str) -> None:
        with self._db.engine.begin() as conn:
            conn.execute(delete(StoreEntry).where(StoreEntry.key_hash == token_hash(key)))

    @staticmethod
    def _collect(conn, now: float) -> None:
        conn.execute(delete(StoreEntry).where(StoreEntry.expires_at <= now))


class FallbackStore:
    """Redis first, the database while Redis is unreachable (see the module docstring)."""

    def __init__(self, primary: Store, fallback: DatabaseStore):
        self.primary, self.fallback = primary, fallback
        self._degraded = False
        self._lock = threading.Lock()

    def put(self, key: str, value: dict, ttl: int) -> None:
        try:
            self.primary.put(key, value, ttl)
        except StoreUnavailable as exc:
            self._down(exc)
            self.fallback.put(key, value, ttl)
        else:
            self._up()

    def add(self, key: str, value: dict, ttl: int) -> bool:
        """Redis only: a replay cache must not forget what it saw before the outage (fails closed)."""
        added = self.primary.add(key, value, ttl)
        self._up()
        return added

    def get(self, key: str) -> dict | None:
        return self._read(self.primary.get, self.fallback.get, key)

    def pop(self, key: str) -> dict | None:
        return self._read(self.primary.pop, self.fallback.pop, key)

    def delete(self, key: str) -> None:
        try:
            self.primary.delete(key)
        except StoreUnavailable as exc:
            self._down(exc)
        self.fallback.delete(key)

    def _read(self, primary, fallback, key: str):
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
        from idp.core.metrics import STORE_FALLBACK

        STORE_FALLBACK.inc()
        with self._lock:
            changed, self._degraded = not self._degraded, True
        if changed:
            log.error("store: Redis unreachable (%s); short-lived state goes to the database until it is back",
                      exc)

    def _up(self) -> None:
        if not self._degraded:
            return
        with self._lock:
            changed, self._degraded = self._degraded, False
        if changed:
            log.warning("store: Redis reachable again")
