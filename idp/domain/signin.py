"""Password sign-in: throttle, then hash, then record the result (CONVENTIONS 7).

Order, per DESIGN: look the account up (one indexed query, no hashing) → throttle check, which
reserves the attempt atomically → argon2 verify (a dummy verify for unknown users) → count the
outcome → audit event in the caller's transaction. Unknown, wrong, disabled and throttled are
told apart only in the audit trail.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from idp.core import metrics
from idp.core.admission import AdmissionGate
from idp.core.errors import Busy, ThrottleUnavailable, TooManyAttempts
from idp.core.ports import Hasher, Throttle
from idp.core.request import RequestInfo
from idp.domain.devices import Devices
from idp.storage.sql import audit
from idp.storage.sql import users as user_repo
from idp.storage.sql.models import User

log = logging.getLogger("idp.authn")
T = TypeVar("T")

#: What a password is checked for: a sign-in, or the account page's current-password field.
SIGN_IN, PASSWORD_CHANGE = "login", "password_change"


@dataclass
class Outcome:
    user: User | None
    #: Internal reason, for the audit trail only: never shown to the user.
    reason: str
    #: The known-device id used (or None); a success refreshes its cookie.
    device_id: str | None = None


def account_key(user: User | None, login: str) -> str:
    """The throttle's account key: the user id when the login names a user (so the registration
    number and the e-mail share one allowance), else the normalised login, so that unknown
    usernames are throttled exactly like real ones."""
    return f"user:{user.id}" if user is not None else "login:" + login.strip().lower()


@dataclass
class SignIn:
    """Password checks within one unit of work ``db``, for the request described by ``info``."""

    db: Session
    throttle: Throttle
    hasher: Hasher
    #: Admission to the verification (bounded concurrency and wait; ``idp.core.admission``).
    gate: AdmissionGate
    devices: Devices
    now: Callable[[], float]
    info: RequestInfo

    def password(
        self,
        login: str,
        password: str,
        client_id: str | None = None,
        device_cookie: str | None = None,
        *,
        record_success: bool = True,
    ) -> Outcome:
        """Check credentials. Raises ``TooManyAttempts`` (audited) before any hashing when throttled,
        ``ThrottleUnavailable`` when the counters cannot be reached (sign-in fails closed), and
        ``Busy`` when no verification slot came free in time (at capacity). With ``record_success``
        false a right password is not audited here: the caller knows whether a session follows now
        or after a second step, and records which (``record``)."""
        user = user_repo.get_user_by_login(self.db, login)
        return self._check(
            user,
            account_key(user, login),
            password,
            client_id=client_id,
            device_cookie=device_cookie,
            record_success=record_success,
        )

    def record(self, type: str, user: User, *, client_id: str | None, device: bool, **details: Any) -> None:
        """A sign-in event of ``user`` for this request (``login.success``, ``login.password_verified``)."""
        fields: dict[str, Any] = {**self.info.audit_fields(), "client_id": client_id, "device": device}
        audit.record(self.db, type, now=self.now(), user_id=user.id, **fields, **details)

    def current_password(self, user: User, password: str, device_cookie: str | None = None) -> bool:
        """The account page's "current password": checked exactly like a sign-in, under the same
        account key (one allowance for both forms), so guesses there are throttled and counted, and a
        success is recorded as one (it hands back its slot instead of counting towards the delay).
        A failure is audited as ``login.failure`` with ``purpose: password_change``; a success is not a
        sign-in, so the caller records what the password was checked for (``password.changed``).
        Raises ``TooManyAttempts`` and ``ThrottleUnavailable`` like ``password``."""
        return (
            self._check(
                user, account_key(user, ""), password, device_cookie=device_cookie, purpose=PASSWORD_CHANGE
            ).user
            is not None
        )

    def _check(
        self,
        user: User | None,
        key: str,
        password: str,
        *,
        client_id: str | None = None,
        device_cookie: str | None = None,
        purpose: str = SIGN_IN,
        record_success: bool = True,
    ) -> Outcome:
        """Admitted first (``Busy`` when the provider is at capacity: nothing counted, nothing
        verified), then throttled, verified and recorded."""
        try:
            with self.gate.admit():
                return self._admitted(
                    user,
                    key,
                    password,
                    client_id=client_id,
                    device_cookie=device_cookie,
                    purpose=purpose,
                    record_success=record_success,
                )
        except Busy:
            metrics.SIGN_INS.labels("busy").inc()
            raise

    def _admitted(
        self,
        user: User | None,
        key: str,
        password: str,
        *,
        client_id: str | None,
        device_cookie: str | None,
        purpose: str,
        record_success: bool,
    ) -> Outcome:
        db, hasher, throttle, ip = self.db, self.hasher, self.throttle, self.info.ip
        device = self.devices.device_for(device_cookie, user.id) if user is not None else None
        fields: dict[str, Any] = {**self.info.audit_fields(), "client_id": client_id}
        if purpose != SIGN_IN:
            fields["purpose"] = purpose
        user_id = user.id if user else None
        try:
            throttle.check(key, ip, device=device)  # raises before any hashing
        except TooManyAttempts as exc:
            metrics.THROTTLE_HITS.labels(purpose).inc()
            if purpose == SIGN_IN:
                metrics.SIGN_INS.labels("throttled").inc()
            audit.record(
                db, audit.LOGIN_FAILURE, now=self.now(), user_id=user_id, reason="throttled", scope=exc.scope, **fields
            )
            raise
        with metrics.ARGON2_VERIFY_SECONDS.time():
            ok = hasher.verify(user.password_hash if user else None, password)
        if user is None:
            outcome = Outcome(None, "unknown_user")
        elif not ok:
            outcome = Outcome(None, "bad_password")
        elif not user.active:
            outcome = Outcome(None, "disabled")
        else:
            if user.password_hash is not None and hasher.needs_rehash(user.password_hash):
                user.password_hash = hasher.hash(password)
            outcome = Outcome(user, "ok", device)
        if purpose == SIGN_IN:
            metrics.SIGN_INS.labels(outcome.reason).inc()
        if outcome.user is None:
            audit.record(db, audit.LOGIN_FAILURE, now=self.now(), user_id=user_id, reason=outcome.reason, **fields)
            for scope, wait in _after(throttle.record_failure, key, ip, device) or []:
                audit.record(
                    db,
                    audit.THROTTLE_ENGAGED,
                    now=self.now(),
                    user_id=user_id,
                    scope=scope,
                    retry_after=int(wait + 0.999),
                    **fields,
                )
        else:
            _after(throttle.record_success, key, ip, device)
            if purpose == SIGN_IN and record_success:
                audit.record(
                    db, audit.LOGIN_SUCCESS, now=self.now(), user_id=outcome.user.id, device=bool(device), **fields
                )
        return outcome


def _after(method: Callable[[str, str, str | None], T], key: str, ip: str, device: str | None) -> T | None:
    """Bookkeeping after verification: the attempt was already counted by ``check``, so losing
    the counters now must not turn a verified answer into an error."""
    try:
        return method(key, ip, device)
    except ThrottleUnavailable as exc:
        log.warning("throttle bookkeeping skipped, counters unreachable: %s", exc)
        return None
