"""Sign-ins that used to strand people, in a real browser (Playwright driving Debian's chromium):
a tab left open past IDP_INTERACTION_SECONDS still leads back to the app (submitted, reloaded, or
through a forgotten password reset on the phone; tests/e2e/test_stranded_links.py covers every link
of that journey over HTTP), two tabs started together both reach the app, a lost pending sign-in is
told apart from refused cookies, and a mistyped provider URL is a page in the reader's language
(with the favicon, never a 404)."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from tests.support.apps import start_apps
from tests.support.constants import CHROMIUM
from tests.support.constants import CHROMIUM_ARGS as ARGS
from tests.support.helpers import PASSWORD
from tests.support.mailserver import link_in

NEW_PASSWORD = "lantern orchard velvet compass"


@pytest.fixture
def apps(make_provider, tmp_path, clock):
    started = start_apps(make_provider, tmp_path, clock)
    yield started
    started.close()


@pytest.fixture
def mail_apps(make_provider, tmp_path, clock, smtp_server):
    """The apps, with the provider's mail going to ``smtp_server``."""
    mail = dict(smtp_host="127.0.0.1", smtp_port=smtp_server.port, smtp_security="none", mail_retry_seconds=0)
    started = start_apps(make_provider, tmp_path, clock, **mail)
    yield started
    started.provider.app.extensions["idp"].postman.wait_idle()
    started.close()


@pytest.fixture
def context(browser):
    context = browser.new_context(viewport={"width": 1200, "height": 820})
    context.set_default_timeout(10_000)
    yield context
    context.close()


def sign_in(page, username: str = "S1000001", password: str = PASSWORD) -> None:
    page.get_by_label("Registration number or e-mail").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_a_tab_left_open_past_the_interaction_still_returns_to_the_app(apps, context):
    page = context.new_page()
    page.goto(apps.dashboard.url + "/")
    expect(page).to_have_url(re.compile(re.escape(apps.provider.url) + r"/login\?interaction="))
    apps.provider.clock.advance(1800 + 1)  # IDP_INTERACTION_SECONDS, the default
    sign_in(page)
    # The form is fresh, and still says where it leads.
    expect(page.get_by_role("alert")).to_contain_text("This page was open too long")
    expect(page.get_by_text("to continue to SPOM Dashboard")).to_be_visible()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(apps.dashboard.url + "/")
    expect(page.get_by_text("Welcome, Ada Lovelace")).to_be_visible()


def test_a_sign_in_tab_reloaded_past_the_interaction_still_returns_to_the_app(apps, context):
    page = context.new_page()
    page.goto(apps.dashboard.url + "/")
    expect(page).to_have_url(re.compile(re.escape(apps.provider.url) + r"/login\?interaction=.*&app_return="))
    apps.provider.clock.advance(1800 + 1)  # IDP_INTERACTION_SECONDS, the default
    page.reload()  # or the tab reopened from history: the address still knows the app
    expect(page.get_by_text("to continue to SPOM Dashboard")).to_be_visible()
    expect(page.get_by_role("alert")).to_be_empty()
    visited: list[str] = []
    page.on("request", lambda request: visited.append(request.url) if request.is_navigation_request() else None)
    sign_in(page)
    expect(page).to_have_url(apps.dashboard.url + "/")
    expect(page.get_by_text("Welcome, Ada Lovelace")).to_be_visible()
    # Through a fresh authorization request, answered at the app's registered redirect URI.
    assert any(url.startswith(apps.provider.url + "/authorize?") for url in visited), visited
    assert any(url.startswith(apps.dashboard.url + "/callback?code=") for url in visited), visited


def test_a_tampered_way_back_in_a_reloaded_address_is_ignored(apps, context):
    page = context.new_page()
    page.goto(apps.dashboard.url + "/")
    expect(page).to_have_url(re.compile(r"&app_return="))
    apps.provider.clock.advance(1800 + 1)
    head, token = page.url.split("app_return=")
    page.goto(head + "app_return=" + token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    expect(page.get_by_role("alert")).to_contain_text("Your sign-in took too long")
    expect(page.get_by_text("to continue to")).to_have_count(0)
    sign_in(page)
    expect(page).to_have_url(apps.provider.url + "/")  # the provider's own page, not the app


def test_a_way_back_older_than_a_day_or_from_another_browser_leads_nowhere(apps, browser, context):
    page = context.new_page()
    page.goto(apps.dashboard.url + "/")
    token = page.locator("input[name=app_return]").get_attribute("value")
    assert token
    apps.provider.clock.advance(86400 + 1)
    sign_in(page)
    expect(page.get_by_role("alert")).to_contain_text("This page was open too long")
    expect(page.get_by_text("to continue to")).to_have_count(0)
    assert page.locator("input[name=app_return]").count() == 0
    # Copied into another browser, a fresh token is worth nothing either (bound like interactions).
    page.goto(apps.dashboard.url + "/login")  # a new sign-in (the day also ended the app's session)
    fresh = page.locator("input[name=app_return]").get_attribute("value")
    other = browser.new_context()
    try:
        stranger = other.new_page()
        stranger.goto(apps.provider.url + "/login")
        stranger.evaluate(
            "t => { const i = document.createElement('input'); i.type = 'hidden'; i.name = 'app_return';"
            " i.value = t; document.querySelector('form').appendChild(i); }",
            fresh,
        )
        sign_in(stranger)
        expect(stranger).to_have_url(apps.provider.url + "/")  # the provider's own page, not the app
    finally:
        other.close()


def test_a_password_forgotten_on_an_old_sign_in_tab_and_reset_on_the_phone_still_leads_to_the_app(
    mail_apps, browser, context, smtp_server
):
    apps = mail_apps
    page = context.new_page()
    page.goto(apps.dashboard.url + "/")
    expect(page.get_by_text("to continue to SPOM Dashboard")).to_be_visible()
    apps.provider.clock.advance(1800 + 1)  # IDP_INTERACTION_SECONDS, the default
    page.get_by_role("link", name="Forgot password?").click()
    page.get_by_label("Registration number or e-mail").fill("S1000001")
    page.get_by_role("button", name="Send reset link").click()
    expect(page.get_by_role("heading", name="Check your e-mail")).to_be_visible()
    page.get_by_role("link", name="Back to sign in").click()
    expect(page.get_by_text("to continue to SPOM Dashboard")).to_be_visible()
    # The mail opened on the phone: another browser, which never saw this sign-in.
    phone = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        tab = phone.new_page()
        tab.goto(link_in(smtp_server.wait_for("ada@example.edu")[0]))
        tab.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
        tab.get_by_label("New password again").fill(NEW_PASSWORD)
        tab.get_by_role("button", name="Set password").click()
        expect(tab.get_by_role("status")).to_contain_text("Your password was changed")
        expect(tab.get_by_text("to continue to SPOM Dashboard")).to_be_visible()
        sign_in(tab, password=NEW_PASSWORD)
        expect(tab).to_have_url(apps.dashboard.url + "/")
        expect(tab.get_by_text("Welcome, Ada Lovelace")).to_be_visible()
    finally:
        phone.close()
    # And the old tab on the laptop, with the new password, goes to the app too.
    sign_in(page, password=NEW_PASSWORD)
    expect(page).to_have_url(apps.dashboard.url + "/")
    expect(page.get_by_text("Welcome, Ada Lovelace")).to_be_visible()


def test_two_tabs_started_together_both_reach_the_app(apps, context):
    first, second = context.new_page(), context.new_page()
    for tab in (first, second):
        tab.goto(apps.dashboard.url + "/")
        expect(tab).to_have_url(re.compile(re.escape(apps.provider.url) + r"/login\?interaction="))
    sign_in(first)
    expect(first.get_by_text("Welcome, Ada Lovelace")).to_be_visible()
    sign_in(second)  # its own pending sign-in survived the first tab's
    expect(second).to_have_url(apps.dashboard.url + "/")
    expect(second.get_by_text("Welcome, Ada Lovelace")).to_be_visible()
    second.reload()
    expect(second.get_by_text("Welcome, Ada Lovelace")).to_be_visible()


def test_cookies_cleared_mid_sign_in_offer_to_continue_not_a_cookie_warning(apps, context):
    page = context.new_page()
    page.goto(apps.dashboard.url + "/")
    expect(page).to_have_url(re.compile(re.escape(apps.provider.url) + r"/login\?interaction="))
    for name in ("spom_dashboard_session", "spom_dashboard_session_probe"):  # the app's cookies only
        context.clear_cookies(name=name)
    sign_in(page)
    expect(page.get_by_role("alert")).to_contain_text("This sign-in cannot be finished here")
    expect(page.get_by_role("alert")).not_to_contain_text("cookies")
    page.get_by_role("link", name="Continue").click()  # the provider session carries it through
    expect(page).to_have_url(apps.dashboard.url + "/")
    expect(page.get_by_text("Welcome, Ada Lovelace")).to_be_visible()


def test_an_app_whose_cookies_the_browser_refuses_says_so(apps, playwright_instance, tmp_path):
    profile = tmp_path / "profile"
    (profile / "Default").mkdir(parents=True)
    # Chromium's per-site "not allowed to save data" exception, for the dashboard only.
    site = apps.dashboard.url + ",*"
    preferences = {"profile": {"content_settings": {"exceptions": {"cookies": {site: {"setting": 2}}}}}}
    (profile / "Default" / "Preferences").write_text(json.dumps(preferences))
    context = playwright_instance.chromium.launch_persistent_context(
        str(profile), executable_path=CHROMIUM, args=ARGS, headless=True
    )
    try:
        page = context.new_page()
        page.goto(apps.dashboard.url + "/")
        sign_in(page)
        expect(page.get_by_role("alert")).to_contain_text("Your browser refuses cookies for this app")
        assert not [c for c in context.cookies() if c["name"].startswith("spom_dashboard")]
    finally:
        context.close()


def test_a_mistyped_provider_url_is_a_german_page_for_a_german_browser_with_a_favicon(apps, browser):
    context = browser.new_context(locale="de-DE")  # Chromium sends Accept-Language: de-DE and Accept: text/html
    try:
        page = context.new_page()
        response = page.goto(apps.provider.url + "/logn")
        assert response.status == 404 and response.headers["content-type"].startswith("text/html")
        assert page.locator("html").get_attribute("lang") == "de"
        expect(page.locator("main")).not_to_contain_text("There is no such page")
        expect(page.locator("main")).to_contain_text("Diese Seite gibt es nicht")
        for base in (apps.provider.url, apps.dashboard.url, apps.portal.url):
            icon = page.request.get(base + "/favicon.ico")
            assert icon.status == 200 and icon.headers["content-type"].startswith("image/svg+xml"), base
    finally:
        context.close()


@pytest.mark.parametrize("viewport", [{"width": 1200, "height": 820}, {"width": 375, "height": 740}])
@pytest.mark.parametrize("lang", ["en", "de"])
def test_the_stranded_pages_in_both_languages_and_widths(apps, browser, lang, viewport):
    """The pages of a sign-in that outlived its request still name the app and lead to it: the old
    sign-in tab, and a consent page answered too late ("Continue to <app>"). Screenshots for docs/ux.md."""
    from tests.e2e.test_browser import shoot

    context = browser.new_context(viewport=viewport, locale=lang, extra_http_headers={"Accept-Language": lang})
    context.set_default_timeout(10_000)
    width = "phone" if viewport["width"] < 600 else "desktop"
    app = "SPOM Dashboard"
    try:
        page = context.new_page()
        page.goto(apps.dashboard.url + "/")
        apps.provider.clock.advance(1800 + 1)
        page.locator("#username").fill("S1000001")
        page.locator("#password").fill(PASSWORD)
        page.locator("form[action$='/login'] button[type=submit]").click()
        expect(page.locator("#form-error")).to_be_visible()
        expect(page.locator("p.lead")).to_contain_text(app)
        shoot(page, f"stranded-old-tab-{lang}-{width}")

        # A consent page answered after its request expired: the way to the app, not a dead end.
        untrusted = apps.provider.create_client(
            name="Library", redirect_uris=[apps.dashboard.url + "/callback"], trusted=False
        )
        consent = context.new_page()
        consent.goto(untrusted.authorization_url())
        consent.locator("#username").fill("S1000001")
        consent.locator("#password").fill(PASSWORD)
        consent.locator("form[action$='/login'] button[type=submit]").click()
        consent.locator("button[value=allow]").wait_for()
        apps.provider.clock.advance(1800 + 1)
        consent.locator("button[value=allow]").click()
        expect(consent.locator("a.button")).to_contain_text("Library")
        shoot(consent, f"stranded-consent-{lang}-{width}")
    finally:
        context.close()
