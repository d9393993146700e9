"""The relying party's own SQLite database: server-side sessions and the logout-token replay cache.

Apps add their content tables to ``Base`` too. The schema is created with ``create_all``: these
are single-file demo databases owned by one app, not the provider's migrated schema.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, Index, String, Text, create_engine, delete, event, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker


class Base(DeclarativeBase):
    pass


class RPSession(Base):
    """One browser's session at this app; the cookie holds a random token, the row its hash."""

    __tablename__ = "rp_sessions"
    __table_args__ = (
        Index("ix_rp_sessions_sid", "sid"),
        Index("ix_rp_sessions_sub", "sub"),
        Index("ix_rp_sessions_last_seen_at", "last_seen_at"),
    )

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[str] = mapped_column(Text, default="{}")
    #: The provider's ``sub`` and ``sid`` from the ID token: what back-channel logout names.
    sub: Mapped[str | None] = mapped_column(String(64))
    sid: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float)
    last_seen_at: Mapped[float] = mapped_column(Float)
    #: Set when the provider told us (back-channel) that the user signed out.
    logged_out_at: Mapped[float | None] = mapped_column(Float)


class UsedLogoutToken(Base):
    """``jti`` of every logout token accepted, until it could no longer be accepted anyway."""

    __tablename__ = "used_logout_tokens"

    jti: Mapped[str] = mapped_column(String(128), primary_key=True)
    expires_at: Mapped[float] = mapped_column(Float)


class RPDatabase:
    def __init__(self, path: str) -> None:
        self.engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(self.engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: object) -> None:
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
            dbapi_connection.execute("PRAGMA busy_timeout=30000")

        Base.metadata.create_all(self.engine)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)

    def session(self) -> Session:
        return self.sessionmaker()

    def dispose(self) -> None:
        self.engine.dispose()


def purge_sessions(db: Session, *, now: float, idle: int, absolute: int) -> None:
    """Delete rows no cookie can revive: idle or too old (logged-out ones included)."""
    db.execute(delete(RPSession).where((RPSession.last_seen_at < now - idle) | (RPSession.created_at < now - absolute)))


def end_sessions(db: Session, *, sub: str | None, sid: str | None, now: float) -> int:
    """Back-channel logout: end the sessions of ``sid`` (or every session of ``sub``)."""
    query = update(RPSession).where(RPSession.logged_out_at.is_(None))
    if sid:
        query = query.where(RPSession.sid == sid)
        if sub:
            query = query.where(RPSession.sub == sub)
    else:
        query = query.where(RPSession.sub == sub)
    return db.execute(query.values(logged_out_at=now, data="{}")).rowcount


def remember_jti(db: Session, jti: str, expires_at: float, now: float) -> bool:
    """Record a logout token's ``jti``; False if it was seen before (a replay)."""
    db.execute(delete(UsedLogoutToken).where(UsedLogoutToken.expires_at < now))
    if db.scalar(select(UsedLogoutToken.jti).where(UsedLogoutToken.jti == jti)) is not None:
        return False
    db.add(UsedLogoutToken(jti=jti, expires_at=expires_at))
    try:
        db.flush()
    except IntegrityError:  # a concurrent request accepted the same token first
        db.rollback()
        return False
    return True
