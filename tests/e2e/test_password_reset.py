"""Password reset by e-mail, end to end through a real SMTP server (aiosmtpd on loopback)."""

from __future__ import annotations

import html
import re
import threading

import pytest
import requests

from idp.core.errors import TooManyAttempts
from idp.storage.throttle.unlimited import UnlimitedThrottle
from tests.support.helpers import PASSWORD, issue_tokens, parse_form, query, stored_user
from tests.support.mailserver import html_of, link_in, text_of

NEW_PASSWORD = "lantern orchard velvet compass"
ADA = "ada@example.edu"


def request_reset(browser, login="S1000001", path="/password/forgot", **kw):
    page = browser.get(path, **kw)
    assert page.status_code == 200, page.text[:300]
    form = parse_form(page.text)
    form["username"] = login
    return browser.post(form.pop("_action"), data=form, **kw)


def submit_new_password(browser, link, password=NEW_PASSWORD, confirm=None):
    page = browser.get(link)
    assert page.status_code == 200, page.text[:300]
    form = parse_form(page.text)
    form.update(password=password, confirm=password if confirm is None else confirm)
    return browser.post(form.pop("_action"), data=form)


def sign_in_works(provider, username="S1000001", password=PASSWORD) -> bool:
    browser = provider.browser()
    response = browser.submit_login(browser.get("/login"), username, password)
    return response.status_code == 302


def drain(provider):
    provider.app.extensions["idp"].postman.wait_idle()


def test_reset_by_mail_end_to_end(mail_provider, smtp_server):
    provider = mail_provider()
    provider.create_user()
    old_browser = provider.browser()
    rp, tokens = issue_tokens(provider, old_browser)
    assert "Signed in" in old_browser.get("/").text

    browser = provider.browser()
    sent = request_reset(browser)
    assert sent.status_code == 200 and "Check your e-mail" in sent.text

    [mail] = smtp_server.wait_for(ADA)
    assert mail["Subject"] == "Reset your SPOM Login password"
    link = link_in(mail)
    assert link.startswith(provider.url + "/password/reset?token=")
    assert len(query(link)["token"]) >= 43  # 256 bits, base64url
    assert link.replace("&", "&amp;") in html_of(mail)

    done = submit_new_password(browser, link)
    assert done.status_code == 303
    assert done.headers["Location"].endswith("/login?reset=done")
    assert "Sign in with your new password" in browser.get(done.headers["Location"]).text

    assert sign_in_works(provider, password=NEW_PASSWORD)
    assert not sign_in_works(provider, password=PASSWORD)
    # Every session and token from before is dead.
    assert "Signed in" not in old_browser.get("/").text
    refreshed = rp.token_request({"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
    userinfo = requests.get(
        provider.url + "/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}, timeout=5
    )
    assert userinfo.status_code == 401

    [_, notice] = smtp_server.wait_for(ADA, count=2)
    assert notice["Subject"] == "Your SPOM Login password was changed"
    assert "signed out of every application" in text_of(notice)
    [event] = provider.audit_events("password.reset")
    assert event.user_id == stored_user(provider).id


def test_mail_is_german_for_a_german_browser(mail_provider, smtp_server):
    provider = mail_provider()
    provider.create_user()
    request_reset(provider.browser(), headers={"Accept-Language": "de-CH, de;q=0.9, en;q=0.5"})
    [mail] = smtp_server.wait_for(ADA)
    assert mail["Subject"] == "Ihr SPOM-Login-Passwort zurücksetzen"
    assert "Neues Passwort wählen" in html_of(mail)
    assert "Der Link gilt 30 Minuten" in text_of(mail)


def test_same_answer_for_unknown_disabled_and_mailless_accounts(mail_provider, smtp_server):
    provider = mail_provider()
    provider.create_user()
    provider.create_user("S2000002", email="bob@example.edu", name="Bob", active=False)
    provider.create_user("S3000003", email=None, name="Cy")
    answers = [
        request_reset(provider.browser(), login)
        for login in ("S1000001", "nobody@example.edu", "S2000002", "S3000003", "ADA@example.edu ")
    ]
    assert {a.status_code for a in answers} == {200}
    assert len({a.text for a in answers}) == 1
    drain(provider)
    assert sorted(m["To"] for m in smtp_server.messages) == [ADA, ADA]
    reasons = sorted(e.details.get("reason", "sent") for e in provider.audit_events("password.reset_requested"))
    assert reasons == ["disabled", "no_email", "sent", "sent", "unknown_user"]


def test_the_page_answers_before_the_account_is_even_looked_up(mail_provider, smtp_server):
    """Timing cannot tell accounts apart: the lookup, token and mail all happen after the answer."""
    provider = mail_provider()
    provider.create_user()
    gate = threading.Event()
    postman = provider.app.extensions["idp"].postman
    postman.run_later(gate.wait)  # hold the mail thread
    try:
        for login in ("S1000001", "nobody"):
            assert "Check your e-mail" in request_reset(provider.browser(), login).text
        assert provider.audit_events("password.reset_requested") == []
    finally:
        gate.set()
    assert smtp_server.wait_for(ADA)


def test_expired_link_says_so_and_offers_a_new_one(mail_provider, smtp_server):
    provider = mail_provider()
    provider.create_user()
    request_reset(provider.browser())
    link = link_in(smtp_server.wait_for(ADA)[0])
    provider.clock.advance(30 * 60)
    browser = provider.browser()
    page = browser.get(link)
    assert page.status_code == 410
    assert "This link has expired. Reset links work for 30 minutes." in page.text
    assert 'href="/password/forgot"' in page.text and "Send me a new link" in page.text


def test_a_link_works_once(mail_provider, smtp_server):
    provider = mail_provider()
    provider.create_user()
    browser = provider.browser()
    request_reset(browser)
    link = link_in(smtp_server.wait_for(ADA)[0])
    form_page = browser.get(link)
    assert submit_new_password(browser, link).status_code == 303
    page = browser.get(link)
    assert page.status_code == 410 and "already been used" in page.text
    # Posting the old form again (a second tab) does not set another password.
    form = parse_form(form_page.text)
    form.update(password="another fine passphrase", confirm="another fine passphrase")
    again = browser.post(form.pop("_action"), data=form)
    assert again.status_code == 410 and "already been used" in again.text
    assert sign_in_works(provider, password=NEW_PASSWORD)


def test_a_newer_request_supersedes_earlier_links(mail_provider, smtp_server):
    provider = mail_provider()
    provider.create_user()
    request_reset(provider.browser())
    first = link_in(smtp_server.wait_for(ADA)[0])
    request_reset(provider.browser())
    second = link_in(smtp_server.wait_for(ADA, count=2)[1])
    page = provider.browser().get(first)
    assert page.status_code == 410 and "A newer link has been requested" in page.text
    assert submit_new_password(provider.browser(), second).status_code == 303


def test_a_token_changes_only_its_own_users_password(mail_provider, smtp_server):
    provider = mail_provider()
    provider.create_user()
    provider.create_user("S2000002", email="bob@example.edu", name="Bob Builder")
    bob = provider.browser()
    assert bob.submit_login(bob.get("/login"), "S2000002").status_code == 302
    request_reset(provider.browser(), "S1000001")
    ada_link = link_in(smtp_server.wait_for(ADA)[0])
    # Bob, signed in, opens Ada's link and adds fields naming himself: only Ada's password changes.
    form = parse_form(bob.get(ada_link).text)
    form.update(password=NEW_PASSWORD, confirm=NEW_PASSWORD, username="S2000002", user_id="2", login="S2000002")
    assert bob.post(form.pop("_action"), data=form).status_code == 303
    assert sign_in_works(provider, "S1000001", NEW_PASSWORD)
    assert sign_in_works(provider, "S2000002", PASSWORD)
    assert not sign_in_works(provider, "S2000002", NEW_PASSWORD)


@pytest.mark.parametrize("token", ["", "x", "A" * 43, "A" * 500])
def test_unknown_or_mangled_tokens_are_refused(provider, token):
    page = provider.browser().get(f"/password/reset?token={token}")
    assert page.status_code == 400
    assert "This link is not valid" in page.text


def test_link_of_a_user_disabled_since_is_refused(mail_provider, smtp_server):
    from tests.support.helpers import update_user

    provider = mail_provider()
    provider.create_user()
    request_reset(provider.browser())
    link = link_in(smtp_server.wait_for(ADA)[0])
    update_user(provider, active=False)
    assert provider.browser().get(link).status_code == 400


@pytest.mark.parametrize(
    "password,confirm,message",
    [
        ("password1234", None, "This password is too common"),
        ("Password123!", None, "This password is too common"),
        ("iloveyou", None, "This password is too common"),
        ("short", None, "Use at least 8 characters."),
        ("x" * 129, None, "Use at most 128 characters."),
        ("s1000001 is my id", None, "Do not use your registration number, name or e-mail"),
        ("lovelace forever and ever", None, "Do not use your registration number, name or e-mail"),
        (NEW_PASSWORD, NEW_PASSWORD + "!", "The two passwords do not match."),
    ],
)
def test_refused_new_passwords_leave_the_link_usable(mail_provider, smtp_server, password, confirm, message):
    provider = mail_provider()
    provider.create_user()
    browser = provider.browser()
    request_reset(browser)
    link = link_in(smtp_server.wait_for(ADA)[0])
    refused = submit_new_password(browser, link, password, confirm)
    assert refused.status_code == 400
    assert message in refused.text
    assert 'id="password-hint"' in refused.text and "At least 8 characters" in refused.text
    assert sign_in_works(provider, password=PASSWORD)
    assert submit_new_password(browser, link).status_code == 303


def test_weak_password_gets_a_strength_hint(mail_provider, smtp_server):
    provider = mail_provider()
    provider.create_user()
    request_reset(provider.browser())
    refused = submit_new_password(provider.browser(), link_in(smtp_server.wait_for(ADA)[0]), "password1234")
    assert "Strength of the password you entered: <strong>weak</strong>" in refused.text
    assert "This is a very common password." in refused.text


def test_reset_begun_inside_an_authorization_request_returns_to_it(mail_provider, smtp_server):
    provider = mail_provider()
    provider.create_user()
    rp = provider.create_client()
    browser = provider.browser()
    login_page = browser.follow(browser.get(rp.authorization_url()))
    interaction = query(login_page.url)["interaction"]
    forgot_href = re.search(r'href="(/password/forgot\?[^"]*)">Forgot password\?', login_page.text).group(1)
    forgot_href = html.unescape(forgot_href)  # with the way back, for when the interaction expires meanwhile
    assert query(forgot_href)["interaction"] == interaction and query(forgot_href)["app_return"]
    request_reset(browser, path=forgot_href)
    done = submit_new_password(browser, link_in(smtp_server.wait_for(ADA)[0]))
    location = query(done.headers["Location"])
    assert location.pop("app_return") and location == {"interaction": interaction, "reset": "done"}
    page = browser.get(done.headers["Location"])
    callback = browser.follow(browser.submit_login(page, password=NEW_PASSWORD))
    assert callback.headers["Location"].startswith(rp.redirect_uri)
    assert rp.exchange(callback.headers["Location"])["id_token"]


def test_forgot_form_needs_csrf_and_a_login(provider):
    browser = provider.browser()
    assert browser.post("/password/forgot", data={"username": "S1000001"}).status_code == 400
    form = parse_form(browser.get("/password/forgot").text)
    form["username"] = "  "
    page = browser.post(form.pop("_action"), data=form)
    assert page.status_code == 400 and "Enter your registration number or e-mail address." in page.text


class RefusingThrottle(UnlimitedThrottle):
    def __init__(self, refuse: set[str]):
        self.refuse, self.calls = refuse, []

    def check_rate(self, name: str, key: str) -> None:
        self.calls.append((name, key))
        if name in self.refuse:
            raise TooManyAttempts(90)


@pytest.mark.parametrize("limit", ["password_forgot_ip", "password_forgot_account"])
def test_forgot_is_rate_limited_per_ip_and_account(mail_provider, smtp_server, limit):
    throttle = RefusingThrottle({limit})
    provider = mail_provider(throttle=throttle)
    provider.create_user()
    page = request_reset(provider.browser(), " ADA@example.edu")
    assert page.status_code == 429
    assert "Too many attempts. Try again in 2 minutes." in page.text
    account = f"user:{stored_user(provider).id}"  # the sign-in throttle's account key, whichever name is typed
    assert ("password_forgot_account", account) in throttle.calls or limit == "password_forgot_ip"
    assert ("password_forgot_ip", "127.0.0.1") in throttle.calls
    drain(provider)
    assert smtp_server.messages == []


def test_reset_submission_is_rate_limited_per_ip(mail_provider, smtp_server):
    throttle = RefusingThrottle(set())
    provider = mail_provider(throttle=throttle)
    provider.create_user()
    browser = provider.browser()
    request_reset(browser)
    link = link_in(smtp_server.wait_for(ADA)[0])
    throttle.refuse.add("password_reset_ip")
    page = submit_new_password(browser, link)
    assert page.status_code == 429 and "Too many attempts. Try again in 2 minutes." in page.text
    assert ("password_reset_ip", "127.0.0.1") in throttle.calls
    assert sign_in_works(provider, password=PASSWORD)


def test_undeliverable_mail_is_kept_and_reported(make_provider, caplog, tmp_path):
    from tests.support.live import free_port

    provider = make_provider(
        smtp_host="127.0.0.1",
        smtp_port=free_port(),
        smtp_security="none",
        mail_attempts=2,
        mail_retry_seconds=0,
        outbox_dir=str(tmp_path / "outbox"),
    )
    provider.create_user()
    page = request_reset(provider.browser())
    assert page.status_code == 200 and "Check your e-mail" in page.text
    drain(provider)
    [kept] = list((tmp_path / "outbox" / "failed").glob("*.eml"))
    assert "/password/reset?token=" in kept.read_text()
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert any("NOT delivered after 2 attempts" in m and str(kept) in m for m in errors)
    assert sum("failed (attempt" in r.getMessage() for r in caplog.records) == 2


def test_one_forgot_allowance_per_account_that_throttle_clear_resets(
    make_provider, redis_prefix, tmp_path, database_url
):
    """The limiter used to count under the raw login: the registration number and the e-mail had
    separate allowances, and `idp throttle clear --user` never cleared it."""
    from tests.support.cli import base_env, run
    from tests.support.constants import REDIS_URL

    provider = make_provider(redis_url=REDIS_URL, redis_prefix=redis_prefix, rate_password_forgot_account_limit=2)
    provider.create_user()
    browser = provider.browser()
    assert request_reset(browser, "S1000001").status_code == 200
    assert request_reset(browser, "ada@example.edu").status_code == 200
    assert request_reset(browser, "s1000001").status_code == 429  # the same account, by any name

    env = base_env(
        tmp_path,
        database_url=database_url,
        secret_key=provider.app.config["SECRET_KEY"],
        redis_url=REDIS_URL,
        redis_prefix=redis_prefix,
    )
    cleared = run(env, "throttle", "clear", "--user", "ada@example.edu")
    assert cleared.returncode == 0, cleared.stderr
    assert request_reset(browser, "S1000001").status_code == 200
