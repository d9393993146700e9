"""Token revocation (RFC 7009) and introspection (RFC 7662) against a live provider."""

from __future__ import annotations

import pytest
import requests

from tests.support.helpers import bearer, issue_tokens


@pytest.fixture
def tokens(provider):
    provider.create_user()
    return issue_tokens(provider)


def revoke(rp, token, hint=None, auth=True):
    data = {"token": token}
    if hint:
        data["token_type_hint"] = hint
    return requests.post(
        rp.provider.url + "/revoke", data=data, timeout=5, auth=(rp.client_id, rp.client_secret) if auth else None
    )


def introspect(rp, token, **kw):
    kw.setdefault("auth", (rp.client_id, rp.client_secret))
    return requests.post(rp.provider.url + "/introspect", data={"token": token}, timeout=5, **kw)


def userinfo_status(provider, access_token):
    return requests.get(provider.url + "/userinfo", headers=bearer(access_token), timeout=5).status_code


def refresh(rp, refresh_token):
    return rp.token_request({"grant_type": "refresh_token", "refresh_token": refresh_token})


# -- revocation -----------------------------------------------------------------------------


def test_revoked_access_token_is_inactive_and_refused_by_userinfo(provider, tokens):
    rp, token = tokens
    assert introspect(rp, token["access_token"]).json()["active"] is True
    assert userinfo_status(provider, token["access_token"]) == 200

    response = revoke(rp, token["access_token"], hint="access_token")
    assert response.status_code == 200

    assert introspect(rp, token["access_token"]).json() == {"active": False}
    assert userinfo_status(provider, token["access_token"]) == 401
    # Revoking one access token leaves the grant alone: the refresh token still works.
    assert refresh(rp, token["refresh_token"]).status_code == 200


def test_revoking_twice_is_fine(provider, tokens):
    rp, token = tokens
    assert revoke(rp, token["access_token"]).status_code == 200
    assert revoke(rp, token["access_token"]).status_code == 200
    assert introspect(rp, token["access_token"]).json()["active"] is False


def test_revoked_refresh_token_kills_refresh_and_the_grants_access_tokens(provider, tokens):
    rp, token = tokens
    refreshed = refresh(rp, token["refresh_token"])
    assert refreshed.status_code == 200
    second = refreshed.json()

    assert revoke(rp, second["refresh_token"], hint="refresh_token").status_code == 200

    failed = refresh(rp, second["refresh_token"])
    assert failed.status_code == 400 and failed.json()["error"] == "invalid_grant"
    for access_token in (token["access_token"], second["access_token"]):
        assert introspect(rp, access_token).json() == {"active": False}
        assert userinfo_status(provider, access_token) == 401
    assert introspect(rp, second["refresh_token"]).json() == {"active": False}


def test_revoking_refresh_token_without_hint(provider, tokens):
    rp, token = tokens
    assert revoke(rp, token["refresh_token"]).status_code == 200
    assert refresh(rp, token["refresh_token"]).status_code == 400
    assert userinfo_status(provider, token["access_token"]) == 401


def test_revoking_an_unknown_token_is_200(provider, tokens):
    rp, token = tokens
    for value in ("no-such-token", "a.b.c", "x" * 43):
        response = revoke(rp, value)
        assert response.status_code == 200, response.text
    assert userinfo_status(provider, token["access_token"]) == 200


def test_revocation_requires_client_authentication(provider, tokens):
    rp, token = tokens
    response = requests.post(
        provider.url + "/revoke", data={"token": token["access_token"]}, auth=(rp.client_id, "wrong-secret"), timeout=5
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert userinfo_status(provider, token["access_token"]) == 200


def test_a_client_cannot_revoke_another_clients_token(provider, tokens):
    rp, token = tokens
    other = provider.create_client(name="Other RP")
    response = revoke(other, token["access_token"])
    assert response.status_code == 400
    assert userinfo_status(provider, token["access_token"]) == 200
    assert introspect(rp, token["access_token"]).json()["active"] is True


# -- introspection --------------------------------------------------------------------------


def test_introspection_requires_client_authentication(provider, tokens):
    rp, token = tokens
    response = requests.post(provider.url + "/introspect", data={"token": token["access_token"]}, timeout=5)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert "active" not in response.json()

    wrong = introspect(rp, token["access_token"], auth=(rp.client_id, "wrong-secret"))
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"


def test_introspection_of_an_active_access_token(provider, tokens):
    rp, token = tokens
    response = introspect(rp, token["access_token"])
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    sub = rp.verify_id_token(token["id_token"])["sub"]
    assert body["active"] is True
    assert body["token_type"] == "Bearer"
    assert body["iss"] == provider.url
    assert body["client_id"] == rp.client_id
    assert body["sub"] == sub
    assert set(body["scope"].split()) == {"openid", "profile", "email", "offline_access"}
    assert body["exp"] - body["iat"] == 600
    assert abs(body["iat"] - provider.clock.now()) <= 1


def test_introspection_with_client_secret_post(provider, tokens):
    rp, token = tokens
    response = requests.post(
        provider.url + "/introspect",
        timeout=5,
        data={"token": token["access_token"], "client_id": rp.client_id, "client_secret": rp.client_secret},
    )
    assert response.status_code == 200
    assert response.json()["active"] is True


def test_introspection_of_a_refresh_token(provider, tokens):
    rp, token = tokens
    body = introspect(rp, token["refresh_token"]).json()
    assert body["active"] is True
    assert body["token_type"] == "refresh_token"
    assert body["client_id"] == rp.client_id
    assert body["iss"] == provider.url


def test_introspection_of_an_expired_access_token(provider, tokens):
    rp, token = tokens
    provider.clock.advance(601)
    assert introspect(rp, token["access_token"]).json() == {"active": False}


def test_introspection_of_another_clients_token_is_inactive(provider, tokens):
    rp, token = tokens
    other = provider.create_client(name="Other RP")
    for value in (token["access_token"], token["refresh_token"]):
        response = introspect(other, value)
        assert response.status_code == 200
        assert response.json() == {"active": False}
        assert introspect(rp, value).json()["active"] is True


def test_introspection_of_garbage_is_inactive(provider, tokens):
    rp, _token = tokens
    for value in ("garbage", "a.b.c"):
        assert introspect(rp, value).json() == {"active": False}
