"""Signing-key rotation while tokens are being issued: nothing breaks except the revoked key's tokens."""

from __future__ import annotations

import pytest
import requests
from joserfc.errors import JoseError

from idp.storage.sql import audit
from tests.support.helpers import bearer
from tests.support.keyhelpers import CachingVerifier, current_kid, header, revoke, rotate, stored_keys

LIFECYCLE = dict(
    keys_reload_seconds=1,
    key_publication_seconds=300,
    jwks_max_age_seconds=300,
    access_token_seconds=900,
    id_token_seconds=900,
)


@pytest.fixture
def keyed_provider(make_provider, fresh_keys):
    provider = make_provider(**LIFECYCLE)
    provider.create_user()
    return provider


def refresh(rp, refresh_token) -> dict:
    response = rp.token_request({"grant_type": "refresh_token", "refresh_token": refresh_token})
    assert response.status_code == 200, response.text
    return response.json()


def userinfo_ok(provider, access_token) -> bool:
    response = requests.get(provider.url + "/userinfo", headers=bearer(access_token), timeout=5)
    assert response.status_code in (200, 401), response.text
    return response.status_code == 200


def test_continuous_issuance_across_rotations_and_a_revocation(keyed_provider):
    provider, clock = keyed_provider, keyed_provider.clock
    rp, browser, verifier = provider.create_client(), provider.browser(), CachingVerifier(provider)
    issued = []  # (token, exp) of every ID and access token
    failures = []  # (kid, where)
    revoked_kid = None
    signing_kids = set()
    tokens = rp.exchange(rp.sign_in(browser))

    def issue_and_verify_all():
        nonlocal tokens
        tokens = refresh(rp, tokens["refresh_token"])
        issued.append(tokens["access_token"])
        fresh = rp.exchange(rp.sign_in(browser))  # SSO: no login form, a new code and ID token
        issued.extend([fresh["id_token"], fresh["access_token"]])
        for token in issued:
            kid = header(token)["kid"]
            signing_kids.add(kid)
            claims = verifier_claims(token)
            if claims is None:
                failures.append((kid, "relying party"))
            elif not claims:
                continue  # expired: nobody's concern
            if header(token).get("typ") == "at+jwt" and not userinfo_ok(provider, token):
                failures.append((kid, "userinfo"))

    def verifier_claims(token):
        try:
            claims = verifier.verify(token)
        except JoseError:
            return None
        return claims if claims["exp"] > clock.now() else {}

    for round_number in range(6):
        for _ in range(3):
            issue_and_verify_all()
            clock.advance(20)
        issued = [t for t in issued if verifier_claims(t) != {}]  # expired tokens are nobody's concern
        if round_number == 3:
            revoked_kid = current_kid(provider, "ES256")
            revoke(provider, revoked_kid, reason="test: suspected leak")
        else:
            clock.advance(300)  # the next keys have been published for a full JWKS cache lifetime
            for family in ("RS256", "ES256"):
                rotate(provider, family)
        clock.advance(1)  # every provider process re-reads the keys within IDP_KEYS_RELOAD_SECONDS

    issue_and_verify_all()
    assert len(signing_kids) >= 10, "tokens were signed by the successive current keys"
    assert revoked_kid is not None and failures, "tokens of the revoked key must be refused"
    assert {kid for kid, _where in failures} == {revoked_kid}
    assert "userinfo" in {where for _kid, where in failures}
    # Rotations never needed the "unknown kid" fallback: the next key was already cached. Only
    # tokens of the revoked key (gone from the JWKS) send the relying party back for a fresh copy.
    assert {f for f in verifier.fetches if f != "expired"} <= {f"unknown kid {revoked_kid}"}
    assert len(provider.audit_events(audit.KEY_ROTATED)) == 10
    assert revoked_kid not in {k["kid"] for k in requests.get(provider.url + "/jwks.json", timeout=5).json()["keys"]}


def test_jwks_is_cacheable_with_etag_and_changes_with_a_rotation(keyed_provider):
    provider, clock = keyed_provider, keyed_provider.clock
    first = requests.get(provider.url + "/jwks.json", timeout=5)
    assert first.headers["Cache-Control"] == "public, max-age=300"
    etag = first.headers["ETag"]
    assert requests.get(provider.url + "/jwks.json", headers={"If-None-Match": etag}, timeout=5).status_code == 304
    published = {(k["kid"]) for k in first.json()["keys"]}
    assert len(published) == 4
    for key in first.json()["keys"]:
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key), "private members must never be published"

    clock.advance(300)
    assert requests.get(provider.url + "/jwks.json", timeout=5).headers["ETag"] == etag  # re-read, unchanged
    old = current_kid(provider, "RS256")
    rotate(provider, "RS256")
    # Not yet re-read by the running provider: the cached document is still served ...
    assert requests.get(provider.url + "/jwks.json", timeout=5).headers["ETag"] == etag
    clock.advance(1)
    # ... and within IDP_KEYS_RELOAD_SECONDS every process serves the new key set.
    second = requests.get(provider.url + "/jwks.json", headers={"If-None-Match": etag}, timeout=5)
    assert second.status_code == 200 and second.headers["ETag"] != etag
    states = {k.kid: k.state for k in stored_keys(provider)}
    assert states[old] == "retired"
    assert {k["kid"] for k in second.json()["keys"]} == {k for k, s in states.items() if s != "revoked"}
    assert len(second.json()["keys"]) == 5


def test_tokens_carry_the_kid_of_the_current_key(keyed_provider):
    provider = keyed_provider
    rp = provider.create_client()
    tokens = rp.exchange(rp.sign_in(provider.browser()))
    assert header(tokens["id_token"]) == {"typ": "JWT", "alg": "RS256", "kid": current_kid(provider, "RS256")}
    assert header(tokens["access_token"])["kid"] == current_kid(provider, "ES256")


def test_tokens_of_a_retired_key_stay_valid_at_userinfo_and_introspection(keyed_provider):
    provider = keyed_provider
    rp = provider.create_client()
    tokens = rp.exchange(rp.sign_in(provider.browser()))
    provider.clock.advance(300)
    rotate(provider, "ES256")
    provider.clock.advance(1)
    assert header(tokens["access_token"])["kid"] in {k.kid for k in stored_keys(provider) if k.state == "retired"}
    assert (
        requests.get(provider.url + "/userinfo", headers=bearer(tokens["access_token"]), timeout=5).status_code == 200
    )
    introspection = requests.post(
        provider.url + "/introspect",
        data={"token": tokens["access_token"]},
        timeout=5,
        auth=(rp.client_id, rp.client_secret),
    ).json()
    assert introspection["active"] is True


def test_a_process_that_has_not_reread_the_keys_accepts_tokens_of_one_that_has(make_provider, fresh_keys):
    """Host A loaded the keys before a rotation; host B (same issuer, same database) signs with the
    promoted key at once. A must accept B's tokens although, for A, that key is still only "next"."""
    host_a = make_provider(keys_reload_seconds=3600, key_publication_seconds=300)
    service = host_a.create_client(name="Sync", grant_types=["client_credentials"], redirect_uris=[], scope="api")
    requests.get(host_a.url + "/jwks.json", timeout=5)  # A loads the keys now
    host_a.clock.advance(300)
    rotate(host_a, "ES256")
    host_b = make_provider(keys_reload_seconds=3600, key_publication_seconds=300, issuer=host_a.url)
    response = host_b.app.test_client().post(
        "/token",
        data={"grant_type": "client_credentials", "scope": "api"},
        auth=(service.client_id, service.client_secret),
    )
    token = response.get_json()["access_token"]
    assert header(token)["kid"] == current_kid(host_b, "ES256")
    stale_view = {k["kid"] for k in requests.get(host_a.url + "/jwks.json", timeout=5).json()["keys"]}
    assert len(stale_view) == 4 and header(token)["kid"] in stale_view  # A has not re-read: for it, "next"
    introspection = requests.post(
        host_a.url + "/introspect", data={"token": token}, timeout=5, auth=(service.client_id, service.client_secret)
    ).json()
    assert introspection["active"] is True
