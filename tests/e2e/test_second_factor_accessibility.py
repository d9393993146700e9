"""axe-core on the second-factor pages (issue 19), English and German, desktop and phone: the grace
notice, enrolment with its QR code, the recovery codes, the account page's "Sign-in methods", the
second step with a code and with a recovery code, and the forced enrolment. Screenshots for docs/ux.md."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.test_accessibility import VIEWPORTS, axe_source, check, new_page  # noqa: F401  (fixture)
from tests.e2e.test_target_size import MEASURE, MINIMUM
from tests.support.factors import code
from tests.support.helpers import PASSWORD

pytestmark = pytest.mark.one_backend


def sign_in(page, url: str) -> None:
    page.goto(url + "/login")
    page.locator("#username").fill("E1000001")
    page.locator("#password").fill(PASSWORD)
    page.locator("form[action$='/login'] button[type=submit]").click()


def checked(page, axe_source: str, name: str, viewport: str) -> None:
    """axe, and at phone width the 44 px targets of docs/ux.md (``test_target_size``)."""
    check(page, axe_source, name)
    if viewport == "phone":
        small = [t for t in page.evaluate(MEASURE) if not t["inSentence"] and min(t["width"], t["height"]) < MINIMUM]
        assert not small, f"{name}: {small}"


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("lang", ["en", "de"])
def test_second_factor_pages_have_no_serious_accessibility_violations(
    make_provider, browser, axe_source, lang, viewport, clock
):
    site = make_provider(mfa_required_roles="employee", mfa_grace_signins=1)
    site.create_user(registration_number="E1000001", email="grace@example.edu", role="employee")
    tag = f"{lang}-{viewport}"
    page = new_page(browser, viewport, lang)
    try:
        sign_in(page, site.url)
        expect(page.locator("#grace-left")).to_be_visible()
        checked(page, axe_source, f"mfa-grace-{tag}", viewport)

        page.goto(site.url + "/account/factors/add")
        expect(page.locator(".qr svg")).to_be_visible()
        checked(page, axe_source, f"mfa-account-add-{tag}", viewport)
        page.locator("#totp-code").fill(code(page.locator("code.secret").inner_text().replace(" ", ""), clock.now()))
        page.locator("form[action$='/account/factors/totp'] button[type=submit]").click()
        expect(page.locator("ol.recovery-codes li")).to_have_count(10)
        checked(page, axe_source, f"mfa-recovery-codes-{tag}", viewport)

        page.goto(site.url + "/account")
        expect(page.locator("ul.factors li")).to_have_count(1)
        checked(page, axe_source, f"mfa-account-{tag}", viewport)

        page.context.clear_cookies()
        clock.advance(90)
        sign_in(page, site.url)
        expect(page.locator("#code")).to_be_visible()
        page.locator("#code").fill("12")
        page.locator("form[action$='/login/second-factor'] button[type=submit]").click()
        expect(page.locator("#form-error")).to_be_visible()
        checked(page, axe_source, f"mfa-second-step-{tag}", viewport)
        page.locator("a[href*='method=recovery']").click()
        expect(page.locator("#code")).to_have_attribute("autocomplete", "off")
        checked(page, axe_source, f"mfa-recovery-{tag}", viewport)
    finally:
        page.context.close()


@pytest.mark.parametrize("lang", ["en", "de"])
def test_the_forced_enrolment_page_has_no_serious_accessibility_violations(make_provider, browser, axe_source, lang):
    site = make_provider(mfa_required_roles="employee", mfa_grace_days=0)
    site.create_user(registration_number="E1000001", email="grace@example.edu", role="employee")
    page = new_page(browser, "phone", lang)
    try:
        sign_in(page, site.url)
        expect(page.locator(".qr svg")).to_be_visible()
        checked(page, axe_source, f"mfa-enrol-forced-{lang}-phone", "phone")
    finally:
        page.context.close()
