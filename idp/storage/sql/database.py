"""The SQL database: one engine per app, sessions for units of work.

A request's unit of work is ``idp.http.uow`` (one session, committed once); the CLI and background
jobs use ``Database.transaction``. Repositories only add to the session they are given: they never
commit, so a rejected request leaves nothing half-written.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, cast

from sqlalchemy import create_engine, event
from sqlalchemy.engine import CursorResult, Engine, Result
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

log = logging.getLogger(__name__)


_AFTER_COMMIT = "idp_after_commit"


def rowcount(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE matched. ``Session.execute`` is typed as returning a
    ``Result``; for those statements it is a ``CursorResult``, which has the count."""
    return cast(CursorResult[Any], result).rowcount


def after_commit(session: Session, action: Callable[[], object]) -> None:
    """Run ``action`` once the unit of work ``session`` belongs to has committed; forget it if it
    rolls back. How a use case sends the mail that reports a change without ever reporting a change
    that did not happen (use cases never commit themselves)."""
    session.info.setdefault(_AFTER_COMMIT, []).append(action)


def _run_after_commit(session: Session) -> None:
    for action in session.info.pop(_AFTER_COMMIT, []):
        try:
            action()
        except Exception:  # the commit stands; what follows it must not turn it into an error
            log.exception("action after commit failed")


def _forget_after_commit(session: Session) -> None:
    session.info.pop(_AFTER_COMMIT, None)


class Database:
    def __init__(self, url: str, connect_timeout: int = 3) -> None:
        self.engine = make_engine(url, connect_timeout)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        event.listen(self.sessionmaker, "after_commit", _run_after_commit)
        event.listen(self.sessionmaker, "after_soft_rollback", lambda session, _previous: _forget_after_commit(session))
        # Reads on a connection in autocommit: no BEGIN before the query and no ROLLBACK after it,
        # one round trip instead of three on PostgreSQL (psycopg sends BEGIN as a query of its own).
        self.read_sessionmaker = sessionmaker(self.engine.execution_options(isolation_level="AUTOCOMMIT"))
        event.listen(self.read_sessionmaker, "do_orm_execute", _refuse_writes)
        event.listen(self.read_sessionmaker, "before_flush", _refuse_flush)

    def session(self) -> Session:
        return self.sessionmaker()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session in a transaction of its own: committed when the block ends, rolled back if it
        raises. For work outside a request (CLI commands, the mail thread, the back-channel
        deliverer) and for writes that must outlive a failing request (``idp.http.uow.separate``)."""
        with self.sessionmaker() as session:
            try:
                yield session
            except BaseException:
                session.rollback()
                raise
            session.commit()

    def read_session(self) -> Session:
        """A session for a request that only reads: each query on its own, no transaction around it.
        Anything but a SELECT through it raises ``ReadOnlyViolation`` (a write there would commit at
        once, statement by statement, which no unit of work may do)."""
        return self.read_sessionmaker()

    def dispose(self) -> None:
        self.engine.dispose()


class ReadOnlyViolation(RuntimeError):
    """A write through a read-only session: a programming error, never a user's."""


def _refuse_writes(state: Any) -> None:
    if not state.is_select:
        raise ReadOnlyViolation(f"a read-only unit of work tried to run {state.statement.__class__.__name__}")


def _refuse_flush(session: Session, _context: Any, _instances: Any) -> None:
    if session.new or session.dirty or session.deleted:
        raise ReadOnlyViolation("a read-only unit of work tried to flush changes")


def make_engine(url: str, connect_timeout: int = 3) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    # A database that is down must cost a request seconds, not a worker: pool_pre_ping replaces a
    # connection dropped by a restart instead of handing it out; connect_timeout bounds a new
    # connection (libpq's minimum is 2 s); keepalives and tcp_user_timeout (ms) bound a connection
    # whose peer vanished without closing it; pool_timeout bounds the wait for a free connection.
    connect_args = {
        "connect_timeout": connect_timeout,
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 3,
        "keepalives_count": 3,
        "tcp_user_timeout": connect_timeout * 1000,
    }
    engine = create_engine(url, pool_size=5, max_overflow=5, pool_timeout=connect_timeout, connect_args=connect_args)
    _ping_when_idle(engine)
    return engine


PING_AFTER_IDLE_SECONDS = 1.0


def _ping_when_idle(engine: Engine) -> None:
    """``pool_pre_ping``, but only for a connection that sat idle in the pool for a second or more.

    SQLAlchemy's pre-ping costs one extra round trip on every checkout, which was a sixth of a
    token request's time under load (bench/, docs/performance.md). A connection that was in use a
    moment ago is alive (or its failure invalidates the whole pool: SQLAlchemy drops every pooled
    connection on a disconnect error); one that waited longer, e.g. across a database restart, is
    pinged first and replaced if dead (SQLAlchemy retries the checkout on DisconnectionError).
    """

    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi_connection: DBAPIConnection | None, record: ConnectionPoolEntry | None) -> None:
        if record is not None:
            record.info["idp_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(
        dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry, _proxy: PoolProxiedConnection
    ) -> None:
        since = record.info.get("idp_idle_since")
        if since is not None and time.monotonic() - since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            cursor = dbapi_connection.cursor()  # DB-API 2: a cursor need not be a context manager
            try:
                cursor.execute("SELECT 1")
            finally:
                cursor.close()
            dbapi_connection.rollback()
        except Exception as exc:  # any driver error means: not usable, take a fresh one
            raise DisconnectionError(str(exc)) from exc
