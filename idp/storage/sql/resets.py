"""Single-use e-mailed links: password reset, invitation and device approval.

One table (``password_reset_tokens``) and one mechanism for all three: 256-bit tokens stored only
as their SHA-256, an expiry, single use, and superseded by a newer link *of the same family*.
The families are kept apart so that a link asked for by someone else (anyone can ask for a
device-approval link for any account) never voids the owner's pending password reset, and so a
token of one family is ``unknown`` to the page of another: a device-approval link cannot set a
password.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from idp.core.tokens import new_token, token_hash
from idp.storage.sql.database import rowcount
from idp.storage.sql.models import PasswordResetToken, User

#: Links that lead to the choose-a-password page (``/password/reset``).
PASSWORD_PURPOSES = ("reset", "invite")
#: Links that approve a browser as a known device (``/login/device``).
DEVICE_PURPOSES = ("device",)
_FAMILIES = {purpose: family for family in (PASSWORD_PURPOSES, DEVICE_PURPOSES) for purpose in family}


@dataclass(frozen=True)
class AskedFrom:
    """The sign-in a link was asked for in: its pending interaction, and the app it came from (client
    and redirect URI), to go back to after the link is used."""

    interaction_id: str | None = None
    client_id: str | None = None
    redirect_uri: str | None = None


@dataclass
class LinkState:
    """What a presented token is: ``valid``, ``expired``, ``used``, ``superseded`` or ``unknown``."""

    status: str
    row: PasswordResetToken | None = None
    user: User | None = None


def issue(
    db: Session,
    user_id: int,
    *,
    now: float,
    lifetime: int,
    purpose: str = "reset",
    asked_from: AskedFrom | None = None,
    mailed_to: str | None = None,
) -> str:
    """A new link token for the user (256-bit, only its hash stored); every earlier unused link of
    the same family (``PASSWORD_PURPOSES`` or ``DEVICE_PURPOSES``) becomes void. ``mailed_to``: the
    address it is e-mailed to (None when the helpdesk hands it over)."""
    supersede_all(db, user_id, now, purposes=_FAMILIES[purpose])
    asked_from = asked_from or AskedFrom()
    token = new_token()
    db.add(
        PasswordResetToken(
            token_hash=token_hash(token),
            user_id=user_id,
            purpose=purpose,
            created_at=now,
            expires_at=now + lifetime,
            interaction_id=asked_from.interaction_id,
            return_client_id=asked_from.client_id,
            return_redirect_uri=asked_from.redirect_uri,
            mailed_to=mailed_to,
        )
    )
    db.flush()
    return token


def supersede_all(db: Session, user_id: int, now: float, *, purposes: tuple[str, ...] | None = None) -> None:
    """Void every unused link of a user (of the given purposes; all when None: a successful reset,
    a password change, disabling the account)."""
    stmt = update(PasswordResetToken).where(
        PasswordResetToken.user_id == user_id,
        PasswordResetToken.used_at.is_(None),
        PasswordResetToken.superseded_at.is_(None),
    )
    if purposes is not None:
        stmt = stmt.where(PasswordResetToken.purpose.in_(purposes))
    db.execute(stmt.values(superseded_at=now))


def inspect(db: Session, token: str, now: float, *, purposes: tuple[str, ...] = PASSWORD_PURPOSES) -> LinkState:
    """Look a presented token up by its hash (the lookup of a 256-bit value's hash needs no
    constant-time compare: the database never sees the token) and say what it is. A token of
    another family is ``unknown``: the page that asked does not take that kind of link."""
    if not token or len(token) > 100:
        return LinkState("unknown")
    row = db.scalar(select(PasswordResetToken).where(PasswordResetToken.token_hash == token_hash(token)))
    if row is None or row.purpose not in purposes:
        return LinkState("unknown")
    user = db.get(User, row.user_id)
    if user is None or not user.active:
        return LinkState("unknown", row)
    if row.used_at is not None:
        return LinkState("used", row, user)
    if row.superseded_at is not None:
        return LinkState("superseded", row, user)
    if now >= row.expires_at:
        return LinkState("expired", row, user)
    return LinkState("valid", row, user)


def proves_address(row: PasswordResetToken, user: User) -> bool:
    """A completed link proves the user reads the address it was e-mailed to, if that is still theirs."""
    return row.mailed_to is not None and row.mailed_to == user.email_norm


def consume(db: Session, row: PasswordResetToken, now: float) -> bool:
    """Mark a link used, atomically: False if a concurrent request used or voided it first."""
    result = db.execute(
        update(PasswordResetToken)
        .where(
            PasswordResetToken.id == row.id,
            PasswordResetToken.used_at.is_(None),
            PasswordResetToken.superseded_at.is_(None),
        )
        .values(used_at=now)
    )
    return rowcount(result) == 1
