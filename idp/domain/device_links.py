"""Device-approval links: the owner's way in on a new device while someone guesses at the account.

An attacker who makes one guess each time the account's progressive delay ends keeps every
browser *without* the known-device cookie waiting. The throttled sign-in page therefore offers an
e-mailed link that approves the browser that opens it as a known device of the account: the
owner then signs in with the password as always, counted under that device's own allowance,
which the attacker's guesses never spend. The link is not a credential: it signs nobody in.

A request is handled on the mail thread (``request_later``), like a forgotten password, so the
page answers the same, at the same speed, whether or not the account exists. There the account is
looked up, the per-account limit counted (``device_link_account`` on ``authn.account_key``), the
link issued (``idp.storage.sql.resets``, purpose ``device``: single use, ``IDP_DEVICE_LINK_SECONDS``,
superseded by a newer device link only) and mailed; each step is audited.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from sqlalchemy.orm import Session

from idp.http import mail as notifications
from idp import services
from idp.storage.sql import audit, resets, users as user_repo
from idp.storage.sql.models import User
from idp.domain.signin import account_key
from idp.core.errors import ThrottleUnavailable, TooManyAttempts

PURPOSE = "device"


@dataclass(frozen=True)
class LinkRequest:
    """What the throttled page posted, and who posted it (for the audit trail)."""

    login: str
    lang: str
    interaction_id: str | None
    audit_fields: dict


def link_url(issuer: str, token: str) -> str:
    return f"{issuer}/login/device?token={token}"


def request_later(link_request: LinkRequest) -> None:
    """Handle a request on the mail thread: the caller answers before the account is looked up."""
    app = current_app._get_current_object()

    def job():
        with app.app_context():
            _handle(link_request)

    notifications.postman().run_later(job)


def issue_for(db: Session, throttle, link_request: LinkRequest, *, now: float,
              lifetime: int) -> tuple[User, str] | None:
    """Look the account up, count the per-account limit, issue the link; ``(user, token)`` or None
    when nothing is to be sent. Audited either way; the caller commits."""
    user = user_repo.get_user_by_login(db, link_request.login)
    reason = None
    try:
        throttle.check_rate("device_link_account", account_key(user, link_request.login))
    except TooManyAttempts:
        reason = "rate_limited"
    except ThrottleUnavailable:
        reason = "unavailable"  # fail closed: the limit is what keeps this from mail-bombing
    if reason is None and (user is None or not user.active or not user.email):
        reason = "unknown_user" if user is None else ("disabled" if not user.active else "no_email")
    record = dict(now=now, user_id=user.id if user else None, **link_request.audit_fields)
    if reason is not None:
        audit.record(db, audit.DEVICE_APPROVAL_REQUESTED, outcome="ignored", reason=reason, **record)
        return None
    token = resets.issue(db, user.id, now=now, lifetime=lifetime, purpose=PURPOSE,
                         interaction_id=link_request.interaction_id)
    audit.record(db, audit.DEVICE_APPROVAL_REQUESTED, outcome="issued", **record)
    return user, token


def mail_context(user: User, link: str, lifetime: int) -> dict:
    return {"name": user.display_name or user.registration_number, "registration_number": user.registration_number,
            "link": link, "minutes": lifetime // 60}


def _handle(link_request: LinkRequest) -> None:
    from idp.storage.sql.database import get_session

    db, settings = get_session(), services.settings()
    issued = issue_for(db, services.throttle(), link_request, now=services.now(),
                       lifetime=settings.device_link_seconds)
    db.commit()
    if issued is None:
        return
    user, token = issued
    delivered = notifications.send("device", user.email, link_request.lang, later=False,
                                   **mail_context(user, link_url(settings.issuer, token), settings.device_link_seconds))
    audit.record(db, audit.DEVICE_APPROVAL_SENT, now=services.now(), user_id=user.id, delivered=bool(delivered),
                 **link_request.audit_fields)
    db.commit()
