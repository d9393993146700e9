"""Remembered consent, per user, client and scope set."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import Consent


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
