"""Second-factor use cases shared by the pages, the admin API and the CLI: enrol an authenticator
app, check a code (throttled), spend a recovery code, list, rename and remove factors, and the help
desk's reset. Like ``Accounts``: audit events in the caller's unit of work, nothing committed here,
mail only after the commit.

Second-factor failures are throttled exactly like passwords (the same limiter, its progressive
delay, its known-device allowance) but under their own account key (``mfa:user:<id>``), so a
password guesser cannot spend the owner's allowance for codes, nor the reverse."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from idp.core import metrics
from idp.core.clock import utc
from idp.core.errors import ThrottleUnavailable, TooManyAttempts
from idp.core.ports import Notifier, Throttle
from idp.core.request import RequestInfo
from idp.core.roles import ROLES
from idp.core.settings import Settings
from idp.core.text import Text
from idp.core.tokens import new_id
from idp.domain.accounts import mail_language
from idp.domain.factors import policy, recovery, sealed, totp
from idp.storage.sql import audit
from idp.storage.sql import factors as factor_repo
from idp.storage.sql.database import after_commit
from idp.storage.sql.models import Factor, User

#: Purposes of sealed values (authenticated: one cannot stand in for the other).
TOTP_SECRET, TOTP_OFFER = "totp-secret", "totp-offer"
#: How long a QR code shown for enrolment may be confirmed.
OFFER_SECONDS = 900
NAME_MAX = 64


class FactorError(ValueError):
    """A refused factor operation; ``reason`` is for code, ``text`` for people."""

    def __init__(self, reason: str, text: Text) -> None:
        super().__init__(str(text))
        self.reason, self.text = reason, text


LAST_REQUIRED = FactorError(
    "last_required",
    Text("This is your last second factor, and your account must have one. Add another one first."),
)


def throttle_key(user: User) -> str:
    return f"mfa:user:{user.id}"


def check_name(name: str, default: Text) -> str:
    """A factor's name as typed (trimmed), or the default; refused when too long."""
    name = " ".join((name or "").split())
    if len(name) > NAME_MAX:
        raise FactorError("name", Text("The name is too long (at most %(limit)d characters).", limit=NAME_MAX))
    return name or str(default)


def describe_factor(factor: Factor, *, iso: bool = False) -> dict[str, Any]:
    """What operators see of a factor (never its secret or key), in ``idp users factors`` and the
    admin API; ``iso``: times as ISO 8601 UTC (the JSON forms) instead of epoch seconds."""
    when = _iso if iso else (lambda ts: ts)
    described: dict[str, Any] = {
        "id": factor.id,
        "kind": factor.kind,
        "name": factor.name,
        "created_at": when(factor.created_at),
        "last_used_at": when(factor.last_used_at),
    }
    if factor.kind == factor_repo.PASSKEY:
        described.update(backup_eligible=factor.backup_eligible, backup_state=factor.backup_state, aaguid=factor.aaguid)
    return described


def _iso(ts: float | None) -> str | None:
    return None if ts is None else utc(ts).isoformat().replace("+00:00", "Z")


#: A user's standing as ``policy_status`` counts it.
MFA_STATES = ("enrolled", "in_grace", "forced", "not_required")


def _state(standing: policy.Enrolment) -> str:
    if standing.enrolled:
        return "enrolled"
    if standing.forced:
        return "forced"
    return "in_grace" if standing.in_grace else "not_required"


def policy_status(db: Session, settings: Settings, now: float) -> dict[str, Any]:
    """Per role: whether ``IDP_MFA_REQUIRED_ROLES`` requires a second factor, and how many enabled users
    have one (``enrolled``), may still sign in without (``in_grace``), must set one up before anything
    else (``forced``: grace over, or a helpdesk reset) or are not asked (``not_required``). Shared by
    ``GET /admin/api/mfa-policy`` and ``idp users mfa-policy``."""
    counts = {role: dict.fromkeys(("users", *MFA_STATES), 0) for role in ROLES}
    for user, enrolled in factor_repo.active_users_with_factor_flag(db):
        row = counts.setdefault(user.role, dict.fromkeys(("users", *MFA_STATES), 0))
        row["users"] += 1
        row[_state(policy.enrolment(user, settings.mfa, enrolled=enrolled, now=now))] += 1
    mfa = settings.mfa
    return {
        "required_roles": list(mfa.required_roles),
        "grace_days": mfa.grace_days,
        "grace_signins": mfa.grace_signins,
        "roles": [{"role": role, "required": role in mfa.required_roles, **c} for role, c in counts.items()],
    }


@dataclass(frozen=True)
class TotpOffer:
    """A key shown for enrolment: the QR code and the key as text, and the sealed copy the form returns."""

    secret: str
    uri: str
    svg: str
    sealed: str


@dataclass(frozen=True)
class Enrolled:
    factor: Factor
    #: The first factor of an account comes with recovery codes, shown once; otherwise None.
    recovery_codes: list[str] | None


@dataclass
class Factors:
    """Second-factor use cases within one unit of work ``db``; ``source`` names a non-HTTP actor."""

    db: Session
    settings: Settings
    now: Callable[[], float]
    throttle: Throttle
    notifier: Notifier
    info: RequestInfo = field(default_factory=RequestInfo)
    source: str | None = None

    def record(self, type: str, user: User, **details: Any) -> None:
        """An audit event about ``user`` for this request, with its source (the CLI, the admin API)."""
        if self.source:
            details["source"] = self.source
        audit.record(self.db, type, now=self.now(), user_id=user.id, **self.info.audit_fields(), **details)

    @property
    def _passphrase(self) -> str:
        return self.settings.keys.passphrase

    # -- reading -------------------------------------------------------------------------------
    def factors_of(self, user: User) -> list[Factor]:
        return factor_repo.list_factors(self.db, user.id)

    def enrolled(self, user: User) -> bool:
        return factor_repo.count_factors(self.db, user.id) > 0

    def standing(self, user: User) -> policy.Enrolment:
        return policy.enrolment(user, self.settings.mfa, enrolled=self.enrolled(user), now=self.now())

    def recovery_codes_left(self, user: User) -> int:
        return factor_repo.recovery_codes_left(self.db, user.id)

    # -- authenticator apps --------------------------------------------------------------------
    def totp_offer(self, user: User, offer: str | None = None) -> TotpOffer:
        """A new key for ``user`` (or the one of a still-valid ``offer``, for a form shown again)."""
        secret = self._offered_secret(user, offer) if offer else None
        if secret is None:
            secret = totp.new_secret()
        payload = json.dumps({"u": user.id, "s": secret, "exp": self.now() + OFFER_SECONDS})
        account = user.email or user.registration_number
        uri = totp.provisioning_uri(secret, account=account, issuer=self.settings.branding.name)
        return TotpOffer(secret, uri, totp.qr_svg(uri), sealed.seal(payload, self._passphrase, TOTP_OFFER))

    def _offered_secret(self, user: User, offer: str) -> str | None:
        try:
            data = json.loads(sealed.unseal(offer, self._passphrase, TOTP_OFFER))
        except (sealed.Unsealable, ValueError):
            return None
        if data.get("u") != user.id or self.now() > float(data.get("exp", 0)):
            return None
        return str(data["s"])

    def totp_confirm(self, user: User, offer: str, code: str, name: str) -> Enrolled:
        """Enrol the authenticator app of ``offer`` once it showed a code of its key."""
        name = check_name(name, Text("Authenticator app"))
        secret = self._offered_secret(user, offer)
        if secret is None:
            raise FactorError("offer_expired", Text("This QR code has expired. Scan the new one below."))
        step = totp.matching_step(secret, code, now=self.now(), last_step=None)
        if step is None:
            raise FactorError(
                "code",
                Text(
                    "That code does not match. Enter the 6-digit code your app shows now; if it keeps "
                    "failing, check that your phone's clock is set automatically."
                ),
            )
        factor = Factor(
            id=new_id(),
            user_id=user.id,
            kind=factor_repo.TOTP,
            name=name,
            created_at=self.now(),
            last_used_at=self.now(),
            secret=sealed.seal(secret, self._passphrase, TOTP_SECRET),
            last_step=step,  # the confirming code may not be used again to sign in
            transports=[],
        )
        return self._enrolled(user, factor)

    def _enrolled(self, user: User, factor: Factor) -> Enrolled:
        """Add a new factor (any kind); the account's first one comes with recovery codes."""
        first = not self.enrolled(user)
        self.db.add(factor)
        self.db.flush()
        user.mfa_enrol_required = False
        user.mfa_grace_started_at, user.mfa_grace_signins = None, 0
        self.record(audit.FACTOR_ENROLLED, user, factor=factor.kind, factor_id=factor.id, name=factor.name)
        metrics.MFA_EVENTS.labels(factor.kind, "enrolled").inc()
        codes = self.regenerate_recovery_codes(user) if first or not self.recovery_codes_left(user) else None
        return Enrolled(factor, codes)

    def add(self, user: User, factor: Factor) -> Enrolled:
        """Enrol a factor made elsewhere (a verified passkey registration, ``idp.domain.factors.passkeys``)."""
        return self._enrolled(user, factor)

    # -- checking a second factor ----------------------------------------------------------------
    def verify_code(self, user: User, code: str, *, device: str | None = None) -> str | None:
        """A code typed on the second-factor page: an authenticator app's code, or a recovery code.
        Returns the ``amr`` method shown (``otp``) or None; raises ``TooManyAttempts`` before checking
        anything when the account's second-factor allowance is spent, ``ThrottleUnavailable`` when
        the counters cannot be reached (fails closed, like passwords)."""
        key = throttle_key(user)
        try:
            self.throttle.check(key, self.info.ip, device=device)
        except TooManyAttempts as exc:
            self.record(audit.FACTOR_FAILED, user, factor="code", reason="throttled", scope=exc.scope)
            metrics.MFA_EVENTS.labels("code", "throttled").inc()
            raise
        kind = self._check_code(user, code)
        if kind is None:
            self.record(audit.FACTOR_FAILED, user, factor="code", reason="bad_code")
            metrics.MFA_EVENTS.labels("code", "failed").inc()
            for scope, wait in self._after(self.throttle.record_failure, key, device) or []:
                self.record(audit.THROTTLE_ENGAGED, user, scope=scope, retry_after=int(wait + 0.999), factor="code")
            return None
        self._after(self.throttle.record_success, key, device)
        return "otp"

    def _check_code(self, user: User, code: str) -> str | None:
        now = self.now()
        if totp.looks_like_code(code):
            for factor in factor_repo.list_factors(self.db, user.id, factor_repo.TOTP):
                secret = sealed.unseal(factor.secret or "", self._passphrase, TOTP_SECRET)
                step = totp.matching_step(secret, code, now=now, last_step=factor.last_step)
                if step is not None and factor_repo.advance_step(self.db, factor.id, step, now):
                    self.record(audit.FACTOR_USED, user, factor=factor.kind, factor_id=factor.id)
                    metrics.MFA_EVENTS.labels(factor.kind, "used").inc()
                    return factor.kind
            return None
        if recovery.looks_like_code(code) and self.enrolled(user):
            digest = recovery.code_hash(code, self.settings.server.secret_key)
            if factor_repo.use_recovery_code(self.db, user.id, digest, now):
                left = factor_repo.recovery_codes_left(self.db, user.id)
                self.record(audit.RECOVERY_CODE_USED, user, codes_left=left)
                metrics.MFA_EVENTS.labels("recovery_code", "used").inc()
                self._mail(user, "recovery_used", codes_left=left)
                return "recovery_code"
        return None

    def record_step_up(self, user: User, amr: list[str], client_id: str | None) -> None:
        """A signed-in session showed a second factor for an app (``idp.domain.sessions.step_up``)."""
        self.record(audit.MFA_STEP_UP, user, amr=amr, for_client=client_id)
        metrics.MFA_EVENTS.labels("session", "step_up").inc()

    def passkey_used(self, user: User, factor: Factor) -> None:
        """A passkey assertion was verified (``idp.domain.factors.passkeys``): audit and count it."""
        self.record(audit.FACTOR_USED, user, factor=factor.kind, factor_id=factor.id)
        metrics.MFA_EVENTS.labels(factor.kind, "used").inc()

    def _after(self, method: Callable[..., Any], key: str, device: str | None) -> Any:
        try:
            return method(key, self.info.ip, device)
        except ThrottleUnavailable:
            return None  # the attempt was counted by ``check``; see ``idp.domain.signin._after``

    # -- managing ------------------------------------------------------------------------------
    def regenerate_recovery_codes(self, user: User) -> list[str]:
        """Ten new codes (the old ones stop working); shown once by the caller, only hashes kept."""
        codes = recovery.new_codes()
        key = self.settings.server.secret_key
        factor_repo.replace_recovery_codes(self.db, user.id, [recovery.code_hash(c, key) for c in codes], self.now())
        self.record(audit.RECOVERY_CODES_GENERATED, user, count=len(codes))
        return codes

    def rename(self, user: User, factor_id: str, name: str) -> Factor:
        factor = self._own(user, factor_id)
        default = Text("Authenticator app") if factor.kind == factor_repo.TOTP else Text("Passkey")
        previous, factor.name = factor.name, check_name(name, default)
        self.record(
            audit.FACTOR_RENAMED, user, factor=factor.kind, factor_id=factor.id, name=factor.name, previous=previous
        )
        return factor

    def remove(self, user: User, factor_id: str) -> Factor:
        """Remove one of the user's own factors; the last one is refused while policy requires one.
        With the last one go the recovery codes (there is no second step left for them to replace)."""
        factor = self._own(user, factor_id)
        remaining = factor_repo.count_factors(self.db, user.id) - 1
        if remaining == 0 and self.standing(user).required:
            raise LAST_REQUIRED
        self.db.delete(factor)
        if remaining == 0:
            factor_repo.delete_recovery_codes(self.db, user.id)
        self.record(audit.FACTOR_REMOVED, user, factor=factor.kind, factor_id=factor.id, name=factor.name)
        metrics.MFA_EVENTS.labels(factor.kind, "removed").inc()
        return factor

    def reset(self, user: User, reason: str) -> int:
        """The help desk's reset (``idp users reset-mfa``, the admin API): every factor and recovery code
        goes, the next sign-in forces enrolment (no grace), the user is told by mail. Returns how many
        factors were removed. ``reason`` is required and kept in the audit trail."""
        reason = " ".join((reason or "").split())
        if not reason:
            raise FactorError("reason", Text("Give a reason for the reset (it is kept in the audit trail)."))
        removed = factor_repo.remove_all(self.db, user.id)
        user.mfa_enrol_required = True
        self.record(audit.MFA_RESET, user, reason=reason[:500], factors_removed=removed)
        metrics.MFA_EVENTS.labels("all", "reset").inc()
        self._mail(user, "mfa_reset", reason=reason[:500])
        return removed

    def _own(self, user: User, factor_id: str) -> Factor:
        factor = factor_repo.get_factor(self.db, user.id, factor_id)
        if factor is None:
            raise FactorError("not_found", Text("This sign-in method does not exist (any more)."))
        return factor

    def _mail(self, user: User, kind: str, **context: Any) -> None:
        email = user.email
        if not email:
            return
        lang = mail_language(user, "en")
        context.update(
            name=user.display_name or user.registration_number,
            registration_number=user.registration_number,
            at=self.now(),
            ip=self.info.ip,
            account_link=f"{self.settings.server.issuer}/account",
        )
        after_commit(self.db, lambda: self.notifier.send(kind, email, lang, **context))


def reseal_secrets(db: Session, old: str, new: str) -> int:
    """Re-seal every stored TOTP secret under a new passphrase (``idp keys change-passphrase``, in its
    transaction); returns how many."""
    count = 0
    for factor in db.query(Factor).filter(Factor.kind == factor_repo.TOTP):
        factor.secret = sealed.reseal(factor.secret or "", old, new, TOTP_SECRET)
        count += 1
    return count
