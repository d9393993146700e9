"""Provider browser sessions (single sign-on): the rows. Ending one and what follows from it is
``idp.domain.sessions``."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from idp.core.tokens import new_id, new_token, token_hash
from idp.storage.sql.database import rowcount
from idp.storage.sql.models import BrowserSession, User


def start_session(
    db: Session, *, user_id: int, amr: list[str], now: float, idle: int, absolute: int, ip: str, user_agent: str
) -> tuple[BrowserSession, str]:
    """Create a session; returns it and the cookie value (the only copy of the credential)."""
    token = new_token()
    row = BrowserSession(
        id=new_id(),
        token_hash=token_hash(token),
        user_id=user_id,
        auth_time=now,
        amr=amr,
        created_at=now,
        last_seen_at=now,
        expires_at=now + absolute,
        ip=ip,
        user_agent=user_agent[:300],
    )
    db.add(row)
    db.flush()
    return row, token


def find_active_session(db: Session, token: str, *, now: float, idle: int) -> tuple[BrowserSession, User] | None:
    """The live session for a cookie value (not ended, not past its absolute or idle limit) and its
    user, in one SELECT: every request that checks the browser's session, ``/authorize`` above all,
    paid two round trips for the pair."""
    found = db.execute(
        select(BrowserSession, User)
        .join(User, User.id == BrowserSession.user_id)
        .where(BrowserSession.token_hash == token_hash(token))
    ).first()
    if found is None:
        return None
    row, user = found
    if row.ended_at is not None or now >= row.expires_at or now - row.last_seen_at >= idle:
        return None
    return row, user


def touch(db: Session, row: BrowserSession, now: float) -> bool:
    """Record activity; written at most once a minute to keep the hot path read-only."""
    if now - row.last_seen_at < 60:
        return False
    row.last_seen_at = now
    return True


def end_session(db: Session, session_id: str, now: float) -> bool:
    """Mark one session ended; False if it had already ended (or does not exist)."""
    result = db.execute(
        update(BrowserSession)
        .where(BrowserSession.id == session_id, BrowserSession.ended_at.is_(None))
        .values(ended_at=now)
    )
    return bool(rowcount(result))


def end_user_sessions(
    db: Session, user_id: int, now: float, *, except_session_id: str | None = None, only_session_id: str | None = None
) -> list[str]:
    """Mark every live session of a user ended (or all but one, or just one); returns their ids."""
    query = select(BrowserSession.id).where(BrowserSession.user_id == user_id, BrowserSession.ended_at.is_(None))
    if except_session_id is not None:
        query = query.where(BrowserSession.id != except_session_id)
    if only_session_id is not None:
        query = query.where(BrowserSession.id == only_session_id)
    ids = list(db.scalars(query))
    if ids:
        db.execute(update(BrowserSession).where(BrowserSession.id.in_(ids)).values(ended_at=now))
    return ids
