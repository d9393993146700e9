"""Signing-key lifecycle: concurrency, schedules on the injected clock, removal, encryption at rest, revocation."""

from __future__ import annotations

import threading

import pytest
import requests
from cryptography.hazmat.primitives import serialization

from idp.core.errors import KeyLifecycleError
from idp.domain.keys import lifecycle as keyring
from idp.storage.sql import audit
from idp.storage.sql.database import Database
from idp.storage.sql.models import StoredKey
from tests.support.constants import TEST_KEYS_PASSPHRASE
from tests.support.helpers import bearer
from tests.support.keyhelpers import CachingVerifier, current_kid, header, revoke, rotate, stored_keys

POLICY = keyring.Policy(
    passphrase=TEST_KEYS_PASSPHRASE, publication_seconds=300, rotation_seconds=86400, retention_seconds=960
)
T0 = 1_900_000_000.0


def ensure_keys(database, now=T0, families=("RS256", "ES256")):
    with database.session() as db:
        keyring.ensure(db, families, now, POLICY)
        db.commit()


def states(database) -> list[tuple[str, str]]:
    with database.session() as db:
        return sorted((k.alg, k.state) for k in db.query(StoredKey))


def on_many_hosts(database_url, work, hosts=6):
    """Run ``work(db)`` at the same moment on ``hosts`` connections of their own; collect the outcomes."""
    barrier, outcomes, engines = threading.Barrier(hosts), [], [Database(database_url) for _ in range(hosts)]

    def host(engine):
        with engine.session() as db:
            barrier.wait()
            try:
                result = work(db)
                db.commit()
                outcomes.append(("done", result))
            except KeyLifecycleError as exc:
                db.rollback()
                outcomes.append(("refused", str(exc)))

    threads = [threading.Thread(target=host, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for e in engines:
        e.dispose()
    return outcomes


# -- concurrency -----------------------------------------------------------------------------------


def test_simultaneous_rotations_make_exactly_one_current_key(database_url, fresh_keys, clean_database):
    ensure_keys(fresh_keys)
    outcomes = on_many_hosts(database_url, lambda db: keyring.rotate(db, "ES256", T0 + 300, POLICY).kid)
    assert len(outcomes) == 6 and [o for o, _ in outcomes].count("done") == 1, outcomes
    # The others found a next key made a moment ago: relying parties cannot have it yet.
    assert all("published for 0s only" in detail for o, detail in outcomes if o == "refused")
    assert states(fresh_keys) == [
        ("ES256", "current"),
        ("ES256", "next"),
        ("ES256", "retired"),
        ("RS256", "current"),
        ("RS256", "next"),
    ]


def test_scheduled_maintenance_on_many_hosts_at_once_rotates_once(database_url, fresh_keys, clean_database):
    ensure_keys(fresh_keys)
    due = T0 + 86400
    outcomes = on_many_hosts(database_url, lambda db: keyring.maintain(db, ["RS256", "ES256"], due, POLICY))
    rotated = [r["rotated"] for o, r in outcomes if o == "done"]
    assert len(rotated) == 6 and sorted(len(r) for r in rotated) == [0, 0, 0, 0, 0, 2], outcomes
    assert states(fresh_keys).count(("ES256", "current")) == 1 and states(fresh_keys).count(("RS256", "current")) == 1
    with fresh_keys.session() as db:
        assert len(audit.list_events(db, audit.EventFilter(type=audit.KEY_ROTATED))) == 2


def test_a_second_current_key_is_impossible_even_without_the_lock(fresh_keys, clean_database):
    from sqlalchemy.exc import IntegrityError

    ensure_keys(fresh_keys)
    with fresh_keys.session() as db, pytest.raises(IntegrityError):
        keyring.create_key(db, "ES256", "current", T0, POLICY)


# -- schedule, removal -------------------------------------------------------------------------------


@pytest.fixture
def scheduled(make_provider, fresh_keys):
    provider = make_provider(key_rotation_days=1, key_publication_seconds=3600, keys_reload_seconds=1)
    provider.create_user()
    return provider


def test_the_provider_rotates_by_itself_when_the_schedule_says_so(scheduled):
    provider, clock = scheduled, scheduled.clock
    requests.get(provider.url + "/jwks.json", timeout=5)  # first use creates the keys
    first = current_kid(provider, "ES256")
    clock.advance(86400 - 10)
    requests.get(provider.url + "/jwks.json", timeout=5)
    assert current_kid(provider, "ES256") == first
    clock.advance(20)
    rp = provider.create_client()
    tokens = rp.exchange(rp.sign_in(provider.browser()))  # the first request after the due time rotates
    second = current_kid(provider, "ES256")
    assert second != first and header(tokens["access_token"])["kid"] == second
    assert {(k.kid, k.state) for k in stored_keys(provider) if k.alg == "ES256"} >= {
        (first, "retired"),
        (second, "current"),
    }
    events = provider.audit_events(audit.KEY_ROTATED)
    assert {e.details["alg"] for e in events} == {"RS256", "ES256"}
    assert {e.details["trigger"] for e in events} == {"schedule"}


def test_retired_keys_are_removed_once_nothing_they_signed_can_be_valid(make_provider, fresh_keys):
    provider = make_provider(
        access_token_seconds=600,
        id_token_seconds=900,
        clock_skew_seconds=60,
        key_publication_seconds=300,
        keys_reload_seconds=1,
    )
    provider.create_user()
    rp = provider.create_client()
    clock = provider.clock
    tokens = rp.exchange(rp.sign_in(provider.browser()))
    old = header(tokens["id_token"])["kid"]
    clock.advance(300)
    rotate(provider, "RS256")
    clock.advance(960 - 1)  # the longest lifetime (ID token, 900 s) plus the allowed skew (60 s)
    assert old in {k["kid"] for k in requests.get(provider.url + "/jwks.json", timeout=5).json()["keys"]}
    clock.advance(2)
    assert old not in {k["kid"] for k in requests.get(provider.url + "/jwks.json", timeout=5).json()["keys"]}
    assert old not in {k.kid for k in stored_keys(provider)}
    assert [e.details["kid"] for e in provider.audit_events(audit.KEY_REMOVED)] == [old]


# -- encryption at rest ------------------------------------------------------------------------------


def test_private_keys_are_encrypted_at_rest(make_provider, fresh_keys):
    provider = make_provider()
    document = requests.get(provider.url + "/jwks.json", timeout=5).text
    rows = stored_keys(provider)
    assert len(rows) == 4
    for row in rows:
        assert row.private_key.startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
        with pytest.raises(TypeError):  # "password was not given but private key is encrypted"
            serialization.load_pem_private_key(row.private_key.encode(), password=None)
        with pytest.raises(ValueError):
            serialization.load_pem_private_key(row.private_key.encode(), password=b"not the passphrase")
        serialization.load_pem_private_key(row.private_key.encode(), password=TEST_KEYS_PASSPHRASE.encode())
        assert "d" not in row.public_jwk
        assert row.private_key.splitlines()[1] not in document


def test_a_wrong_passphrase_is_a_clear_503_not_a_crash(make_provider, fresh_keys, caplog):
    make_provider()  # creates the keys with the right passphrase
    requests.get(make_provider().url + "/jwks.json", timeout=5)
    wrong = make_provider(keys_passphrase="a different passphrase")
    response = requests.get(wrong.url + "/jwks.json", timeout=5)
    assert response.status_code == 503 and response.json()["error"] == "temporarily_unavailable"
    assert "IDP_KEYS_PASSPHRASE" in caplog.text
    assert "a different passphrase" not in caplog.text and TEST_KEYS_PASSPHRASE not in caplog.text


# -- revocation ------------------------------------------------------------------------------------


@pytest.fixture
def signed_in(make_provider, fresh_keys):
    provider = make_provider(keys_reload_seconds=1)
    provider.create_user()
    rp, browser = provider.create_client(), provider.browser()
    return provider, rp, browser, rp.exchange(rp.sign_in(browser))


def introspect(provider, rp, token) -> dict:
    return requests.post(
        provider.url + "/introspect", data={"token": token}, timeout=5, auth=(rp.client_id, rp.client_secret)
    ).json()


def test_revoking_the_current_key_withdraws_it_and_its_tokens_at_once(signed_in):
    provider, rp, browser, tokens = signed_in
    kid = header(tokens["access_token"])["kid"]
    assert introspect(provider, rp, tokens["access_token"])["active"] is True
    upcoming = next(k.kid for k in stored_keys(provider) if k.alg == "ES256" and k.state == "next")

    result = revoke(provider, kid, reason="private key found in a backup", end_sessions=True)
    assert result == {"kid": kid, "alg": "ES256", "previous_state": "current", "sessions_ended": 1}
    provider.clock.advance(1)
    assert kid not in {k["kid"] for k in requests.get(provider.url + "/jwks.json", timeout=5).json()["keys"]}
    assert (
        requests.get(provider.url + "/userinfo", headers=bearer(tokens["access_token"]), timeout=5).status_code == 401
    )
    assert introspect(provider, rp, tokens["access_token"]) == {"active": False}
    # The next key signs at once (an emergency cannot wait for publication); a new next is published.
    assert current_kid(provider, "ES256") == upcoming
    fresh = rp.token_request({"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}).json()
    assert header(fresh["access_token"])["kid"] == upcoming
    assert CachingVerifier(provider).verify(fresh["access_token"])["sub"]
    # --end-sessions: the user has to sign in again.
    response = browser.get(rp.authorization_url(prompt="none"))
    assert "error=login_required" in response.headers["Location"]
    row = next(k for k in stored_keys(provider) if k.kid == kid)
    assert row.state == "revoked" and row.private_key == ""
    event = provider.audit_events(audit.KEY_REVOKED)[0]
    assert event.details == {
        "kid": kid,
        "alg": "ES256",
        "previous_state": "current",
        "reason": "private key found in a backup",
        "sessions_ended": 1,
    }


def test_revoking_without_ending_sessions_keeps_them(signed_in):
    provider, rp, browser, tokens = signed_in
    revoke(provider, header(tokens["id_token"])["kid"], reason="routine drill")
    provider.clock.advance(1)
    response = browser.get(rp.authorization_url(prompt="none"))
    assert "code=" in response.headers["Location"]


def test_revoking_a_next_key_publishes_a_new_one(signed_in):
    provider = signed_in[0]
    nxt = next(k.kid for k in stored_keys(provider) if k.alg == "RS256" and k.state == "next")
    assert revoke(provider, nxt, reason="x", end_sessions=True)["sessions_ended"] == 0  # it never signed
    assert sorted(k.state for k in stored_keys(provider) if k.alg == "RS256") == ["current", "next", "revoked"]


@pytest.mark.parametrize(
    "kid,reason,message",
    [
        ("no-such-kid", "x", "no signing key with kid 'no-such-kid'"),
        (None, "  ", "a reason is required"),
    ],
)
def test_revocation_errors_are_specific(signed_in, kid, reason, message):
    provider = signed_in[0]
    with pytest.raises(KeyLifecycleError, match=message):
        revoke(provider, kid or current_kid(provider, "RS256"), reason=reason)


def test_revoking_twice_is_an_error(signed_in):
    provider = signed_in[0]
    kid = current_kid(provider, "RS256")
    revoke(provider, kid, reason="x")
    with pytest.raises(KeyLifecycleError, match="already revoked"):
        revoke(provider, kid, reason="x")


def test_rotation_refuses_a_next_key_published_too_recently(signed_in):
    provider = signed_in[0]
    with pytest.raises(KeyLifecycleError, match="IDP_KEY_PUBLICATION_SECONDS=86400s"):
        rotate(provider, "ES256")
    assert rotate(provider, "ES256", force=True).state == "current"


# -- Ed25519 -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("label", ["EdDSA", "Ed25519"])
def test_ed25519_keys_are_made_when_a_client_asks_and_sign_with_its_label(make_provider, fresh_keys, label):
    provider = make_provider(access_token_alg=label)
    provider.create_user()
    rp = provider.create_client(id_token_signed_response_alg=label)
    tokens = rp.exchange(rp.sign_in(provider.browser()))
    kid = current_kid(provider, "Ed25519")
    assert header(tokens["id_token"])["alg"] == label and header(tokens["id_token"])["kid"] == kid
    assert header(tokens["access_token"])["alg"] == label
    published = {k["kid"]: k for k in requests.get(provider.url + "/jwks.json", timeout=5).json()["keys"]}
    assert published[kid]["crv"] == "Ed25519" and "alg" not in published[kid]  # valid under both labels
    assert sorted(k.state for k in stored_keys(provider) if k.alg == "Ed25519") == ["current", "next"]
    assert CachingVerifier(provider).verify(tokens["id_token"])["sub"]
    assert (
        requests.get(provider.url + "/userinfo", headers=bearer(tokens["access_token"]), timeout=5).status_code == 200
    )
