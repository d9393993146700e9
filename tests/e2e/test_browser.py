"""Single sign-on and single logout in a real browser: Playwright driving Debian's chromium (headless).

Like every provider test they run on SQLite and, when IDP_TEST_DATABASE_URL is set, on PostgreSQL
(about 20 s per database on two cores).
Screenshots go to ``test-artifacts/screenshots/`` (git-ignored); current copies live in ``docs/screenshots/``.
"""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from tests.support.apps import start_apps
from tests.support.constants import CHROMIUM, ROOT
from tests.support.constants import CHROMIUM_ARGS as ARGS
from tests.support.helpers import PASSWORD

# The `browser` fixture (Debian's /usr/bin/chromium, one per session) lives in conftest.py.
ARTIFACTS = ROOT / "test-artifacts" / "screenshots"


@pytest.fixture
def apps(make_provider, tmp_path, clock):
    started = start_apps(make_provider, tmp_path, clock)
    yield started
    started.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1200, "height": 820})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


class Requests:
    """Every URL the page requested, to prove a page was never shown."""

    def __init__(self, page):
        self.urls: list[str] = []
        page.on("request", lambda r: self.urls.append(r.url))

    def to(self, prefix: str) -> list[str]:
        return [u for u in self.urls if u.startswith(prefix)]


def shoot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign_in(page, username: str, password: str = PASSWORD) -> None:
    page.get_by_label("Registration number or e-mail").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_single_sign_on_then_single_logout_across_both_apps(apps, page):
    provider, dashboard, portal = apps.provider, apps.dashboard, apps.portal
    seen = Requests(page)

    page.goto(dashboard.url + "/")
    expect(page).to_have_url(re.compile(re.escape(provider.url) + r"/login\?interaction="))
    expect(page.get_by_text("to continue to SPOM Dashboard")).to_be_visible()
    shoot(page, "sign-in")
    sign_in(page, "E2000001")

    expect(page).to_have_url(dashboard.url + "/")
    expect(page.get_by_role("heading", name="Modules you teach")).to_be_visible()
    expect(page.locator("#modules progress")).to_have_count(2)
    expect(page.get_by_text("64% cohort progress")).to_be_visible()
    expect(page.locator("#profile")).to_contain_text("E2000001")

    logins_so_far = len(seen.to(provider.url + "/login"))
    page.get_by_role("link", name="Supplier Portal").click()
    expect(page).to_have_url(portal.url + "/")
    expect(page.get_by_role("heading", name="Purchase orders")).to_be_visible()
    expect(page.locator("#orders tbody tr")).to_have_count(5)
    assert len(seen.to(provider.url + "/login")) == logins_so_far  # no password page the second time
    assert seen.to(provider.url + "/authorize")  # it did go through the provider
    shoot(page, "supplier-portal")

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(re.escape(portal.url) + r"/signed-out\?state="))
    expect(page.get_by_role("heading", name="You are signed out")).to_be_visible()

    # The provider told both apps (back-channel): deliver what it queued, deterministically.
    assert provider.flush_logouts() == 2
    assert dashboard.sessions() == [] and portal.sessions() == []
    page.goto(dashboard.url + "/")
    expect(page.get_by_text("You signed out of SPOM Login in another app")).to_be_visible()

    page.goto(provider.url + "/")
    expect(page.get_by_role("link", name="Sign in")).to_be_visible()
    assert [e.type for e in provider.audit_events(type="logout.backchannel_delivered")] == [
        "logout.backchannel_delivered"
    ] * 2


def test_student_dashboard_and_a_silent_return_after_the_session_expired(apps, page):
    provider, dashboard = apps.provider, apps.dashboard
    seen = Requests(page)
    page.goto(dashboard.url + "/")
    sign_in(page, "ada@example.edu")
    expect(page.get_by_role("heading", name="Welcome, Ada Lovelace")).to_be_visible()
    expect(page.locator("#modules li")).to_have_count(3)
    expect(page.get_by_label("CS101 complete")).to_have_attribute("value", "80")
    expect(page.locator("#upcoming")).to_contain_text("Project 2: Text adventure")
    expect(page.locator("#past")).to_contain_text("18 / 20")
    expect(page.locator("#profile")).to_contain_text("S1000001")
    expect(page.locator("#profile")).to_contain_text("Student")
    shoot(page, "dashboard")

    # The dashboard's own session (15 minutes idle) expires; the provider's (30 minutes) does not.
    provider.clock.advance(dashboard.config.session_idle_seconds + 1)
    logins = len(seen.to(provider.url + "/login"))
    page.goto(dashboard.url + "/")
    expect(page.get_by_role("heading", name="Welcome, Ada Lovelace")).to_be_visible()
    assert len(seen.to(provider.url + "/login")) == logins
    assert any("prompt=none" in u for u in seen.to(provider.url + "/authorize"))


def test_expired_everywhere_explains_instead_of_looping(apps, page):
    provider, dashboard = apps.provider, apps.dashboard
    page.goto(dashboard.url + "/")
    sign_in(page, "S1000001")
    expect(page.get_by_role("heading", name="Welcome, Ada Lovelace")).to_be_visible()
    provider.clock.advance(3600)  # both the dashboard's and the provider's sessions have lapsed
    page.goto(dashboard.url + "/")
    expect(page.get_by_role("heading", name="Your session has expired")).to_be_visible()
    page.get_by_role("link", name="Sign in again").click()
    expect(page).to_have_url(re.compile(re.escape(provider.url) + r"/login"))


def test_wrong_password_is_refused_with_a_message(apps, page):
    page.goto(apps.dashboard.url + "/")
    sign_in(page, "S1000001", "not the password")
    expect(page.get_by_role("alert")).to_contain_text("Invalid credentials.")
    expect(page).to_have_url(re.compile(re.escape(apps.provider.url) + r"/login"))
    assert all(s.sub is None for s in apps.dashboard.sessions())  # nobody is signed in to the dashboard


def test_a_browser_refusing_cookies_is_told_so(apps, playwright_instance, tmp_path):
    profile = tmp_path / "profile"
    (profile / "Default").mkdir(parents=True)
    # Chromium's own "Block all cookies" content setting, as a user would set it.
    (profile / "Default" / "Preferences").write_text(
        json.dumps({"profile": {"default_content_setting_values": {"cookies": 2}}})
    )
    context = playwright_instance.chromium.launch_persistent_context(
        str(profile), executable_path=CHROMIUM, args=ARGS, headless=True
    )
    try:
        page = context.new_page()
        page.goto(apps.dashboard.url + "/")
        expect(page).to_have_url(re.compile(re.escape(apps.provider.url) + r"/login"))
        sign_in(page, "S1000001")
        expect(page.get_by_role("alert")).to_contain_text("Cookies are disabled in your browser")
        assert context.cookies() == []
    finally:
        context.close()
