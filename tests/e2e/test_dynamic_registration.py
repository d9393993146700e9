"""RFC 7591 registration and RFC 7592 management at /register, as an app team uses them."""

from __future__ import annotations

import requests

from tests.support.helpers import CALLBACK, RelyingParty, bearer, query
from tests.support.registration_helpers import client_count, initial_access_token, register, web_client

NEW_CALLBACK = "https://library.example.edu/oidc/callback"


def test_register_sign_in_update_delete(provider):
    provider.create_user()
    token = initial_access_token(provider)

    response = register(provider, web_client(), token)
    assert response.status_code == 201, response.text
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert body["client_name"] == "Library catalogue"
    assert body["redirect_uris"] == [CALLBACK]
    assert body["token_endpoint_auth_method"] == "client_secret_basic"
    assert len(body["client_secret"]) >= 43 and body["client_secret_expires_at"] == 0
    assert body["registration_client_uri"] == f"{provider.url}/register/{body['client_id']}"
    assert "trusted" not in body
    rat = body["registration_access_token"]

    # A full code flow with the new client (not trusted, so the user sees the consent page).
    rp = RelyingParty(provider, body["client_id"], body["client_secret"], CALLBACK)
    browser = provider.browser()
    tokens = rp.exchange(rp.sign_in(browser))
    assert rp.verify_id_token(tokens["id_token"])["aud"] == [rp.client_id]
    assert requests.get(provider.url + "/userinfo", headers=bearer(tokens["access_token"]), timeout=5).ok

    # RFC 7592 read.
    read = requests.get(body["registration_client_uri"], headers=bearer(rat), timeout=5)
    assert read.status_code == 200 and read.json()["redirect_uris"] == [CALLBACK]
    assert "client_secret" not in read.json()

    # RFC 7592 update: the redirect URI is replaced.
    update = {**web_client(redirect_uris=[NEW_CALLBACK]), "client_id": rp.client_id}
    updated = requests.put(body["registration_client_uri"], json=update, headers=bearer(rat), timeout=5)
    assert updated.status_code == 200, updated.text
    assert updated.json()["redirect_uris"] == [NEW_CALLBACK]

    # The old redirect URI is refused now: an error page, no redirect to it.
    page = browser.get(rp.authorization_url())
    assert page.status_code == 400 and "Location" not in page.headers
    assert "invalid_request" in page.text
    rp.redirect_uri = NEW_CALLBACK
    assert query(_callback(rp, browser))["code"]

    # RFC 7592 delete: the client is gone and its tokens no longer work.
    deleted = requests.delete(body["registration_client_uri"], headers=bearer(rat), timeout=5)
    assert deleted.status_code == 204
    assert requests.get(body["registration_client_uri"], headers=bearer(rat), timeout=5).status_code == 401
    assert (
        requests.get(provider.url + "/userinfo", headers=bearer(tokens["access_token"]), timeout=5).status_code == 401
    )
    refresh = rp.token_request({"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refresh.status_code == 401 and refresh.json()["error"] == "invalid_client"
    types = [e.type for e in provider.audit_events()]
    assert {"client.registered", "client.updated", "client.deleted"} <= set(types)
    registered = provider.audit_events(type="client.registered")[0]
    assert registered.details["actor"] == "team:Library" and registered.client_id == rp.client_id


def _callback(rp, browser) -> str:
    """The browser part of the code flow, stopping at the (new) redirect URI."""
    response = browser.follow(browser.get(rp.authorization_url()), stop_at=rp.redirect_uri)
    if response.status_code == 200 and "Allow" in response.text:
        response = browser.follow(browser.submit_consent(response), stop_at=rp.redirect_uri)
    assert response.status_code == 302 and response.headers["Location"].startswith(rp.redirect_uri)
    return response.headers["Location"]


def test_registration_needs_a_valid_initial_access_token(provider):
    for token in (None, "not-a-token"):
        response = register(provider, web_client(), token)
        assert response.status_code == 401, response.text
        assert response.json()["error"] == "invalid_token"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    expired = initial_access_token(provider, expires_in=60)
    provider.clock.advance(61)
    assert register(provider, web_client(), expired).status_code == 401
    assert client_count(provider) == 0


def test_open_registration_only_when_enabled(make_provider):
    provider = make_provider(open_registration=1)
    response = register(provider, web_client(), None)
    assert response.status_code == 201, response.text
    assert provider.audit_events(type="client.registered")[0].details["actor"] == "open-registration"


def test_initial_access_token_quota(provider):
    token = initial_access_token(provider, max_clients=1)
    assert register(provider, web_client(), token).status_code == 201
    second = register(provider, web_client(client_name="Second"), token)
    assert second.status_code == 400 and second.json()["error"] == "access_denied"
    assert client_count(provider) == 1


def test_invalid_metadata_names_the_field_and_creates_nothing(provider):
    token = initial_access_token(provider, max_clients=1)
    cases = [
        ({"redirect_uris": ["http://library.example.edu/cb"]}, "invalid_redirect_uri", "redirect_uris"),
        ({"redirect_uris": ["https://library.example.edu/cb#frag"]}, "invalid_redirect_uri", "fragment"),
        ({"redirect_uris": ["https://*.example.edu/cb"]}, "invalid_redirect_uri", "wildcard"),
        ({"redirect_uris": ["edu.example.app:/cb"]}, "invalid_redirect_uri", "native"),
        (
            {"post_logout_redirect_uris": ["http://example.edu/"]},
            "invalid_client_metadata",
            "post_logout_redirect_uris",
        ),
        ({"backchannel_logout_uri": "edu.example.app:/logout"}, "invalid_client_metadata", "backchannel_logout_uri"),
        ({"grant_types": ["implicit"]}, "invalid_client_metadata", "grant_types"),
        ({"response_types": ["token"]}, "invalid_client_metadata", "response_types"),
        (
            {"grant_types": ["client_credentials"], "response_types": ["code"], "redirect_uris": []},
            "invalid_client_metadata",
            "response_types",
        ),
        ({"token_endpoint_auth_method": "client_secret_jwt"}, "invalid_client_metadata", "token_endpoint_auth_method"),
        ({"token_endpoint_auth_method": "private_key_jwt"}, "invalid_client_metadata", "jwks"),
        ({"trusted": True}, "invalid_client_metadata", "trusted"),
        ({"scope": "openid idp:admin"}, "invalid_client_metadata", "scope"),
        ({"client_name": 42}, "invalid_client_metadata", "client_name"),
    ]
    for change, error, fragment in cases:
        response = register(provider, web_client(**change), token)
        assert response.status_code == 400, (change, response.text)
        assert response.json()["error"] == error, change
        assert fragment in response.json()["error_description"], (change, response.json())
    not_json = requests.post(
        provider.url + "/register", data="{", headers={**bearer(token), "Content-Type": "application/json"}, timeout=5
    )
    assert not_json.status_code == 400 and not_json.json()["error"] == "invalid_client_metadata"
    assert client_count(provider) == 0
    # The rejected requests did not use up the token's one registration.
    assert register(provider, web_client(), token).status_code == 201


def test_refused_metadata_is_never_quoted_back(provider):
    """The description is constant text naming the field: the relying party's own value is not
    echoed (it was, with '"' replaced by "'"), whatever characters it holds."""
    token = initial_access_token(provider)
    cases = [
        ({"redirect_uris": ['http://evil.example/"><script>']}, "invalid_redirect_uri", "redirect_uris: "),
        ({"redirect_uris": ["https://rp.example.edu/cb#Zoë\\"]}, "invalid_redirect_uri", "redirect_uris: "),
        ({"grant_types": ['implicit"']}, "invalid_client_metadata", "grant_types: "),
        ({"scope": 'library"admin'}, "invalid_client_metadata", "scope: "),
        (
            {"backchannel_logout_uri": "http://rp.example.edu/\\bc"},
            "invalid_client_metadata",
            "backchannel_logout_uri: ",
        ),
    ]
    for change, error, prefix in cases:
        response = register(provider, web_client(**change), token)
        assert response.status_code == 400, (change, response.text)
        body = response.json()
        assert body["error"] == error and body["error_description"].startswith(prefix), body
        for value in change.values():
            for part in value if isinstance(value, list) else value.split():
                assert part not in body["error_description"], body
        assert "evil" not in body["error_description"] and "Zo" not in body["error_description"]


def test_registration_access_token_is_good_for_its_own_client_only(provider):
    token = initial_access_token(provider)
    first = register(provider, web_client(), token).json()
    second = register(provider, web_client(client_name="Other"), token).json()
    for method in ("get", "put", "delete"):
        response = requests.request(
            method,
            second["registration_client_uri"],
            timeout=5,
            headers=bearer(first["registration_access_token"]),
            json={**web_client(), "client_id": second["client_id"]},
        )
        assert response.status_code == 401, (method, response.text)
    # The initial access token is not a registration access token either.
    assert requests.get(first["registration_client_uri"], headers=bearer(token), timeout=5).status_code == 401
    assert client_count(provider) == 2


def test_update_keeps_trusted_and_refuses_invalid_metadata(provider):
    token = initial_access_token(provider)
    body = register(provider, web_client(), token).json()
    rat, uri = body["registration_access_token"], body["registration_client_uri"]
    _set_trusted(provider, body["client_id"])

    bad = requests.put(
        uri,
        json={**web_client(redirect_uris=["http://evil.example/cb"]), "client_id": body["client_id"]},
        headers=bearer(rat),
        timeout=5,
    )
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_redirect_uri"
    assert requests.get(uri, headers=bearer(rat), timeout=5).json()["redirect_uris"] == [CALLBACK]
    for extra in ({"trusted": False}, {"client_id": "someone-else"}, {"registration_access_token": rat}):
        response = requests.put(
            uri, json={**web_client(), "client_id": body["client_id"], **extra}, headers=bearer(rat), timeout=5
        )
        assert response.status_code == 400, extra
    ok = requests.put(
        uri, json={**web_client(client_name="Renamed"), "client_id": body["client_id"]}, headers=bearer(rat), timeout=5
    )
    assert ok.status_code == 200 and ok.json()["client_name"] == "Renamed"
    assert _stored(provider, body["client_id"]).trusted


def _set_trusted(provider, client_id):
    from idp.http.context import deps
    from idp.storage.sql.clients import get_client

    with provider.app.app_context(), deps().database.session() as db:
        get_client(db, client_id).trusted = True
        db.commit()


def _stored(provider, client_id):
    from idp.http.context import deps
    from idp.storage.sql.clients import get_client

    with provider.app.app_context(), deps().database.session() as db:
        return get_client(db, client_id)


def test_public_native_client(provider):
    token = initial_access_token(provider)
    body = register(
        provider,
        web_client(
            token_endpoint_auth_method="none",
            application_type="native",
            redirect_uris=["edu.example.library:/callback", "http://127.0.0.1/cb", "http://[::1]:61000/cb"],
        ),
        token,
    )
    assert body.status_code == 201, body.text
    assert "client_secret" not in body.json() and "client_secret_expires_at" not in body.json()
    assert _stored(provider, body.json()["client_id"]).public


def test_discovery_advertises_registration(provider):
    document = requests.get(provider.url + "/.well-known/openid-configuration", timeout=5).json()
    assert document["registration_endpoint"] == provider.url + "/register"
    assert "private_key_jwt" in document["token_endpoint_auth_methods_supported"]
    assert document["token_endpoint_auth_signing_alg_values_supported"] == ["RS256", "ES256"]


def test_a_put_without_json_is_a_metadata_error(provider):
    body = register(provider, web_client(), initial_access_token(provider)).json()
    for data, content_type in (
        ("{", "application/json"),
        ("client_name=x", "application/x-www-form-urlencoded"),
        ("[]", "application/json"),
    ):
        response = requests.put(
            body["registration_client_uri"],
            data=data,
            timeout=5,
            headers={**bearer(body["registration_access_token"]), "Content-Type": content_type},
        )
        assert response.status_code == 400 and response.json()["error"] == "invalid_client_metadata", data


def test_registrations_are_rate_limited_per_ip_with_retry_after(make_provider, clock):
    provider = make_provider(open_registration=1, rate_register_ip_limit=2, rate_register_ip_seconds=3600)
    assert [register(provider, web_client(), None).status_code for _ in range(2)] == [201, 201]
    refused = register(provider, web_client(), None)
    assert refused.status_code == 429 and refused.json()["error"] == "too_many_requests"
    assert 0 < int(refused.headers["Retry-After"]) <= 1800
    assert client_count(provider) == 2  # nothing created by the refused request
    clock.advance(1800)
    assert register(provider, web_client(), None).status_code == 201
