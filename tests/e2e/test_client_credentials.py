"""client_credentials (RFC 6749 §4.4) for service clients: RFC 9068 access tokens only."""

from __future__ import annotations

import pytest
import requests
from joserfc import jwt
from joserfc.errors import BadSignatureError

SERVICE_SCOPE = "api.read api.write"


@pytest.fixture
def service(provider):
    return provider.create_client(
        name="Timetable sync", grant_types=["client_credentials"], redirect_uris=[], scope=SERVICE_SCOPE
    )


def token_request(rp, data, method="basic"):
    data = {"grant_type": "client_credentials", **data}
    if method == "basic":
        return requests.post(rp.provider.url + "/token", data=data, auth=(rp.client_id, rp.client_secret), timeout=5)
    return requests.post(
        rp.provider.url + "/token",
        timeout=5,
        data={**data, "client_id": rp.client_id, "client_secret": rp.client_secret},
    )


def test_service_client_gets_a_jwt_access_token(provider, service):
    response = token_request(service, {"scope": "api.read"})
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert body["token_type"].lower() == "bearer"
    assert body["expires_in"] == 600
    assert "refresh_token" not in body and "id_token" not in body

    token = jwt.decode(body["access_token"], provider.jwks(), algorithms=["ES256", "RS256"])
    assert token.header["typ"] == "at+jwt"
    assert token.header["kid"]
    claims = token.claims
    assert claims["iss"] == provider.url
    assert claims["sub"] == service.client_id
    assert claims["client_id"] == service.client_id
    assert claims["scope"] == "api.read"
    assert claims["exp"] - claims["iat"] == 600
    assert claims["jti"]
    assert "gid" not in claims and "sid" not in claims and "auth_time" not in claims


def test_token_does_not_verify_against_another_key(provider, service):
    from joserfc.jwk import ECKey, KeySet

    body = token_request(service, {}).json()
    header = jwt.decode(body["access_token"], provider.jwks(), algorithms=["ES256", "RS256"]).header
    stranger = ECKey.generate_key("P-256", parameters={"kid": header["kid"]})
    with pytest.raises(BadSignatureError):
        jwt.decode(body["access_token"], KeySet([stranger]), algorithms=["ES256"])


def test_no_scope_means_all_allowed_scopes(provider, service):
    body = token_request(service, {}).json()
    claims = jwt.decode(body["access_token"], provider.jwks(), algorithms=["ES256", "RS256"]).claims
    assert claims["scope"].split() == SERVICE_SCOPE.split()
    assert body["scope"].split() == SERVICE_SCOPE.split()


def test_client_secret_post_works_too(provider, service):
    response = token_request(service, {"scope": "api.write"}, method="post")
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    claims = jwt.decode(response.json()["access_token"], provider.jwks(), algorithms=["ES256", "RS256"]).claims
    assert claims["sub"] == service.client_id and claims["scope"] == "api.write"


@pytest.mark.parametrize("scope", ["api.admin", "api.read api.admin", "openid", "openid api.read", "offline_access"])
def test_scope_not_allowed_is_invalid_scope(provider, service, scope):
    response = token_request(service, {"scope": scope})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"
    assert "access_token" not in response.json()
    assert response.headers["Cache-Control"] == "no-store"


def test_user_scopes_registered_for_a_service_are_never_granted(provider):
    service = provider.create_client(
        grant_types=["client_credentials"], redirect_uris=[], scope="openid profile api.read"
    )
    body = token_request(service, {}).json()
    assert body["scope"] == "api.read"
    assert token_request(service, {"scope": "openid"}).json()["error"] == "invalid_scope"


def test_code_flow_client_is_unauthorized_for_client_credentials(provider):
    rp = provider.create_client(name="Dashboard")
    response = token_request(rp, {})
    assert response.status_code == 400
    assert response.json()["error"] == "unauthorized_client"
    assert "access_token" not in response.json()


def test_wrong_secret_is_invalid_client(provider, service):
    response = requests.post(
        provider.url + "/token",
        data={"grant_type": "client_credentials"},
        auth=(service.client_id, "not-the-secret"),
        timeout=5,
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    "header",
    [
        "Basic //46AA==",  # base64 of bytes that are not UTF-8
        "Basic bm8tY29sb24taGVyZQ==",  # "no-colon-here"
        "Basic not*base64",
        "Basic ",
        "Basic YQ",  # not base64; empty; unpadded
        "Basic " + "A" * 5000,  # longer than any credentials
        "Basic JUZGOnNlY3JldA==",  # "%FF:secret": form-urlencoded, but not UTF-8
    ],
)
def test_malformed_basic_credentials_are_invalid_client_401(provider, service, header):
    """RFC 6749 §2.3.1 / §5.2: undecodable Basic credentials are ``invalid_client`` with a 401 and a
    Basic challenge (non-UTF-8 credentials were a 500), at every endpoint that authenticates clients."""
    for endpoint in ("/token", "/revoke", "/introspect"):
        response = requests.post(
            provider.url + endpoint,
            data={"grant_type": "client_credentials", "token": "x"},
            headers={"Authorization": header},
            timeout=5,
        )
        assert response.status_code == 401, (endpoint, response.text)
        assert response.json()["error"] == "invalid_client"
        assert response.headers["WWW-Authenticate"].startswith("Basic ")


def test_basic_credentials_are_form_urlencoded_before_base64(provider, service):
    """RFC 6749 §2.3.1: a client may percent-encode its id and secret inside the Basic header."""
    import base64
    from urllib.parse import quote

    encoded = "".join(f"%{b:02X}" for b in service.client_secret.encode())
    header = "Basic " + base64.b64encode(f"{quote(service.client_id)}:{encoded}".encode()).decode()
    response = requests.post(
        provider.url + "/token", data={"grant_type": "client_credentials"}, headers={"Authorization": header}, timeout=5
    )
    assert response.status_code == 200, response.text


def test_service_client_cannot_use_the_code_flow(provider, service):
    response = requests.post(
        provider.url + "/token",
        auth=(service.client_id, service.client_secret),
        timeout=5,
        data={"grant_type": "authorization_code", "code": "x", "redirect_uri": "http://127.0.0.1:9/cb"},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "unauthorized_client"


def test_service_token_introspects_and_revokes(provider, service):
    access_token = token_request(service, {}).json()["access_token"]
    auth = (service.client_id, service.client_secret)
    body = requests.post(provider.url + "/introspect", data={"token": access_token}, auth=auth, timeout=5).json()
    assert body["active"] is True and body["sub"] == service.client_id and body["client_id"] == service.client_id
    assert (
        requests.post(provider.url + "/revoke", data={"token": access_token}, auth=auth, timeout=5).status_code == 200
    )
    body = requests.post(provider.url + "/introspect", data={"token": access_token}, auth=auth, timeout=5).json()
    assert body == {"active": False}


def test_a_service_client_without_any_scope_gets_a_token(provider):
    service = provider.create_client(name="Sync", grant_types=["client_credentials"], redirect_uris=[], scope="")
    response = requests.post(
        provider.url + "/token",
        data={"grant_type": "client_credentials"},
        auth=(service.client_id, service.client_secret),
        timeout=5,
    )
    assert response.status_code == 200, response.text
    assert response.json()["token_type"].lower() == "bearer" and response.json().get("scope", "") == ""
    asked = requests.post(
        provider.url + "/token",
        data={"grant_type": "client_credentials", "scope": "openid"},
        auth=(service.client_id, service.client_secret),
        timeout=5,
    )
    assert asked.status_code == 400 and asked.json()["error"] == "invalid_scope"
