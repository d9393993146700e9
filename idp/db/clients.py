"""Client repository."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import Client


def get_client(db: Session, client_id: str) -> Client | None:
    return db.get(Client, client_id)


def list_clients(db: Session) -> list[Client]:
    return list(db.scalars(select(Client).order_by(Client.created_at)))


def add_client(db: Session, client: Client) -> Client:
    db.add(client)
    db.flush()
    return client
