"""Database service: one engine per app, one session per request (``get_session``).

A request's session is rolled back at teardown unless the view committed it, so a
rejected request leaves nothing half-written.
"""

from __future__ import annotations

import time

from flask import current_app, g
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker


class Database:
    def __init__(self, url: str, connect_timeout: int = 3):
        self.engine = make_engine(url, connect_timeout)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)

    def session(self) -> Session:
        return self.sessionmaker()

    def dispose(self) -> None:
        self.engine.dispose()


def make_engine(url: str, connect_timeout: int = 3) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
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
    connect_args = {"connect_timeout": connect_timeout, "keepalives": 1, "keepalives_idle": 10,
                    "keepalives_interval": 3, "keepalives_count": 3, "tcp_user_timeout": connect_timeout * 1000}
    engine = create_engine(url, pool_size=5, max_overflow=5, pool_timeout=connect_timeout,
                           connect_args=connect_args)
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
    def _checkin(_dbapi_connection, record):
        if record is not None:
            record.info["idp_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection, record, _proxy):
        since = record.info.get("idp_idle_since")
        if since is not None and time.monotonic() - since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            dbapi_connection.rollback()
        except Exception as exc:  # any driver error means: not usable, take a fresh one
            raise DisconnectionError(str(exc)) from exc


def init_app(app, database: Database | None = None) -> None:
    settings = app.extensions["idp.core.settings"]
    app.extensions["idp.storage.sql.database"] = database or Database(settings.database_url, settings.database_connect_timeout)

    @app.teardown_appcontext
    def _close_session(_exc):
        session = g.pop("idp_db_session", None)
        if session is not None:
            try:
                session.rollback()
                session.close()
            except SQLAlchemyError:  # the connection died (database restart): drop it, never raise here
                session.invalidate()


def get_database(app=None) -> Database:
    return (app or current_app).extensions["idp.storage.sql.database"]


def get_session() -> Session:
    """The current request's session (created on first use)."""
    if "idp_db_session" not in g:
        g.idp_db_session = get_database().session()
    return g.idp_db_session
