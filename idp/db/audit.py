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
PASSWORD_RESET_REQUESTED = "password.reset_requested"
PASSWORD_RESET_LINK = "password.reset_link_issued"
PASSWORD_RESET = "password.reset"
PASSWORD_CHANGED = "password.changed"
SESSIONS_ENDED = "session.ended_by_user"
CONSENT_REVOKED = "consent.revoked"
USER_DISABLED = "user.disabled"
USER_ENABLED = "user.enabled"
USER_IMPORTED = "user.imported"
BACKCHANNEL_DELIVERED = "logout.backchannel_delivered"
BACKCHANNEL_FAILED = "logout.backchannel_failed"


def record(db: Session, type: str, *, now: float, user_id: int | None = None, client_id: str | None = None,
           ip: str = "", user_agent: str = "", request_id: str = "", **details) -> AuditEvent:
    """Add an audit event to the current transaction (committed with the change it records)."""
    event = AuditEvent(occurred_at=now, type=type, user_id=user_id, client_id=client_id, ip=ip,
                       user_agent=user_agent[:300], request_id=request_id, details=details)
    db.add(event)
    return event


def list_events(db: Session, *, user_id: int | None = None, type: str | None = None, limit: int = 100):
    stmt = select(AuditEvent).order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc()).limit(limit)
    if user_id is not None:
        stmt = stmt.where(AuditEvent.user_id == user_id)
    if type is not None:
        stmt = stmt.where(AuditEvent.type == type)
    return list(db.scalars(stmt))


def recent_sign_ins(db: Session, user_id: int, limit: int = 10) -> list[AuditEvent]:
    """The user's latest sign-in attempts (successes and failures), newest first."""
    stmt = (select(AuditEvent).where(AuditEvent.user_id == user_id,
                                     AuditEvent.type.in_((LOGIN_SUCCESS, LOGIN_FAILURE)))
            .order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc()).limit(limit))
    return list(db.scalars(stmt))
