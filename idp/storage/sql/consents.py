"""Remembered consent, per user, client and scope set."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from idp.storage.sql.database import rowcount
from idp.storage.sql.models import Client, Consent


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
