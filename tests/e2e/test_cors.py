"""CORS for browser apps (issue 16, finding 1): per-client allowed origins on /token, /userinfo,
/revoke and /introspect, proper preflights, and the settings on every surface (CLI, admin API,
RFC 7591). The last test runs a real single-page app in Chromium."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import requests

from idp.core.errors import ClientMetadataError
from idp.domain.clients.rules import normalize_origin
from tests.support.cli import assert_one_line_error, run
from tests.support.helpers import CALLBACK, bearer, query
from tests.support.live import POLL_SECONDS, free_port
from tests.support.registration_helpers import admin_token, initial_access_token, register, web_client

SPA = "http://127.0.0.1:9"  # CALLBACK's origin: the default of a public client registered with it
ELSEWHERE = "https://evil.example"
ENDPOINTS = {"/token": "POST", "/userinfo": "GET, POST", "/revoke": "POST", "/introspect": "POST"}


def preflight(provider, path: str, origin: str, headers: str = "authorization,content-type") -> requests.Response:
    return requests.options(
        provider.url + path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": headers,
        },
        timeout=5,
    )


def code_for(provider, rp) -> str:
    """The browser part of the code flow (sign-in), stopping at the client's redirect URI."""
    browser, stop = provider.browser(), rp.redirect_uri
    response = browser.follow(browser.get(rp.authorization_url()), stop_at=stop)
    if response.status_code == 200 and "Sign in" in response.text:
        response = browser.follow(browser.submit_login(response), stop_at=stop)
    assert response.status_code == 302 and response.headers["Location"].startswith(stop), response.text[:300]
    return query(response.headers["Location"])["code"]


def token_request(provider, rp, origin: str, code: str | None = None) -> requests.Response:
    data = {
        "grant_type": "authorization_code",
        "code": code or "not-a-code",
        "redirect_uri": rp.redirect_uri,
        "code_verifier": rp.verifier,
    }
    if rp.client_secret is None:
        data["client_id"] = rp.client_id
    auth = (rp.client_id, rp.client_secret) if rp.client_secret else None
    return requests.post(provider.url + "/token", data=data, auth=auth, headers={"Origin": origin}, timeout=10)


def assert_cors(response: requests.Response, origin: str) -> None:
    assert response.headers.get("Access-Control-Allow-Origin") == origin
    assert "Origin" in response.headers.get("Vary", "")
    assert response.headers.get("Access-Control-Expose-Headers") == "WWW-Authenticate"
    assert "Access-Control-Allow-Credentials" not in response.headers


def assert_no_cors(response: requests.Response) -> None:
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert "Origin" in response.headers.get("Vary", "")


# -- the origin rule -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("https://App.Example.EDU", "https://app.example.edu"),
        ("https://app.example.edu:443", "https://app.example.edu"),
        ("https://app.example.edu:8443", "https://app.example.edu:8443"),
        ("http://127.0.0.1:5173", "http://127.0.0.1:5173"),
        ("http://[::1]:80", "http://[::1]"),
    ],
)
def test_origins_are_stored_as_browsers_send_them(given, stored):
    assert normalize_origin(given) == stored


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("https://app.example.edu/", "no path (not even a trailing /)"),
        ("https://app.example.edu/spa", "no path"),
        ("https://app.example.edu?x=1", "query"),
        ("https://app.example.edu#top", "fragment"),
        ("https://user@app.example.edu", "must not contain a user name or password"),
        ("http://app.example.edu", "must use https (http only for 127.0.0.1 or [::1])"),
        ("https://*.example.edu", "wildcards are not allowed"),
        ("*", "wildcards are not allowed"),
        ("null", "must be an http(s) origin"),
        ("ftp://files.example.edu", "must be an http(s) origin"),
        ("https://app.example.edu:99999", "must be an origin"),
        ("https://bücher.example.edu", "xn-- form"),
        ("https://app example.edu", "spaces and control characters"),
        ("", "at most 300 characters"),
    ],
)
def test_what_is_not_an_origin_is_refused_with_the_reason(given, message):
    with pytest.raises(ClientMetadataError) as refused:
        normalize_origin(given)
    assert refused.value.field == "allowed_cors_origins" and message in str(refused.value)


# -- preflights ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", list(ENDPOINTS))
def test_preflight_from_an_allowed_origin(provider, path):
    provider.create_client(name="SPA", public=True)
    response = preflight(provider, path, SPA, "authorization,content-type,dpop")
    assert response.status_code == 204 and response.content == b""
    assert response.headers["Access-Control-Allow-Origin"] == SPA
    assert response.headers["Access-Control-Allow-Methods"] == ENDPOINTS[path]
    assert response.headers["Access-Control-Allow-Headers"] == "Authorization, Content-Type, DPoP"
    assert int(response.headers["Access-Control-Max-Age"]) > 0
    assert "Origin" in response.headers["Vary"]
    assert "Access-Control-Allow-Credentials" not in response.headers
    # Not Flask's automatic answer: no HTML page headers.
    assert "Content-Security-Policy" not in response.headers and "Content-Type" not in response.headers


@pytest.mark.parametrize("path", list(ENDPOINTS))
def test_preflight_from_an_origin_no_client_allows(provider, path):
    provider.create_client(name="SPA", public=True)
    response = preflight(provider, path, ELSEWHERE)
    assert response.status_code == 204
    assert not any(h.startswith("Access-Control-") for h in response.headers)
    assert "Content-Security-Policy" not in response.headers


def test_a_confidential_clients_redirect_uris_are_no_default_origins(provider):
    rp = provider.create_client(name="Server-rendered app")  # client_secret_basic, redirect URI CALLBACK
    assert "Access-Control-Allow-Origin" not in preflight(provider, "/token", SPA).headers
    assert_no_cors(token_request(provider, rp, SPA))


def test_a_new_or_changed_client_counts_at_once(provider):
    assert "Access-Control-Allow-Origin" not in preflight(provider, "/userinfo", SPA).headers
    provider.create_client(name="SPA", public=True)
    assert preflight(provider, "/userinfo", SPA).headers["Access-Control-Allow-Origin"] == SPA


# -- real requests -------------------------------------------------------------------------------


def test_a_single_page_app_signs_in_reads_userinfo_and_revokes(provider):
    provider.create_user()
    rp = provider.create_client(name="SPA", public=True)

    token = token_request(provider, rp, SPA, code_for(provider, rp))
    assert token.status_code == 200, token.text
    assert_cors(token, SPA)
    access = token.json()["access_token"]

    info = requests.get(provider.url + "/userinfo", headers={**bearer(access), "Origin": SPA}, timeout=5)
    assert info.status_code == 200 and info.json()["preferred_username"] == "S1000001"
    assert_cors(info, SPA)

    revoked = requests.post(
        provider.url + "/revoke",
        data={"token": token.json()["refresh_token"], "client_id": rp.client_id},
        headers={"Origin": SPA},
        timeout=5,
    )
    assert revoked.status_code == 200
    assert_cors(revoked, SPA)

    # The refused access token's 401 is readable too, challenge included (exposed).
    after = requests.get(provider.url + "/userinfo", headers={**bearer(access), "Origin": SPA}, timeout=5)
    assert after.status_code == 401 and after.headers["WWW-Authenticate"].startswith("Bearer")
    assert_cors(after, SPA)


def test_another_origin_gets_no_cors_headers_but_the_request_is_handled(provider):
    provider.create_user()
    rp = provider.create_client(name="SPA", public=True)
    token = token_request(provider, rp, ELSEWHERE, code_for(provider, rp))
    assert token.status_code == 200  # as peers do: the browser, not the provider, withholds it
    assert_no_cors(token)
    info = requests.get(
        provider.url + "/userinfo", headers={**bearer(token.json()["access_token"]), "Origin": ELSEWHERE}, timeout=5
    )
    assert info.status_code == 200
    assert_no_cors(info)


def test_the_client_a_request_names_decides_not_any_client(provider):
    provider.create_user()
    other = "https://other-spa.example.edu"
    provider.create_client(name="Other SPA", public=True, allowed_cors_origins=[other])
    rp = provider.create_client(name="SPA", public=True)
    assert preflight(provider, "/token", other).headers["Access-Control-Allow-Origin"] == other

    token = token_request(provider, rp, other, code_for(provider, rp))
    assert token.status_code == 200
    assert_no_cors(token)
    # /userinfo decides by the access token's client.
    info = requests.get(
        provider.url + "/userinfo", headers={**bearer(token.json()["access_token"]), "Origin": other}, timeout=5
    )
    assert_no_cors(info)


def test_an_empty_list_turns_the_default_off(provider):
    rp = provider.create_client(name="Native app", public=True, allowed_cors_origins=[])
    assert "Access-Control-Allow-Origin" not in preflight(provider, "/token", SPA).headers
    assert_no_cors(token_request(provider, rp, SPA))


def test_errors_reach_the_app_from_an_allowed_origin(provider):
    app = "https://app.example.edu"
    rp = provider.create_client(name="BFF", allowed_cors_origins=[app])  # confidential, listed explicitly

    bad_code = token_request(provider, rp, app)
    assert bad_code.status_code == 400 and bad_code.json()["error"] == "invalid_grant"
    assert_cors(bad_code, app)

    wrong_secret = requests.post(
        provider.url + "/token",
        data={"grant_type": "authorization_code", "code": "x", "redirect_uri": CALLBACK},
        auth=(rp.client_id, "wrong"),
        headers={"Origin": app},
        timeout=5,
    )
    assert wrong_secret.status_code == 401 and wrong_secret.json()["error"] == "invalid_client"
    assert_cors(wrong_secret, app)

    # No client can be identified: the preflight's rule (some client allows the origin) applies.
    unknown = requests.post(
        provider.url + "/token",
        data={"grant_type": "authorization_code", "code": "x", "client_id": "no-such-client"},
        headers={"Origin": app},
        timeout=5,
    )
    assert unknown.status_code == 400 and unknown.json()["error"] == "invalid_client", unknown.text
    assert_cors(unknown, app)
    no_grant = requests.post(provider.url + "/token", data={}, headers={"Origin": app}, timeout=5)
    assert no_grant.status_code == 400
    assert_cors(no_grant, app)
    bad_token = requests.get(provider.url + "/userinfo", headers={**bearer("a.b.c"), "Origin": app}, timeout=5)
    assert bad_token.status_code == 401
    assert_cors(bad_token, app)
    assert_no_cors(requests.post(provider.url + "/token", data={}, headers={"Origin": ELSEWHERE}, timeout=5))


def test_introspection_echoes_the_origin_only_for_a_client_allowed_there(provider):
    app = "https://app.example.edu"
    allowed = provider.create_client(name="API gateway UI", allowed_cors_origins=[app])
    not_allowed = provider.create_client(name="Server app")
    for rp, expected in ((allowed, app), (not_allowed, None)):
        response = requests.post(
            provider.url + "/introspect",
            data={"token": "whatever"},
            auth=(rp.client_id, rp.client_secret),
            headers={"Origin": app},
            timeout=5,
        )
        assert response.status_code == 200 and response.json() == {"active": False}
        # Never "*": this endpoint takes client secrets.
        assert response.headers.get("Access-Control-Allow-Origin") == expected


def test_discovery_and_jwks_stay_public(provider):
    for path in ("/.well-known/openid-configuration", "/jwks.json"):
        assert requests.get(provider.url + path, timeout=5).headers["Access-Control-Allow-Origin"] == "*"


# -- setting the origins: RFC 7591, admin API, CLI -------------------------------------------------


def test_registration_sets_normalizes_and_reports_origins(provider):
    token = initial_access_token(provider)
    created = register(provider, web_client(allowed_cors_origins=["https://App.Example.edu:443"]), token)
    assert created.status_code == 201, created.text
    assert created.json()["allowed_cors_origins"] == ["https://app.example.edu"]

    public = register(provider, web_client(token_endpoint_auth_method="none"), token)
    assert public.json()["allowed_cors_origins"] == [SPA]  # the default, reported as in force
    confidential = register(provider, web_client(), token)
    assert confidential.json()["allowed_cors_origins"] == []

    refused = register(provider, web_client(allowed_cors_origins=["https://app.example.edu/"]), token)
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_client_metadata"
    assert refused.json()["error_description"].startswith("allowed_cors_origins: an origin has no path")
    not_a_list = register(provider, web_client(allowed_cors_origins="https://app.example.edu"), token)
    assert not_a_list.json()["error_description"] == "allowed_cors_origins: must be an array of strings"


def test_admin_api_sets_and_resets_origins(provider):
    headers = bearer(admin_token(provider))
    api = provider.url + "/admin/api/clients"
    created = requests.post(
        api,
        json={"client_name": "SPA", "redirect_uris": [CALLBACK], "token_endpoint_auth_method": "none"},
        headers=headers,
        timeout=5,
    )
    assert created.status_code == 201 and created.json()["allowed_cors_origins"] == [SPA]
    path = f"{api}/{created.json()['client_id']}"

    changed = requests.patch(
        path, json={"allowed_cors_origins": ["https://spa.example.edu"]}, headers=headers, timeout=5
    )
    assert changed.status_code == 200 and changed.json()["allowed_cors_origins"] == ["https://spa.example.edu"]
    # Other changes keep the explicit list; null goes back to the default, which follows the redirect URIs.
    kept = requests.patch(path, json={"client_name": "SPA 2"}, headers=headers, timeout=5)
    assert kept.json()["allowed_cors_origins"] == ["https://spa.example.edu"]
    reset = requests.patch(path, json={"allowed_cors_origins": None}, headers=headers, timeout=5)
    assert reset.json()["allowed_cors_origins"] == [SPA]
    moved = requests.patch(path, json={"redirect_uris": ["https://new.example.edu/cb"]}, headers=headers, timeout=5)
    assert moved.json()["allowed_cors_origins"] == ["https://new.example.edu"]

    refused = requests.patch(
        path, json={"allowed_cors_origins": ["http://spa.example.edu"]}, headers=headers, timeout=5
    )
    assert refused.status_code == 400
    assert refused.json()["field"] == "allowed_cors_origins"
    assert "must use https (http only for 127.0.0.1 or [::1])" in refused.json()["detail"]


def test_cli_sets_and_clears_origins(env):
    created = json.loads(
        run(
            env,
            "clients",
            "create",
            "--name",
            "SPA",
            "--public",
            "--redirect-uri",
            "https://spa.example.edu/cb",
            "--json",
        ).stdout
    )
    assert created["allowed_cors_origins"] == ["https://spa.example.edu"]
    client_id = created["client_id"]

    listed = run(
        env,
        "clients",
        "update",
        client_id,
        "--cors-origin",
        "https://A.example.edu",
        "--cors-origin",
        "http://127.0.0.1:5173",
        "--json",
    )
    assert json.loads(listed.stdout)["allowed_cors_origins"] == ["https://a.example.edu", "http://127.0.0.1:5173"]
    assert "cors_origin:    https://a.example.edu" in run(env, "clients", "show", client_id).stdout
    cleared = run(env, "clients", "update", client_id, "--no-cors-origins", "--json")
    assert json.loads(cleared.stdout)["allowed_cors_origins"] == []

    assert_one_line_error(
        run(env, "clients", "update", client_id, "--cors-origin", "https://spa.example.edu/app"),
        "allowed_cors_origins: an origin has no path",
    )
    assert_one_line_error(
        run(env, "clients", "update", client_id, "--cors-origin", "https://a.example.edu", "--no-cors-origins"),
        "--cors-origin and --no-cors-origins exclude each other",
    )


# -- a real single-page app in Chromium ----------------------------------------------------------


@contextmanager
def static_page(port: int) -> Iterator[str]:
    """A tiny page on a loopback port: the SPA's origin (its script is run by the test)."""

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<!doctype html><title>SPA</title><p>single-page app"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Page)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": POLL_SECONDS}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()


# What an SPA library does after the redirect back: exchange the code, read userinfo, revoke.
SPA_SCRIPT = """async ([issuer, form]) => {
  const read = async (r) => ({status: r.status, body: await r.text(),
                              challenge: r.headers.get('WWW-Authenticate')});
  const token = await fetch(issuer + '/token', {method: 'POST', body: new URLSearchParams(form)});
  const tokens = JSON.parse((await read(token.clone())).body);
  const info = await fetch(issuer + '/userinfo', {headers: {Authorization: 'Bearer ' + tokens.access_token}});
  const revoke = await fetch(issuer + '/revoke', {method: 'POST', body: new URLSearchParams(
      {token: tokens.refresh_token, client_id: form.client_id})});
  const bad = await fetch(issuer + '/userinfo', {headers: {Authorization: 'Bearer not.a.token'}});
  return {token: await read(token), userinfo: await read(info), revoke: await read(revoke), bad: await read(bad)};
}"""

BLOCKED_SCRIPT = """async ([issuer]) => {
  try { await fetch(issuer + '/userinfo', {headers: {Authorization: 'Bearer x.y.z'}}); return 'read'; }
  catch (e) { return e.name; }
}"""


def test_a_single_page_app_in_chromium(provider, browser):
    provider.create_user()
    with static_page(free_port()) as spa, static_page(free_port()) as stranger:
        rp = provider.create_client(name="SPA", public=True, redirect_uris=[spa + "/callback"])
        form = {
            "grant_type": "authorization_code",
            "code": code_for(provider, rp),
            "redirect_uri": rp.redirect_uri,
            "client_id": rp.client_id,
            "code_verifier": rp.verifier,
        }
        context = browser.new_context()
        try:
            page = context.new_page()
            page.goto(spa + "/")
            seen = page.evaluate(SPA_SCRIPT, [provider.url, form])
            assert seen["token"]["status"] == 200 and "id_token" in json.loads(seen["token"]["body"])
            assert seen["userinfo"]["status"] == 200
            assert json.loads(seen["userinfo"]["body"])["preferred_username"] == "S1000001"
            assert seen["revoke"]["status"] == 200
            assert seen["bad"]["status"] == 401 and seen["bad"]["challenge"].startswith("Bearer")

            page.goto(stranger + "/")  # an origin no client allows: the browser blocks the call
            assert page.evaluate(BLOCKED_SCRIPT, [provider.url]) == "TypeError"
        finally:
            context.close()
