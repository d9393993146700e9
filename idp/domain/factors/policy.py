"""Who must use a second factor, and what a sign-in proved (``acr``/``amr``).

- ``amr`` (RFC 8176) lists the methods of a session: ``pwd``; ``otp`` (an authenticator app or a
  recovery code); ``hwk``/``swk`` (a passkey kept in hardware, or one that may be synced, i.e.
  software-held: the backup-eligible flag says which); ``user`` (the authenticator verified the
  user: PIN or biometrics); ``mfa`` once two independent factors were shown.
- ``acr``: ``urn:spom:acr:mfa`` when ``mfa`` is in ``amr``, else ``urn:spom:acr:pwd``. A relying
  party asks for the first with ``acr_values`` (or registers it as ``default_acr_values``).
- Enrolment: a user whose role is in ``IDP_MFA_REQUIRED_ROLES``, or whose factors the help desk
  removed, and who has no second factor, may sign in during a grace period (days and sign-ins,
  whichever runs out first, from the first sign-in that asked); then enrolment is forced before
  any code is issued. A helpdesk reset forces it at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from idp.core.settings import MfaSettings
from idp.storage.sql.models import User

PWD_ACR = "urn:spom:acr:pwd"
MFA_ACR = "urn:spom:acr:mfa"
ACR_VALUES_SUPPORTED = (PWD_ACR, MFA_ACR)
#: ``amr`` values that are a second factor (RFC 8176 §2).
SECOND_FACTOR_AMR = frozenset({"otp", "hwk", "swk"})
DAY = 86400


def acr_for(amr: Iterable[str]) -> str:
    return MFA_ACR if "mfa" in set(amr) else PWD_ACR


def with_second_factor(amr: Iterable[str], method: Iterable[str]) -> list[str]:
    """A session's ``amr`` after it also proved ``method`` (e.g. ``["otp"]``, ``["hwk", "user"]``):
    ``mfa`` is added once a password and a second factor, or a passkey that verified its user, were
    shown (RFC 8176 §2: two independent factors)."""
    merged = [m for m in dict.fromkeys([*amr, *method]) if m != "mfa"]
    methods = set(merged)
    second = bool(SECOND_FACTOR_AMR & methods)
    if second and ("pwd" in methods or ("user" in methods and methods & {"hwk", "swk"})):
        merged.append("mfa")
    return merged


def requires_mfa(acr_values: str | None) -> bool:
    """True when an authorization request (or a client's defaults) asks for ``MFA_ACR``. Values we do
    not know are ignored (Core §3.1.2.1: acr_values is a voluntary claim)."""
    return MFA_ACR in (acr_values or "").split()


@dataclass(frozen=True)
class Enrolment:
    """Where a user stands with the second-factor policy."""

    #: Policy asks this user for a second factor (role, or a helpdesk reset).
    required: bool
    #: The user has at least one second factor.
    enrolled: bool
    #: Required, not enrolled, and the grace is over: enrolment comes before anything else.
    forced: bool
    #: During the grace: sign-ins without a second factor still allowed after those made so far, and
    #: when the grace ends (epoch seconds).
    signins_left: int | None = None
    until: float | None = None

    @property
    def in_grace(self) -> bool:
        return self.required and not self.enrolled and not self.forced


def may_be_forced(user: User, settings: MfaSettings) -> bool:
    """Whether ``enrolment`` can be ``forced`` for this user at all (no query needed to say no)."""
    return user.role in settings.required_roles or bool(user.mfa_enrol_required)


def enrolment(user: User, settings: MfaSettings, *, enrolled: bool, now: float) -> Enrolment:
    """The user's standing, counting the sign-ins made so far (``count_grace_signin`` counts each one
    before this is asked, so the grace's last sign-in still passes and the next one is forced)."""
    required = may_be_forced(user, settings)
    if not required or enrolled:
        return Enrolment(required, enrolled, False)
    if user.mfa_enrol_required:  # the help desk removed the factors: no grace
        return Enrolment(True, False, True)
    used = user.mfa_grace_signins or 0
    started = user.mfa_grace_started_at if user.mfa_grace_started_at is not None else now
    until = started + settings.grace_days * DAY
    if now >= until or used > settings.grace_signins:
        return Enrolment(True, False, True)
    return Enrolment(True, False, False, signins_left=max(0, settings.grace_signins - used), until=until)


def counts_towards_grace(user: User, settings: MfaSettings, *, enrolled: bool) -> bool:
    """A sign-in of this user spends the grace (required by role, no factor, no helpdesk reset)."""
    return user.role in settings.required_roles and not enrolled and not user.mfa_enrol_required


def count_grace_signin(user: User, now: float) -> None:
    """A password sign-in made while the grace may still run (the first starts it)."""
    if user.mfa_grace_started_at is None:
        user.mfa_grace_started_at = now
    user.mfa_grace_signins = (user.mfa_grace_signins or 0) + 1
