"""The relying parties over plain HTTP (no browser): token refresh, the expired-session paths,
back-channel logout token validation, and the RP's own guards. Runs on both databases."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from joserfc import jwt

from tests.support.apps import start_apps
from tests.support.helpers import PASSWORD, parse_form

EVENT = "http://schemas.openid.net/event/backchannel-logout"


@pytest.fixture
def apps(make_provider, tmp_path, clock):
    started = start_apps(make_provider, tmp_path, clock)
    yield started
    started.close()


class Agent:
    """A cookie-keeping user agent that follows redirects across the three servers."""

    def __init__(self):
        self.http = requests.Session()
        self.visited: list[str] = []

    def go(self, url, method="GET", data=None):
        response = self.http.request(method, url, data=data, allow_redirects=False, timeout=10)
        self.visited.append(url)
        while response.status_code in (301, 302, 303):
            url = urljoin(url, response.headers["Location"])
            response = self.http.get(url, allow_redirects=False, timeout=10)
            self.visited.append(url)
        return response

    def sign_in(self, page, username="S1000001", password=PASSWORD):
        form = parse_form(page.text)
        form.update(username=username, password=password)
        return self.go(urljoin(page.url, form.pop("_action")), "POST", form)


def signed_in(apps, username="S1000001") -> Agent:
    agent = Agent()
    page = agent.go(apps.dashboard.url + "/")
    page = agent.sign_in(page, username)
    assert "Welcome" in page.text, page.text[:300]
    return agent


def dashboard_session(apps, registration_number="S1000001"):
    """The (first) dashboard session row of a user and its data."""
    import json

    for row in apps.dashboard.sessions():
        data = json.loads(row.data)
        if (data.get("user") or {}).get("registration_number") == registration_number:
            return row, data
    raise AssertionError(f"{registration_number} has no dashboard session")


def test_an_expired_access_token_is_refreshed_on_the_next_page(apps):
    agent = signed_in(apps)
    _, before = dashboard_session(apps)
    apps.provider.clock.advance(601)  # access token (600 s) expired; sessions (900 s / 1800 s) alive
    page = agent.go(apps.dashboard.url + "/")
    assert page.status_code == 200 and "Welcome, Ada Lovelace" in page.text
    assert not any("/login" in u for u in agent.visited[-1:])
    _, after = dashboard_session(apps)
    assert after["tokens"]["access_token"] != before["tokens"]["access_token"]
    assert after["tokens"]["refresh_token"] != before["tokens"]["refresh_token"]  # rotated
    assert after["tokens"]["expires_at"] == apps.provider.clock.now() + 600


def test_a_failed_refresh_goes_back_through_the_provider_and_explains(apps):
    agent = signed_in(apps)
    # The provider session ends without the dashboard hearing of it (back-channel not delivered).
    page = agent.go(apps.provider.url + "/logout")
    form = parse_form(page.text)
    form["confirm"] = "yes"
    agent.go(urljoin(apps.provider.url, form.pop("_action")), "POST", form)
    apps.provider.clock.advance(601)
    page = agent.go(apps.dashboard.url + "/")
    assert "Your session has expired" in page.text
    assert any("prompt=none" in u for u in agent.visited)


def test_an_expired_session_returns_silently_while_the_provider_session_lives(apps):
    agent = signed_in(apps)
    apps.provider.clock.advance(apps.dashboard.config.session_idle_seconds)
    start = len(agent.visited)
    page = agent.go(apps.dashboard.url + "/")
    assert "Welcome, Ada Lovelace" in page.text
    assert not [u for u in agent.visited[start:] if u.startswith(apps.provider.url + "/login")]


def test_a_request_that_sees_the_expiry_first_keeps_the_return_silent(apps):
    """The browser's own request (the favicon, a stylesheet) may be the first to see the session expired:
    the next page still knows it expired, so it goes back through the provider silently, not to a
    password prompt (a race seen in the browser tests)."""
    agent = signed_in(apps)
    apps.provider.clock.advance(apps.dashboard.config.session_idle_seconds + 1)
    agent.go(apps.dashboard.url + "/favicon.ico")
    start = len(agent.visited)
    page = agent.go(apps.dashboard.url + "/")
    assert "Welcome, Ada Lovelace" in page.text
    assert any("prompt=none" in u for u in agent.visited[start:])
    assert not [u for u in agent.visited[start:] if u.startswith(apps.provider.url + "/login")]


@pytest.mark.parametrize("target", ["//evil.example/x", "/%09/evil.example", "/%5Cevil.example", "/.//evil.example"])
def test_the_dashboard_never_redirects_off_site_after_sign_in(apps, target):
    agent = Agent()
    page = agent.go(apps.dashboard.url + "/login?next=" + target)
    page = agent.sign_in(page)
    assert page.url == apps.dashboard.url + "/" and "Welcome" in page.text


def test_a_forged_callback_is_refused(apps):
    agent = Agent()
    agent.go(apps.dashboard.url + "/")
    page = agent.go(apps.dashboard.url + "/callback?code=abc&state=forged")
    # Not pending here, in a browser that keeps cookies: nothing redeemed, a fresh sign-in offered.
    assert page.status_code == 400 and "This sign-in cannot be finished here" in page.text
    assert all(s.sub is None for s in apps.dashboard.sessions())


def test_sign_out_needs_the_forms_csrf_token(apps):
    agent = signed_in(apps)
    response = agent.go(apps.dashboard.url + "/logout", "POST", {"csrf_token": "forged"})
    assert response.status_code == 400
    assert "Welcome" in agent.go(apps.dashboard.url + "/").text


def test_each_role_sees_its_own_view(apps):
    employee = signed_in(apps, "E2000001")
    assert "Modules you teach" in employee.go(apps.dashboard.url + "/").text
    vendor = signed_in(apps, "V3000001")
    assert "Supplier induction" in vendor.go(apps.dashboard.url + "/").text
    orders = vendor.go(apps.portal.url + "/")
    assert "Your purchase orders" in orders.text and "Northwind" not in orders.text
    student = signed_in(apps, "S1000001")
    refused = student.go(apps.portal.url + "/")
    assert refused.status_code == 403 and "for suppliers and staff" in refused.text


# -- back-channel logout tokens ------------------------------------------------------------------


def logout_token(apps, rp, *, header=None, alg="RS256", **claims) -> str:
    """A logout token signed with the provider's key; claims override (None removes) the valid ones."""
    from idp.http.context import deps

    provider = apps.provider
    row, _data = dashboard_session(apps)
    now = int(provider.clock.now())
    values = {
        "iss": provider.url,
        "aud": rp.client_id,
        "iat": now,
        "exp": now + 120,
        "jti": f"j{now}{len(claims)}",
        "sub": row.sub,
        "sid": row.sid,
        "events": {EVENT: {}},
    }
    for name, value in claims.items():
        if value is None:
            values.pop(name, None)
        else:
            values[name] = value
    with provider.app.app_context():
        key = deps().keystore.signing_key(alg)
        head = {"alg": key.alg, "kid": key.kid, "typ": "logout+jwt", **(header or {})}
        return jwt.encode(head, values, key.key, algorithms=[key.alg])


def post_logout_token(rp, token):
    return requests.post(rp.url + "/backchannel-logout", data={"logout_token": token}, timeout=10)


def test_a_valid_logout_token_ends_the_matching_session_only(apps):
    agent = signed_in(apps)
    other = signed_in(apps, "E2000001")
    token = logout_token(apps, apps.dashboard)
    response = post_logout_token(apps.dashboard, token)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    assert "You signed out of SPOM Login in another app" in agent.go(apps.dashboard.url + "/").text
    assert "Modules you teach" in other.go(apps.dashboard.url + "/").text
    # §2.6 step 9 / RFC 7519 jti: the same token twice is a replay.
    replay = post_logout_token(apps.dashboard, token)
    assert replay.status_code == 400 and "already used" in replay.json()["error_description"]


def test_a_logout_token_naming_only_the_user_ends_all_their_sessions(apps):
    first, second = signed_in(apps), signed_in(apps)
    assert len([s for s in apps.dashboard.sessions() if s.sub]) == 2
    assert post_logout_token(apps.dashboard, logout_token(apps, apps.dashboard, sid=None)).status_code == 200
    for agent in (first, second):
        assert "signed out" in agent.go(apps.dashboard.url + "/").text


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(iss="https://other.example"), "another provider"),
        (dict(aud="someone-else"), "another client"),
        (dict(events=None), "no back-channel logout event"),
        (dict(events={"http://schemas.openid.net/event/other": {}}), "no back-channel logout event"),
        (dict(nonce="n-0S6_WzA2Mj"), "must not contain a nonce"),
        (dict(sub=None, sid=None), "neither a session"),
        (dict(jti=None), "no jti"),
        (dict(iat=None), "iat"),
        (dict(iat=-1000), "iat"),
        (dict(exp=-100), "expired"),
        (dict(header={"typ": "JWT+id"}), "typ"),
    ],
)
def test_invalid_logout_tokens_are_refused_and_end_nothing(apps, change, message):
    agent = signed_in(apps)
    now = int(apps.provider.clock.now())
    for name in ("iat", "exp"):
        if isinstance(change.get(name), int):
            change = {**change, name: now + change[name]}
    response = post_logout_token(apps.dashboard, logout_token(apps, apps.dashboard, **change))
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request" and message in response.json()["error_description"]
    assert "Welcome" in agent.go(apps.dashboard.url + "/").text


def test_a_logout_token_signed_by_someone_else_is_refused(apps):
    from joserfc.jwk import RSAKey

    agent = signed_in(apps)
    genuine = logout_token(apps, apps.dashboard)
    header = jwt.decode(genuine, apps.provider.jwks(), algorithms=["RS256"]).header
    claims = jwt.decode(genuine, apps.provider.jwks(), algorithms=["RS256"]).claims
    forged = jwt.encode(dict(header), dict(claims), RSAKey.generate_key(2048), algorithms=["RS256"])
    for token in (forged, "not-a-jwt", re.sub(r"\.[^.]+$", ".", genuine)):
        assert post_logout_token(apps.dashboard, token).status_code == 400
    assert "Welcome" in agent.go(apps.dashboard.url + "/").text


def test_the_provider_signs_out_both_apps_through_the_back_channel(apps):
    agent = signed_in(apps)
    assert "Your purchase orders" not in agent.go(apps.portal.url + "/").text  # signed in (a student)
    page = agent.go(apps.provider.url + "/logout")
    form = parse_form(page.text)
    form["confirm"] = "yes"
    agent.go(urljoin(apps.provider.url, form.pop("_action")), "POST", form)
    assert apps.provider.flush_logouts() == 2
    assert apps.dashboard.sessions() == [] or all(s.sub is None for s in apps.dashboard.sessions())
    assert "signed out" in agent.go(apps.portal.url + "/").text


def test_relying_party_settings_name_every_problem_at_once():
    from clients.common.config import RPConfigError
    from clients.dashboard import config_from_env

    with pytest.raises(RPConfigError) as info:
        config_from_env({"DASHBOARD_SESSION_IDLE_SECONDS": "ten", "DASHBOARD_ISSUER": "login.example.edu"})
    text = str(info.value)
    for expected in (
        "DASHBOARD_SESSION_IDLE_SECONDS: expected a whole number",
        "DASHBOARD_CLIENT_ID: required",
        "DASHBOARD_CLIENT_SECRET: required",
        "DASHBOARD_SECRET_KEY: required",
        "DASHBOARD_ISSUER: must be an absolute http(s) URL",
    ):
        assert expected in text
    config = config_from_env(
        {
            "DASHBOARD_CLIENT_ID": "c",
            "DASHBOARD_CLIENT_SECRET": "s",
            "DASHBOARD_SECRET_KEY": "k",
            "DASHBOARD_SESSION_IDLE_SECONDS": "60",
        }
    )
    assert config.session_idle_seconds == 60 and config.redirect_uri == "http://127.0.0.1:8001/callback"
    assert not config.secure_cookies


def test_the_session_cookie_is_an_httponly_opaque_token(apps):
    response = requests.get(apps.dashboard.url + "/login", allow_redirects=False, timeout=10)
    cookies = response.raw.headers.getlist("Set-Cookie")
    # The session, and a probe that says only that this browser keeps cookies (app.py).
    assert sorted(c.split("=")[0] for c in cookies) == ["spom_dashboard_session", "spom_dashboard_session_probe"]
    assert any(c.startswith("spom_dashboard_session_probe=1;") and "HttpOnly" in c for c in cookies)
    cookie = next(c for c in cookies if c.startswith("spom_dashboard_session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    value = cookie.split(";")[0].split("=", 1)[1]
    assert len(value) == 43 and "." not in value  # a random token; the state lives server-side


def test_dead_sessions_are_purged_when_new_ones_start(apps):
    signed_in(apps)
    apps.provider.clock.advance(apps.dashboard.config.session_idle_seconds + 1)
    requests.get(apps.dashboard.url + "/login", allow_redirects=False, timeout=10)  # starts a new session
    assert [s.sub for s in apps.dashboard.sessions()] == [None]


def test_an_unreachable_provider_is_explained(tmp_path):
    from clients import dashboard
    from clients.common import RPConfig
    from tests.support.live import free_port

    config = RPConfig(
        name="SPOM Dashboard",
        issuer=f"http://127.0.0.1:{free_port()}",
        client_id="c",
        client_secret="s",
        base_url="http://127.0.0.1:8001",
        secret_key="k" * 40,
        database=str(tmp_path / "d.sqlite3"),
        cookie_name="d",
    )
    client = dashboard.create_app(config).test_client()
    assert client.get("/").status_code == 302
    page = client.get("/login")
    assert page.status_code == 503 and b"SPOM Login cannot be reached" in page.data


def test_pending_sign_ins_are_kept_per_state_bounded_and_expiring(apps):
    http = requests.Session()
    states = []
    for _ in range(10):  # ten tabs that each started a sign-in
        started = http.get(apps.dashboard.url + "/login", allow_redirects=False, timeout=10)
        states.append(parse_qs(urlsplit(started.headers["Location"]).query)["state"][0])
    (row,) = apps.dashboard.sessions()
    data = json.loads(row.data)
    assert list(data["pending"]) == states[-8:]  # the newest eight, each with its own state
    assert sorted(k.removeprefix("_state_spom_") for k in data if k.startswith("_state_spom_")) == sorted(states[-8:])
    later = []
    for _ in range(6):  # an hour of sign-ins ten minutes apart (the session stays alive)
        apps.provider.clock.advance(600)
        started = http.get(apps.dashboard.url + "/login", allow_redirects=False, timeout=10)
        later.append(parse_qs(urlsplit(started.headers["Location"]).query)["state"][0])
    (row,) = apps.dashboard.sessions()
    assert list(json.loads(row.data)["pending"]) == later  # the first ten lapsed after their hour
