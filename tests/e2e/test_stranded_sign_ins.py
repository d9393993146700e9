"""Sign-ins that used to strand people, in a real browser (Playwright driving Debian's chromium):
a tab left open past IDP_INTERACTION_SECONDS still leads back to the app, two tabs started together
both reach the app, a lost pending sign-in is told apart from refused cookies, and a mistyped
provider URL is a page in the reader's language (with the favicon, never a 404)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.support.apps import start_apps
from tests.support.helpers import PASSWORD


@pytest.fixture
def apps(make_provider, tmp_path, clock):
    started = start_apps(make_provider, tmp_path, clock)
    yield started
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
