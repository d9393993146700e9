"""private_key_jwt client authentication (RFC 7523 §2.2, OIDC Core §9) with jti replay protection."""

from __future__ import annotations

import secrets

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from tests.support.helpers import CALLBACK, RelyingParty, query
from tests.support.registration_helpers import initial_access_token, register, web_client

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@pytest.fixture
def key():
    return ECKey.generate_key("P-256", parameters={"kid": "rp-key-1"})


@pytest.fixture
def client(provider, key):
    metadata = web_client(token_endpoint_auth_method="private_key_jwt", jwks={"keys": [key.as_dict(private=False)]})
    response = register(provider, metadata, initial_access_token(provider))
    assert response.status_code == 201, response.text
    body = response.json()
    assert "client_secret" not in body and body["jwks"]["keys"][0]["kid"] == "rp-key-1"
    return body["client_id"]


def assertion(provider, client_id, key, alg="ES256", **overrides) -> str:
    now = int(provider.clock.now())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": provider.url + "/token",
        "iat": now,
        "exp": now + 60,
        "jti": secrets.token_urlsafe(16),
        **overrides,
    }
    return jwt.encode({"alg": alg, "kid": key.kid}, claims, key, algorithms=[alg])


def token(provider, data, client_assertion) -> requests.Response:
    return requests.post(
        provider.url + "/token",
        timeout=5,
        data={**data, "client_assertion_type": ASSERTION_TYPE, "client_assertion": client_assertion},
    )


def test_code_flow_with_private_key_jwt(provider, client, key):
    provider.create_user()
    rp = RelyingParty(provider, client, None, CALLBACK)
    callback = rp.sign_in(provider.browser())
    response = token(
        provider,
        {
            "grant_type": "authorization_code",
            "code": query(callback)["code"],
            "redirect_uri": CALLBACK,
            "code_verifier": rp.verifier,
        },
        assertion(provider, client, key),
    )
    assert response.status_code == 200, response.text
    assert rp.verify_id_token(response.json()["id_token"])["aud"] == [client]


def test_an_assertion_is_accepted_once(provider, client, key):
    signed = assertion(provider, client, key)
    refresh_like = {"grant_type": "authorization_code", "code": "nothing", "redirect_uri": CALLBACK}
    first = token(provider, refresh_like, signed)
    assert first.json()["error"] == "invalid_grant"  # the client authenticated; the code is bogus
    replay = token(provider, refresh_like, signed)
    assert replay.json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    "change",
    [
        {"aud": "https://elsewhere.example/token"},
        {"exp": "expired"},
        {"iss": "someone-else"},
        {"jti": None},
        {"exp": "far"},
    ],
)
def test_bad_assertions_are_refused(provider, client, key, change):
    now = int(provider.clock.now())
    if change.get("exp") == "expired":
        change = {"exp": now - 120}
    elif change.get("exp") == "far":
        change = {"exp": now + 3600}
    signed = assertion(provider, client, key, **change)
    response = token(provider, {"grant_type": "authorization_code", "code": "x", "redirect_uri": CALLBACK}, signed)
    assert response.json()["error"] == "invalid_client", response.text


@pytest.mark.parametrize("iat_ahead, exp_ahead, error", [(59, 659, "invalid_grant"), (0, 661, "invalid_client")])
def test_the_lifetime_cap_allows_clock_skew(provider, client, key, iat_ahead, exp_ahead, error):
    # pyoidc signs exp = iat + 600 by its own clock: a client clock up to the leeway (60 s) ahead is
    # accepted (invalid_grant: authenticated, the code is bogus); an exp past cap + leeway is not.
    now = int(provider.clock.now())
    signed = assertion(provider, client, key, iat=now + iat_ahead, exp=now + exp_ahead)
    response = token(provider, {"grant_type": "authorization_code", "code": "x", "redirect_uri": CALLBACK}, signed)
    assert response.json()["error"] == error, response.text


def test_a_key_the_client_did_not_register_is_refused(provider, client):
    stranger = ECKey.generate_key("P-256", parameters={"kid": "rp-key-1"})
    response = token(
        provider,
        {"grant_type": "authorization_code", "code": "x", "redirect_uri": CALLBACK},
        assertion(provider, client, stranger),
    )
    assert response.json()["error"] == "invalid_client"


def test_hmac_assertions_are_refused(provider, client, key):
    from joserfc.jwk import OctKey

    secret_key = OctKey.generate_key(256)
    now = int(provider.clock.now())
    signed = jwt.encode(
        {"alg": "HS256"},
        {"iss": client, "sub": client, "aud": provider.url + "/token", "exp": now + 60, "jti": "x"},
        secret_key,
        algorithms=["HS256"],
    )
    response = token(provider, {"grant_type": "authorization_code", "code": "x", "redirect_uri": CALLBACK}, signed)
    assert response.json()["error"] == "invalid_client"


def test_a_secret_client_cannot_use_an_assertion(provider, key):
    rp = provider.create_client()
    response = token(
        provider,
        {"grant_type": "authorization_code", "code": "x", "redirect_uri": CALLBACK},
        assertion(provider, rp.client_id, key),
    )
    assert response.json()["error"] == "invalid_client"


def test_registration_refuses_private_keys_and_both_key_sources(provider):
    token_value = initial_access_token(provider)
    private = RSAKey.generate_key(2048).as_dict(private=True)
    for extra in (
        {"jwks": {"keys": [private]}},
        {"jwks": {"keys": [{"kty": "EC"}]}},
        {"jwks": {"keys": []}},
        {"jwks_uri": "http://keys.example.edu/jwks.json"},
        {
            "jwks": {"keys": [ECKey.generate_key("P-256").as_dict(private=False)]},
            "jwks_uri": "https://keys.example.edu/jwks.json",
        },
    ):
        response = register(provider, web_client(token_endpoint_auth_method="private_key_jwt", **extra), token_value)
        assert response.status_code == 400, extra
        assert response.json()["error"] == "invalid_client_metadata"
        assert "jwks" in response.json()["error_description"], extra
