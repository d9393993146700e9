"""The device-approval link in a real browser (Playwright + Debian's chromium): while an attacker keeps
the account's delay running, the owner on a new browser asks for the link on the throttled page,
opens it from the mail (real SMTP), approves the device and signs in to the app with the password.
Each page passes axe-core (no serious or critical WCAG 2.2 A/AA violation), in English and German."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.test_accessibility import axe_source, check, new_page  # noqa: F401  (axe_source is a fixture)
from tests.e2e.test_device_approval import ADA, device_link_in, guess
from tests.support.helpers import CALLBACK, PASSWORD

WORDS = {
    "en": {
        "user": "Registration number or e-mail",
        "password": "Password",
        "sign_in": "Sign in",
        "too_many": "Too many attempts",
        "button": "E-mail me a link to approve this device",
        "sent": "Check your e-mail",
        "approve": "Approve this device",
        "approved": "This device is approved. Sign in with your password.",
        "continue": "to continue to Library",
        "used": "This link has already been used.",
    },
    "de": {
        "user": "Matrikel-/Personalnummer oder E-Mail",
        "password": "Passwort",
        "sign_in": "Anmelden",
        "too_many": "Zu viele Versuche",
        "button": "Link zum Freigeben dieses Geräts per E-Mail senden",
        "sent": "Prüfen Sie Ihr E-Mail-Postfach",
        "approve": "Dieses Gerät freigeben",
        "approved": "Dieses Gerät ist freigegeben. Melden Sie sich mit Ihrem Passwort an.",
        "continue": "Library",
        "used": "Dieser Link wurde bereits verwendet.",
    },
}


@pytest.mark.parametrize("lang", ["en", "de"])
def test_owner_on_a_new_device_gets_in_through_the_mailed_link(mail_provider, smtp_server, browser, axe_source, lang):
    w = WORDS[lang]
    provider = mail_provider(trusted_proxies=("127.0.0.1/32",))
    provider.create_user()
    rp = provider.create_client(name="Library")
    for i in range(5):  # the attacker has spent the account's free failures
        assert guess(provider, i).status_code == 401
    page = new_page(browser, "desktop", lang)
    try:
        page.goto(rp.authorization_url())
        page.get_by_label(w["user"]).fill("S1000001")
        page.get_by_label(w["password"], exact=True).fill(PASSWORD)
        page.get_by_role("button", name=w["sign_in"], exact=True).click()
        expect(page.get_by_role("alert")).to_contain_text(w["too_many"])
        check(page, axe_source, f"device-link-offered-{lang}")

        page.get_by_role("button", name=w["button"]).click()
        expect(page.get_by_role("heading", level=1)).to_have_text(w["sent"])
        check(page, axe_source, f"device-link-sent-{lang}")

        link = device_link_in(smtp_server.wait_for(ADA)[0])
        page.goto(link)
        expect(page.get_by_role("heading", level=1)).to_have_text(w["approve"])
        check(page, axe_source, f"device-approval-{lang}")
        page.get_by_role("button", name=w["approve"]).click()

        expect(page.get_by_role("status")).to_have_text(w["approved"])
        expect(page.get_by_label(w["user"])).to_have_value("S1000001")
        expect(page.get_by_text(w["continue"])).to_be_visible()  # the pending sign-in to the app is kept
        device = [c for c in page.context.cookies() if c["name"] == "idp_device"]
        assert device and device[0]["httpOnly"] and device[0]["sameSite"] == "Lax"
        assert not [c for c in page.context.cookies() if c["name"] == "idp_session"]  # nobody signed in yet

        assert guess(provider, 6).status_code == 429  # the attack goes on
        page.get_by_label(w["password"], exact=True).fill(PASSWORD)
        with page.expect_response(re.compile(r"/authorize/resume\?")) as answer:
            page.get_by_role("button", name=w["sign_in"], exact=True).click()
        assert answer.value.status == 302
        assert answer.value.headers["location"].startswith(CALLBACK + "?code=")

        used = page.context.new_page()  # the first tab is on its way to the (never contacted) callback
        used.goto(link)
        expect(used.get_by_role("alert")).to_contain_text(w["used"])
        check(used, axe_source, f"device-link-invalid-{lang}")
    finally:
        page.context.close()
