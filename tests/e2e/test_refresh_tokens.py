"""End-to-end: refresh tokens rotate, their reuse revokes the family, they expire, they follow the
browser session unless ``offline_access`` was granted, and their scope can only narrow."""

from __future__ import annotations

import threading

import pytest
import requests

from tests.support.helpers import bearer, issue_tokens, parse_form

#: IDP_REFRESH_REUSE_GRACE_SECONDS (default).
GRACE = 5


def refresh(rp, refresh_token, **extra) -> requests.Response:
    return rp.token_request({"grant_type": "refresh_token", "refresh_token": refresh_token, **extra})


def userinfo(provider, access_token) -> requests.Response:
    return requests.get(provider.url + "/userinfo", headers=bearer(access_token), timeout=5)


def assert_invalid_grant(response):
    assert response.status_code == 400, response.text[:300]
    assert response.json()["error"] == "invalid_grant"
    assert "access_token" not in response.json()


def sign_out(browser):
    """Press "Sign out" on the provider's home page (POST /logout with its CSRF token)."""
    home = browser.get("/")
    assert "Signed in" in home.text
    form = parse_form(home.text)
    form["confirm"] = "yes"
    response = browser.post(form.pop("_action"), data=form)
    assert response.status_code in (200, 302), response.text[:300]
    assert "Signed in" not in browser.get("/").text


@pytest.fixture
def user(provider):
    return provider.create_user()


# -- rotation and reuse -----------------------------------------------------------------------


def test_refresh_rotates_and_reuse_revokes_the_whole_family(provider, user):
    rp, token = issue_tokens(provider)

    first = refresh(rp, token["refresh_token"])
    assert first.status_code == 200, first.text
    rotated = first.json()
    assert rotated["refresh_token"] != token["refresh_token"]
    assert rotated["access_token"] != token["access_token"]
    assert provider.audit_events("token.refresh_reuse") == []

    # The old refresh token is spent; reused after the grace window for concurrent refreshes...
    provider.clock.advance(GRACE + 1)
    assert_invalid_grant(refresh(rp, token["refresh_token"]))
    # ...and its reuse looks like theft: the successor and the family's access tokens die too.
    assert_invalid_grant(refresh(rp, rotated["refresh_token"]))
    assert userinfo(provider, rotated["access_token"]).status_code == 401
    assert userinfo(provider, token["access_token"]).status_code == 401

    events = provider.audit_events("token.refresh_reuse")
    assert len(events) == 1
    assert events[0].client_id == rp.client_id and events[0].user_id == user.id


def test_rotation_chain_keeps_working_when_each_token_is_used_once(provider, user):
    rp, token = issue_tokens(provider)
    seen = {token["refresh_token"]}
    current = token["refresh_token"]
    for _ in range(3):
        response = refresh(rp, current)
        assert response.status_code == 200, response.text
        current = response.json()["refresh_token"]
        assert current not in seen
        seen.add(current)
    assert userinfo(provider, response.json()["access_token"]).status_code == 200
    assert provider.audit_events("token.refresh_reuse") == []


def test_reuse_does_not_touch_other_grants(provider, user):
    rp, token = issue_tokens(provider)
    other_rp, other = issue_tokens(provider)  # another client, another grant, same user
    assert refresh(rp, token["refresh_token"]).status_code == 200
    provider.clock.advance(GRACE + 1)
    assert_invalid_grant(refresh(rp, token["refresh_token"]))

    assert userinfo(provider, other["access_token"]).status_code == 200
    assert refresh(other_rp, other["refresh_token"]).status_code == 200


def test_refresh_token_of_another_client_is_invalid_grant(provider, user):
    rp, token = issue_tokens(provider)
    thief = provider.create_client(name="Other")

    assert_invalid_grant(refresh(thief, token["refresh_token"]))
    # The rightful client is unaffected.
    assert refresh(rp, token["refresh_token"]).status_code == 200


# -- the browser session and offline_access ---------------------------------------------------


def test_refresh_without_offline_access_ends_with_the_browser_session(provider, user):
    browser = provider.browser()
    online_rp, online = issue_tokens(provider, browser, scope="openid profile email")
    offline_rp, offline = issue_tokens(provider, browser, scope="openid profile email offline_access")
    assert "offline_access" not in online["scope"].split()
    assert "offline_access" in offline["scope"].split()

    # While the user is signed in, both refresh.
    response = refresh(online_rp, online["refresh_token"])
    assert response.status_code == 200, response.text
    online = response.json()

    sign_out(browser)

    assert_invalid_grant(refresh(online_rp, online["refresh_token"]))
    response = refresh(offline_rp, offline["refresh_token"])
    assert response.status_code == 200, response.text
    assert userinfo(provider, response.json()["access_token"]).status_code == 200


def test_refresh_without_offline_access_ends_when_the_session_idles_out(provider, user):
    browser = provider.browser()
    online_rp, online = issue_tokens(provider, browser, scope="openid profile")
    offline_rp, offline = issue_tokens(provider, browser, scope="openid profile offline_access")
    idle = provider.app.extensions["idp"].settings.sessions.idle_seconds

    provider.clock.advance(idle + 1)
    assert "Signed in" not in browser.get("/").text  # the provider has signed the browser out

    assert_invalid_grant(refresh(online_rp, online["refresh_token"]))
    assert refresh(offline_rp, offline["refresh_token"]).status_code == 200


def test_refresh_without_offline_access_ends_at_the_sessions_absolute_limit(provider, user):
    browser = provider.browser()
    rp, token = issue_tokens(provider, browser, scope="openid profile")
    settings = provider.app.extensions["idp"].settings
    # Keep the browser active so only the absolute limit can end the session.
    step = settings.sessions.idle_seconds // 2
    elapsed = 0
    while elapsed + step < settings.sessions.max_seconds:
        provider.clock.advance(step)
        elapsed += step
        assert "Signed in" in browser.get("/").text
    response = refresh(rp, token["refresh_token"])
    assert response.status_code == 200, response.text

    provider.clock.advance(settings.sessions.max_seconds - elapsed + 1)

    assert "Signed in" not in browser.get("/").text
    assert_invalid_grant(refresh(rp, response.json()["refresh_token"]))


# -- expiry -----------------------------------------------------------------------------------


def test_expired_refresh_token_is_invalid_grant(provider, user):
    lifetime = provider.app.extensions["idp"].settings.tokens.refresh_token_seconds
    rp_old, old = issue_tokens(provider)
    provider.clock.advance(100)
    rp_new, new = issue_tokens(provider)  # issued 100 s later: still valid when the first expires

    provider.clock.advance(lifetime - 100 + 1)

    assert_invalid_grant(refresh(rp_old, old["refresh_token"]))
    response = refresh(rp_new, new["refresh_token"])
    assert response.status_code == 200, response.text
    assert userinfo(provider, response.json()["access_token"]).status_code == 200


# -- the response -----------------------------------------------------------------------------


def test_refresh_response_is_not_cached_and_its_access_token_works(provider, user):
    rp, token = issue_tokens(provider)
    provider.clock.advance(provider.app.extensions["idp"].settings.tokens.access_token_seconds + 1)
    assert userinfo(provider, token["access_token"]).status_code == 401  # the first one has expired

    response = refresh(rp, token["refresh_token"])

    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert body["token_type"].lower() == "bearer"
    assert body["expires_in"] > 0
    info = userinfo(provider, body["access_token"])
    assert info.status_code == 200
    assert info.json()["email"] == "ada@example.edu"


# -- scope ------------------------------------------------------------------------------------


def test_refresh_can_narrow_the_scope(provider, user):
    rp, token = issue_tokens(provider, scope="openid profile email offline_access")

    response = refresh(rp, token["refresh_token"], scope="openid offline_access")

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body["scope"].split()) == {"openid", "offline_access"}
    info = userinfo(provider, body["access_token"])
    assert info.status_code == 200
    assert "sub" in info.json() and "email" not in info.json() and "name" not in info.json()


def test_refresh_cannot_widen_the_scope(provider, user):
    rp, token = issue_tokens(provider, scope="openid profile offline_access")
    assert "email" not in token["scope"].split()

    response = refresh(rp, token["refresh_token"], scope="openid profile email offline_access")

    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_scope"
    # A refused request does not spend the token.
    assert refresh(rp, token["refresh_token"]).status_code == 200


# -- concurrency ------------------------------------------------------------------------------


def test_concurrent_refreshes_of_one_token_yield_exactly_one_success(provider, user):
    rp, token = issue_tokens(provider)
    threads_count = 8
    barrier = threading.Barrier(threads_count)
    results: list = [None] * threads_count

    def worker(i):
        barrier.wait(timeout=10)
        try:
            results[i] = refresh(rp, token["refresh_token"])
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(threads_count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    assert all(isinstance(r, requests.Response) for r in results), results
    statuses = sorted(r.status_code for r in results)
    assert statuses.count(200) == 1, [(r.status_code, r.text[:120]) for r in results]
    for r in results:
        if r.status_code != 200:
            assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text[:300]
    winner = next(r for r in results if r.status_code == 200).json()
    assert winner["refresh_token"] != token["refresh_token"]
    # The losers were a race, not theft: the family survives and the one successor works.
    assert provider.audit_events("token.refresh_reuse") == []
    assert userinfo(provider, winner["access_token"]).status_code == 200
    assert refresh(rp, winner["refresh_token"]).status_code == 200


# -- grace window for concurrent refreshes (IDP_REFRESH_REUSE_GRACE_SECONDS) -------------------


def test_reuse_within_the_grace_window_is_refused_but_keeps_the_family(provider, user):
    rp, token = issue_tokens(provider)
    successor = refresh(rp, token["refresh_token"]).json()

    provider.clock.advance(GRACE - 1)
    assert_invalid_grant(refresh(rp, token["refresh_token"]))  # no second successor

    assert userinfo(provider, successor["access_token"]).status_code == 200
    assert refresh(rp, successor["refresh_token"]).status_code == 200
    assert provider.audit_events("token.refresh_reuse") == []
    [event] = provider.audit_events("token.refresh_reuse_in_grace")
    assert event.client_id == rp.client_id and event.user_id == user.id


def test_reuse_once_the_grace_window_has_passed_revokes_the_family(provider, user):
    rp, token = issue_tokens(provider)
    successor = refresh(rp, token["refresh_token"]).json()

    provider.clock.advance(GRACE)
    assert_invalid_grant(refresh(rp, token["refresh_token"]))

    assert_invalid_grant(refresh(rp, successor["refresh_token"]))
    assert userinfo(provider, successor["access_token"]).status_code == 401
    assert len(provider.audit_events("token.refresh_reuse")) == 1


def test_a_zero_grace_window_treats_every_reuse_as_theft(make_provider):
    provider = make_provider(refresh_reuse_grace_seconds=0)
    provider.create_user()
    rp, token = issue_tokens(provider)
    successor = refresh(rp, token["refresh_token"]).json()

    assert_invalid_grant(refresh(rp, token["refresh_token"]))  # same instant, no window
    assert_invalid_grant(refresh(rp, successor["refresh_token"]))
