"""Database store (``DatabaseStore``): the store on table ``store_fallback`` (SQLite ≥ 3.35 or PostgreSQL).

It backs ``idp.storage.store.fallback.FallbackStore`` while Redis is unreachable, and is a
complete ``idp.core.ports.Store`` on its own. Each call runs in its own transaction, like a Redis
command: independent of the request's session, which may roll back.

* ``pop`` is one ``DELETE … RETURNING``: of two concurrent callers only one gets the row.
* ``add`` is one ``INSERT … ON CONFLICT DO UPDATE … WHERE expires_at <= now RETURNING``: it
  writes when the key is absent or its row has expired (an expired row counts as absent) and
  returns a row only then, so of two concurrent callers exactly one sees True. (Not ``DO
  NOTHING``: the statement itself treats an expired row as absent, whether or not the cleanup
  below has removed it yet.)
* Expired rows are never returned and are deleted by every write (the table only grows during an
  outage, so the cleanup costs nothing otherwise).

Keys are stored as their SHA-256 (keys can be long URIs; none is a secret, but a fixed width
keeps the primary key small).

Time: expiry is computed from ``now``, a callable returning POSIX seconds (default ``time.time``;
``build_store`` passes the app's clock), so every backend that computes expiry in Python uses the
same clock and tests move it. The TTL is garbage collection only: callers keep their own expiry
in the value and check it against the clock service.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from idp.core.ports import Database
from idp.core.tokens import token_hash
from idp.storage.sql.models import StoreEntry


class DatabaseStore:
    """``idp.core.ports.Store`` on table ``store_fallback`` (see the module docstring)."""

    def __init__(self, database: Database, now: Callable[[], float] = time.time) -> None:
        self._db, self._now = database, now
        self._postgresql = database.engine.dialect.name == "postgresql"

    def put(self, key: str, value: dict[str, Any], ttl: int) -> None:
        """Save ``value`` under ``key`` for ``ttl`` seconds (at least one), replacing any earlier value."""
        now = self._now()
        stmt = self._upsert(key, value, ttl, now)
        stmt = stmt.on_conflict_do_update(index_elements=["key_hash"], set_=_replacement(stmt))
        with self._db.engine.begin() as conn:
            self._collect(conn, now)
            conn.execute(stmt)

    def add(self, key: str, value: dict[str, Any], ttl: int) -> bool:
        """Save ``value`` only if ``key`` holds no live value; False if it does (one statement)."""
        now = self._now()
        insert = self._upsert(key, value, ttl, now)
        stmt = insert.on_conflict_do_update(
            index_elements=["key_hash"], set_=_replacement(insert), where=StoreEntry.expires_at <= now
        ).returning(StoreEntry.key_hash)
        with self._db.engine.begin() as conn:
            self._collect(conn, now)
            return conn.execute(stmt).first() is not None

    def get(self, key: str) -> dict[str, Any] | None:
        """The live value under ``key``, or None."""
        with self._db.engine.connect() as conn:
            raw = conn.scalar(
                select(StoreEntry.value).where(
                    StoreEntry.key_hash == token_hash(key), StoreEntry.expires_at > self._now()
                )
            )
        return None if raw is None else json.loads(raw)

    def pop(self, key: str) -> dict[str, Any] | None:
        """Delete ``key`` and return its live value (None if absent or expired), atomically."""
        stmt = (
            delete(StoreEntry)
            .where(StoreEntry.key_hash == token_hash(key))
            .returning(StoreEntry.value, StoreEntry.expires_at)
        )
        with self._db.engine.begin() as conn:
            row = conn.execute(stmt).first()
        if row is None or row.expires_at <= self._now():
            return None
        return json.loads(row.value)

    def delete(self, key: str) -> None:
        """Remove ``key`` if present."""
        with self._db.engine.begin() as conn:
            conn.execute(delete(StoreEntry).where(StoreEntry.key_hash == token_hash(key)))

    def _upsert(self, key: str, value: dict[str, Any], ttl: int, now: float) -> postgresql.Insert | sqlite.Insert:
        insert = postgresql.insert if self._postgresql else sqlite.insert
        return insert(StoreEntry).values(
            key_hash=token_hash(key), value=json.dumps(value), expires_at=now + max(1, int(ttl))
        )

    @staticmethod
    def _collect(conn: Connection, now: float) -> None:
        conn.execute(delete(StoreEntry).where(StoreEntry.expires_at <= now))


def _replacement(stmt: postgresql.Insert | sqlite.Insert) -> dict[str, Any]:
    """The columns an upsert overwrites: the proposed row's (``excluded``)."""
    return {"value": stmt.excluded.value, "expires_at": stmt.excluded.expires_at}
