"""Audit trail: append-only rows written in the caller's transaction."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import AuditEvent

# Event types. Later issues add reset, client and key events here.
LOGIN_SUCCESS = "login.success"
LOGIN_FAILURE = "login.failure"
LOGOUT = "logout"
CODE_REPLAY = "token.code_replay"
REFRESH_REUSE = "token.refresh_reuse"
CLIENT_REGISTERED = "client.registered"
CLIENT_UPDATED = "client.updated"
CLIENT_DISABLED = "client.disabled"
CLIENT_ENABLED = "client.enabled"
CLIENT_DELETED = "client.deleted"
CLIENT_SECRET_ROTATED = "client.secret_rotated"
REGISTRATION_TOKEN_ISSUED = "client.registration_token_issued"


def record(db: Session, type: str, *, now: float, user_id: int | None = None, client_id: str | None = None,
           ip: str = "", user_agent: str = "", request_id: str = "", **details) -> AuditEvent:
    """Add an audit event to the current transaction (committed with the change it records)."""
    event = AuditEvent(occurred_at=now, type=type, user_id=user_id, client_id=client_id, ip=ip,
                       user_agent=user_agent[:300], request_id=request_id, details=details)
    db.add(event)
    return event


def list_events(db: Session, *, user_id: int | None = None, type: str | None = None, limit: int = 100,
                client_id: str | None = None, since: float | None = None, until: float | None = None,
                before_id: int | None = None):
    """Newest first. ``before_id`` pages backwards (pass the last id of the previous page)."""
    stmt = select(AuditEvent).order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc()).limit(limit)
    if user_id is not None:
        stmt = stmt.where(AuditEvent.user_id == user_id)
    if type is not None:
        stmt = stmt.where(AuditEvent.type == type)
    if client_id is not None:
        stmt = stmt.where(AuditEvent.client_id == client_id)
    if since is not None:
        stmt = stmt.where(AuditEvent.occurred_at >= since)
    if until is not None:
        stmt = stmt.where(AuditEvent.occurred_at < until)
    if before_id is not None:
        stmt = stmt.where(AuditEvent.id < before_id)
    return list(db.scalars(stmt))
