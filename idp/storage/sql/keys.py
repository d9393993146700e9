"""Signing-key rows (``signing_keys``): storage only; the lifecycle rules are in ``idp.domain.keys.lifecycle``."""

from __future__ import annotations

from sqlalchemy import delete, false, select, text, update
from sqlalchemy.orm import Session

from idp.storage.sql.models import StoredKey

#: pg_advisory_xact_lock id for key-set changes ("SPOMKEYS" in ASCII, as a 64-bit integer).
_PG_LOCK_ID = 0x53504F4D4B455953


def lock(db: Session) -> None:
    """Serialise key-set changes across processes and hosts until the transaction ends.

    PostgreSQL: a transaction-scoped advisory lock. SQLite: a write statement as the first
    statement takes the database's write lock (waiting up to ``busy_timeout``), so later
    reads in the transaction see every committed change and no other writer can interleave.
    Call it before reading the rows a change depends on.
    """
    if db.get_bind().dialect.name == "postgresql":
        db.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_LOCK_ID})
    else:
        db.execute(update(StoredKey).where(false()).values(state=StoredKey.state))


def list_keys(db: Session) -> list[StoredKey]:
    """Every stored key, oldest first per algorithm family, freshly read (not from the identity map)."""
    stmt = select(StoredKey).order_by(StoredKey.alg, StoredKey.created_at, StoredKey.kid)
    return list(db.scalars(stmt.execution_options(populate_existing=True)))


def get_key(db: Session, kid: str) -> StoredKey | None:
    return db.get(StoredKey, kid, populate_existing=True)


def add_key(db: Session, row: StoredKey) -> StoredKey:
    db.add(row)
    db.flush()
    return row


def delete_keys(db: Session, kids: list[str]) -> None:
    if kids:
        db.execute(delete(StoredKey).where(StoredKey.kid.in_(kids)))
