"""Second factors in a real browser through the relying parties (issue 19): an employee under
``IDP_MFA_REQUIRED_ROLES`` whose grace is over is made to set up an authenticator app before the
dashboard gets a code, then signs in with password + code; a student signed in with a password
only is stepped up in place by the dashboard's results page, which shows the ``amr`` it received.
Codes are made on the test's clock (the apps share it). Screenshots for docs/ux.md in both languages."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.test_accessibility import axe_source, check  # noqa: F401  (the axe fixture and check)
from tests.support.apps import start_apps
from tests.support.constants import ROOT
from tests.support.factors import code
from tests.support.helpers import PASSWORD

ARTIFACTS = ROOT / "test-artifacts" / "screenshots"


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1200, "height": 900}, bypass_csp=True)  # axe is injected
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def shoot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign_in(page, username: str) -> None:
    page.get_by_label("Registration number or e-mail").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def key_on(page) -> str:
    return page.locator("code.secret").inner_text().replace(" ", "")


def test_an_employee_is_made_to_enrol_then_signs_in_with_password_and_code(make_provider, tmp_path, clock, page):
    apps = start_apps(make_provider, tmp_path, clock, mfa_required_roles="employee", mfa_grace_days=0)
    try:
        dashboard = apps.dashboard
        page.goto(dashboard.url + "/")
        sign_in(page, "E2000001")
        expect(page.get_by_role("heading", name="Set up a second step of sign-in")).to_be_visible()
        expect(page.get_by_text("to continue to SPOM Dashboard")).to_be_visible()
        expect(page.locator(".qr svg")).to_be_visible()
        shoot(page, "mfa-enrol")
        secret = key_on(page)
        page.get_by_label("Code from the app").fill(code(secret, clock.now()))
        page.get_by_label("Name of this phone").fill("Work phone")
        page.get_by_role("button", name="Turn on").click()
        expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
        expect(page.locator("ol.recovery-codes li")).to_have_count(10)
        shoot(page, "mfa-recovery-codes")
        page.get_by_role("link", name=re.compile("I have saved them, continue to SPOM Dashboard")).click()
        expect(page).to_have_url(dashboard.url + "/")
        expect(page.get_by_role("heading", name="Modules you teach")).to_be_visible()

        # Signed out, then in again: password, then the app's code (a new step of the shared clock).
        page.get_by_role("button", name="Sign out").click()
        clock.advance(60)
        page.goto(dashboard.url + "/")
        sign_in(page, "E2000001")
        expect(page.get_by_role("heading", name="Second step")).to_be_visible()
        shoot(page, "mfa-second-step")
        page.get_by_label("Code from your authenticator app").fill(
            "000000" if code(secret, clock.now()) != "000000" else "111111"
        )
        page.get_by_role("button", name="Continue").click()
        expect(page.locator("#form-error")).to_contain_text("That code is not correct")
        page.get_by_label("Code from your authenticator app").fill(code(secret, clock.now()))
        page.get_by_role("button", name="Continue").click()
        expect(page).to_have_url(dashboard.url + "/")
        # The results page needs a second factor, and this session showed one: no page in between.
        page.locator("#results-link").click()
        expect(page).to_have_url(dashboard.url + "/assessments")
        expect(page.locator("#amr")).to_contain_text("otp")
        expect(page.locator("#acr")).to_have_text("urn:spom:acr:mfa")
    finally:
        apps.close()


@pytest.mark.parametrize("lang", ["en", "de"])
def test_the_dashboard_steps_a_password_session_up_in_place(make_provider, tmp_path, clock, page, lang, axe_source):
    apps = start_apps(make_provider, tmp_path, clock)
    try:
        provider, dashboard = apps.provider, apps.dashboard
        page.context.set_extra_http_headers({"Accept-Language": lang})
        page.goto(dashboard.url + "/")
        sign_in_local(page, lang, "S1000001")
        expect(page).to_have_url(dashboard.url + "/")
        page.locator("#results-link").click()
        # No password again: the provider asks only for the second step (here: set one up first).
        expect(page).to_have_url(re.compile(re.escape(provider.url) + r"/login/second-factor"))
        expect(page.locator("#password")).to_have_count(0)
        shoot(page, f"mfa-step-up-enrol-{lang}")
        page.locator("#totp-code").fill(code(key_on(page), clock.now()))
        page.locator("form[action*='enrol'] button[type=submit]").click()
        page.locator("p.actions a.button").click()
        expect(page).to_have_url(dashboard.url + "/assessments")
        expect(page.locator("#amr")).to_contain_text("pwd")
        expect(page.locator("#amr")).to_contain_text("otp")
        expect(page.locator("#amr")).to_contain_text("mfa")
        check(page, axe_source, f"mfa-step-up-result-{lang}")  # axe, and the screenshot
    finally:
        apps.close()


def sign_in_local(page, lang: str, username: str) -> None:
    page.locator("#username").fill(username)
    page.locator("#password").fill(PASSWORD)
    page.locator("form[action$='/login'] button[type=submit]").click()
