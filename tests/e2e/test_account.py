"""/account: profile, password change, sessions, sign-in activity and apps, for the signed-in user."""

from __future__ import annotations

import re

import requests

from tests.support.helpers import PASSWORD, issue_tokens, stored_user

NEW_PASSWORD = "lantern orchard velvet compass"


def signed_in_browser(provider, user_agent=None):
    browser = provider.browser()
    if user_agent:
        browser.http.headers["User-Agent"] = user_agent
    assert browser.submit_login(browser.get("/login")).status_code == 302
    return browser


def account_form(page_text: str, action: str, **values) -> dict:
    """The fields of the form posting to ``action`` on the account page (the nth such form by value)."""
    forms = re.findall(r'<form method="post" action="([^"]+)"[^>]*>(.*?)</form>', page_text, re.S)
    for form_action, body in forms:
        fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', body))
        if form_action == action and all(fields.get(k) == v for k, v in values.items() if k in fields):
            fields.update(values)
            return fields
    raise AssertionError(f"no form for {action} {values}")


def post_account(browser, action, **values):
    page = browser.get("/account")
    assert page.status_code == 200
    return browser.post(action, data=account_form(page.text, action, **values))


def test_account_needs_a_signed_in_user(provider):
    response = provider.browser().get("/account")
    assert response.status_code == 302 and response.headers["Location"].endswith("/login")


def test_account_page_shows_profile_sessions_activity_and_apps(provider):
    provider.create_user()
    failed = provider.browser()
    failed.submit_login(failed.get("/login"), password="not my password")
    other = signed_in_browser(
        provider, "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:120.0) Gecko/20100101 Firefox/120.0"
    )
    browser = signed_in_browser(
        provider, "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"
    )
    issue_tokens(provider, browser, trusted=False, name="Library")
    page = browser.get("/account")
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    for text in ("Ada Lovelace", "ada@example.edu", "S1000001", "Student"):  # the role by its label
        assert text in page.text
    assert "Chrome on Linux</strong> (this browser)" in page.text
    assert "Firefox on Windows" in page.text
    assert page.text.count('data-type="login.success"') == 2  # the two browsers (the client rode on SSO)
    assert page.text.count('data-type="login.failure"') == 1
    assert "Failed attempt" in page.text
    assert "<strong>Library</strong>" in page.text and "Revoke access" in page.text
    assert other.get("/account").status_code == 200


def test_change_password_requires_the_current_one_and_the_policy(provider):
    provider.create_user()
    browser = signed_in_browser(provider)
    wrong = post_account(
        browser, "/account/password", current_password="guess", password=NEW_PASSWORD, confirm=NEW_PASSWORD
    )
    assert wrong.status_code == 400 and "Your current password is not correct." in wrong.text
    weak = post_account(
        browser, "/account/password", current_password=PASSWORD, password="password1234", confirm="password1234"
    )
    assert weak.status_code == 400 and "This password is too common" in weak.text
    mismatch = post_account(
        browser,
        "/account/password",
        current_password=PASSWORD,
        password=NEW_PASSWORD,
        confirm="something else entirely",
    )
    assert mismatch.status_code == 400 and "The two passwords do not match." in mismatch.text
    assert provider.browser().submit_login(provider.browser().get("/login")).status_code in (302, 400)
    assert stored_user(provider).password_changed_at is not None


def test_change_password_and_sign_out_other_sessions(provider, tmp_path):
    provider.create_user()
    other = signed_in_browser(provider)
    rp, other_tokens = issue_tokens(provider, other)
    browser = signed_in_browser(provider)
    own_rp, own_tokens = issue_tokens(provider, browser)
    done = post_account(
        browser,
        "/account/password",
        current_password=PASSWORD,
        password=NEW_PASSWORD,
        confirm=NEW_PASSWORD,
        end_others="yes",
    )
    assert done.status_code == 303 and done.headers["Location"].endswith("/account?done=password_others")
    assert "other sessions were signed out" in browser.get(done.headers["Location"]).text
    assert "Signed in" not in other.get("/").text
    refresh = rp.token_request({"grant_type": "refresh_token", "refresh_token": other_tokens["refresh_token"]})
    assert refresh.status_code == 400
    kept = own_rp.token_request({"grant_type": "refresh_token", "refresh_token": own_tokens["refresh_token"]})
    assert kept.status_code == 200
    provider.app.extensions["idp"].postman.wait_idle()
    outbox = list((tmp_path / "instance" / "outbox").glob("*.eml"))
    assert len(outbox) == 1 and "Your SPOM Login password was changed" in outbox[0].read_text()
    assert [e.type for e in provider.audit_events("password.changed")] == ["password.changed"]


def test_password_change_voids_reset_links(provider):
    from idp.storage.sql import users

    provider.create_user()
    with provider.transaction() as db:
        link = provider.accounts(db).issue_link(users.get_user_by_login(db, "S1000001"))
    browser = signed_in_browser(provider)
    post_account(browser, "/account/password", current_password=PASSWORD, password=NEW_PASSWORD, confirm=NEW_PASSWORD)
    page = provider.browser().get(link)
    assert page.status_code == 410 and "A newer link has been requested" in page.text


def test_sign_out_one_session_then_all_others(provider):
    provider.create_user()
    first, second = signed_in_browser(provider), signed_in_browser(provider)
    browser = signed_in_browser(provider)
    page = browser.get("/account").text
    ids = re.findall(r'data-session="([^"]+)"', page)
    assert len(ids) == 3
    target = next(i for i in ids if f'name="session" value="{i}"' in page)
    response = post_account(browser, "/account/sessions/end", session=target)
    assert response.status_code == 303
    alive = ["Signed in" in b.get("/").text for b in (first, second)]
    assert sorted(alive) == [False, True]
    response = post_account(browser, "/account/sessions/end", session="others")
    assert response.status_code == 303
    assert ["Signed in" in b.get("/").text for b in (first, second, browser)] == [False, False, True]


def test_cannot_end_someone_elses_session(provider):
    provider.create_user()
    provider.create_user("S2000002", email="bob@example.edu", name="Bob")
    bob = provider.browser()
    bob.submit_login(bob.get("/login"), "S2000002")
    browser = signed_in_browser(provider)
    from idp.http.context import deps
    from idp.storage.sql.models import BrowserSession

    with provider.app.app_context(), deps().database.session() as db:
        bob_session = db.query(BrowserSession).filter_by(user_id=stored_user(provider, "S2000002").id).one().id
    page = browser.get("/account").text
    form = {"csrf_token": account_form(page, "/account/password")["csrf_token"], "session": bob_session}
    response = browser.post("/account/sessions/end", data=form)
    assert response.status_code == 400 and "does not exist or has already ended" in response.text
    assert "Signed in" in bob.get("/").text


def test_revoke_app_access(provider):
    provider.create_user()
    browser = signed_in_browser(provider)
    library, library_tokens = issue_tokens(provider, browser, trusted=False, name="Library")
    mail, mail_tokens = issue_tokens(provider, browser, trusted=False, name="Webmail")
    response = post_account(browser, "/account/apps/revoke", client_id=library.client_id)
    assert response.status_code == 303
    page = browser.get("/account").text
    assert "Library" not in page and "Webmail" in page
    refused = library.token_request({"grant_type": "refresh_token", "refresh_token": library_tokens["refresh_token"]})
    assert refused.status_code == 400
    userinfo = requests.get(
        provider.url + "/userinfo", headers={"Authorization": f"Bearer {library_tokens['access_token']}"}, timeout=5
    )
    assert userinfo.status_code == 401
    assert (
        mail.token_request({"grant_type": "refresh_token", "refresh_token": mail_tokens["refresh_token"]}).status_code
        == 200
    )
    # The next sign-in to the library asks for consent again.
    again = browser.follow(browser.get(library.authorization_url()))
    assert again.status_code == 200 and "Allow" in again.text
    assert [e.client_id for e in provider.audit_events("consent.revoked")] == [library.client_id]


def test_account_forms_need_csrf(provider):
    provider.create_user()
    browser = signed_in_browser(provider)
    for action, data in (
        ("/account/password", {"current_password": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}),
        ("/account/sessions/end", {"session": "others"}),
        ("/account/apps/revoke", {"client_id": "x"}),
    ):
        response = browser.post(action, data=data)
        assert response.status_code == 400, action
        assert "has expired" in response.text
    assert stored_user(provider).password_changed_at == stored_user(provider).created_at


def test_signed_out_posts_go_to_sign_in(provider):
    response = provider.browser().post("/account/sessions/end", data={"session": "others"})
    assert response.status_code == 303 and response.headers["Location"].endswith("/login")


def test_unknown_account_paths_get_html_errors(provider):
    page = provider.browser().get("/account/nothing-here")
    assert page.status_code == 404 and page.headers["Content-Type"].startswith("text/html")
    assert "There is no such page." in page.text


def test_current_password_check_is_throttled_like_a_sign_in(make_provider):
    from idp.core.errors import TooManyAttempts
    from idp.storage.throttle.unlimited import UnlimitedThrottle

    class Throttle(UnlimitedThrottle):
        def __init__(self):
            self.failures, self.closed = [], False

        def check(self, login, ip, device=None):
            if self.closed:
                raise TooManyAttempts(300)

        def record_failure(self, login, ip, device=None):
            self.failures.append((login, ip))

    throttle = Throttle()
    provider = make_provider(throttle=throttle)
    provider.create_user()
    browser = signed_in_browser(provider)
    post_account(browser, "/account/password", current_password="guess", password=NEW_PASSWORD, confirm=NEW_PASSWORD)
    assert throttle.failures == [(f"user:{stored_user(provider).id}", "127.0.0.1")]
    throttle.closed = True
    refused = post_account(
        browser, "/account/password", current_password=PASSWORD, password=NEW_PASSWORD, confirm=NEW_PASSWORD
    )
    assert refused.status_code == 429 and "Too many attempts. Try again in 5 minutes." in refused.text
    assert stored_user(provider).password_changed_at == stored_user(provider).created_at


def test_successful_password_changes_never_add_up_to_a_sign_in_delay(provider):
    """Each change used to reserve a throttle attempt and never hand it back, so a few successful
    changes counted as failures and made the owner wait at the next sign-in."""
    provider.create_user()
    browser = signed_in_browser(provider)
    passwords = [PASSWORD, NEW_PASSWORD]
    for n in range(7):  # more than the 5 free failures of the account allowance
        current, new = passwords[n % 2], passwords[(n + 1) % 2]
        changed = post_account(browser, "/account/password", current_password=current, password=new, confirm=new)
        assert changed.status_code == 303, (n, changed.text[:300])
    fresh = provider.browser()  # a new device: only the account allowance applies
    response = fresh.submit_login(fresh.get("/login"), password=passwords[1])
    assert response.status_code == 302


def test_a_wrong_current_password_is_audited_like_a_failed_sign_in(provider):
    provider.create_user()
    browser = signed_in_browser(provider)
    refused = post_account(
        browser, "/account/password", current_password="not my password", password=NEW_PASSWORD, confirm=NEW_PASSWORD
    )
    assert refused.status_code == 400 and "Your current password is not correct." in refused.text
    failures = provider.audit_events("login.failure")
    assert [(e.details["reason"], e.details["purpose"]) for e in failures] == [("bad_password", "password_change")]
    assert len(provider.audit_events("login.success")) == 1  # the sign-in itself; a check is not one


def test_times_on_the_account_page_name_their_time_zone(provider):
    provider.create_user()
    page = signed_in_browser(provider).get("/account").text
    # Europe/Berlin (IDP_TIME_ZONE's default): a reader elsewhere must not take it for their own time.
    sessions = re.search(r'<ul class="sessions">(.*?)</ul>', page, re.S).group(1)
    assert re.search(r"signed in [^·]+ (CET|CEST) · last seen [^<]+ (CET|CEST)", sessions), sessions
    activity = re.search(r'<tr data-type="login.success"><td>([^<]+)</td>', page).group(1)
    assert activity.endswith((" CET", " CEST")), activity


def test_trusted_apps_signed_in_through_a_session_are_listed_though_they_hold_no_consent(provider):
    provider.create_user()
    browser = signed_in_browser(provider)
    issue_tokens(provider, browser, name="Dashboard")  # trusted: no consent asked
    issue_tokens(provider, browser, name="Supplier portal")
    library, _ = issue_tokens(provider, browser, trusted=False, name="Library")
    page = browser.get("/account").text
    apps = re.search(r'<ul class="apps">(.*?)</ul>', page, re.S).group(1)
    assert "No app holds your consent" not in page
    assert "<strong>Dashboard</strong>" in apps and "<strong>Supplier portal</strong>" in apps
    assert apps.count("A trusted app of your institution: it needs no consent from you.") == 2
    assert apps.count('data-signed-in="yes"') == 2  # the library is listed once, with its consent
    assert apps.count(f'data-client="{library.client_id}"') == 1 and "signed in now" in apps
    # Signed out of that session (from another browser): the trusted apps are gone, the consent stays.
    other = signed_in_browser(provider)
    session_id = re.search(r'data-session="([^"]+)"', page).group(1)
    assert post_account(other, "/account/sessions/end", session=session_id).status_code == 303
    apps = re.search(r'<ul class="apps">(.*?)</ul>', other.get("/account").text, re.S).group(1)
    assert "Dashboard" not in apps and "<strong>Library</strong>" in apps and "signed in now" not in apps


def test_recent_activity_shows_password_device_and_sign_out_events(provider):
    from idp.storage.sql import audit

    provider.create_user()
    user_id = stored_user(provider).id
    other = signed_in_browser(provider)
    browser = signed_in_browser(provider, "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0")
    post_account(browser, "/account/password", current_password=PASSWORD, password=NEW_PASSWORD, confirm=NEW_PASSWORD)
    post_account(browser, "/account/sessions/end", session="others")
    with provider.transaction() as db:  # the reset and device-link flows have their own tests
        now = provider.deps.clock.now()
        audit.record(db, audit.PASSWORD_RESET, now=now, user_id=user_id, ip="192.0.2.7", purpose="reset")
        audit.record(db, audit.DEVICE_APPROVED, now=now, user_id=user_id, ip="192.0.2.7", new_device=True)
        audit.record(db, audit.LOGOUT, now=now, user_id=user_id, ip="192.0.2.7")
    assert "Signed in" not in other.get("/").text
    page = browser.get("/account").text
    rows = dict(re.findall(r'<tr data-type="([^"]+)"><td>[^<]+</td>\s*<td>([^<]+)</td>', page))
    assert rows["password.changed"] == "Password changed"
    assert rows["session.ended_by_user"] == "Sessions signed out from this page"
    assert rows["password.reset"] == "Password reset by e-mail link"
    assert rows["device.approved"] == "Device confirmed by e-mail link"
    assert rows["logout"] == "Signed out"
    assert rows["login.success"] == "Signed in"
    assert '<h2 id="activity-h">Recent activity</h2>' in page
    german = browser.get("/account", headers={"Accept-Language": "de"}).text
    rows = dict(re.findall(r'<tr data-type="([^"]+)"><td>[^<]+</td>\s*<td>([^<]+)</td>', german))
    assert rows["password.changed"] == "Passwort geändert" and rows["logout"] == "Abgemeldet"


def test_every_account_activity_type_has_a_label():
    from idp.http.web.account import ACTIVITY
    from idp.storage.sql import audit

    assert set(ACTIVITY) == set(audit.ACCOUNT_ACTIVITY)
