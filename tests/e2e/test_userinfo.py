"""UserInfo (OIDC Core §5.3) with RFC 6750 bearer tokens: header or form body, and the error answers."""

from __future__ import annotations

import pytest
import requests

from tests.support.helpers import bearer, issue_tokens, update_user


@pytest.fixture
def signed_in(provider):
    provider.create_user()
    rp, token = issue_tokens(provider)
    return rp, token


def userinfo_get(provider, **kw):
    return requests.get(provider.url + "/userinfo", timeout=5, **kw)


def userinfo_post(provider, **kw):
    return requests.post(provider.url + "/userinfo", timeout=5, **kw)


def assert_invalid_token(response):
    assert response.status_code == 401, response.text
    challenge = response.headers.get("WWW-Authenticate", "")
    assert challenge.startswith("Bearer ")
    assert 'error="invalid_token"' in challenge
    assert response.json()["error"] == "invalid_token"


def test_get_with_bearer_header(provider, signed_in):
    rp, token = signed_in
    response = userinfo_get(provider, headers=bearer(token["access_token"]))
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert body["sub"] == rp.verify_id_token(token["id_token"])["sub"]
    assert body["email"] == "ada@example.edu"
    assert body["name"] == "Ada Lovelace"


def test_post_with_form_body(provider, signed_in):
    rp, token = signed_in
    response = userinfo_post(provider, data={"access_token": token["access_token"]})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.json()["sub"] == rp.verify_id_token(token["id_token"])["sub"]


def test_post_with_bearer_header(provider, signed_in):
    _rp, token = signed_in
    response = userinfo_post(provider, headers=bearer(token["access_token"]))
    assert response.status_code == 200
    assert response.json()["email"] == "ada@example.edu"


def test_header_and_body_together_is_invalid_request(provider, signed_in):
    _rp, token = signed_in
    response = userinfo_post(
        provider, headers=bearer(token["access_token"]), data={"access_token": token["access_token"]}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert "sub" not in response.json()


def test_no_token_is_a_bare_challenge(provider):
    for response in (userinfo_get(provider), userinfo_post(provider, data={"other": "x"})):
        assert response.status_code == 401
        challenge = response.headers["WWW-Authenticate"]
        assert challenge.split()[0] == "Bearer"
        assert "error" not in challenge  # RFC 6750 §3.1: no error code without credentials
        assert "error" not in response.text


@pytest.mark.parametrize("value", ["not-a-token", "a.b.c", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."])
def test_malformed_token_is_invalid_token(provider, value):
    assert_invalid_token(userinfo_get(provider, headers=bearer(value)))
    assert_invalid_token(userinfo_post(provider, data={"access_token": value}))


def test_other_authorization_scheme_is_invalid_token(provider, signed_in):
    _rp, token = signed_in
    assert_invalid_token(userinfo_get(provider, headers={"Authorization": f"Basic {token['access_token']}"}))


def test_tampered_token_is_invalid_token(provider, signed_in):
    _rp, token = signed_in
    head, payload, signature = token["access_token"].split(".")
    forged = ".".join([head, payload, signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")])
    assert_invalid_token(userinfo_get(provider, headers=bearer(forged)))


def test_id_token_is_not_an_access_token(provider, signed_in):
    _rp, token = signed_in
    assert_invalid_token(userinfo_get(provider, headers=bearer(token["id_token"])))


def test_expired_token_is_invalid_token(provider, signed_in):
    _rp, token = signed_in
    provider.clock.advance(599)
    assert userinfo_get(provider, headers=bearer(token["access_token"])).status_code == 200
    provider.clock.advance(2)  # past access_token_seconds = 600
    assert_invalid_token(userinfo_get(provider, headers=bearer(token["access_token"])))


def test_token_without_openid_scope_is_insufficient_scope(provider):
    service = provider.create_client(grant_types=["client_credentials"], redirect_uris=[], scope="api.read")
    token = service.token_request({"grant_type": "client_credentials"}).json()["access_token"]
    response = userinfo_get(provider, headers=bearer(token))
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"


def test_disabled_user_token_is_invalid_token(provider, signed_in):
    _rp, token = signed_in
    update_user(provider, active=False)
    assert_invalid_token(userinfo_get(provider, headers=bearer(token["access_token"])))
    update_user(provider, active=True)
    assert userinfo_get(provider, headers=bearer(token["access_token"])).status_code == 200


def test_scopes_limit_the_claims(provider):
    provider.create_user()
    _rp, token = issue_tokens(provider, scope="openid")
    body = userinfo_get(provider, headers=bearer(token["access_token"])).json()
    assert "sub" in body
    assert "email" not in body and "name" not in body


def test_revoked_client_credentials_token_is_invalid_not_insufficient(provider):
    service = provider.create_client(grant_types=["client_credentials"], redirect_uris=[], scope="api.read")
    token = service.token_request({"grant_type": "client_credentials"}).json()["access_token"]
    revoked = requests.post(
        provider.url + "/revoke", data={"token": token}, timeout=5, auth=(service.client_id, service.client_secret)
    )
    assert revoked.status_code == 200
    assert_invalid_token(userinfo_get(provider, headers=bearer(token)))


def test_every_way_a_user_token_dies_is_invalid_token(provider):
    """Revocation of the token, of its grant (sign-out) and disabling its client each end it at
    /userinfo, and a live sibling token of the same user still works."""
    from idp.http.context import deps
    from idp.storage.sql.models import Client

    provider.create_user()
    rp, first = issue_tokens(provider)
    second_rp, second = issue_tokens(provider)
    other_rp, third = issue_tokens(provider, scope="openid profile")
    # 1. the access token itself revoked (RFC 7009)
    assert (
        requests.post(
            provider.url + "/revoke",
            data={"token": first["access_token"]},
            timeout=5,
            auth=(rp.client_id, rp.client_secret),
        ).status_code
        == 200
    )
    assert_invalid_token(userinfo_get(provider, headers=bearer(first["access_token"])))
    assert userinfo_get(provider, headers=bearer(second["access_token"])).status_code == 200
    # 2. its grant revoked: revoking the refresh token revokes the grant's access tokens
    assert (
        requests.post(
            provider.url + "/revoke",
            data={"token": second["refresh_token"]},
            timeout=5,
            auth=(second_rp.client_id, second_rp.client_secret),
        ).status_code
        == 200
    )
    assert_invalid_token(userinfo_get(provider, headers=bearer(second["access_token"])))
    assert userinfo_get(provider, headers=bearer(third["access_token"])).status_code == 200
    # 3. its client disabled
    with provider.app.app_context(), deps().database.session() as db:
        db.get(Client, other_rp.client_id).active = False
        db.commit()
    assert_invalid_token(userinfo_get(provider, headers=bearer(third["access_token"])))
