"""End-to-end: the refresh grant returns a fresh ID token when the grant has ``openid`` (OIDC Core
§12.2), with the original ``sub``, ``aud``, ``auth_time``, ``sid`` and ``amr`` and no ``nonce``; it
works as ``id_token_hint`` at logout; and refresh after the session ended behaves as before."""

from __future__ import annotations

import pytest

from tests.e2e.test_refresh_tokens import assert_invalid_grant, refresh, sign_out
from tests.support.helpers import decode_id_token, issue_tokens

POST_LOGOUT = "http://127.0.0.1:9/signed-out"


@pytest.fixture
def user(provider):
    return provider.create_user()


def test_refresh_issues_an_id_token_with_the_original_authentication(provider, user):
    browser = provider.browser()
    rp, token = issue_tokens(provider, browser, scope="openid profile email")
    original = rp.verify_id_token(token["id_token"])
    provider.clock.advance(600)

    response = refresh(rp, token["refresh_token"])

    assert response.status_code == 200, response.text
    header, fresh = decode_id_token(provider, response.json()["id_token"])
    for name in ("iss", "sub", "aud", "auth_time", "sid", "amr"):
        assert fresh[name] == original[name], name
    assert "nonce" not in fresh  # §12.2: SHOULD NOT, the RP sent none with the refresh
    assert fresh["iat"] == original["iat"] + 600
    assert fresh["exp"] == fresh["iat"] + provider.deps.settings.tokens.id_token_seconds
    assert fresh["email"] == "ada@example.edu" and fresh["name"] == "Ada Lovelace"
    assert header["kid"] and header["alg"] == "RS256"
    assert "at_hash" in fresh


def test_the_sid_is_the_browser_sessions(provider, user):
    browser = provider.browser()
    rp, token = issue_tokens(provider, browser, scope="openid")
    other_rp, other = issue_tokens(provider, browser, scope="openid")  # same browser session
    first = decode_id_token(provider, refresh(rp, token["refresh_token"]).json()["id_token"])[1]
    second = decode_id_token(provider, refresh(other_rp, other["refresh_token"]).json()["id_token"])[1]

    assert first["sid"] == second["sid"] == decode_id_token(provider, token["id_token"])[1]["sid"]
    assert first["aud"] == [rp.client_id] and second["aud"] == [other_rp.client_id]


def test_no_id_token_without_openid(provider, user):
    rp, token = issue_tokens(provider, scope="openid profile offline_access")

    narrowed = refresh(rp, token["refresh_token"], scope="profile offline_access")

    assert narrowed.status_code == 200, narrowed.text
    assert "id_token" not in narrowed.json()
    # The narrowed family stays without openid: its next refresh has no ID token either.
    again = refresh(rp, narrowed.json()["refresh_token"])
    assert again.status_code == 200, again.text
    assert "id_token" not in again.json()


def test_the_refreshed_id_token_is_accepted_as_id_token_hint(provider, user):
    browser = provider.browser()
    rp, token = issue_tokens(provider, browser, scope="openid profile", post_logout_redirect_uris=[POST_LOGOUT])
    fresh = refresh(rp, token["refresh_token"]).json()["id_token"]

    response = browser.get("/logout", params={"id_token_hint": fresh, "post_logout_redirect_uri": POST_LOGOUT})

    assert response.status_code == 302, response.text[:300]
    assert response.headers["Location"] == POST_LOGOUT
    assert "Signed in" not in browser.get("/").text
    assert [e.client_id for e in provider.audit_events("logout")] == [rp.client_id]


def test_refresh_after_the_session_ended_behaves_as_before(provider, user):
    browser = provider.browser()
    online_rp, online = issue_tokens(provider, browser, scope="openid profile")
    offline_rp, offline = issue_tokens(provider, browser, scope="openid profile offline_access")
    sid = decode_id_token(provider, offline["id_token"])[1]["sid"]

    sign_out(browser)

    assert_invalid_grant(refresh(online_rp, online["refresh_token"]))
    # offline_access outlives the session; its ID token still names the session it came from.
    response = refresh(offline_rp, offline["refresh_token"])
    assert response.status_code == 200, response.text
    assert decode_id_token(provider, response.json()["id_token"])[1]["sid"] == sid
