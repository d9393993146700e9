"""Discovery and JWKS, modelled on the conformance suite's ``oidcc-config-certification-test-plan``
(``oidcc-discovery-endpoint-verification``) and the ID token checks of the basic plan."""

from __future__ import annotations

import pytest
import requests
from authlib.oidc.discovery import OpenIDProviderMetadata
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.support.helpers import decode_id_token

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


def get(url, **kw):
    return requests.get(url, timeout=5, allow_redirects=False, **kw)


@pytest.fixture
def config(provider) -> dict:
    # Discovery §4: the document lives at the issuer + "/.well-known/openid-configuration".
    response = get(provider.url + "/.well-known/openid-configuration")
    assert response.status_code == 200
    assert response.headers["Content-Type"].split(";")[0] == "application/json"
    return response.json()


@pytest.fixture
def jwks(provider) -> dict:
    response = get(provider.url + "/jwks.json")
    assert response.status_code == 200
    assert response.headers["Content-Type"].split(";")[0] in ("application/json", "application/jwk-set+json")
    return response.json()


def test_discovery_document_is_valid_provider_metadata(config):
    OpenIDProviderMetadata(config).validate()


def test_issuer_is_exactly_the_provider_url(provider, config):
    assert config["issuer"] == provider.url
    assert not config["issuer"].endswith("/")


def test_endpoints_live_under_the_issuer(provider, config):
    for name in (
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
        "revocation_endpoint",
        "introspection_endpoint",
        "end_session_endpoint",
    ):
        assert config[name].startswith(provider.url + "/"), name


@pytest.mark.parametrize(
    "name, method, expected",
    [
        ("authorization_endpoint", "GET", {400}),  # error page: no client_id
        ("token_endpoint", "POST", {400, 401}),  # invalid_request / invalid_client
        ("userinfo_endpoint", "GET", {401}),  # bearer challenge
        ("jwks_uri", "GET", {200}),
        ("revocation_endpoint", "POST", {400, 401}),
        ("introspection_endpoint", "POST", {400, 401}),
        ("end_session_endpoint", "GET", {200}),
    ],
)
def test_every_advertised_endpoint_answers(config, name, method, expected):
    response = requests.request(method, config[name], timeout=5, allow_redirects=False)
    assert response.status_code in expected, (name, response.status_code)


def test_userinfo_endpoint_challenges_with_bearer(config):
    response = get(config["userinfo_endpoint"])
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_token_endpoint_errors_are_json(config):
    response = requests.post(config["token_endpoint"], data={"grant_type": "authorization_code"}, timeout=5)
    assert response.status_code in (400, 401)
    assert "error" in response.json()


def test_advertised_capabilities_match_what_the_provider_does(config):
    assert "RS256" in config["id_token_signing_alg_values_supported"]
    assert "none" not in config["id_token_signing_alg_values_supported"]
    assert config["code_challenge_methods_supported"] == ["S256"]
    assert config["authorization_response_iss_parameter_supported"] is True
    assert config["response_types_supported"] == ["code"]
    assert "openid" in config["scopes_supported"]
    assert config["subject_types_supported"] == ["public"]
    assert {"authorization_code", "refresh_token"} <= set(config["grant_types_supported"])
    assert "client_secret_basic" in config["token_endpoint_auth_methods_supported"]
    assert config["request_parameter_supported"] is False  # and request= is refused (test_oidc_parameters)
    assert config["request_uri_parameter_supported"] is False
    assert config["claims_parameter_supported"] is True
    assert {"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "name", "email"} <= set(config["claims_supported"])


def test_jwks_has_only_public_keys(jwks):
    assert jwks["keys"]
    for key in jwks["keys"]:
        assert not PRIVATE_MEMBERS & set(key), sorted(set(key) & PRIVATE_MEMBERS)
        assert key["kty"] in ("RSA", "EC")


def test_every_key_has_kid_alg_and_use(jwks):
    for key in jwks["keys"]:
        assert key.get("kid") and key.get("use") == "sig" and key.get("alg") in ("RS256", "ES256"), key
    kids = [k["kid"] for k in jwks["keys"]]
    assert len(kids) == len(set(kids))
    assert {"RS256", "ES256"} <= {k["alg"] for k in jwks["keys"]}


def test_jwks_imports_as_a_key_set(jwks):
    assert len(KeySet.import_key_set(jwks).keys) == len(jwks["keys"])


@pytest.mark.parametrize("path", ["/.well-known/openid-configuration", "/jwks.json"])
def test_documents_are_cacheable_with_max_age(provider, path):
    response = get(provider.url + path)
    cache_control = response.headers["Cache-Control"]
    assert "no-store" not in cache_control
    max_age = [
        int(part.split("=")[1]) for part in cache_control.replace(" ", "").split(",") if part.startswith("max-age=")
    ]
    assert max_age and max_age[0] > 0, cache_control


@pytest.mark.parametrize("path", ["/.well-known/openid-configuration", "/jwks.json"])
def test_etag_and_if_none_match_give_304(provider, path):
    first = get(provider.url + path)
    etag = first.headers["ETag"]
    again = get(provider.url + path, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers.get("ETag") == etag
    changed = get(provider.url + path, headers={"If-None-Match": '"something-else"'})
    assert changed.status_code == 200 and changed.content == first.content


def test_id_token_kid_is_published_with_matching_alg(provider, jwks):
    provider.create_user()
    rp = provider.create_client()
    token = rp.exchange(rp.sign_in(provider.browser()))
    header, claims = decode_id_token(provider, token["id_token"])
    assert header["alg"] == "RS256"
    published = {k["kid"]: k for k in jwks["keys"]}
    assert header["kid"] in published
    assert published[header["kid"]]["alg"] == "RS256"
    assert claims["iss"] == get(provider.url + "/.well-known/openid-configuration").json()["issuer"]


def test_es256_client_gets_an_es256_id_token_verifiable_with_the_jwks(provider, config, jwks):
    assert "ES256" in config["id_token_signing_alg_values_supported"]
    provider.create_user()
    rp = provider.create_client(id_token_signed_response_alg="ES256")
    token = rp.exchange(rp.sign_in(provider.browser()))

    key_set = KeySet.import_key_set(jwks)
    decoded = jwt.decode(token["id_token"], key_set, algorithms=["ES256"])  # RS256 not allowed here
    assert decoded.header["alg"] == "ES256"
    assert {k["kid"]: k for k in jwks["keys"]}[decoded.header["kid"]]["kty"] == "EC"
    claims = rp.verify_id_token(token["id_token"])
    assert claims["aud"] in (rp.client_id, [rp.client_id]) and claims["preferred_username"] == "S1000001"
