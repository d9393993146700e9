"""Every page of a sign-in keeps the way back to the app after its interaction expired
(IDP_INTERACTION_SECONDS): the forgot-password and device-approval pages and their "Back to sign in"
links, the completed password reset (in this browser or another one), the cookie probe, the language
switch, and the consent page. Each test lets the interaction expire with the clock, follows what the
user would click, and checks that the page still names the app and that signing in continues to the
app's address (the origin of its registered redirect URI), not to the provider's own "Signed in" page."""

from __future__ import annotations

import html
import re

import pytest

from tests.e2e.test_device_approval import approve, ask_for_link, device_link_in, guess
from tests.e2e.test_login_page import _change_client
from tests.e2e.test_password_reset import NEW_PASSWORD, submit_new_password
from tests.support.helpers import PASSWORD, parse_form, query
from tests.support.mailserver import link_in

ADA = "ada@example.edu"
APP_HOME = "http://127.0.0.1:9/"  # the origin of the test client's registered redirect URI
INTERACTION_SECONDS = 1800  # the default IDP_INTERACTION_SECONDS


def href(page, text: str) -> str:
    """The address of the link (or button-styled link) labelled ``text`` on ``page``."""
    match = re.search(r'<a (?:class="[^"]*" )?href="([^"]*)">' + re.escape(text) + "</a>", page.text)
    assert match, f"no link {text!r} on the page"
    return html.unescape(match.group(1))


def names_the_app(page) -> bool:
    return "to continue to <strong>Test RP</strong>" in page.text


def expired_sign_in_page(provider, rp):
    """The app's sign-in page, left open until its interaction expired."""
    browser = provider.browser()
    page = browser.follow(browser.get(rp.authorization_url()))
    assert page.status_code == 200 and names_the_app(page)
    provider.clock.advance(INTERACTION_SECONDS)
    return browser, page


def assert_continues_to_the_app(browser, page, password=PASSWORD):
    assert page.status_code == 200 and names_the_app(page), page.text[:500]
    signed_in = browser.submit_login(page, password=password)
    assert signed_in.status_code == 303 and signed_in.headers["Location"] == APP_HOME


def ask_for_reset(browser, forgot_page):
    form = parse_form(forgot_page.text)
    form["username"] = "S1000001"
    sent = browser.post(form.pop("_action"), data=form)
    assert sent.status_code == 200 and "Check your e-mail" in sent.text
    return sent


@pytest.fixture
def site(mail_provider):
    provider = mail_provider(trusted_proxies=("127.0.0.1/32",))  # the attacker's guesses come from afar
    provider.create_user()
    return provider, provider.create_client()


# -- forgot password -------------------------------------------------------------------------


def test_forgot_password_from_an_expired_sign_in_and_back_leads_to_the_app(site, smtp_server):
    provider, rp = site
    browser, page = expired_sign_in_page(provider, rp)
    forgot = browser.get(href(page, "Forgot password?"))
    assert forgot.status_code == 200
    # Changed one's mind: straight back to sign-in, still for the app.
    assert names_the_app(browser.get(href(forgot, "Back to sign in")))
    sent = ask_for_reset(browser, forgot)
    assert_continues_to_the_app(browser, browser.get(href(sent, "Back to sign in")))


def test_reset_your_password_after_a_wrong_password_on_an_expired_page_keeps_the_way(site, smtp_server):
    provider, rp = site
    browser, page = expired_sign_in_page(provider, rp)
    refused = browser.submit_login(page, password="not the password")
    assert refused.status_code == 401 and names_the_app(refused)
    forgot = browser.get(href(refused, "Reset your password"))
    assert_continues_to_the_app(browser, browser.get(href(forgot, "Back to sign in")))


def test_a_reset_link_that_expired_offers_a_new_one_that_keeps_the_way(site, smtp_server):
    provider, rp = site
    browser, page = expired_sign_in_page(provider, rp)
    ask_for_reset(browser, browser.get(href(page, "Forgot password?")))
    link = link_in(smtp_server.wait_for(ADA)[0])
    provider.clock.advance(1800)  # IDP_RESET_LINK_SECONDS
    invalid = browser.get(link)
    assert invalid.status_code == 410
    forgot = browser.get(href(invalid, "Send me a new link"))
    assert_continues_to_the_app(browser, browser.get(href(forgot, "Back to sign in")))


# -- a completed reset -------------------------------------------------------------------------


def test_a_reset_completed_after_the_interaction_expired_names_the_app_and_continues_to_it(site, smtp_server):
    provider, rp = site
    browser = provider.browser()
    page = browser.follow(browser.get(rp.authorization_url()))
    provider.clock.advance(600)  # a while on the sign-in page before giving up on the password
    ask_for_reset(browser, browser.get(href(page, "Forgot password?")))
    link = link_in(smtp_server.wait_for(ADA)[0])
    provider.clock.advance(INTERACTION_SECONDS - 600)  # the interaction is gone, the link (30 min) still works
    done = submit_new_password(browser, link)
    assert done.status_code == 303
    login = browser.get(done.headers["Location"])
    assert "Your password was changed" in html.unescape(login.text)
    assert_continues_to_the_app(browser, login, password=NEW_PASSWORD)


def test_a_reset_completed_on_another_device_names_the_app_and_continues_to_it(site, smtp_server):
    provider, rp = site
    laptop = provider.browser()
    page = laptop.follow(laptop.get(rp.authorization_url()))
    ask_for_reset(laptop, laptop.get(href(page, "Forgot password?")))
    phone = provider.browser()  # the mail opened on the phone: another browser, the laptop's sign-in still pending
    done = submit_new_password(phone, link_in(smtp_server.wait_for(ADA)[0]))
    assert done.status_code == 303 and "interaction=" not in done.headers["Location"]
    login = phone.get(done.headers["Location"])
    assert "Your password was changed" in html.unescape(login.text)
    assert_continues_to_the_app(phone, login, password=NEW_PASSWORD)


def test_the_app_recorded_on_a_reset_link_is_checked_against_the_registration_again(site, smtp_server):
    provider, rp = site
    laptop = provider.browser()
    page = laptop.follow(laptop.get(rp.authorization_url()))
    ask_for_reset(laptop, laptop.get(href(page, "Forgot password?")))
    _change_client(provider, rp.client_id, redirect_uris=["http://127.0.0.1:9/elsewhere"])
    phone = provider.browser()
    login = phone.get(submit_new_password(phone, link_in(smtp_server.wait_for(ADA)[0])).headers["Location"])
    assert "Your password was changed" in html.unescape(login.text) and "to continue to" not in login.text
    signed_in = phone.submit_login(login, password=NEW_PASSWORD)
    assert signed_in.status_code == 302 and signed_in.headers["Location"] == "/"  # the provider's own page


# -- device approval ---------------------------------------------------------------------------


def throttled_expired_sign_in(provider, rp):
    """The owner's app sign-in page expired, and meanwhile an attacker spent the account's failures."""
    owner, page = expired_sign_in_page(provider, rp)
    for i in range(5):
        guess(provider, i)
    throttled = owner.submit_login(page)
    assert throttled.status_code == 429 and names_the_app(throttled)
    return owner, throttled


def test_device_link_pages_lead_back_to_the_app_after_the_interaction_expired(site, smtp_server):
    provider, rp = site
    owner, throttled = throttled_expired_sign_in(provider, rp)
    sent = ask_for_link(owner, throttled)
    assert sent.status_code == 200 and "Check your e-mail" in sent.text
    assert names_the_app(owner.get(href(sent, "Back to sign in")))
    done = approve(owner, device_link_in(smtp_server.wait_for(ADA)[0]))
    assert done.status_code == 303
    approved = owner.get(done.headers["Location"])
    assert "This device is approved" in approved.text
    assert_continues_to_the_app(owner, approved)


def test_an_expired_device_link_leads_back_to_sign_in_for_the_app(site, smtp_server):
    provider, rp = site
    owner, throttled = throttled_expired_sign_in(provider, rp)
    ask_for_link(owner, throttled)
    link = device_link_in(smtp_server.wait_for(ADA)[0])
    provider.clock.advance(900)  # IDP_DEVICE_LINK_SECONDS
    invalid = owner.get(link)
    assert invalid.status_code == 410
    assert names_the_app(owner.get(href(invalid, "Back to sign in")))


def test_switching_the_language_on_an_expired_sign_in_keeps_the_way(site):
    provider, rp = site
    browser, page = expired_sign_in_page(provider, rp)
    refused = browser.submit_login(page, password="not the password")  # a page of POST /login
    switch = re.search(r'<a href="(/language\?[^"]*)" lang="de"', refused.text)
    assert switch
    german = browser.follow(browser.get(html.unescape(switch.group(1))))
    assert german.status_code == 200 and "um mit <strong>Test RP</strong> fortzufahren" in german.text
    signed_in = browser.submit_login(german)
    assert signed_in.status_code == 303 and signed_in.headers["Location"] == APP_HOME


# -- the cookie probe --------------------------------------------------------------------------


def test_the_cookie_probe_keeps_the_way_back_in_the_address(site):
    provider, rp = site
    browser = provider.browser()
    sign_in_url = browser.get(rp.authorization_url()).headers["Location"]
    browser.http.cookies.clear()  # the cookies /authorize set did not come back
    probe = browser.get(sign_in_url)
    assert probe.status_code == 302 and query(probe.headers["Location"])["probe"] == "1"
    kept = query(probe.headers["Location"])
    assert kept["interaction"] == query(sign_in_url)["interaction"]
    assert kept["app_return"] == query(sign_in_url)["app_return"]


# -- consent -----------------------------------------------------------------------------------


def consent_page(provider, rp):
    """Signed in, at the consent page of an app that needs the user's approval."""
    browser = provider.browser()
    page = browser.follow(browser.get(rp.authorization_url()))
    asked = browser.submit_login(page)
    assert asked.status_code == 302
    consent = browser.follow(asked)
    assert consent.status_code == 200 and "Allow" in consent.text
    return browser, consent


@pytest.mark.parametrize("how", ["reloaded", "answered"])
def test_a_consent_page_left_open_past_the_interaction_offers_to_continue_to_the_app(site, how):
    provider, _ = site
    rp = provider.create_client(name="Partner App", trusted=False)
    browser, consent = consent_page(provider, rp)
    assert "app_return=" in consent.url  # /authorize sends the way back along, as to the sign-in page
    provider.clock.advance(INTERACTION_SECONDS)
    page = browser.get(consent.url) if how == "reloaded" else browser.submit_consent(consent)
    assert page.status_code == 400 and "Location" not in page.headers
    assert "This page was open too long" in html.unescape(page.text)
    assert href(page, "Continue to Partner App") == APP_HOME
