"""How a client is used (the console's client page, ``GET /admin/api/clients/{id}/usage``): each figure
is one bounded SQL aggregate, never rows read into Python."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from idp.storage.sql import audit
from idp.storage.sql.models import AuditEvent, BrowserSession, Grant, RefreshToken

#: The window of ``errors``: the last 24 hours.
ERROR_WINDOW = 86400


@dataclass(frozen=True)
class Usage:
    #: When a token was last issued to the client for a user (a code exchanged or a refresh token
    #: rotated); None if never. client_credentials tokens are self-contained and leave no row.
    last_token_at: float | None
    #: Live provider sessions (not ended, within their absolute and idle limits) under which the
    #: client holds a grant that is not revoked.
    active_sessions: int
    #: Error events about the client (``audit.CLIENT_ERRORS``) of the last 24 hours, by type.
    errors: dict[str, int]


def usage(db: Session, client_id: str, *, now: float, idle: int, session_max: int) -> Usage:
    """``idle`` and ``session_max``: the provider session's idle and absolute limits (a grant under a live
    session is younger than ``session_max``, which bounds what is read)."""
    last_grant = select(func.max(Grant.created_at)).where(Grant.client_id == client_id).scalar_subquery()
    last_refresh = (  # through the client's grants (indexed), not a scan of every refresh token
        select(func.max(RefreshToken.issued_at))
        .join(Grant, Grant.id == RefreshToken.grant_id)
        .where(Grant.client_id == client_id)
        .scalar_subquery()
    )
    newest = [t for t in db.execute(select(last_grant, last_refresh)).one() if t is not None]
    sessions = db.scalar(
        select(func.count(func.distinct(BrowserSession.id)))
        .select_from(Grant)
        .join(BrowserSession, BrowserSession.id == Grant.session_id)
        .where(
            Grant.client_id == client_id,
            Grant.revoked_at.is_(None),
            Grant.created_at > now - session_max,
            BrowserSession.ended_at.is_(None),
            BrowserSession.expires_at > now,
            BrowserSession.last_seen_at > now - idle,
        )
    )
    errors = db.execute(
        select(AuditEvent.type, func.count())
        .where(
            AuditEvent.client_id == client_id,
            AuditEvent.occurred_at >= now - ERROR_WINDOW,
            AuditEvent.type.in_(audit.CLIENT_ERRORS),
        )
        .group_by(AuditEvent.type)
    ).all()
    return Usage(
        last_token_at=max(newest) if newest else None,
        active_sessions=int(sessions or 0),
        errors={kind: int(count) for kind, count in sorted(errors)},
    )
