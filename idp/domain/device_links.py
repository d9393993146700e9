"""Device-approval links: the owner's way in on a new device while someone guesses at the account.

An attacker who makes one guess each time the account's progressive delay ends keeps every
browser *without* the known-device cookie waiting. The throttled sign-in page therefore offers an
e-mailed link that approves the browser that opens it as a known device of the account: the
owner then signs in with the password as always, counted under that device's own allowance,
which the attacker's guesses never spend. The link is not a credential: it signs nobody in.

A request is handled on the mail thread (``idp.http.usecases.device_link_later``), like a forgotten password, so the
page answers the same, at the same speed, whether or not the account exists. There the account is
looked up, the per-account limit counted (``device_link_account`` on ``authn.account_key``), the
link issued (``idp.storage.sql.resets``, purpose ``device``: single use, ``IDP_DEVICE_LINK_SECONDS``,
superseded by a newer device link only) and mailed; each step is audited.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from idp.core.errors import ThrottleUnavailable, TooManyAttempts
from idp.core.ports import Throttle
from idp.core.request import RequestInfo
from idp.core.settings import Settings
from idp.domain.accounts import confirm_email_by_link, mail_language
from idp.domain.signin import account_key
from idp.storage.sql import audit, resets
from idp.storage.sql import users as user_repo
from idp.storage.sql.models import User

PURPOSE = "device"


@dataclass(frozen=True)
class Issued:
    """A link to mail: to whom, in which language, and what the mail says."""

    user: User
    lang: str
    context: dict


@dataclass
class DeviceLinks:
    """Device-approval use cases within one unit of work ``db`` (audited; never committed here)."""

    db: Session
    settings: Settings
    now: Callable[[], float]
    throttle: Throttle
    info: RequestInfo = field(default_factory=RequestInfo)

    def _audit(self, type: str, user_id: int | None, **details: Any) -> None:
        audit.record(self.db, type, now=self.now(), user_id=user_id, **self.info.audit_fields(), **details)

    def issue(self, login: str, lang: str, asked_from: resets.AskedFrom | None) -> Issued | None:
        """Look the account up, count the per-account limit, issue the link: what to mail, or None
        when nothing is to be sent. Runs on the mail thread after the page answered."""
        user = user_repo.get_user_by_login(self.db, login)
        reason = None
        try:
            self.throttle.check_rate("device_link_account", account_key(user, login))
        except TooManyAttempts:
            reason = "rate_limited"
        except ThrottleUnavailable:
            reason = "unavailable"  # fail closed: the limit is what keeps this from mail-bombing
        if reason is None and (user is None or not user.active or not user.email):
            reason = "unknown_user" if user is None else ("disabled" if not user.active else "no_email")
        if reason is not None or user is None:  # (an unknown user always has a reason)
            self._audit(audit.DEVICE_APPROVAL_REQUESTED, user.id if user else None, outcome="ignored", reason=reason)
            return None
        lifetime = self.settings.throttle.device_link_seconds
        token = resets.issue(
            self.db,
            user.id,
            now=self.now(),
            lifetime=lifetime,
            purpose=PURPOSE,
            asked_from=asked_from,
            mailed_to=user.email_norm,
        )
        self._audit(audit.DEVICE_APPROVAL_REQUESTED, user.id, outcome="issued")
        return Issued(
            user, mail_language(user, lang), mail_context(user, link_url(self.settings.server.issuer, token), lifetime)
        )

    def sent(self, user: User, delivered: bool) -> None:
        self._audit(audit.DEVICE_APPROVAL_SENT, user.id, delivered=delivered)

    def approve(self, state: resets.LinkState, new_device: bool) -> bool:
        """Use a valid link (single use): False if a concurrent request used or voided it first."""
        if state.row is None or state.user is None:  # every valid link has both
            raise ValueError(f"not a valid link: {state.status}")
        if not resets.consume(self.db, state.row, self.now()):
            return False
        self._audit(audit.DEVICE_APPROVED, state.user.id, new_device=new_device)
        confirm_email_by_link(self.db, state.user, state.row, now=self.now(), info=self.info)
        return True

    def refused(self, state: resets.LinkState, step: str) -> None:
        """A link that does not work was opened (``open``) or confirmed (``confirm``)."""
        self._audit(
            audit.DEVICE_APPROVAL_REFUSED,
            state.row.user_id if state.row is not None else None,
            reason=state.status,
            step=step,
        )


def link_url(issuer: str, token: str) -> str:
    return f"{issuer}/login/device?token={token}"


def mail_context(user: User, link: str, lifetime: int) -> dict[str, Any]:
    return {
        "name": user.display_name or user.registration_number,
        "registration_number": user.registration_number,
        "link": link,
        "minutes": lifetime // 60,
    }
