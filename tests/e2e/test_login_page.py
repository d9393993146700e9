"""The sign-in page, the provider session and sign-out, driven through a live provider."""

from __future__ import annotations

import html
import re

import pytest

from idp.core.passwords import PasswordHasher
from tests.support.helpers import CALLBACK, PASSWORD, parse_form, query, stored_user, update_user

SESSION_COOKIE = "idp_session"  # plain-http loopback issuer: no __Host- prefix
POST_LOGOUT = "http://127.0.0.1:9/signed-out"


def set_cookie_headers(response) -> list[str]:
    return response.raw.headers.getlist("Set-Cookie")


def session_cookie_header(response) -> str:
    found = [h for h in set_cookie_headers(response) if h.startswith(SESSION_COOKIE + "=")]
    assert len(found) == 1, set_cookie_headers(response)
    return found[0]


def sign_in(browser, username="S1000001", password=PASSWORD, **kw):
    """Sign in without an authorization request (the provider's own home page)."""
    page = browser.get("/login")
    assert page.status_code == 200
    form = parse_form(page.text)
    form.update(username=username, password=password)
    return browser.post(form.pop("_action"), data=form, **kw)


def is_signed_in(browser) -> bool:
    page = browser.get("/")
    assert page.status_code == 200
    return "You are signed in as" in page.text


def browser_with_cookie(provider, value):
    other = provider.browser()
    other.http.cookies.set(SESSION_COOKIE, value, domain="127.0.0.1", path="/")
    return other


def normalized(body: str, username: str) -> str:
    body = re.sub(r'name="csrf_token" value="[^"]*"', 'name="csrf_token" value=""', body)
    return body.replace(f'value="{html.escape(username)}"', 'value=""')


# -- the page ---------------------------------------------------------------------------


def test_page_has_csrf_field_and_labelled_inputs(provider):
    page = provider.browser().get("/login")
    assert page.status_code == 200
    assert re.search(r'<input type="hidden" name="csrf_token" value="[^"]{20,}">', page.text)
    labels = re.findall(r'<label for="([^"]+)"', page.text)
    assert set(labels) == {"username", "password"}
    for name in labels:
        assert re.search(rf'<input id="{name}" name="{name}"', page.text)
    assert 'type="password"' in page.text and 'autocomplete="current-password"' in page.text
    assert 'maxlength="254"' in page.text and 'maxlength="128"' in page.text


def test_security_headers_on_html_pages(provider):
    provider.create_user()
    browser = provider.browser()
    pages = [browser.get("/login"), browser.get("/"), browser.get("/authorize")]  # the last is an error page
    sign_in(browser)
    pages.append(browser.get("/logout"))  # confirmation page
    assert [p.status_code for p in pages] == [200, 200, 400, 200]
    for page in pages:
        assert page.headers["Content-Type"].startswith("text/html")
        csp = page.headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
        assert page.headers["X-Frame-Options"] == "DENY"
        assert page.headers["Referrer-Policy"] == "no-referrer"
        assert page.headers["Cache-Control"] == "no-store"
        assert page.headers["X-Content-Type-Options"] == "nosniff"


# -- form validation ---------------------------------------------------------------------


def test_empty_fields_give_field_messages(provider):
    browser = provider.browser()
    response = sign_in(browser, username="  ", password="")
    assert response.status_code == 400
    assert "Enter your registration number or e-mail address." in response.text
    assert "Enter your password." in response.text
    assert 'aria-describedby="username-error"' in response.text
    assert 'aria-describedby="password-error"' in response.text
    assert provider.audit_events() == []  # nothing was attempted


@pytest.mark.parametrize("field,value", [("username", "S" * 255), ("password", "p" * 129)])
def test_over_long_input_is_refused(provider, field, value):
    provider.create_user()
    values = {"username": "S1000001", "password": PASSWORD, field: value}
    response = sign_in(provider.browser(), **values)
    assert response.status_code == 400
    assert "This is too long" in response.text
    assert f'aria-describedby="{field}-error"' in response.text


def test_longest_allowed_input_is_accepted_as_an_attempt(provider):
    response = sign_in(provider.browser(), username="S" * 254, password="p" * 128)
    assert response.status_code == 401
    assert "Invalid credentials." in response.text


def test_post_without_csrf_cookie_says_cookies_are_disabled(provider):
    provider.create_user()
    browser = provider.browser()
    page = browser.get("/login")
    browser.http.cookies.clear()
    form = parse_form(page.text)
    form.update(username="S1000001", password=PASSWORD)
    response = browser.post(form.pop("_action"), data=form)
    assert response.status_code == 400
    assert "Cookies are disabled" in response.text
    assert SESSION_COOKIE not in browser.http.cookies


def test_cookies_cleared_while_the_page_was_open_are_not_called_refused(provider):
    """The browser sent the provider's cookies when the form was made (it keeps cookies), so a
    form arriving without them lost them: a fresh form, not a cookie-settings lecture."""
    provider.create_user()
    browser = provider.browser()
    browser.get("/login")
    page = browser.get("/login")  # this time the browser sends the cookie set by the first visit
    browser.http.cookies.clear()
    response = browser.submit_login(page)
    assert response.status_code == 400
    assert "cookies were probably cleared while it was open" in html.unescape(response.text)
    assert "Cookies are disabled" not in response.text
    assert sign_in(browser).status_code == 302  # and the fresh form works


def test_a_sign_in_page_reached_without_any_cookie_probes_before_saying_cookies_are_refused(provider):
    """/authorize sets the browser-binding cookie; a browser arriving without it gets one more
    cookie and a second look: still none means the browser refuses cookies."""
    provider.create_user()
    rp = provider.create_client()
    browser = provider.browser()
    login = browser.get(rp.authorization_url())
    assert login.status_code == 302
    browser.http.cookies.clear()
    probe = browser.get(login.headers["Location"])
    assert probe.status_code == 302 and probe.headers["Location"].endswith("&probe=1")
    assert any(h.startswith("idp_browser=") for h in set_cookie_headers(probe))
    browser.http.cookies.clear()  # refused again
    refused = browser.get(probe.headers["Location"])
    assert refused.status_code == 400 and "Cookies are disabled in your browser" in html.unescape(refused.text)
    assert "another browser" not in refused.text


def test_post_without_csrf_token_is_refused(provider):
    provider.create_user()
    browser = provider.browser()
    browser.get("/login")
    response = browser.post("/login", data={"username": "S1000001", "password": PASSWORD})
    assert response.status_code == 400
    assert "expired" in response.text
    assert SESSION_COOKIE not in browser.http.cookies


def test_stale_csrf_token_gives_expired_message_and_fresh_form(provider):
    provider.create_user()
    browser = provider.browser()
    page = browser.get("/login")
    provider.clock.advance(1801)  # past interaction_seconds
    response = browser.submit_login(page)
    assert response.status_code == 400
    assert "expired" in response.text
    assert SESSION_COOKIE not in browser.http.cookies
    fresh = parse_form(response.text)
    assert fresh["csrf_token"] and fresh["csrf_token"] != parse_form(page.text)["csrf_token"]

    signed_in = browser.submit_login(response)
    assert signed_in.status_code == 302
    assert is_signed_in(browser)


def test_csrf_token_within_interaction_time_is_accepted(provider):
    provider.create_user()
    browser = provider.browser()
    page = browser.get("/login")
    provider.clock.advance(1790)
    assert browser.submit_login(page).status_code == 302


def test_csrf_token_of_another_browser_is_refused(provider):
    provider.create_user()
    mine, theirs = provider.browser(), provider.browser()
    mine.get("/login")
    response = mine.submit_login(theirs.get("/login"))
    assert response.status_code == 400
    assert "expired" in response.text


# -- credentials --------------------------------------------------------------------------


def test_wrong_password_unknown_and_disabled_user_look_the_same(provider):
    provider.create_user()
    provider.create_user(registration_number="S1000002", email="grace@example.edu", active=False)
    attempts = {"S1000001": "wrong password", "S9999999": PASSWORD, "S1000002": PASSWORD}
    responses = {u: sign_in(provider.browser(), username=u, password=p) for u, p in attempts.items()}

    assert {r.status_code for r in responses.values()} == {401}
    bodies = {normalized(r.text, u) for u, r in responses.items()}
    assert len(bodies) == 1
    body = bodies.pop()
    assert "Invalid credentials." in body
    for username, response in responses.items():
        assert f'value="{username}"' in response.text  # the username is echoed back
        assert not any(h.startswith(SESSION_COOKIE + "=") for h in set_cookie_headers(response))

    reasons = {e.details.get("reason") for e in provider.audit_events(type="login.failure")}
    assert reasons == {"bad_password", "unknown_user", "disabled"}


def test_every_attempt_is_audited_with_ip_and_user_agent(provider):
    provider.create_user()
    agent = {"User-Agent": "pytest-browser/1.0"}
    assert sign_in(provider.browser(), password="nope", headers=agent).status_code == 401
    assert sign_in(provider.browser(), username="nobody@example.edu", headers=agent).status_code == 401
    assert sign_in(provider.browser(), headers=agent).status_code == 302

    failures = provider.audit_events(type="login.failure")
    successes = provider.audit_events(type="login.success")
    assert len(failures) == 2 and len(successes) == 1
    user = stored_user(provider)
    assert successes[0].user_id == user.id
    assert {e.user_id for e in failures} == {user.id, None}
    for event in failures + successes:
        assert event.ip == "127.0.0.1"
        assert event.user_agent == "pytest-browser/1.0"
        assert event.request_id
        assert abs(event.occurred_at - provider.clock.now()) < 1


def test_forwarded_for_is_honoured_only_from_trusted_proxies(make_provider):
    behind_proxy = make_provider(trusted_proxies=("127.0.0.1/32",))
    behind_proxy.create_user()
    sign_in(behind_proxy.browser(), password="nope", headers={"X-Forwarded-For": "203.0.113.9"})
    # A client-supplied address left of the proxy's entry is not trusted either.
    sign_in(behind_proxy.browser(), headers={"X-Forwarded-For": "198.51.100.66, 203.0.113.10"})
    assert [e.ip for e in behind_proxy.audit_events(type="login.failure")] == ["203.0.113.9"]
    assert [e.ip for e in behind_proxy.audit_events(type="login.success")] == ["203.0.113.10"]


def test_forwarded_for_is_ignored_without_trusted_proxies(provider):
    provider.create_user()
    sign_in(provider.browser(), password="nope", headers={"X-Forwarded-For": "203.0.113.9"})
    sign_in(provider.browser(), headers={"X-Forwarded-For": "203.0.113.9"})
    events = provider.audit_events()
    assert len(events) == 2
    assert {e.ip for e in events} == {"127.0.0.1"}


def test_password_is_rehashed_when_parameters_change(provider):
    provider.create_user()
    old_hash = PasswordHasher(memory_kib=2048, time_cost=2, parallelism=1).hash(PASSWORD)
    update_user(provider, password_hash=old_hash)

    assert sign_in(provider.browser()).status_code == 302
    new_hash = stored_user(provider).password_hash
    assert new_hash != old_hash
    assert "m=1024,t=1,p=1" in new_hash  # the provider's (test) parameters
    assert PasswordHasher(memory_kib=1024, time_cost=1, parallelism=1).verify(new_hash, PASSWORD)

    # Current parameters: no rewrite on the next sign-in; and the new hash still signs in.
    assert sign_in(provider.browser()).status_code == 302
    assert stored_user(provider).password_hash == new_hash


def test_failed_sign_in_does_not_rehash(provider):
    provider.create_user()
    old_hash = PasswordHasher(memory_kib=2048, time_cost=2, parallelism=1).hash(PASSWORD)
    update_user(provider, password_hash=old_hash)
    assert sign_in(provider.browser(), password="wrong").status_code == 401
    assert stored_user(provider).password_hash == old_hash


# -- the session cookie -------------------------------------------------------------------


def test_session_cookie_attributes(provider):
    provider.create_user()
    response = sign_in(provider.browser())
    assert response.status_code == 302
    header = session_cookie_header(response)
    attributes = [a.strip().lower() for a in header.split(";")[1:]]
    assert "httponly" in attributes
    assert "samesite=lax" in attributes
    assert "path=/" in attributes
    assert "secure" not in attributes  # plain-http loopback issuer
    assert "max-age=36000" in attributes
    value = header.split(";")[0].split("=", 1)[1]
    assert len(value) >= 43  # 256 bits, base64url


def test_each_sign_in_gets_a_new_session_id(provider):
    provider.create_user()
    browser = provider.browser()
    browser.get("/")  # a pre-login visit
    sign_in(browser)
    first = browser.http.cookies[SESSION_COOKIE]
    sign_in(browser)
    second = browser.http.cookies[SESSION_COOKIE]
    assert first != second
    assert is_signed_in(browser)
    assert not is_signed_in(browser_with_cookie(provider, first))  # the old session ended
    assert is_signed_in(browser_with_cookie(provider, second))


def test_made_up_session_cookie_is_not_a_session(provider):
    provider.create_user()
    assert not is_signed_in(browser_with_cookie(provider, "A" * 43))


# -- session lifetimes ----------------------------------------------------------------------


def test_idle_timeout_asks_for_sign_in_again(provider):
    provider.create_user()
    rp = provider.create_client()
    browser = provider.browser()
    rp.sign_in(browser)

    provider.clock.advance(1000)
    sso = browser.follow(browser.get(rp.authorization_url()))
    assert sso.status_code == 302 and sso.headers["Location"].startswith(CALLBACK)  # activity
    provider.clock.advance(1000)  # 2000 s since sign-in but only 1000 s idle
    sso = browser.follow(browser.get(rp.authorization_url()))
    assert sso.status_code == 302 and sso.headers["Location"].startswith(CALLBACK)

    provider.clock.advance(1801)  # idle longer than session_idle_seconds
    page = browser.follow(browser.get(rp.authorization_url()))
    assert page.status_code == 200
    assert "<h1>Sign in</h1>" in page.text and 'name="password"' in page.text

    # Signing in again resumes the authorization request.
    done = browser.follow(browser.submit_login(page))
    assert done.status_code == 302 and "code" in query(done.headers["Location"])


def test_absolute_lifetime_ends_an_active_session(provider):
    provider.create_user()
    browser = provider.browser()
    sign_in(browser)
    for _ in range(23):  # active every 25 minutes, up to 34500 s
        provider.clock.advance(1500)
        assert is_signed_in(browser)
    provider.clock.advance(1500)  # 36000 s: session_max_seconds reached
    assert not is_signed_in(browser)


# -- sign-out -----------------------------------------------------------------------------


def test_logout_from_home_page_ends_the_session_server_side(provider):
    provider.create_user()
    browser = provider.browser()
    sign_in(browser)
    old_cookie = browser.http.cookies[SESSION_COOKIE]
    home = browser.get("/")
    form = parse_form(home.text)
    assert form["_action"] == "/logout" and form["csrf_token"]

    response = browser.post(form.pop("_action"), data={**form, "confirm": "yes"})
    assert response.status_code == 200
    assert "You are signed out" in response.text
    deleted = session_cookie_header(response)
    assert "max-age=0" in deleted.lower() or "expires=thu, 01 jan 1970" in deleted.lower()
    assert not is_signed_in(browser)
    assert not is_signed_in(browser_with_cookie(provider, old_cookie))
    assert len(provider.audit_events(type="logout")) == 1


def test_logout_post_without_valid_csrf_keeps_the_session(provider):
    provider.create_user()
    browser = provider.browser()
    sign_in(browser)
    response = browser.post("/logout", data={"confirm": "yes", "csrf_token": "forged"})
    assert response.status_code == 400
    assert is_signed_in(browser)


def test_logout_get_without_hint_asks_for_confirmation(provider):
    provider.create_user()
    browser = provider.browser()
    sign_in(browser)
    page = browser.get("/logout")
    assert page.status_code == 200
    assert "Sign out?" in page.text
    form = parse_form(page.text)
    assert form["_action"] == "/logout" and form["csrf_token"]
    assert 'name="confirm" value="yes"' in page.text
    assert is_signed_in(browser)  # a GET alone signs nobody out

    response = browser.post(form.pop("_action"), data={**form, "confirm": "yes"})
    assert response.status_code == 200 and "You are signed out" in response.text
    assert not is_signed_in(browser)


def rp_with_id_token(provider, browser):
    provider.create_user()
    rp = provider.create_client(post_logout_redirect_uris=[POST_LOGOUT])
    token = rp.exchange(rp.sign_in(browser))
    return rp, token["id_token"]


def test_logout_with_hint_redirects_to_registered_uri_with_state(provider):
    browser = provider.browser()
    _rp, id_token = rp_with_id_token(provider, browser)
    old_cookie = browser.http.cookies[SESSION_COOKIE]

    response = browser.get(
        "/logout", params={"id_token_hint": id_token, "post_logout_redirect_uri": POST_LOGOUT, "state": "af0ifjsldkj"}
    )
    assert response.status_code == 302, response.text[:300]
    assert response.headers["Location"] == POST_LOGOUT + "?state=af0ifjsldkj"
    assert not is_signed_in(browser)
    assert not is_signed_in(browser_with_cookie(provider, old_cookie))


def test_logout_with_hint_and_client_id_redirects(provider):
    browser = provider.browser()
    rp, id_token = rp_with_id_token(provider, browser)
    response = browser.get(
        "/logout",
        params={"id_token_hint": id_token, "client_id": rp.client_id, "post_logout_redirect_uri": POST_LOGOUT},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == POST_LOGOUT
    assert not is_signed_in(browser)


@pytest.mark.parametrize("uri", ["http://127.0.0.1:9/elsewhere", "https://evil.example/", POST_LOGOUT + "/x"])
def test_unregistered_post_logout_uri_never_redirects(provider, uri):
    browser = provider.browser()
    rp, id_token = rp_with_id_token(provider, browser)
    for params in (
        {"id_token_hint": id_token, "post_logout_redirect_uri": uri, "state": "s"},
        {"client_id": rp.client_id, "post_logout_redirect_uri": uri},
    ):
        response = browser.get("/logout", params=params)
        assert response.status_code != 302 and "Location" not in response.headers
        if response.status_code == 200 and "Sign out?" in response.text:  # confirmation: confirm it
            form = parse_form(response.text)
            response = browser.post(form.pop("_action"), data={**form, "confirm": "yes"})
            assert response.status_code != 302 and "Location" not in response.headers
        assert uri not in response.headers.get("Location", "")


def test_registered_uri_without_hint_does_not_redirect(provider):
    browser = provider.browser()
    rp, _id_token = rp_with_id_token(provider, browser)
    page = browser.get("/logout", params={"client_id": rp.client_id, "post_logout_redirect_uri": POST_LOGOUT})
    assert page.status_code == 200 and "Sign out?" in page.text
    form = parse_form(page.text)
    response = browser.post(form.pop("_action"), data={**form, "confirm": "yes"})
    assert response.status_code == 200 and "You are signed out" in response.text
    assert not is_signed_in(browser)


def test_logout_with_invalid_hint_is_an_error_page(provider):
    browser = provider.browser()
    rp_with_id_token(provider, browser)
    response = browser.get("/logout", params={"id_token_hint": "not.a.jwt", "post_logout_redirect_uri": POST_LOGOUT})
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert is_signed_in(browser)


def test_logout_with_a_hint_whose_header_holds_a_quote_is_an_error_page_not_500(provider):
    """joserfc's message quotes the token header's ``alg``; Authlib made it the description, and a
    '"' in it made Authlib raise (a 500)."""
    import base64
    import json

    browser = provider.browser()
    rp_with_id_token(provider, browser)
    header = base64.urlsafe_b64encode(json.dumps({"alg": 'x"y'}).encode()).rstrip(b"=").decode()
    response = browser.get(
        "/logout", params={"id_token_hint": header + ".e30.c2ln", "post_logout_redirect_uri": POST_LOGOUT}
    )
    assert response.status_code == 400 and "Location" not in response.headers
    assert "Invalid &#39;id_token_hint&#39;." in response.text and 'x"y' not in response.text
    assert is_signed_in(browser)


def _change_client(provider, client_id, **values):
    from idp.http.context import deps
    from idp.storage.sql.models import Client

    with provider.app.app_context(), deps().database.session() as db:
        row = db.get(Client, client_id)
        for name, value in values.items():
            setattr(row, name, value)
        db.commit()


def _expired_sign_in(provider, rp):
    """Open the app's sign-in page, let its interaction expire (the form's token just still
    valid), and sign in."""
    browser = provider.browser()
    page = browser.follow(browser.get(rp.authorization_url()))
    assert 'name="app_return"' in page.text
    provider.clock.advance(1800)  # IDP_INTERACTION_SECONDS: the interaction is gone, the form is not
    return browser.submit_login(page)


def test_an_expired_interaction_continues_to_the_apps_registered_origin(provider):
    provider.create_user()
    rp = provider.create_client()
    response = _expired_sign_in(provider, rp)
    assert response.status_code == 303 and response.headers["Location"] == "http://127.0.0.1:9/"
    assert "code=" not in response.headers["Location"]  # nothing issued for a request that is gone


@pytest.mark.parametrize(
    "change", [{"active": False}, {"redirect_uris": ["http://127.0.0.1:9/elsewhere"]}], ids=["disabled", "unregistered"]
)
def test_the_way_back_is_checked_against_the_registration_again(provider, change):
    provider.create_user()
    rp = provider.create_client()
    browser = provider.browser()
    page = browser.follow(browser.get(rp.authorization_url()))
    provider.clock.advance(1800)
    _change_client(provider, rp.client_id, **change)
    response = browser.submit_login(page)
    # No way back any more: the expired sign-in is explained, and nothing redirects anywhere.
    assert response.status_code == 400 and "Location" not in response.headers
    assert "Your sign-in took too long" in html.unescape(response.text) and "to continue to" not in response.text


def _sign_in_url(provider, rp, browser):
    """Where /authorize sends the browser for sign-in: the page a user would reload later."""
    response = browser.get(rp.authorization_url())
    assert response.status_code == 302 and "/login?" in response.headers["Location"]
    return response.headers["Location"]


def test_a_sign_in_page_reloaded_after_expiry_still_leads_back_to_the_app(provider):
    provider.create_user()
    rp = provider.create_client()
    browser = provider.browser()
    url = _sign_in_url(provider, rp, browser)
    assert len(url) < 250  # an address one can still paste, bookmark and read in a log
    provider.clock.advance(1800)  # IDP_INTERACTION_SECONDS: the interaction is gone, the URL is not
    page = browser.get(url)
    assert page.status_code == 200
    assert "to continue to <strong>Test RP</strong>" in page.text
    assert "Your sign-in took too long" not in html.unescape(page.text)
    response = browser.submit_login(page)
    assert response.status_code == 303 and response.headers["Location"] == "http://127.0.0.1:9/"
    assert "code=" not in response.headers["Location"]  # nothing issued for a request that is gone


def _tamper(url: str) -> str:
    """The same sign-in URL with the first character of the way back's signature changed (the last one
    of a base64url signature may carry only padding bits: changing it can leave the bytes as they were)."""
    head, token = url.split("app_return=")
    token, sep, rest = token.partition("&")
    payload, signature = token.rsplit(".", 1)
    signature = ("A" if signature[0] != "A" else "B") + signature[1:]
    return head + "app_return=" + payload + "." + signature + sep + rest


@pytest.mark.parametrize("how", ["tampered", "other browser", "older than a day", "unregistered"])
def test_a_reloaded_sign_in_url_whose_way_back_fails_the_checks_is_the_normal_expired_page(provider, how):
    provider.create_user()
    rp = provider.create_client()
    browser = provider.browser()
    url = _sign_in_url(provider, rp, browser)
    provider.clock.advance(86400 + 1 if how == "older than a day" else 1800)
    if how == "tampered":
        url = _tamper(url)
    elif how == "other browser":
        browser = provider.browser()
        _sign_in_url(provider, rp, browser)  # a binding cookie of its own
    elif how == "unregistered":
        _change_client(provider, rp.client_id, redirect_uris=["http://127.0.0.1:9/elsewhere"])
    page = browser.get(url)
    assert page.status_code == 400
    assert "Your sign-in took too long" in html.unescape(page.text) and "to continue to" not in page.text
    assert 'name="app_return"' not in page.text
    response = browser.submit_login(page)  # signs in to the provider alone
    assert response.status_code == 302 and response.headers["Location"] == "/"
