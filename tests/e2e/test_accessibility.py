"""Accessibility and look in a real browser (Playwright + Debian's chromium, never a downloaded one):
axe-core (npm, pinned in package-lock.json, `npm ci` by make install) finds no serious or critical
WCAG 2.2 A/AA violation on the sign-in, consent, forgot, reset, account, help and error pages, in
English and German, at desktop and phone widths; the comfort script works under the CSP; the pages
work without JavaScript. Screenshots go to test-artifacts/screenshots/ (`make screenshots` copies
them to docs/screenshots/, shown in docs/ux.md)."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from idp.storage.sql.users import get_user_by_login
from tests.e2e.test_browser import ARTIFACTS
from tests.support.constants import ROOT
from tests.support.helpers import PASSWORD

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
VIEWPORTS = {"desktop": {"width": 1200, "height": 820}, "phone": {"width": 375, "height": 740}}
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]

# The pages look the same on every storage backend (the flows themselves run on each in the other suites).
pytestmark = pytest.mark.one_backend


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE.exists():
        pytest.fail("axe-core is missing: run `make install` (npm ci installs it from package-lock.json)")
    return AXE.read_text()


@pytest.fixture
def site(make_provider):
    provider = make_provider(
        help_contact_email="it@example.edu",
        help_contact_phone="+49 30 1234 5678",
        help_contact_hours="Mon–Fri 8:00–16:00",
    )
    provider.create_user()
    provider.rp = provider.create_client(name="Library", trusted=False)
    return provider


def reset_link(provider) -> str:
    with provider.transaction() as db:
        return provider.accounts(db).issue_link(get_user_by_login(db, "S1000001"))


def new_page(browser, viewport: str, lang: str, *, bypass_csp=True, javascript=True):
    context = browser.new_context(
        viewport=VIEWPORTS[viewport],
        locale=lang,
        bypass_csp=bypass_csp,
        java_script_enabled=javascript,
        extra_http_headers={"Accept-Language": lang},
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    return page


def check(page, axe_source: str, name: str) -> None:
    """No serious or critical axe violation; a screenshot for the docs."""
    page.evaluate(axe_source)  # the context bypasses the CSP for this one test-only script
    result = page.evaluate("(tags) => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG)
    bad = [
        {"id": v["id"], "impact": v["impact"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not bad, f"{name}: " + json.dumps(bad, indent=1)
    assert result["passes"], "axe checked nothing"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def words(lang: str) -> dict:
    if lang == "de":
        return {
            "user": "Matrikel-/Personalnummer oder E-Mail",
            "password": "Passwort",
            "sign_in": "Anmelden",
            "allow": "Erlauben",
            "caps": "Feststelltaste",
        }
    return {
        "user": "Registration number or e-mail",
        "password": "Password",
        "sign_in": "Sign in",
        "allow": "Allow",
        "caps": "Caps Lock",
    }


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("lang", ["en", "de"])
def test_pages_have_no_serious_accessibility_violations(site, browser, axe_source, lang, viewport):
    w = words(lang)
    page = new_page(browser, viewport, lang)
    tag = f"{lang}-{viewport}"
    try:
        page.goto(site.rp.authorization_url())
        expect(page.get_by_role("heading", level=1)).to_have_text(w["sign_in"])
        check(page, axe_source, f"sign-in-{tag}")

        page.get_by_label(w["user"]).fill("S1000001")
        page.get_by_label(w["password"], exact=True).fill("not the password")
        page.get_by_role("button", name=w["sign_in"], exact=True).click()
        expect(page.get_by_role("alert")).to_contain_text(w["caps"])  # the what-to-check line
        expect(page.get_by_label(w["password"], exact=True)).to_be_focused()
        check(page, axe_source, f"sign-in-error-{tag}")

        page.get_by_label(w["password"], exact=True).fill(PASSWORD)
        page.get_by_role("button", name=w["sign_in"], exact=True).click()
        expect(page.get_by_role("button", name=w["allow"])).to_be_visible()
        check(page, axe_source, f"consent-{tag}")

        page.goto(site.url + "/account")
        check(page, axe_source, f"account-{tag}")

        page.goto(site.url + "/help")
        check(page, axe_source, f"help-{tag}")

        page.goto(site.url + "/password/forgot")
        check(page, axe_source, f"forgot-{tag}")

        page.goto(reset_link(site))
        check(page, axe_source, f"reset-{tag}")

        page.goto(site.url + "/password/reset?token=not-a-real-token")
        check(page, axe_source, f"reset-link-invalid-{tag}")

        page.goto(site.url + "/consent?interaction=gone")
        check(page, axe_source, f"error-{tag}")
    finally:
        page.context.close()


def test_caps_lock_warning_and_password_toggle_work_under_the_csp(site, browser):
    page = new_page(browser, "desktop", "en", bypass_csp=False)
    blocked = []
    page.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
    try:
        page.goto(site.url + "/login")
        password = page.get_by_label("Password", exact=True)
        warning = page.get_by_text("Caps Lock is on.")
        expect(warning).to_be_hidden()
        password.focus()
        # Headless chromium keeps no Caps Lock state of its own: send the key events a locked keyboard sends.
        password.dispatch_event("keydown", {"key": "A", "modifierCapsLock": True})
        expect(warning).to_be_visible()
        expect(password).to_have_attribute("aria-describedby", re.compile("password-capslock"))
        password.dispatch_event("keyup", {"key": "b", "modifierCapsLock": False})
        expect(warning).to_be_hidden()
        password.dispatch_event("keydown", {"key": "A", "modifierCapsLock": True})
        page.get_by_label("Registration number or e-mail").focus()  # leaving the field hides it
        expect(warning).to_be_hidden()

        toggle = page.get_by_role("button", name="Show password")
        password.fill("secret words")
        toggle.click()
        expect(password).to_have_attribute("type", "text")
        expect(page.get_by_role("button", name="Hide password")).to_have_attribute("aria-pressed", "true")
        page.get_by_role("button", name="Hide password").click()
        expect(password).to_have_attribute("type", "password")
        assert not blocked, blocked
    finally:
        page.context.close()


def test_sign_in_works_without_javascript(site, browser):
    page = new_page(browser, "phone", "de", bypass_csp=False, javascript=False)
    try:
        page.goto(site.rp.authorization_url())
        expect(page.get_by_role("button", name="Passwort anzeigen")).to_have_count(0)  # needs JS: not shown
        page.get_by_label("Matrikel-/Personalnummer oder E-Mail").fill(" s1000001 ")
        page.get_by_label("Passwort", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Anmelden", exact=True).click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("den Zugriff auf Ihr Konto erlauben?")
        page.get_by_role("link", name="English").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("to access your account?")
        with page.expect_response(re.compile(r"/authorize/resume\?")) as answer:
            page.get_by_role("button", name="Allow").click()
        assert answer.value.status == 302
        assert answer.value.headers["location"].startswith("http://127.0.0.1:9/callback?code=")
    finally:
        page.context.close()


def test_pages_reflow_at_phone_width_and_200_percent_zoom(site, browser):
    """WCAG 1.4.10: at 320 CSS px (a 640 px window at 200 %) nothing needs sideways scrolling."""
    page = new_page(browser, "phone", "de")
    try:
        page.set_viewport_size({"width": 320, "height": 640})
        for path in ("/login", "/help", "/password/forgot"):
            page.goto(site.url + path)
            overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, (path, overflow)
    finally:
        page.context.close()
