"""Client repository: clients and the RFC 7591 initial access tokens that let app teams register them."""

from __future__ import annotations

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from idp.core.tokens import token_hash
from idp.storage.sql.database import rowcount
from idp.storage.sql.models import Client, InitialAccessToken


def get_client(db: Session, client_id: str) -> Client | None:
    return db.get(Client, client_id)


def list_clients(db: Session) -> list[Client]:
    return list(db.scalars(select(Client).order_by(Client.created_at, Client.client_id)))


def active_clients(db: Session) -> list[Client]:
    return list(db.scalars(select(Client).where(Client.active.is_(True))))


def add_client(db: Session, client: Client) -> Client:
    db.add(client)
    db.flush()
    return client


def delete_client(db: Session, client: Client) -> None:
    """Delete the row; grants, refresh tokens and consents go with it (ON DELETE CASCADE)."""
    db.delete(client)
    db.flush()


def get_client_by_registration_token(db: Session, token: str) -> Client | None:
    return db.scalar(select(Client).where(Client.registration_token_hash == token_hash(token)))


def add_initial_token(db: Session, row: InitialAccessToken) -> InitialAccessToken:
    db.add(row)
    db.flush()
    return row


def find_initial_token(db: Session, token: str, now: float) -> InitialAccessToken | None:
    """A live initial access token (not expired, not revoked), or None."""
    row = db.scalar(select(InitialAccessToken).where(InitialAccessToken.token_hash == token_hash(token)))
    if row is None or row.revoked_at is not None or now >= row.expires_at:
        return None
    return row


def live_initial_tokens(db: Session, now: float) -> list[InitialAccessToken]:
    """The initial access tokens that still work (not expired, not revoked), newest first."""
    query = select(InitialAccessToken).where(
        InitialAccessToken.revoked_at.is_(None), InitialAccessToken.expires_at > now
    )
    return list(db.scalars(query.order_by(InitialAccessToken.id.desc())))


def get_initial_token(db: Session, token_id: int) -> InitialAccessToken | None:
    return db.get(InitialAccessToken, token_id)


def take_initial_token_slot(db: Session, token_id: int) -> bool:
    """Count one registration against the token's quota; False when it is used up.

    A conditional UPDATE, so two concurrent registrations cannot both take the last slot.
    """
    result = db.execute(
        update(InitialAccessToken)
        .where(
            InitialAccessToken.id == token_id,
            or_(
                InitialAccessToken.max_clients.is_(None),
                InitialAccessToken.clients_registered < InitialAccessToken.max_clients,
            ),
        )
        .values(clients_registered=InitialAccessToken.clients_registered + 1)
    )
    return rowcount(result) == 1
