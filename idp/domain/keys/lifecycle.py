"""Signing-key lifecycle rules: next → current → retired → removed, or revoked.

For every key family in use there is exactly one ``current`` key (it signs) and one
``next`` key (published so relying parties cache it before it signs). Every change runs
in the caller's transaction after ``keys.lock`` and re-reads the rows under the lock, so
many processes or hosts asking for the same change at the same moment make it once; the
partial unique indexes on ``signing_keys`` are the backstop. The caller commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from idp.core.errors import KeyLifecycleError, PublicationPeriodError
from idp.core.tokens import new_id
from idp.domain import sessions
from idp.domain.keys import material as keycrypto
from idp.storage.sql import audit
from idp.storage.sql import keys as key_repo
from idp.storage.sql.models import Grant, RefreshToken, StoredKey

if TYPE_CHECKING:
    from idp.core.settings import Settings

PUBLISHED_STATES = ("next", "current", "retired")


@dataclass(frozen=True)
class Policy:
    passphrase: str
    #: A next key must be published this long before it may sign (manual rotation can force).
    publication_seconds: int
    #: Scheduled rotation period; 0 = rotate only by command.
    rotation_seconds: int
    #: Retired keys stay published this long: the longest token lifetime plus clock skew.
    retention_seconds: int

    @classmethod
    def from_settings(cls, s: Settings) -> Policy:
        return cls(
            passphrase=s.keys.passphrase,
            publication_seconds=s.keys.publication_seconds,
            rotation_seconds=s.keys.rotation_days * 86400,
            retention_seconds=max(s.tokens.access_token_seconds, s.tokens.id_token_seconds) + s.keys.clock_skew_seconds,
        )


def create_key(db: Session, family: str, state: str, now: float, policy: Policy) -> StoredKey:
    private = keycrypto.generate(family)
    kid = new_id()
    row = StoredKey(
        kid=kid,
        alg=family,
        state=state,
        created_at=now,
        activated_at=now if state == "current" else None,
        public_jwk=keycrypto.public_jwk(kid, family, private),
        private_key=keycrypto.encrypt(private, policy.passphrase),
    )
    return key_repo.add_key(db, row)


def ensure(db: Session, families: Iterable[str], now: float, policy: Policy) -> list[StoredKey]:
    """Create the missing current and next keys of ``families`` (``idp init``, first use)."""
    key_repo.lock(db)
    rows = key_repo.list_keys(db)
    created = []
    for family in families:
        for state in ("current", "next"):
            if not any(r.alg == family and r.state == state for r in rows):
                created.append(create_key(db, family, state, now, policy))
    return created


def rotate(
    db: Session,
    family: str,
    now: float,
    policy: Policy,
    *,
    force: bool = False,
    trigger: str = "command",
    audit_fields: dict[str, Any] | None = None,
) -> StoredKey:
    """Promote next to current, retire the old current, create a new next: one transaction.
    ``audit_fields`` add to the ``key.rotated`` event (who asked: ``source``)."""
    key_repo.lock(db)
    rows = [r for r in key_repo.list_keys(db) if r.alg == family]
    current = next((r for r in rows if r.state == "current"), None)
    upcoming = next((r for r in rows if r.state == "next"), None)
    if current is None or upcoming is None:
        raise KeyLifecycleError(f"no {family} keys to rotate: that algorithm is not in use (see `idp keys list`)")
    age = now - upcoming.created_at
    if not force and age < policy.publication_seconds:
        raise PublicationPeriodError(
            f"next {family} key {upcoming.kid} has been published for {int(age)}s only; relying parties may not "
            f"have it before IDP_KEY_PUBLICATION_SECONDS={policy.publication_seconds}s (use --force in an emergency)",
            family=family,
            kid=upcoming.kid,
            ready_at=upcoming.created_at + policy.publication_seconds,
        )
    _promote(db, current, upcoming, now, policy, state="retired")
    audit.record(
        db,
        audit.KEY_ROTATED,
        now=now,
        **(audit_fields or {}),
        alg=family,
        retired=current.kid,
        current=upcoming.kid,
        trigger=trigger,
    )
    return upcoming


def _promote(
    db: Session, old: StoredKey | None, upcoming: StoredKey, now: float, policy: Policy, *, state: str
) -> None:
    """``old`` leaves current for ``state``; ``upcoming`` signs; a new next key is made."""
    if old is not None:
        old.state, old.retired_at = state, old.retired_at or now
        db.flush()  # free the one-current slot before taking it (partial unique index)
    upcoming.state, upcoming.activated_at = "current", now
    db.flush()
    create_key(db, upcoming.alg, "next", now, policy)


def revoke(
    db: Session,
    kid: str,
    now: float,
    policy: Policy,
    *,
    reason: str,
    end_sessions: bool = False,
    audit_fields: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Emergency: withdraw a key at once. A revoked current key is replaced by the next key
    (no publication wait: the old one must stop signing now) and a revoked next key by a new one."""
    if not reason.strip():
        raise KeyLifecycleError("a reason is required (--reason)")
    key_repo.lock(db)
    row = key_repo.get_key(db, kid)
    if row is None:
        raise KeyLifecycleError(f"no signing key with kid {kid!r}")
    if row.state == "revoked":
        raise KeyLifecycleError(f"key {kid} is already revoked")
    was = row.state
    row.state, row.revoked_at, row.private_key = "revoked", now, ""
    row.retired_at = row.retired_at or now
    db.flush()
    if was == "current":
        upcoming = next((r for r in key_repo.list_keys(db) if r.alg == row.alg and r.state == "next"), None)
        if upcoming is None:  # only if someone deleted it by hand: sign with a brand-new key
            upcoming = create_key(db, row.alg, "next", now, policy)
        _promote(db, None, upcoming, now, policy, state="retired")
    elif was == "next":
        create_key(db, row.alg, "next", now, policy)
    ended = _end_affected_sessions(db, row, now) if end_sessions else []
    audit.record(
        db,
        audit.KEY_REVOKED,
        now=now,
        **(audit_fields or {}),
        kid=kid,
        alg=row.alg,
        previous_state=was,
        reason=reason.strip()[:500],
        sessions_ended=len(ended),
    )
    return {"kid": kid, "alg": row.alg, "previous_state": was, "sessions_ended": len(ended)}


def _end_affected_sessions(db: Session, row: StoredKey, now: float) -> list[str]:
    """End every session of users who obtained tokens while the key was signing."""
    if row.activated_at is None:
        return []  # a next key never signed anything
    start, end = row.activated_at, row.retired_at or now
    refreshed = select(RefreshToken.grant_id).where(RefreshToken.issued_at.between(start, end))
    users = db.scalars(
        select(Grant.user_id).distinct().where(Grant.created_at.between(start, end) | Grant.id.in_(refreshed))
    )
    return [sid for user_id in list(users) for sid in sessions.end_user_sessions(db, user_id, now)]


def removal_time(row: StoredKey, policy: Policy) -> float | None:
    """When a retired or revoked key is deleted: nothing it signed can still be valid."""
    if row.state not in ("retired", "revoked"):
        return None
    return (row.retired_at or row.revoked_at or row.created_at) + policy.retention_seconds


def rotation_time(row: StoredKey, policy: Policy) -> float | None:
    """When a current key is due for scheduled rotation (None without a schedule)."""
    if row.state != "current" or not policy.rotation_seconds:
        return None
    return (row.activated_at or row.created_at) + policy.rotation_seconds


def due(rows: Sequence[StoredKey], families: Iterable[str], now: float, policy: Policy) -> bool:
    """Whether ``maintain`` has anything to do: a cheap check on rows already read."""
    for family in families:
        mine = [r for r in rows if r.alg == family]
        if not any(r.state == "current" for r in mine) or not any(r.state == "next" for r in mine):
            return True
    return any(_rotation_ready(r, rows, now, policy) or (removal_time(r, policy) or now + 1) <= now for r in rows)


def _rotation_ready(row: StoredKey, rows: Sequence[StoredKey], now: float, policy: Policy) -> bool:
    when = rotation_time(row, policy)
    if when is None or when > now:
        return False
    upcoming = next((r for r in rows if r.alg == row.alg and r.state == "next"), None)
    return upcoming is not None and now - upcoming.created_at >= policy.publication_seconds


def maintain(db: Session, families: Iterable[str], now: float, policy: Policy) -> dict[str, list[str]]:
    """Create missing keys, rotate keys whose schedule has come, delete keys past retention.

    Safe to run from every process and host at once: the work is decided under the lock."""
    created = ensure(db, families, now, policy)
    rows = key_repo.list_keys(db)
    rotated = [
        rotate(db, r.alg, now, policy, trigger="schedule").kid for r in rows if _rotation_ready(r, rows, now, policy)
    ]
    expired = [r for r in key_repo.list_keys(db) if (removal_time(r, policy) or now + 1) <= now]
    for r in expired:
        audit.record(db, audit.KEY_REMOVED, now=now, kid=r.kid, alg=r.alg, state=r.state)
    key_repo.delete_keys(db, [r.kid for r in expired])
    return {"created": [r.kid for r in created], "rotated": rotated, "removed": [r.kid for r in expired]}


def describe(row: StoredKey, policy: Policy) -> dict[str, Any]:
    """The operator's view of a key (``idp keys list --json``): never any private material."""
    retires = rotation_time(row, policy) if row.state == "current" else row.retired_at
    return {
        "kid": row.kid,
        "alg": row.alg,
        "state": row.state,
        "created": row.created_at,
        "activated": row.activated_at,
        "retires_at": retires,
        "revoked": row.revoked_at,
        "removes_at": removal_time(row, policy),
    }


def rewrap(db: Session, old: str, new: str) -> int:
    """Re-encrypt every stored private key with a new passphrase, in the caller's transaction."""
    key_repo.lock(db)
    rows = [r for r in key_repo.list_keys(db) if r.private_key]
    for row in rows:
        row.private_key = keycrypto.encrypt(keycrypto.decrypt(row.private_key, old), new)
    return len(rows)
