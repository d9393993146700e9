"""Audit trail: append-only rows written in the caller's transaction.

``record`` only adds the row to the session: it is committed together with the state change it
records (or rolled back with it). The table refuses UPDATE (a trigger from migration
0002_throttle_audit); rows leave only through ``prune`` (the retention setting).
Reasons and other details are internal: they are never shown to the person signing in.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Float, Select, delete, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from idp.storage.sql.database import rowcount
from idp.storage.sql.models import AuditEvent

# Event types ("subject.action").
#: A session was made: the password (details.second_factor: the method of the second step, if one was
#: asked) or a passkey alone (details.passwordless).
LOGIN_SUCCESS = "login.success"
#: The password was right and a second step (or its enrolment) is asked before any session exists.
LOGIN_PASSWORD_VERIFIED = "login.password_verified"
#: details.reason: unknown_user | bad_password | disabled | throttled (details.scope: ip | account | device)
LOGIN_FAILURE = "login.failure"
#: A failure that makes the next attempt wait: details.scope (ip | account | device), details.retry_after
THROTTLE_ENGAGED = "throttle.engaged"
#: An operator cleared the counters of an account and/or an IP (admin API): details.actor, details.ip
#: (the cleared address), details.account (whether an account was named), details.counters (how many).
THROTTLE_CLEARED = "throttle.cleared"
LOGOUT = "logout"
CODE_REPLAY = "token.code_replay"
#: A client presented a code issued to another client (details.issued_to); the code was left intact.
CODE_WRONG_CLIENT = "token.code_wrong_client"
REFRESH_REUSE = "token.refresh_reuse"
PASSWORD_RESET_REQUESTED = "password.reset_requested"
#: The helpdesk issued a reset link for a user: handed over (``idp users reset-link``) or mailed to the
#: user's own address by the console (details.delivery: mail).
PASSWORD_RESET_LINK = "password.reset_link_issued"
PASSWORD_RESET = "password.reset"
#: The name issue 3 reserved for a reset link being used: the same event as PASSWORD_RESET.
PASSWORD_RESET_USED = PASSWORD_RESET
PASSWORD_CHANGED = "password.changed"
SESSIONS_ENDED = "session.ended_by_user"
CONSENT_REVOKED = "consent.revoked"
USER_DISABLED = "user.disabled"
USER_ENABLED = "user.enabled"
USER_IMPORTED = "user.imported"
#: One user created by an operator (``idp users create``): details.source, role, email_verified, locale.
USER_CREATED = "user.created"
#: The user's address became verified: details.via reset | invite | device (a link e-mailed to it was completed).
USER_EMAIL_VERIFIED = "user.email_verified"
#: The address changed (``idp users set-email``): details.email_verified says whether the new one is.
USER_EMAIL_CHANGED = "user.email_changed"
#: An operator set the user's language (``users.locale``): details.locale (null: cleared), details.previous.
USER_LOCALE_CHANGED = "user.locale_changed"
#: A console role given to or taken from a person (details.role; issue 20, ``idp.domain.staff``).
ROLE_GRANTED = "user.role_granted"
ROLE_REVOKED = "user.role_revoked"
BACKCHANNEL_DELIVERED = "logout.backchannel_delivered"
BACKCHANNEL_FAILED = "logout.backchannel_failed"
CLIENT_REGISTERED = "client.registered"
CLIENT_UPDATED = "client.updated"
CLIENT_DISABLED = "client.disabled"
CLIENT_ENABLED = "client.enabled"
CLIENT_DELETED = "client.deleted"
CLIENT_SECRET_ROTATED = "client.secret_rotated"
REGISTRATION_TOKEN_ISSUED = "client.registration_token_issued"
#: An initial access token taken back before it expired (details.token_id, details.team).
REGISTRATION_TOKEN_REVOKED = "client.registration_token_revoked"
KEY_ROTATED = "key.rotated"
KEY_REVOKED = "key.revoked"
KEY_REMOVED = "key.removed"
#: A rotated refresh token presented again within the grace window (a concurrent refresh): refused, family kept.
REFRESH_REUSE_IN_GRACE = "token.refresh_reuse_in_grace"
#: A device-approval link asked for on the throttled sign-in page (handled on the mail thread):
#: details.outcome issued | ignored, details.reason unknown_user | disabled | no_email | rate_limited | unavailable
DEVICE_APPROVAL_REQUESTED = "device.approval_requested"
#: The approval mail left (details.delivered: true) or was kept in <outbox>/failed (false).
DEVICE_APPROVAL_SENT = "device.approval_sent"
#: A link was completed: this browser is now a known device of the account (details.new_device).
DEVICE_APPROVED = "device.approved"
#: A link that could not be used: details.reason expired | used | superseded | unknown, details.step open | confirm
DEVICE_APPROVAL_REFUSED = "device.approval_refused"

# Second factors (issue 19); details.factor is the kind (totp | passkey | recovery_code), details.factor_id the row.
#: A factor was added (details.name).
FACTOR_ENROLLED = "factor.enrolled"
#: A second factor was proven (sign-in, passwordless sign-in or step-up: details.purpose).
FACTOR_USED = "factor.used"
#: A wrong code or a refused passkey assertion (details.reason: wrong_code | replay | throttled | invalid).
FACTOR_FAILED = "factor.failed"
FACTOR_RENAMED = "factor.renamed"
#: Removed by the user (details.by: user) or by the helpdesk (``MFA_RESET``).
FACTOR_REMOVED = "factor.removed"
#: A passkey's signature counter did not increase: possibly a cloned authenticator (details.stored, details.received).
FACTOR_CLONE_SUSPECTED = "factor.clone_suspected"
#: A recovery code was used (details.left: how many remain); the user is mailed each time.
RECOVERY_CODE_USED = "mfa.recovery_code_used"
#: A new set of recovery codes replaced the old one (details.count).
RECOVERY_CODES_GENERATED = "mfa.recovery_codes_generated"
#: A session made with one factor proved a second one in place (details.factor).
MFA_STEP_UP = "mfa.step_up"
#: The helpdesk removed every factor of a user (details.reason, details.actor, details.removed); the next
#: sign-in must enrol a factor.
MFA_RESET = "mfa.reset"

TYPES = (
    LOGIN_SUCCESS,
    LOGIN_PASSWORD_VERIFIED,
    LOGIN_FAILURE,
    THROTTLE_ENGAGED,
    THROTTLE_CLEARED,
    LOGOUT,
    CODE_REPLAY,
    CODE_WRONG_CLIENT,
    REFRESH_REUSE,
    PASSWORD_RESET_REQUESTED,
    PASSWORD_RESET_LINK,
    PASSWORD_RESET,
    PASSWORD_CHANGED,
    SESSIONS_ENDED,
    CONSENT_REVOKED,
    USER_DISABLED,
    USER_ENABLED,
    USER_IMPORTED,
    USER_CREATED,
    USER_EMAIL_VERIFIED,
    USER_EMAIL_CHANGED,
    USER_LOCALE_CHANGED,
    ROLE_GRANTED,
    ROLE_REVOKED,
    BACKCHANNEL_DELIVERED,
    BACKCHANNEL_FAILED,
    CLIENT_REGISTERED,
    CLIENT_UPDATED,
    CLIENT_DISABLED,
    CLIENT_ENABLED,
    CLIENT_DELETED,
    CLIENT_SECRET_ROTATED,
    REGISTRATION_TOKEN_ISSUED,
    REGISTRATION_TOKEN_REVOKED,
    KEY_ROTATED,
    KEY_REVOKED,
    KEY_REMOVED,
    REFRESH_REUSE_IN_GRACE,
    DEVICE_APPROVAL_REQUESTED,
    DEVICE_APPROVAL_SENT,
    DEVICE_APPROVED,
    DEVICE_APPROVAL_REFUSED,
    FACTOR_ENROLLED,
    FACTOR_USED,
    FACTOR_FAILED,
    FACTOR_RENAMED,
    FACTOR_REMOVED,
    FACTOR_CLONE_SUSPECTED,
    RECOVERY_CODE_USED,
    RECOVERY_CODES_GENERATED,
    MFA_STEP_UP,
    MFA_RESET,
)


#: What counts as an error of a client in its usage (``GET /admin/api/clients/{id}/usage``): events about
#: it (``client_id``) that say a sign-in, a token request or a logout delivery to it went wrong.
CLIENT_ERRORS = (
    LOGIN_FAILURE,
    FACTOR_FAILED,
    CODE_REPLAY,
    CODE_WRONG_CLIENT,
    REFRESH_REUSE,
    REFRESH_REUSE_IN_GRACE,
    BACKCHANNEL_FAILED,
)


def record(
    db: Session,
    type: str,
    *,
    now: float,
    user_id: int | None = None,
    client_id: str | None = None,
    ip: str = "",
    user_agent: str = "",
    request_id: str = "",
    **details: Any,
) -> AuditEvent:
    """Add an audit event to the current transaction (committed with the change it records)."""
    event = AuditEvent(
        occurred_at=now,
        type=type,
        user_id=user_id,
        client_id=client_id,
        ip=ip,
        user_agent=user_agent[:300],
        request_id=request_id[:64],
        details=details,
    )
    db.add(event)
    return event


@dataclass(frozen=True)
class EventFilter:
    """Which events a listing or an export is about (None: any)."""

    user_id: int | None = None
    type: str | None = None
    ip: str | None = None
    since: float | None = None
    until: float | None = None
    client_id: str | None = None

    def query(self) -> Select[AuditEvent]:
        stmt = select(AuditEvent)
        for column, value in (
            (AuditEvent.user_id, self.user_id),
            (AuditEvent.type, self.type),
            (AuditEvent.ip, self.ip),
            (AuditEvent.client_id, self.client_id),
        ):
            if value is not None:
                stmt = stmt.where(column == value)
        if self.since is not None:
            stmt = stmt.where(AuditEvent.occurred_at >= self.since)
        if self.until is not None:
            stmt = stmt.where(AuditEvent.occurred_at < self.until)
        return stmt


def list_events(
    db: Session, filters: EventFilter = EventFilter(), *, before_id: int | None = None, limit: int = 100
) -> list[AuditEvent]:
    """Matching events, newest first. ``before_id`` pages backwards (pass the last id of the previous page)."""
    stmt = filters.query()
    if before_id is not None:
        stmt = stmt.where(AuditEvent.id < before_id)
    stmt = stmt.order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc()).limit(limit)
    return list(db.scalars(stmt))


def newest_events(
    db: Session, filters: EventFilter, *, limit: int, before_id: int | None = None, batch: int = 1000
) -> Iterator[AuditEvent]:
    """At most ``limit`` matching events, newest (highest id) first, read in batches by id: an export
    that pages on the order it reads in, so no event is skipped or repeated between batches."""
    left = limit
    while left > 0:
        stmt = filters.query()
        if before_id is not None:
            stmt = stmt.where(AuditEvent.id < before_id)
        size = min(batch, left)
        rows = list(db.scalars(stmt.order_by(AuditEvent.id.desc()).limit(size)))
        yield from rows
        if len(rows) < size:
            return
        left -= size
        before_id = rows[-1].id


def iter_events(
    db: Session, *, since: float | None = None, type: str | None = None, batch: int = 1000
) -> Iterator[AuditEvent]:
    """Every matching event, oldest first, read in batches by id (for export to a SIEM)."""
    last_id = 0
    while True:
        stmt = EventFilter(type=type, since=since).query().where(AuditEvent.id > last_id)
        stmt = stmt.order_by(AuditEvent.id).limit(batch)
        rows = list(db.scalars(stmt))
        yield from rows
        if len(rows) < batch:
            return
        last_id = rows[-1].id


def recent_sign_ins(db: Session, user_id: int, limit: int = 10, *, include_failures: bool = False) -> list[AuditEvent]:
    """The user's latest sign-ins (and failed attempts, when asked), newest first: ``occurred_at``
    (POSIX seconds, UTC), ``ip``, ``user_agent`` and ``client_id`` are what the account page shows."""
    types = (LOGIN_SUCCESS, LOGIN_FAILURE) if include_failures else (LOGIN_SUCCESS,)
    stmt = (
        select(AuditEvent)
        .where(AuditEvent.user_id == user_id, AuditEvent.type.in_(types))
        .order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
        .limit(limit)
    )
    return list(db.scalars(stmt))


#: What the account page's "Recent activity" shows the user: sign-ins, failed attempts, sign-outs
#: and the changes to what protects the account (password, known devices, e-mail address, app access).
ACCOUNT_ACTIVITY = (
    LOGIN_SUCCESS,
    LOGIN_PASSWORD_VERIFIED,
    LOGIN_FAILURE,
    LOGOUT,
    SESSIONS_ENDED,
    PASSWORD_CHANGED,
    PASSWORD_RESET,
    DEVICE_APPROVED,
    USER_EMAIL_CHANGED,
    USER_EMAIL_VERIFIED,
    CONSENT_REVOKED,
    FACTOR_ENROLLED,
    FACTOR_USED,
    FACTOR_FAILED,
    FACTOR_RENAMED,
    FACTOR_REMOVED,
    RECOVERY_CODE_USED,
    RECOVERY_CODES_GENERATED,
    MFA_STEP_UP,
    MFA_RESET,
)


def recent_activity(
    db: Session, user_id: int, limit: int = 10, types: tuple[str, ...] = ACCOUNT_ACTIVITY
) -> list[AuditEvent]:
    """The user's latest events of these types, newest first (the account page's "Recent activity")."""
    stmt = (
        select(AuditEvent)
        .where(AuditEvent.user_id == user_id, AuditEvent.type.in_(types))
        .order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
        .limit(limit)
    )
    return list(db.scalars(stmt))


class _hour(FunctionElement[float]):  # noqa: N801  (a SQL function, named as one)
    """The hour an event occurred in, as whole hours since the epoch: ``floor(occurred_at / 3600)``."""

    type = Float()
    inherit_cache = True


@compiles(_hour)
def _hour_default(element: _hour, compiler: SQLCompiler, **kw: Any) -> str:
    return f"floor({compiler.process(element.clauses, **kw)} / 3600)"


@compiles(_hour, "sqlite")
def _hour_sqlite(element: _hour, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite has floor() only when built with its math functions; times are positive, so truncating is flooring.
    return f"CAST({compiler.process(element.clauses, **kw)} / 3600 AS INTEGER)"


def count_per_hour(db: Session, type: str, *, first_hour: int, hours: int) -> list[int]:
    """How many events of ``type`` occurred in each of ``hours`` whole hours from ``first_hour`` (hours
    since the epoch), oldest first, zeros included: one GROUP BY in the database."""
    bucket = _hour(AuditEvent.occurred_at)
    stmt = (
        select(bucket, func.count())
        .where(
            AuditEvent.type == type,
            AuditEvent.occurred_at >= first_hour * 3600.0,
            AuditEvent.occurred_at < (first_hour + hours) * 3600.0,
        )
        .group_by(bucket)
    )
    counts = {int(hour): int(n) for hour, n in db.execute(stmt)}
    return [counts.get(first_hour + i, 0) for i in range(hours)]


def throttle_engagements(
    db: Session, *, since: float, until: float, limit: int = 100
) -> tuple[list[tuple[int | None, float, int]], list[tuple[str, float, int]]]:
    """``throttle.engaged`` events in [since, until], grouped, newest first: by user for the account,
    device and second-factor limiters (``user_id`` None: unknown usernames, which are not stored), and
    by address for the per-IP limiter: ``(user_id or ip, latest occurred_at, events)``."""
    window = (
        AuditEvent.type == THROTTLE_ENGAGED,
        AuditEvent.occurred_at >= since,
        AuditEvent.occurred_at <= until,
    )
    scope = AuditEvent.details["scope"].as_string()
    latest, count = func.max(AuditEvent.occurred_at), func.count()
    by_user = (
        select(AuditEvent.user_id, latest, count)
        .where(*window, func.coalesce(scope, "") != "ip")
        .group_by(AuditEvent.user_id)
        .order_by(latest.desc())
        .limit(limit)
    )
    by_ip = (
        select(AuditEvent.ip, latest, count)
        .where(*window, scope == "ip")
        .group_by(AuditEvent.ip)
        .order_by(latest.desc())
        .limit(limit)
    )
    return (
        [(user_id, float(at), int(n)) for user_id, at, n in db.execute(by_user)],
        [(ip, float(at), int(n)) for ip, at, n in db.execute(by_ip)],
    )


def prune(db: Session, *, before: float) -> int:
    """Delete events that occurred before ``before``; returns how many. The caller commits."""
    result = db.execute(delete(AuditEvent).where(AuditEvent.occurred_at < before))
    return rowcount(result) or 0


def as_dict(event: AuditEvent) -> dict[str, Any]:
    """One event as JSON-ready data (time as ISO 8601 UTC)."""
    from idp.core.clock import utc

    return {
        "id": event.id,
        "time": utc(event.occurred_at).isoformat().replace("+00:00", "Z"),
        "type": event.type,
        "user_id": event.user_id,
        "client_id": event.client_id,
        "ip": event.ip,
        "user_agent": event.user_agent,
        "request_id": event.request_id,
        "details": event.details or {},
    }
