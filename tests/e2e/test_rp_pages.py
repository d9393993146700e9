"""The demo apps' pages in a real browser, signed in through the provider: they speak the user's
language (the ``locale`` claim, else the browser's), link to the provider's account page, pass the
same axe-core checks as the provider's pages, and every link and button is a 44 × 44 px target on
a phone (390 px wide) with a header that stays tidy. Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.test_accessibility import axe_source, check  # noqa: F401  (the axe fixture and check)
from tests.support.apps import start_apps
from tests.support.helpers import PASSWORD

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1200, "height": 820}
VIEWPORTS = {"desktop": DESKTOP, "phone": PHONE}
LABELS = {
    "en": ("Registration number or e-mail", "Password", "Sign in"),
    "de": ("Matrikel-/Personalnummer oder E-Mail", "Passwort", "Anmelden"),
}

# The pages look the same on every storage backend (the flows run on each in test_browser.py).
pytestmark = pytest.mark.one_backend


@pytest.fixture
def apps(make_provider, tmp_path, clock):
    started = start_apps(make_provider, tmp_path, clock)
    yield started
    started.close()


def new_page(browser, lang: str, viewport=DESKTOP, *, bypass_csp=False):
    context = browser.new_context(
        viewport=viewport, locale=lang, bypass_csp=bypass_csp, extra_http_headers={"Accept-Language": lang}
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    return page


def sign_in(page, url: str, username: str, lang: str) -> None:
    user, password, button = LABELS[lang]
    page.goto(url)
    page.get_by_label(user).fill(username)
    page.get_by_label(password, exact=True).fill(PASSWORD)
    page.get_by_role("button", name=button, exact=True).click()


def test_a_german_sign_in_shows_the_apps_in_german(apps, browser):
    page = new_page(browser, "de")
    try:
        sign_in(page, apps.dashboard.url + "/", "S1000001", "de")
        expect(page).to_have_url(apps.dashboard.url + "/")
        expect(page.locator("html")).to_have_attribute("lang", "de")
        expect(page.get_by_role("heading", level=1)).to_have_text("Willkommen, Ada Lovelace")
        expect(page.get_by_role("heading", name="Ihre Module")).to_be_visible()
        expect(page.get_by_role("heading", name="Anstehende Prüfungsleistungen")).to_be_visible()
        expect(page.get_by_label("CS101 abgeschlossen")).to_have_attribute("value", "80")
        expect(page.locator("#modules")).to_contain_text("Einführung in die Programmierung")
        expect(page.locator("#upcoming")).to_contain_text(re.compile(r"fällig am \d\d\.\d\d\.\d{4}"))
        expect(page.locator("#profile")).to_contain_text("Studierende(r)")
        expect(page.get_by_role("button", name="Abmelden")).to_be_visible()
        assert "Sign out" not in page.content() and "Welcome" not in page.content()

        # The other app (single sign-on, no password page) speaks German too.
        page.get_by_role("link", name="Supplier Portal").click()
        expect(page).to_have_url(apps.portal.url + "/")
        expect(page.get_by_role("heading", level=1)).to_have_text(
            "Supplier Portal ist für Lieferanten und Beschäftigte"
        )

        page.get_by_role("button", name="Abmelden").click()
        expect(page.get_by_role("heading", name="Sie sind abgemeldet")).to_be_visible()
    finally:
        page.context.close()


def test_the_header_links_to_the_providers_security_and_sign_in_history(apps, browser):
    page = new_page(browser, "en")
    try:
        sign_in(page, apps.dashboard.url + "/", "E2000001", "en")
        expect(page.get_by_role("heading", name="Modules you teach")).to_be_visible()
        link = page.get_by_role("navigation").get_by_role("link", name="Security and sign-in history")
        expect(link).to_have_attribute("href", apps.provider.url + "/account")
        link.click()
        expect(page).to_have_url(apps.provider.url + "/account")  # the provider session opens it directly

        page.goto(apps.portal.url + "/")
        expect(page.get_by_role("heading", name="Purchase orders")).to_be_visible()
        expect(
            page.get_by_role("navigation").get_by_role("link", name="Security and sign-in history")
        ).to_have_attribute("href", apps.provider.url + "/account")
    finally:
        page.context.close()


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("lang", ["en", "de"])
def test_the_apps_pages_have_no_serious_accessibility_violations(apps, browser, axe_source, lang, viewport):
    page = new_page(browser, lang, VIEWPORTS[viewport], bypass_csp=True)  # axe is injected for the test only
    tag = f"{lang}-{viewport}"
    try:
        sign_in(page, apps.dashboard.url + "/", "S1000001", lang)
        expect(page).to_have_url(apps.dashboard.url + "/")
        check(page, axe_source, f"rp-dashboard-student-{tag}")
        page.goto(apps.portal.url + "/")
        check(page, axe_source, f"rp-portal-not-for-you-{tag}")
        page.context.clear_cookies()  # signed out everywhere: the next user signs in afresh

        sign_in(page, apps.dashboard.url + "/", "E2000001", lang)
        expect(page).to_have_url(apps.dashboard.url + "/")
        check(page, axe_source, f"rp-dashboard-employee-{tag}")
        page.goto(apps.portal.url + "/")
        check(page, axe_source, f"rp-portal-orders-{tag}")
        page.get_by_role("button", name="Sign out" if lang == "en" else "Abmelden").click()
        expect(page).to_have_url(re.compile(re.escape(apps.portal.url) + r"/signed-out"))
        check(page, axe_source, f"rp-signed-out-{tag}")
    finally:
        page.context.close()


#: Every visible link and button: its size, and how many lines its text takes.
TARGETS = """() => [...document.querySelectorAll('a[href], button')].filter(e => {
    const s = getComputedStyle(e); return s.display !== 'none' && s.visibility !== 'hidden';
}).map(e => { const r = e.getBoundingClientRect(); const tops = new Set();
    const walk = document.createTreeWalker(e, NodeFilter.SHOW_TEXT);
    for (let n = walk.nextNode(); n; n = walk.nextNode()) {
        if (!n.textContent.trim()) continue;
        const range = document.createRange(); range.selectNodeContents(n);
        for (const q of range.getClientRects()) tops.add(Math.round(q.top));
    }
    return {text: e.textContent.trim(), width: r.width, height: r.height, lines: tops.size,
            header: !!e.closest('header')};
})"""


@pytest.mark.parametrize("lang", ["en", "de"])
@pytest.mark.parametrize("username", ["S1000001", "E2000001", "V3000001"])
def test_every_link_and_button_is_a_44px_target_and_the_header_stays_tidy_on_a_phone(apps, browser, lang, username):
    page = new_page(browser, lang, PHONE)
    try:
        sign_in(page, apps.dashboard.url + "/", username, lang)
        expect(page).to_have_url(apps.dashboard.url + "/")
        pages = [apps.dashboard.url + "/", apps.portal.url + "/"]
        for url in pages:
            page.goto(url)
            targets = page.evaluate(TARGETS)
            assert targets, url
            small = [t for t in targets if t["width"] < 44 or t["height"] < 44]
            assert not small, (url, small)
            # In the header every item keeps its words on one line (no item broken over two).
            broken = [t for t in targets if t["header"] and t["lines"] > 1]
            assert not broken, (url, broken)
            overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, (url, overflow)
        # The brand and Sign out share the first header line: the header is two rows, not a stack.
        brand = page.locator("header .brand").bounding_box()
        sign_out = page.locator("header button").bounding_box()
        assert abs(brand["y"] - sign_out["y"]) < 8, (brand, sign_out)
        page.get_by_role("button", name="Sign out" if lang == "en" else "Abmelden").click()
        expect(page).to_have_url(re.compile(re.escape(apps.portal.url) + r"/signed-out"))
        # The address changes when the response arrives; measure once the page and its stylesheet are in.
        page.wait_for_load_state("load")
        small = [t for t in page.evaluate(TARGETS) if t["width"] < 44 or t["height"] < 44]
        assert not small, small
    finally:
        page.context.close()


def test_the_language_chosen_at_the_provider_follows_the_user_into_the_apps(apps, browser):
    """An English browser; the user picks Deutsch on the provider's sign-in page. The provider stores the
    choice and sends it as the ``locale`` claim, and the apps follow the claim, not the browser."""
    page = new_page(browser, "en")
    try:
        page.goto(apps.dashboard.url + "/")
        page.get_by_role("link", name="Deutsch").click()
        user, password, button = LABELS["de"]
        page.get_by_label(user).fill("S1000001")
        page.get_by_label(password, exact=True).fill(PASSWORD)
        page.get_by_role("button", name=button, exact=True).click()
        expect(page).to_have_url(apps.dashboard.url + "/")
        expect(page.locator("html")).to_have_attribute("lang", "de")
        expect(page.get_by_role("heading", name="Ihre Module")).to_be_visible()
        page.get_by_role("link", name="Supplier Portal").click()
        expect(page).to_have_url(apps.portal.url + "/")
        expect(page.locator("html")).to_have_attribute("lang", "de")
        expect(page.get_by_role("button", name="Abmelden")).to_be_visible()
    finally:
        page.context.close()
