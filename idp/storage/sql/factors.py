"""Second factors and recovery codes of users (tables ``factors``, ``recovery_codes``)."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from idp.storage.sql.database import rowcount
from idp.storage.sql.models import Factor, RecoveryCode, User

TOTP, PASSKEY = "totp", "passkey"


def list_factors(db: Session, user_id: int, kind: str | None = None) -> list[Factor]:
    query = select(Factor).where(Factor.user_id == user_id)
    if kind is not None:
        query = query.where(Factor.kind == kind)
    return list(db.scalars(query.order_by(Factor.created_at, Factor.id)))


def count_factors(db: Session, user_id: int) -> int:
    return int(db.scalar(select(func.count()).select_from(Factor).where(Factor.user_id == user_id)) or 0)


def get_factor(db: Session, user_id: int, factor_id: str) -> Factor | None:
    """The user's factor ``factor_id``; another user's is not found."""
    return db.scalar(select(Factor).where(Factor.id == factor_id, Factor.user_id == user_id))


def by_credential_id(db: Session, credential_id: str) -> Factor | None:
    return db.scalar(select(Factor).where(Factor.credential_id == credential_id, Factor.kind == PASSKEY))


def advance_step(db: Session, factor_id: str, step: int, now: float) -> bool:
    """Accept TOTP ``step`` only if it is later than the last accepted one: a conditional UPDATE, so of
    two requests racing with the same code only one wins (the replay check that holds across workers)."""
    result = db.execute(
        update(Factor)
        .where(Factor.id == factor_id, (Factor.last_step.is_(None)) | (Factor.last_step < step))
        .values(last_step=step, last_used_at=now)
    )
    return rowcount(result) == 1


def advance_sign_count(db: Session, factor_id: str, stored: int, received: int, now: float, backed_up: bool) -> bool:
    """Record a passkey's use if its signature counter still holds ``stored`` (what the check saw): a
    conditional UPDATE, so of two assertions racing with the same counter only one is taken, and the
    other reads as the cloned-authenticator signal it would be."""
    result = db.execute(
        update(Factor)
        .where(Factor.id == factor_id, Factor.sign_count == stored)
        .values(sign_count=received, backup_state=backed_up, last_used_at=now)
    )
    return rowcount(result) == 1


def remove_all(db: Session, user_id: int) -> int:
    """Every factor and recovery code of the user; returns how many factors went."""
    db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    return rowcount(db.execute(delete(Factor).where(Factor.user_id == user_id)))


def replace_recovery_codes(db: Session, user_id: int, hashes: list[str], now: float) -> None:
    db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    db.add_all(RecoveryCode(user_id=user_id, code_hash=h, created_at=now) for h in hashes)


def delete_recovery_codes(db: Session, user_id: int) -> None:
    db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))


def recovery_codes_left(db: Session, user_id: int) -> int:
    return int(
        db.scalar(
            select(func.count())
            .select_from(RecoveryCode)
            .where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
        )
        or 0
    )


def use_recovery_code(db: Session, user_id: int, code_hash: str, now: float) -> bool:
    """Spend the unused code with this hash (a conditional UPDATE: a code works once, even when raced).
    The hash is looked up by the database; it is a keyed hash of a 50-bit random code, so the lookup's
    timing reveals nothing usable."""
    result = db.execute(
        update(RecoveryCode)
        .where(RecoveryCode.user_id == user_id, RecoveryCode.code_hash == code_hash, RecoveryCode.used_at.is_(None))
        .values(used_at=now)
    )
    return rowcount(result) == 1


def active_users_with_factor_flag(db: Session) -> Iterator[tuple[User, bool]]:
    """Every enabled user with whether they have a second factor (one query, streamed)."""
    has_factor = select(Factor.id).where(Factor.user_id == User.id).exists()
    query = select(User, has_factor).where(User.active.is_(True)).execution_options(yield_per=500)
    for user, enrolled in db.execute(query):
        yield user, bool(enrolled)
