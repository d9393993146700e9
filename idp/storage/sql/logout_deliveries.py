"""Back-channel logout outbox: which relying parties must hear that a provider session ended.

A client "holds a session" under a provider session (``sid``) once it has redeemed a code
issued under it: the ``grants`` row records the pair, so no second bookkeeping table is needed.
Rows are queued in the transaction that ends the session and delivered afterwards
(``idp.http.protocol.backchannel``).
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from idp.storage.sql.database import rowcount
from idp.storage.sql.models import Client, Grant, LogoutDelivery, User

QUEUED_FLAG = "idp.logout_queued"


def queue_logout(db: Session, session_ids: list[str], now: float) -> int:
    """Queue one logout token per (session, client with a ``backchannel_logout_uri``); returns how many."""
    if not session_ids:
        return 0
    rows = db.execute(
        select(Grant.session_id, Grant.client_id, User.sub, User.id)
        .join(Client, Client.client_id == Grant.client_id)
        .join(User, User.id == Grant.user_id)
        .where(Grant.session_id.in_(session_ids), Client.backchannel_logout_uri.is_not(None), Client.active.is_(True))
        .distinct()
    ).all()
    for session_id, client_id, sub, user_id in rows:
        db.add(
            LogoutDelivery(
                client_id=client_id,
                session_id=session_id,
                sub=sub,
                user_id=user_id,
                created_at=now,
                attempts=0,
                next_attempt_at=now,
                outcome="pending",
                last_error="",
            )
        )
    if rows:
        db.flush()
        db.info[QUEUED_FLAG] = True
    return len(rows)


def due(db: Session, now: float, limit: int = 20) -> list[LogoutDelivery]:
    return list(
        db.scalars(
            select(LogoutDelivery)
            .where(LogoutDelivery.done_at.is_(None), LogoutDelivery.next_attempt_at <= now)
            .order_by(LogoutDelivery.next_attempt_at, LogoutDelivery.id)
            .limit(limit)
        )
    )


def claim(db: Session, row: LogoutDelivery, lease_until: float) -> bool:
    """Take a due row for one attempt (conditional UPDATE: of two workers only one wins)."""
    result = db.execute(
        update(LogoutDelivery)
        .where(
            LogoutDelivery.id == row.id,
            LogoutDelivery.done_at.is_(None),
            LogoutDelivery.next_attempt_at == row.next_attempt_at,
        )
        .values(next_attempt_at=lease_until, attempts=LogoutDelivery.attempts + 1)
        # Leave the loaded row as it was read: the caller counts from its old values.
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


def finish(db: Session, delivery_id: int, *, now: float, outcome: str, error: str = "") -> None:
    db.execute(
        update(LogoutDelivery)
        .where(LogoutDelivery.id == delivery_id)
        .values(done_at=now, outcome=outcome, last_error=error[:300])
    )


def retry_later(db: Session, delivery_id: int, *, at: float, error: str) -> None:
    db.execute(
        update(LogoutDelivery)
        .where(LogoutDelivery.id == delivery_id)
        .values(next_attempt_at=at, last_error=error[:300])
    )


def list_deliveries(db: Session) -> list[LogoutDelivery]:
    return list(db.scalars(select(LogoutDelivery).order_by(LogoutDelivery.id)))
