"""panva's openid-client (v6, OpenID Certified; pinned in package-lock.json) as a Node web app
and as a service, against a live provider: the code flow with PKCE, UserInfo, introspection,
refresh, revocation, RP-initiated logout, client_credentials, dynamic registration with an
initial access token, and private_key_jwt. The scripts in ``node/`` call only the library's
documented API; the test plays the user at the provider's own pages."""

from __future__ import annotations

from typing import Any

import pytest

from tests.interop.conftest import complete_login
from tests.support.helpers import Provider, query
from tests.support.registration_helpers import initial_access_token

REDIRECT_URI = "http://127.0.0.1:9/node/callback"  # never contacted: the test stops at the redirect
SIGNED_OUT = "http://127.0.0.1:9/node/signed-out"
SCOPE = "openid profile email offline_access"


def run_code_flow(provider: Provider, node_script: Any, **client: Any) -> dict[str, Any]:
    spec = dict(
        issuer=provider.url, redirect_uri=REDIRECT_URI, post_logout_redirect_uri=SIGNED_OUT, scope=SCOPE, **client
    )
    script = node_script("code_flow.mjs", spec)
    started = script.read()
    browser = provider.browser()
    script.send(complete_login(browser, started["authorization_url"], REDIRECT_URI))
    result = script.result()
    result["browser"] = browser
    return result


def assert_code_flow(provider: Provider, result: dict[str, Any]) -> None:
    claims = result["id_token_claims"]
    assert claims["iss"] == provider.url
    assert claims["aud"] in (result["client_id"], [result["client_id"]])
    assert claims["sid"] and claims["auth_time"]
    assert result["token_type"].lower() == "bearer"
    assert result["scope"] is None or set(result["scope"].split()) <= set(SCOPE.split())
    assert result["userinfo"]["sub"] == claims["sub"]
    assert result["userinfo"]["email"] == "ada@example.edu"
    assert result["userinfo"]["name"] == "Ada Lovelace"

    introspection = result["introspection"]
    assert introspection["active"] is True
    assert introspection["sub"] == claims["sub"] and introspection["client_id"] == result["client_id"]

    refreshed = result["refreshed"]
    assert refreshed["access_token_changed"] and refreshed["refresh_token_changed"]
    # A fresh ID token on refresh (issue 16; OIDC Core §12.2): the same sub and aud, no nonce.
    assert refreshed["id_token_claims"] is not None
    assert refreshed["id_token_claims"]["sub"] == claims["sub"]
    assert refreshed["id_token_claims"]["aud"] == claims["aud"]
    assert "nonce" not in refreshed["id_token_claims"]

    # Revoked: both tokens of the grant are inactive, refresh is refused, UserInfo answers 401.
    assert result["refresh_token_after_revocation"] == {"active": False}
    assert result["access_token_after_revocation"] == {"active": False}
    assert result["refresh_after_revocation"]["error"] == "invalid_grant"
    assert result["userinfo_after_revocation"]["status"] == 401

    # RP-initiated logout with the URL the library built: straight back to the app, session ended.
    end_session = result["end_session_url"]
    assert end_session.startswith(provider.url + "/logout?")
    assert query(end_session)["id_token_hint"] and query(end_session)["client_id"] == result["client_id"]
    browser = result["browser"]
    response = browser.follow(browser.get(end_session), stop_at=SIGNED_OUT)
    assert response.status_code in (302, 303) and response.headers["Location"] == SIGNED_OUT, response.text[:300]
    assert [e for e in provider.audit_events(type="logout") if e.client_id == result["client_id"]]


@pytest.mark.parametrize(
    ("auth", "registered", "state_and_nonce"),
    [
        # The README's quick start, ``discovery(server, clientId, clientSecret)`` (client_secret_post),
        # and examples/oidc.ts: PKCE only, no state and no nonce, since discovery advertises S256.
        ("quick_start", "client_secret_post", False),
        ("client_secret_basic", "client_secret_basic", True),
    ],
)
def test_web_app_with_a_client_secret(provider, node_script, auth, registered, state_and_nonce):
    provider.create_user()
    rp = provider.create_client(
        name="Node web app",
        redirect_uris=[REDIRECT_URI],
        post_logout_redirect_uris=[SIGNED_OUT],
        scope=SCOPE,
        token_endpoint_auth_method=registered,
    )
    result = run_code_flow(
        provider,
        node_script,
        client_id=rp.client_id,
        client_secret=rp.client_secret,
        auth=auth,
        state_and_nonce=state_and_nonce,
    )
    assert result["sent_state_and_nonce"] is state_and_nonce
    assert ("nonce" in result["id_token_claims"]) is state_and_nonce
    assert result["client_id"] == rp.client_id
    assert_code_flow(provider, result)


def test_dynamic_registration_and_private_key_jwt(provider, node_script):
    """The app registers itself at /register with the team's initial access token and its public
    key, then authenticates every back-channel call with a signed assertion."""
    provider.create_user()
    metadata = {
        "client_name": "Node registered app",
        "redirect_uris": [REDIRECT_URI],
        "post_logout_redirect_uris": [SIGNED_OUT],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "scope": SCOPE,
    }
    result = run_code_flow(
        provider,
        node_script,
        register=metadata,
        initial_access_token=initial_access_token(provider),
        auth="private_key_jwt",
        state_and_nonce=True,
    )
    assert result["token_endpoint_auth_method"] == "private_key_jwt"
    assert result["registration"] == {
        "access_token": True,
        "client_uri": f"{provider.url}/register/{result['client_id']}",
    }
    assert_code_flow(provider, result)
    registered = provider.audit_events(type="client.registered")
    assert [e.client_id for e in registered] == [result["client_id"]]
    assert registered[0].details["actor"] == "team:Library"


def test_service_with_client_credentials(provider, node_script):
    service = provider.create_client(
        name="Node service", grant_types=["client_credentials"], redirect_uris=[], scope="api.read api.write"
    )
    spec = dict(
        issuer=provider.url,
        client_id=service.client_id,
        client_secret=service.client_secret,
        auth="client_secret_basic",
        scope="api.read",
    )
    result = node_script("client_credentials.mjs", spec).result()
    assert result["token_type"].lower() == "bearer"
    assert result["expires_in"] == 600
    assert not result["has_refresh_token"] and not result["has_id_token"]
    introspection = result["introspection"]
    assert introspection["active"] is True
    assert introspection["client_id"] == service.client_id and introspection["scope"] == "api.read"
    assert result["introspection_after_revocation"] == {"active": False}
