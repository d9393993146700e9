"""Password sign-in: throttle, then hash, then record the result (CONVENTIONS 7)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from .. import services
from ..db import audit, get_session, users as user_repo
from ..db.models import User
from ..ops import metrics
from .throttle import TooManyAttempts


@dataclass
class Outcome:
    user: User | None
    #: Internal reason, for the audit trail only: never shown to the user.
    reason: str


def verify_password_login(login: str, password: str, ip: str, client_id: str | None = None) -> Outcome:
    """Check credentials. Unknown user, wrong password and disabled account cost the same
    argon2 work and are told apart only in the audit trail."""
    throttle = current_app.extensions["idp.throttle"]
    try:
        throttle.check(login, ip)  # raises TooManyAttempts before any hashing
    except TooManyAttempts:
        metrics.THROTTLE_HITS.labels("login").inc()
        metrics.SIGN_INS.labels("throttled").inc()
        raise
    db, hasher = get_session(), services.hasher()
    user = user_repo.get_user_by_login(db, login)
    with metrics.ARGON2_VERIFY_SECONDS.time():
        ok = hasher.verify(user.password_hash if user else None, password)
    if user is None:
        outcome = Outcome(None, "unknown_user")
    elif not ok:
        outcome = Outcome(None, "bad_password")
    elif not user.active:
        outcome = Outcome(None, "disabled")
    else:
        if hasher.needs_rehash(user.password_hash):
            user.password_hash = hasher.hash(password)
        outcome = Outcome(user, "ok")
    metrics.SIGN_INS.labels(outcome.reason).inc()
    fields = dict(services.request_audit_fields(), client_id=client_id)
    if outcome.user is None:
        throttle.record_failure(login, ip)
        audit.record(db, audit.LOGIN_FAILURE, now=services.now(), user_id=user.id if user else None,
                     reason=outcome.reason, **fields)
    else:
        throttle.record_success(login, ip)
        audit.record(db, audit.LOGIN_SUCCESS, now=services.now(), user_id=user.id, **fields)
    return outcome
