"""Passkeys (WebAuthn Level 3, py_webauthn): registered on the account page or during a forced
enrolment, shown as the second step after the password, or used alone to sign in (passwordless).

- The relying party is the provider: RP ID the issuer's host, the one accepted origin the issuer's
  origin (§7.1 step 9, §7.2 step 13). Attestation "none": we trust the key, not a vendor.
- Credentials are discoverable (resident key required), so a passkey can start a sign-in without
  a username; user verification is preferred as a second factor and required alone.
- WebAuthn's ``user.id`` is opaque (§14.6.1): an HMAC of the user's ``sub`` under the server
  secret, never the registration number or the e-mail address.
- A challenge is single use (popped from the store), lives ``CHALLENGE_SECONDS`` and is bound to
  the browser (its binding cookie's hash), the purpose and the user it was made for.
- A signature counter that did not grow (when either value is non-zero) is the cloned-authenticator
  signal of §6.1.1: audited ``factor.clone_suspected`` and refused.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import webauthn
from webauthn.helpers import bytes_to_base64url, parse_client_data_json
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.parse_authentication_credential_json import parse_authentication_credential_json
from webauthn.helpers.parse_registration_credential_json import parse_registration_credential_json
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from idp.core import metrics
from idp.core.ports import Store
from idp.core.text import Text
from idp.core.tokens import equals, new_id
from idp.domain.factors.service import Enrolled, FactorError, Factors, check_name
from idp.storage.sql import audit
from idp.storage.sql import factors as factor_repo
from idp.storage.sql import users as user_repo
from idp.storage.sql.models import Factor, User

#: What a challenge is for: adding a passkey, the second step after a password, a sign-in without one.
REGISTER, SECOND_FACTOR, PASSWORDLESS = "register", "second_factor", "passwordless"
CHALLENGE_KEY = "passkey-challenge:"
CHALLENGE_SECONDS = 300
#: A JSON credential is a few kilobytes; anything much larger is not one.
CREDENTIAL_MAX = 20_000
#: What parsing and verifying a browser's answer raise for one that is not good: py_webauthn's own
#: errors, and the base64, CBOR and type errors of a crafted one (a refusal, never a server error).
UNVERIFIABLE = (WebAuthnException, ValueError, TypeError, KeyError, IndexError)

REFUSED = {
    "malformed": Text("Your browser sent an answer from the passkey that we cannot read. Please try again."),
    "challenge": Text("This passkey request has expired or was already used. Please try again."),
    "origin": Text("This passkey answer was made for another web address and is refused."),
    "unknown_credential": Text("This passkey is not registered for an account here (it may have been removed)."),
    "disabled": Text("This account is disabled. Contact the service desk."),
    "invalid": Text("The passkey could not be verified. Please try again."),
    "duplicate": Text("This passkey is already registered."),
    "clone": Text(
        "This passkey was refused because it may have been copied. Use another sign-in method and "
        "tell the service desk."
    ),
}


def rp_id(issuer: str) -> str:
    """The RP ID: the issuer's host (§5.1.3: an effective domain of the origin)."""
    return urlsplit(issuer).hostname or ""


def origin(issuer: str) -> str:
    """The issuer's origin (scheme, host and port), the only one a ceremony may come from."""
    parts = urlsplit(issuer)
    return f"{parts.scheme}://{parts.netloc}"


def user_handle(user: User, secret_key: str) -> bytes:
    """WebAuthn's ``user.id``: opaque, stable, 32 bytes, revealing nothing about the account (§14.6.1)."""
    return hmac.new(secret_key.encode("utf-8"), b"webauthn-user:" + user.sub.encode("utf-8"), hashlib.sha256).digest()


def clone_suspected(stored: int, received: int) -> bool:
    """§6.1.1: a counter that did not grow, when either is non-zero, hints at a cloned authenticator
    (authenticators without a counter always send 0)."""
    return (stored > 0 or received > 0) and received <= stored


def amr_of(backup_eligible: bool, user_verified: bool) -> list[str]:
    """RFC 8176: ``swk`` for a passkey that may be synced (backup-eligible), ``hwk`` for one bound to
    its device; ``user`` when the authenticator verified its user (PIN or biometrics)."""
    return ["swk" if backup_eligible else "hwk", *(["user"] if user_verified else [])]


@dataclass(frozen=True)
class Used:
    """A verified passkey assertion: whose, which passkey, and the ``amr`` it proved."""

    user: User
    factor: Factor
    amr: list[str]


@dataclass
class Passkeys:
    """Passkey ceremonies for the browser ``browser`` (its binding hash), within ``factors``' unit of
    work. ``defer`` runs a store write once that work is committed (the request's ``on_commit``)."""

    factors: Factors
    store: Store
    browser: str
    defer: Callable[[Callable[[], object]], None] = field(default=lambda action: action())

    @property
    def _issuer(self) -> str:
        return self.factors.settings.server.issuer

    # -- challenges ------------------------------------------------------------------------------
    def _issue(self, challenge: bytes, purpose: str, user: User | None) -> None:
        now = self.factors.now()
        record: dict[str, Any] = {"purpose": purpose, "user": user.id if user else None, "browser": self.browser}
        record["exp"] = now + CHALLENGE_SECONDS
        key = CHALLENGE_KEY + hashlib.sha256(challenge).hexdigest()
        self.defer(lambda: self.store.put(key, record, CHALLENGE_SECONDS))

    def _redeem(self, client_data_json: bytes, purpose: str, user: User | None) -> tuple[bytes, str]:
        """The challenge and origin of an answer, once its challenge is taken (it cannot be used again)
        and found to be this browser's, for this purpose and user; else reason ``challenge``."""
        try:
            client_data = parse_client_data_json(client_data_json)
        except UNVERIFIABLE:
            raise FactorError("malformed", REFUSED["malformed"]) from None
        if not isinstance(client_data.origin, str):
            raise FactorError("malformed", REFUSED["malformed"])
        record = self.store.pop(CHALLENGE_KEY + hashlib.sha256(client_data.challenge).hexdigest())
        if not isinstance(record, dict) or not self._bound(record, purpose, user):
            raise FactorError("challenge", REFUSED["challenge"])
        return client_data.challenge, client_data.origin

    def _bound(self, record: dict[str, Any], purpose: str, user: User | None) -> bool:
        return (
            record.get("purpose") == purpose
            and record.get("user") == (user.id if user else None)
            and equals(str(record.get("browser", "")), self.browser)
            and self.factors.now() < float(record.get("exp", 0))
        )

    def _fail(self, reason: str, user: User | None, factor: Factor | None = None, **details: Any) -> FactorError:
        """Audit and count a refused passkey; the error to raise."""
        if factor is not None:
            details["factor_id"] = factor.id
        fields = self.factors.info.audit_fields()
        user_id = user.id if user else None
        audit.record(
            self.factors.db, audit.FACTOR_FAILED, now=self.factors.now(), user_id=user_id, **fields,
            factor=factor_repo.PASSKEY, reason=reason, **details,
        )  # fmt: skip
        metrics.MFA_EVENTS.labels(factor_repo.PASSKEY, "failed").inc()
        return FactorError(reason, REFUSED[reason])

    # -- registration ----------------------------------------------------------------------------
    def registration_options(self, user: User) -> str:
        """``PublicKeyCredentialCreationOptions`` as JSON for ``navigator.credentials.create``."""
        settings = self.factors.settings
        options = webauthn.generate_registration_options(
            rp_id=rp_id(self._issuer),
            rp_name=settings.branding.name,
            user_id=user_handle(user, settings.server.secret_key),
            user_name=user.email or user.registration_number,
            user_display_name=user.display_name or user.registration_number,
            timeout=CHALLENGE_SECONDS * 1000,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.REQUIRED,
                require_resident_key=True,
                user_verification=UserVerificationRequirement.PREFERRED,
            ),
            exclude_credentials=self._descriptors(user),  # §5.4: one account, one registration per key
        )
        self._issue(options.challenge, REGISTER, user)
        return webauthn.options_to_json(options)

    def register(self, user: User, credential_json: str, name: str) -> tuple[Enrolled, list[str]]:
        """Verify a ``navigator.credentials.create`` answer and enrol the passkey; with the ``amr`` it
        proved (the user just used it)."""
        name = check_name(name, Text("Passkey"))
        try:
            credential = parse_registration_credential_json(_bounded(credential_json))
        except UNVERIFIABLE:
            raise self._fail("malformed", user) from None
        try:
            challenge, seen_origin = self._redeem(credential.response.client_data_json, REGISTER, user)
        except FactorError as exc:
            raise self._fail(exc.reason, user) from None
        if seen_origin != origin(self._issuer):
            raise self._fail("origin", user, origin=seen_origin[:200])
        try:
            verified = webauthn.verify_registration_response(
                credential=credential,
                expected_challenge=challenge,
                expected_rp_id=rp_id(self._issuer),
                expected_origin=origin(self._issuer),
            )
        except UNVERIFIABLE as exc:
            raise self._fail("invalid", user, detail=str(exc)[:200]) from None
        credential_id = bytes_to_base64url(verified.credential_id)
        if factor_repo.by_credential_id(self.factors.db, credential_id) is not None:
            raise self._fail("duplicate", user)
        eligible = verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE
        factor = Factor(
            id=new_id(),
            user_id=user.id,
            kind=factor_repo.PASSKEY,
            name=name,
            created_at=self.factors.now(),
            last_used_at=self.factors.now(),
            credential_id=credential_id,
            public_key=bytes_to_base64url(verified.credential_public_key),
            sign_count=verified.sign_count,
            transports=[t.value for t in credential.response.transports or []],
            backup_eligible=eligible,
            backup_state=verified.credential_backed_up,
            aaguid=verified.aaguid,
        )
        return self.factors.add(user, factor), amr_of(eligible, verified.user_verified)

    def _descriptors(self, user: User) -> list[PublicKeyCredentialDescriptor]:
        return [
            PublicKeyCredentialDescriptor(
                id=webauthn.base64url_to_bytes(f.credential_id or ""),
                transports=[AuthenticatorTransport(t) for t in f.transports or [] if t in _TRANSPORTS],
            )
            for f in factor_repo.list_factors(self.factors.db, user.id, factor_repo.PASSKEY)
        ]

    # -- authentication --------------------------------------------------------------------------
    def authentication_options(self, user: User | None) -> str:
        """``PublicKeyCredentialRequestOptions`` as JSON: for ``user``'s passkeys (the second step), or,
        without a user, for any discoverable one that verifies its user (passwordless)."""
        options = webauthn.generate_authentication_options(
            rp_id=rp_id(self._issuer),
            timeout=CHALLENGE_SECONDS * 1000,
            allow_credentials=self._descriptors(user) if user else [],
            user_verification=UserVerificationRequirement.PREFERRED if user else UserVerificationRequirement.REQUIRED,
        )
        self._issue(options.challenge, SECOND_FACTOR if user else PASSWORDLESS, user)
        return webauthn.options_to_json(options)

    def authenticate(self, credential_json: str, user: User | None) -> Used:
        """Verify a ``navigator.credentials.get`` answer: of one of ``user``'s passkeys (the second
        step), or, without a user, of any active account's passkey that verified its user."""
        try:
            credential = parse_authentication_credential_json(_bounded(credential_json))
        except UNVERIFIABLE:
            raise self._fail("malformed", user) from None
        factor = factor_repo.by_credential_id(self.factors.db, credential.id)
        owner = user or (user_repo.get_user(self.factors.db, factor.user_id) if factor else None)
        try:
            challenge, seen_origin = self._redeem(credential.response.client_data_json, _purpose(user), user)
        except FactorError as exc:
            raise self._fail(exc.reason, owner, factor) from None
        if factor is None or owner is None or factor.user_id != owner.id:
            raise self._fail("unknown_credential", user)
        if seen_origin != origin(self._issuer):
            raise self._fail("origin", owner, factor, origin=seen_origin[:200])
        if not owner.active:
            raise self._fail("disabled", owner, factor)
        handle = credential.response.user_handle
        if handle and not hmac.compare_digest(handle, user_handle(owner, self.factors.settings.server.secret_key)):
            raise self._fail("unknown_credential", owner, factor)
        return self._verified(credential, challenge, owner, factor, alone=user is None)

    def _verified(self, credential: Any, challenge: bytes, owner: User, factor: Factor, *, alone: bool) -> Used:
        try:
            verified = webauthn.verify_authentication_response(
                credential=credential,
                expected_challenge=challenge,
                expected_rp_id=rp_id(self._issuer),
                expected_origin=origin(self._issuer),
                credential_public_key=webauthn.base64url_to_bytes(factor.public_key or ""),
                credential_current_sign_count=0,  # compared below, once the signature is known good
                require_user_verification=alone,  # a passkey alone must be two factors (RFC 8176 mfa)
            )
        except UNVERIFIABLE as exc:
            raise self._fail("invalid", owner, factor, detail=str(exc)[:200]) from None
        return self._accepted(verified, owner, factor)

    def _accepted(self, verified: Any, owner: User, factor: Factor) -> Used:
        stored, now = factor.sign_count or 0, self.factors.now()
        if clone_suspected(stored, verified.new_sign_count) or not factor_repo.advance_sign_count(
            self.factors.db, factor.id, stored, verified.new_sign_count, now, verified.credential_backed_up
        ):
            self.factors.record(
                audit.FACTOR_CLONE_SUSPECTED, owner, factor=factor.kind, factor_id=factor.id,
                stored_count=factor.sign_count, received_count=verified.new_sign_count,
            )  # fmt: skip
            metrics.MFA_EVENTS.labels(factor.kind, "clone_suspected").inc()
            raise FactorError("clone", REFUSED["clone"])
        # The loaded row as the conditional UPDATE left it (no second read).
        factor.sign_count, factor.backup_state = verified.new_sign_count, verified.credential_backed_up
        factor.last_used_at = now
        self.factors.passkey_used(owner, factor)  # a sign-in it makes is audited where the session starts
        return Used(owner, factor, amr_of(factor.backup_eligible, verified.user_verified))


_TRANSPORTS = {t.value for t in AuthenticatorTransport}


def _purpose(user: User | None) -> str:
    return SECOND_FACTOR if user else PASSWORDLESS


def _bounded(credential_json: str) -> str:
    if not credential_json or len(credential_json) > CREDENTIAL_MAX:
        raise WebAuthnException("no credential, or too large")
    return credential_json
