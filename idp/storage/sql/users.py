"""User repository: lookups by normalised registration number or e-mail."""

from __future__ import annotations

import uuid

from sqlalchemy import false, or_, select
from sqlalchemy.orm import Session

from idp.core.errors import UserExists
from idp.core.roles import ROLES as ROLES  # re-exported: user_repo.ROLES
from idp.storage.sql.models import User


def normalize_registration_number(value: str) -> str:
    return value.strip().upper()


def normalize_email(value: str | None) -> str | None:
    value = (value or "").strip()
    return value.lower() or None


def get_user_by_login(db: Session, login: str) -> User | None:
    """The user whose registration number or e-mail matches ``login`` (case-insensitive, trimmed)."""
    login = login.strip()
    if not login:
        return None
    return db.scalar(
        select(User)
        .where(
            or_(
                User.registration_number_norm == normalize_registration_number(login),
                User.email_norm == normalize_email(login),
            )
        )
        .limit(1)
    )


def get_user(db: Session, user_id: int) -> User | None:
    return db.get(User, user_id)


def create_user(
    db: Session,
    *,
    registration_number: str,
    email: str | None,
    name: str,
    role: str,
    password_hash: str | None,
    now: float,
    email_verified: bool = False,
) -> User:
    """Add a user to the session; raises ``UserExists`` on a duplicate registration number or e-mail."""
    reg_norm = normalize_registration_number(registration_number)
    email_norm = normalize_email(email)
    clash = select(User).where(
        or_(User.registration_number_norm == reg_norm, (User.email_norm == email_norm) if email_norm else false())
    )
    if db.scalar(clash.limit(1)) is not None:
        raise UserExists("a user with this registration number or e-mail already exists")
    user = User(
        sub=str(uuid.uuid4()),
        registration_number=registration_number.strip(),
        registration_number_norm=reg_norm,
        email=(email or "").strip() or None,
        email_norm=email_norm,
        email_verified=bool(email_verified and email_norm),
        display_name=name.strip(),
        role=role,
        active=True,
        password_hash=password_hash,
        created_at=now,
        password_changed_at=now if password_hash else None,
    )
    db.add(user)
    db.flush()
    return user


def set_email(db: Session, user: User, email: str | None, *, verified: bool = False) -> bool:
    """Give the user another address (or none); a new address is unverified unless ``verified``.
    Raises ``UserExists`` if another user has it; returns False (nothing changed) if it is the same."""
    email_norm = normalize_email(email)
    if email_norm == user.email_norm:
        return False
    if email_norm and db.scalar(select(User.id).where(User.email_norm == email_norm, User.id != user.id)) is not None:
        raise UserExists("a user with this e-mail already exists")
    user.email, user.email_norm = (email or "").strip() or None, email_norm
    user.email_verified = bool(verified and email_norm)
    db.flush()
    return True


def set_password_hash(db: Session, user: User, password_hash: str, now: float) -> None:
    user.password_hash = password_hash
    user.password_changed_at = now
    db.flush()


def set_locale(db: Session, user: User, locale: str | None) -> bool:
    """Remember the user's language; True when it changed."""
    if user.locale == locale:
        return False
    user.locale = locale
    db.flush()
    return True


def list_users(db: Session, *, query: str | None = None, limit: int = 50, after_id: int | None = None) -> list[User]:
    """Users in id order; ``query`` matches the start of the registration number or e-mail."""
    stmt = select(User).order_by(User.id).limit(limit)
    if query:
        q = query.strip()
        stmt = stmt.where(
            or_(
                User.registration_number_norm.startswith(normalize_registration_number(q), autoescape=True),
                User.email_norm.startswith(q.lower(), autoescape=True),
            )
        )
    if after_id is not None:
        stmt = stmt.where(User.id > after_id)
    return list(db.scalars(stmt))


def get_user_by_sub(db: Session, sub: str) -> User | None:
    return db.scalar(select(User).where(User.sub == sub))
