"""Passkeys without a browser (``idp.domain.factors.passkeys``): the relying party's identity, the opaque
user handle, challenges (single use, bound to browser, purpose and user, expiring), the options, and
whole ceremonies against a software authenticator (ES256, attestation "none"): origin and RP ID
checks, user verification for a passkey alone, the cloned-authenticator signal. Repositories and the
audit trail are stand-ins (the real ones are driven by tests/e2e/test_passkeys_browser.py)."""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.helpers import bytes_to_base64url
from webauthn.helpers.encode_cbor import encode_cbor

from idp.core.clock import FixedClock
from idp.core.request import RequestInfo
from idp.core.settings import Settings
from idp.domain.factors import passkeys
from idp.domain.factors.passkeys import PASSWORDLESS, REGISTER, SECOND_FACTOR, Passkeys
from idp.domain.factors.service import Enrolled, FactorError
from idp.storage.sql import audit
from idp.storage.sql.models import Factor, User
from idp.storage.store.memory import MemoryStore

ISSUER = "https://login.example.edu"
BROWSER, OTHER_BROWSER = "b" * 64, "c" * 64


# -- stand-ins -------------------------------------------------------------------------------


@dataclass
class FakeFactors:
    """What ``Passkeys`` uses of ``Factors``, recording instead of writing."""

    settings: Settings
    now: Any
    db: Any = None
    info: RequestInfo = field(default_factory=RequestInfo)
    audited: list[tuple[str, dict]] = field(default_factory=list)
    stored: list[Factor] = field(default_factory=list)
    used: list[Factor] = field(default_factory=list)

    def record(self, type: str, user: User, **details: Any) -> None:
        self.audited.append((type, details))

    def add(self, user: User, factor: Factor) -> Enrolled:
        self.stored.append(factor)
        return Enrolled(factor, None)

    def passkey_used(self, user: User, factor: Factor) -> None:
        self.used.append(factor)


@pytest.fixture
def world(tmp_path, monkeypatch):
    settings = Settings.from_env(
        {}, issuer=ISSUER, instance_dir=str(tmp_path), secret_key="k" * 40, keys_passphrase="p" * 16
    )
    clock = FixedClock()
    factors = FakeFactors(settings, clock.now)
    users = {1: User(id=1, sub="sub-ada", registration_number="S1000001", email="ada@example.edu", active=True)}
    users[2] = User(id=2, sub="sub-bob", registration_number="S1000002", email=None, active=True)
    monkeypatch.setattr(
        passkeys.factor_repo, "list_factors", lambda db, uid, kind=None: [f for f in factors.stored if f.user_id == uid]
    )
    monkeypatch.setattr(
        passkeys.factor_repo,
        "by_credential_id",
        lambda db, cid: next((f for f in factors.stored if f.credential_id == cid), None),
    )
    monkeypatch.setattr(passkeys.user_repo, "get_user", lambda db, uid: users.get(uid))

    def advance_sign_count(db, factor_id, stored, received, now, backed_up):
        """The conditional UPDATE: taken only while the counter still holds what the check saw."""
        row = next(f for f in factors.stored if f.id == factor_id)
        return (row.sign_count or 0) == stored

    monkeypatch.setattr(passkeys.factor_repo, "advance_sign_count", advance_sign_count)
    monkeypatch.setattr(passkeys.audit, "record", lambda db, type, **kw: factors.audited.append((type, kw)))
    store = MemoryStore(now=clock.now)
    return SimpleNamespace(
        factors=factors,
        clock=clock,
        store=store,
        users=users,
        keys=Passkeys(factors, store, BROWSER),
        settings=settings,
    )


def reasons(world, type: str = audit.FACTOR_FAILED) -> list[str]:
    return [d["reason"] for t, d in world.factors.audited if t == type]


class SoftAuthenticator:
    """A passkey in software: ES256 key, resident, user verification, a signature counter."""

    def __init__(self, rp_id: str = "login.example.edu", *, counter: int = 0, backup_eligible: bool = False):
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = hashlib.sha256(repr(self.key).encode()).digest()
        self.rp_id, self.counter, self.backup_eligible = rp_id, counter, backup_eligible
        self.user_handle: bytes | None = None

    def _flags(self, uv: bool, attested: bool) -> int:
        return 0x01 | (0x04 if uv else 0) | (0x08 if self.backup_eligible else 0) | (0x40 if attested else 0)

    def _client_data(self, kind: str, options: dict, origin: str) -> bytes:
        return json.dumps({"type": kind, "challenge": options["challenge"], "origin": origin}).encode()

    def create(self, options: dict, origin: str = ISSUER, uv: bool = True) -> str:
        self.user_handle = _from_b64(options["user"]["id"])
        numbers = self.key.public_key().public_numbers()
        cose = encode_cbor({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")})
        auth_data = (
            hashlib.sha256(self.rp_id.encode()).digest()
            + bytes([self._flags(uv, True)])
            + struct.pack(">I", self.counter)
            + b"\0" * 16
            + struct.pack(">H", len(self.credential_id))
            + self.credential_id
            + cose
        )
        attestation = encode_cbor({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return self._json(
            {
                "clientDataJSON": _b64(self._client_data("webauthn.create", options, origin)),
                "attestationObject": _b64(attestation),
                "transports": ["internal"],
            }
        )

    def get(self, options: dict, origin: str = ISSUER, uv: bool = True, counter_step: int = 1) -> str:
        self.counter += counter_step
        auth_data = hashlib.sha256(self.rp_id.encode()).digest() + bytes([self._flags(uv, False)])
        auth_data += struct.pack(">I", self.counter)
        client_data = self._client_data("webauthn.get", options, origin)
        signature = self.key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        response = {
            "clientDataJSON": _b64(client_data),
            "authenticatorData": _b64(auth_data),
            "signature": _b64(signature),
        }
        if self.user_handle:
            response["userHandle"] = _b64(self.user_handle)
        return self._json(response)

    def _json(self, response: dict) -> str:
        cid = _b64(self.credential_id)
        return json.dumps(
            {"id": cid, "rawId": cid, "type": "public-key", "response": response, "clientExtensionResults": {}}
        )


def _b64(data: bytes) -> str:
    return bytes_to_base64url(data)


def _from_b64(text: str) -> bytes:
    from webauthn import base64url_to_bytes

    return base64url_to_bytes(text)


def enrol(world, authenticator: SoftAuthenticator, user_id: int = 1) -> Factor:
    user = world.users[user_id]
    options = json.loads(world.keys.registration_options(user))
    enrolled, _amr = world.keys.register(user, authenticator.create(options), "Laptop")
    return enrolled.factor


# -- the relying party and the user handle ---------------------------------------------------------


def test_the_relying_party_is_the_issuers_host_and_origin():
    assert passkeys.rp_id("https://login.example.edu") == "login.example.edu"
    assert passkeys.origin("https://login.example.edu") == "https://login.example.edu"
    assert passkeys.rp_id("http://localhost:8000") == "localhost"
    assert passkeys.origin("http://localhost:8000/") == "http://localhost:8000"


def test_the_user_handle_is_opaque_stable_and_keyed():
    ada = User(sub="sub-ada", registration_number="S1000001", email="ada@example.edu")
    handle = passkeys.user_handle(ada, "k" * 40)
    assert len(handle) == 32 and handle == passkeys.user_handle(ada, "k" * 40)
    assert handle != passkeys.user_handle(ada, "j" * 40)
    assert handle != passkeys.user_handle(User(sub="sub-bob"), "k" * 40)
    for revealing in (b"S1000001", b"ada@example.edu", b"sub-ada"):
        assert revealing not in handle


@pytest.mark.parametrize(
    ("stored", "received", "suspected"),
    [(0, 0, False), (0, 1, False), (5, 6, False), (5, 5, True), (5, 4, True), (5, 0, True), (0, 7, False)],
)
def test_a_counter_that_did_not_grow_is_the_clone_signal(stored, received, suspected):
    assert passkeys.clone_suspected(stored, received) is suspected


def test_amr_says_where_the_key_lives_and_whether_the_user_was_verified():
    assert passkeys.amr_of(False, True) == ["hwk", "user"]
    assert passkeys.amr_of(True, False) == ["swk"]


# -- challenges -------------------------------------------------------------------------------------


def client_data(challenge: bytes) -> bytes:
    return json.dumps({"type": "webauthn.get", "challenge": _b64(challenge), "origin": ISSUER}).encode()


def test_a_challenge_works_once_for_its_browser_purpose_and_user(world):
    ada = world.users[1]
    world.keys._issue(b"c1" * 16, SECOND_FACTOR, ada)
    assert world.keys._redeem(client_data(b"c1" * 16), SECOND_FACTOR, ada) == (b"c1" * 16, ISSUER)
    with pytest.raises(FactorError) as again:
        world.keys._redeem(client_data(b"c1" * 16), SECOND_FACTOR, ada)
    assert again.value.reason == "challenge"


@pytest.mark.parametrize("change", ["browser", "purpose", "user", "expired", "unknown"])
def test_a_challenge_is_refused_elsewhere(world, change):
    ada, bob = world.users[1], world.users[2]
    world.keys._issue(b"c2" * 16, SECOND_FACTOR, ada)
    keys, purpose, user, challenge = world.keys, SECOND_FACTOR, ada, b"c2" * 16
    if change == "browser":
        keys = Passkeys(world.factors, world.store, OTHER_BROWSER)
    elif change == "purpose":
        purpose, user = PASSWORDLESS, None
    elif change == "user":
        user = bob
    elif change == "expired":
        world.clock.advance(passkeys.CHALLENGE_SECONDS)
    else:
        challenge = b"c3" * 16
    with pytest.raises(FactorError) as refused:
        keys._redeem(client_data(challenge), purpose, user)
    assert refused.value.reason == "challenge"
    if change != "unknown":
        with pytest.raises(FactorError):  # and it is gone: single use, even when refused
            world.keys._redeem(client_data(b"c2" * 16), SECOND_FACTOR, ada)


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"\xff\xfe",
        b'{"type": "webauthn.get", "challenge": 5, "origin": "x"}',
        b'{"challenge": "AA", "origin": 5, "type": "t"}',
    ],
)
def test_unreadable_client_data_is_malformed(world, raw):
    with pytest.raises(FactorError) as refused:
        world.keys._redeem(raw, REGISTER, world.users[1])
    assert refused.value.reason == "malformed"


# -- options ----------------------------------------------------------------------------------------


def test_registration_options_ask_for_a_discoverable_passkey_and_exclude_the_users_own(world):
    first = enrol(world, SoftAuthenticator())
    options = json.loads(world.keys.registration_options(world.users[1]))
    assert options["rp"] == {"name": world.settings.branding.name, "id": "login.example.edu"}
    assert options["user"]["name"] == "ada@example.edu"
    assert _from_b64(options["user"]["id"]) == passkeys.user_handle(world.users[1], "k" * 40)
    assert options["attestation"] == "none"
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["authenticatorSelection"]["userVerification"] == "preferred"
    assert [c["id"] for c in options["excludeCredentials"]] == [first.credential_id]
    assert options["excludeCredentials"][0]["transports"] == ["internal"]
    bob = json.loads(world.keys.registration_options(world.users[2]))
    assert bob["user"]["name"] == "S1000002" and bob["excludeCredentials"] == []


def test_authentication_options_for_the_second_step_and_for_a_passkey_alone(world):
    factor = enrol(world, SoftAuthenticator())
    second = json.loads(world.keys.authentication_options(world.users[1]))
    assert [c["id"] for c in second["allowCredentials"]] == [factor.credential_id]
    assert second["userVerification"] == "preferred" and second["rpId"] == "login.example.edu"
    alone = json.loads(world.keys.authentication_options(None))
    assert alone["allowCredentials"] == [] and alone["userVerification"] == "required"


# -- ceremonies ------------------------------------------------------------------------------------


def test_a_registered_passkey_keeps_its_key_counter_flags_and_transports(world):
    factor = enrol(world, SoftAuthenticator(counter=3, backup_eligible=True))
    assert factor.kind == "passkey" and factor.name == "Laptop" and factor.user_id == 1
    assert factor.sign_count == 3 and factor.backup_eligible and factor.transports == ["internal"]
    assert factor.aaguid == "00000000-0000-0000-0000-000000000000"


def test_registration_from_another_origin_is_refused_and_audited(world):
    ada = world.users[1]
    options = json.loads(world.keys.registration_options(ada))
    with pytest.raises(FactorError) as refused:
        world.keys.register(ada, SoftAuthenticator().create(options, origin="https://evil.example"), "")
    assert refused.value.reason == "origin" and reasons(world) == ["origin"]
    assert world.factors.stored == []


def test_the_second_step_proves_hwk_and_user_and_counts_up(world):
    authenticator = SoftAuthenticator()
    factor = enrol(world, authenticator)
    world.clock.advance(10)
    options = json.loads(world.keys.authentication_options(world.users[1]))
    used = world.keys.authenticate(authenticator.get(options), world.users[1])
    assert used.user is world.users[1] and used.factor is factor and used.amr == ["hwk", "user"]
    assert factor.sign_count == 1 and factor.last_used_at == world.clock.now()
    assert world.factors.used == [factor]


def test_a_passkey_alone_finds_its_user_and_must_verify_them(world):
    authenticator = SoftAuthenticator(backup_eligible=True)
    enrol(world, authenticator, user_id=2)
    options = json.loads(world.keys.authentication_options(None))
    used = world.keys.authenticate(authenticator.get(options), None)
    assert used.user is world.users[2] and used.amr == ["swk", "user"]
    # Its use is counted here; the sign-in (login.success) is audited where the session starts.
    assert world.factors.used == [used.factor]
    assert audit.LOGIN_SUCCESS not in [t for t, _d in world.factors.audited]
    options = json.loads(world.keys.authentication_options(None))
    with pytest.raises(FactorError) as refused:
        world.keys.authenticate(authenticator.get(options, uv=False), None)
    assert refused.value.reason == "invalid"


def test_another_users_passkey_is_not_a_second_step(world):
    authenticator = SoftAuthenticator()
    enrol(world, authenticator, user_id=2)
    options = json.loads(world.keys.authentication_options(world.users[1]))
    with pytest.raises(FactorError) as refused:
        world.keys.authenticate(authenticator.get(options), world.users[1])
    assert refused.value.reason == "unknown_credential"


def test_a_disabled_users_passkey_is_refused(world):
    authenticator = SoftAuthenticator()
    enrol(world, authenticator)
    world.users[1].active = False
    options = json.loads(world.keys.authentication_options(None))
    with pytest.raises(FactorError) as refused:
        world.keys.authenticate(authenticator.get(options), None)
    assert refused.value.reason == "disabled" and reasons(world) == ["disabled"]


@pytest.mark.parametrize(
    ("origin", "rp_id", "reason"), [("https://evil.example", None, "origin"), (ISSUER, "evil.example", "invalid")]
)
def test_an_answer_for_another_origin_or_rp_id_is_refused(world, origin, rp_id, reason):
    authenticator = SoftAuthenticator()
    factor = enrol(world, authenticator)
    if rp_id:
        authenticator.rp_id = rp_id
    options = json.loads(world.keys.authentication_options(None))
    with pytest.raises(FactorError) as refused:
        world.keys.authenticate(authenticator.get(options, origin=origin), None)
    assert refused.value.reason == reason and reasons(world) == [reason]
    assert world.factors.used == [] and factor.sign_count == 0


def test_a_counter_that_went_back_is_audited_as_a_clone_and_refused(world):
    authenticator = SoftAuthenticator(counter=10)
    factor = enrol(world, authenticator)
    options = json.loads(world.keys.authentication_options(world.users[1]))
    world.keys.authenticate(authenticator.get(options), world.users[1])
    assert factor.sign_count == 11
    options = json.loads(world.keys.authentication_options(world.users[1]))
    with pytest.raises(FactorError) as refused:
        world.keys.authenticate(authenticator.get(options, counter_step=-3), world.users[1])  # the copy lags
    assert refused.value.reason == "clone"
    [(_type, details)] = [(t, d) for t, d in world.factors.audited if t == audit.FACTOR_CLONE_SUSPECTED]
    assert details["stored_count"] == 11 and details["received_count"] == 8
    assert factor.sign_count == 11 and world.factors.used == [factor]  # only the first use counted


def test_a_forged_signature_is_refused(world):
    authenticator = SoftAuthenticator()
    enrol(world, authenticator)
    impostor = SoftAuthenticator()
    impostor.credential_id, impostor.user_handle = authenticator.credential_id, authenticator.user_handle
    options = json.loads(world.keys.authentication_options(None))
    with pytest.raises(FactorError) as refused:
        world.keys.authenticate(impostor.get(options), None)
    assert refused.value.reason == "invalid"


@pytest.mark.parametrize("credential", ["", "{}", "not json", "x" * 30_000])
def test_garbage_is_malformed_not_an_error(world, credential):
    with pytest.raises(FactorError) as refused:
        world.keys.authenticate(credential, None)
    assert refused.value.reason == "malformed"
    with pytest.raises(FactorError):
        world.keys.register(world.users[1], credential, "")
