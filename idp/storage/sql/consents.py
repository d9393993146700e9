"""Remembered consent, per user, client and scope set."""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from idp.storage.sql.database import rowcount
from idp.storage.sql.models import Client, Consent, Grant


def has_consent(db: Session, user_id: int, client_id: str, scopes: set[str]) -> bool:
    row = db.scalar(select(Consent).where(Consent.user_id == user_id, Consent.client_id == client_id))
    return row is not None and scopes <= set(row.scope.split())


def grant_consent(db: Session, user_id: int, client_id: str, scopes: set[str], now: float) -> None:
    row = db.scalar(select(Consent).where(Consent.user_id == user_id, Consent.client_id == client_id))
    if row is None:
        db.add(Consent(user_id=user_id, client_id=client_id, scope=" ".join(sorted(scopes)), granted_at=now))
    else:
        row.scope = " ".join(sorted(scopes | set(row.scope.split())))
        row.granted_at = now
    db.flush()


def list_consents(db: Session, user_id: int) -> list[tuple[Consent, Client]]:
    """The apps holding the user's consent, newest first."""
    rows = db.execute(
        select(Consent, Client)
        .join(Client, Client.client_id == Consent.client_id)
        .where(Consent.user_id == user_id)
        .order_by(Consent.granted_at.desc())
    )
    return [(consent, client) for consent, client in rows]


def revoke_consent(db: Session, user_id: int, client_id: str) -> bool:
    result = db.execute(delete(Consent).where(Consent.user_id == user_id, Consent.client_id == client_id))
    return rowcount(result) > 0


def signed_in_apps(db: Session, user_id: int, session_ids: list[str]) -> list[tuple[Client, float]]:
    """The apps signed in through one of these provider sessions (a code redeemed under it: the
    ``grants`` row that back-channel logout reads too), with their latest sign-in, newest first.
    Trusted apps of the institution are here without any consent row."""
    if not session_ids:
        return []
    latest = func.max(Grant.created_at)
    rows = db.execute(
        select(Client, latest)
        .join(Grant, Grant.client_id == Client.client_id)
        .where(
            Grant.user_id == user_id,
            Grant.session_id.in_(session_ids),
            Grant.revoked_at.is_(None),
            Client.active.is_(True),
        )
        .group_by(Client.client_id)
        .order_by(latest.desc())
    )
    return [(client, at) for client, at in rows]
