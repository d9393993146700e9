"""Provider browser sessions (single sign-on)."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from idp.core.tokens import new_id, new_token, token_hash
from idp.storage.sql.logout_deliveries import queue_logout
from idp.storage.sql.models import BrowserSession


def start_session(db: Session, *, user_id: int, amr: list[str], now: float, idle: int, absolute: int,
                  ip: str, user_agent: str) -> tuple[BrowserSession, str]:
    """Create a session; returns it and the cookie value (the only copy of the credential)."""
    token = new_token()
    row = BrowserSession(id=new_id(), token_hash=token_hash(token), user_id=user_id, auth_time=now, amr=amr,
                         created_at=now, last_seen_at=now, expires_at=now + absolute, ip=ip,
                         user_agent=user_agent[:300])
    db.add(row)
    db.flush()
    return row, token


def find_active_session(db: Session, token: str, *, now: float, idle: int) -> BrowserSession | None:
    """The live session for a cookie value: not ended, not past its absolute or idle limit."""
    row = db.scalar(select(BrowserSession).where(BrowserSession.token_hash == token_hash(token)))
    if row is None or row.ended_at is not None:
        return None
    if now >= row.expires_at or now - row.last_seen_at >= idle:
        return None
    return row


def touch(db: Session, row: BrowserSession, now: float) -> bool:
    """Record activity; written at most once a minute to keep the hot path read-only."""
    if now - row.last_seen_at < 60:
        return False
    row.last_seen_at = now
    return True


def end_session(db: Session, session_id: str, now: float) -> None:
    """End one session and, in the same transaction, queue back-channel logout for its relying parties."""
    result = db.execute(update(BrowserSession)
                        .where(BrowserSession.id == session_id, BrowserSession.ended_at.is_(None))
                        .values(ended_at=now))
    if result.rowcount:
        queue_logout(db, [session_id], now)


def end_user_sessions(db: Session, user_id: int, now: float, *, except_session_id: str | None = None,
                      only_session_id: str | None = None) -> list[str]:
    """End every live session of a user (password reset, disable, "sign out everywhere"), or
    just one of them (``only_session_id``, "sign out that device" on the account page).

    Back-channel logout for every relying party under them is queued in the same transaction.
    Returns the ids of the sessions ended."""
    query = select(BrowserSession.id).where(BrowserSession.user_id == user_id, BrowserSession.ended_at.is_(None))
    if except_session_id is not None:
        query = query.where(BrowserSession.id != except_session_id)
    if only_session_id is not None:
        query = query.where(BrowserSession.id == only_session_id)
    ids = list(db.scalars(query))
    if ids:
        db.execute(update(BrowserSession).where(BrowserSession.id.in_(ids)).values(ended_at=now))
        queue_logout(db, ids, now)
    return ids
