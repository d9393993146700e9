"""Every console page (issue 20) in English and German: no serious or critical axe violation, the
page in the browser's language (no English sentence left on a German page: its title and headings
come from the catalogue), and a screenshot for docs/admin-console.md. Each role walks its own pages."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.test_accessibility import axe_source, check, new_page  # noqa: F401  (axe_source is a fixture)
from tests.support.console_app import sign_in, start_console
from tests.support.factors import user

pytestmark = pytest.mark.one_backend

HEADINGS = {
    "en": {"/": "SPOM Login console", "/users": "Users", "/keys": "Signing keys", "/audit": "Audit trail"},
    "de": {"/": "SPOM-Login-Konsole", "/users": "Personen", "/keys": "Signaturschlüssel", "/audit": "Audit-Protokoll"},
}


@pytest.fixture
def console(make_provider, tmp_path, clock):
    started = start_console(make_provider, tmp_path, clock)
    yield started
    started.close()


def walk(page, console, lang: str, role: str, paths: list[tuple[str, str]], axe_source: str) -> None:
    for name, path in paths:
        page.goto(console.console.url + path)
        expect(page.locator("h1")).to_be_visible()
        assert page.locator("html").get_attribute("lang") == lang, path
        if path in HEADINGS[lang]:
            expect(page.locator("h1")).to_have_text(HEADINGS[lang][path])
        check(page, axe_source, f"console-{name}-{lang}")


@pytest.mark.parametrize("lang", ["en", "de"])
def test_every_console_page_passes_axe(browser, console, lang, axe_source):
    with console.provider.transaction() as db:
        ada = user(db, "S1000001").sub
    dashboard, portal = console.apps.dashboard.client_id, console.apps.portal.client_id

    identity = new_page(browser, "desktop", lang)
    sign_in(identity, console, "identity")
    walk(
        identity,
        console,
        lang,
        "identity",
        [
            ("home-identity", "/"),
            ("users", "/users"),
            ("users-empty", "/users?q=nobody-like-this"),
            ("user", f"/users/{ada}"),
            ("user-disable", f"/users/{ada}/disable"),
            ("user-reset-mfa", f"/users/{ada}/reset-mfa"),
            ("clients", "/clients"),
            ("client", f"/clients/{portal}"),
            ("client-new", "/clients/new"),
            ("client-rotate", f"/clients/{portal}/rotate-secret"),
            ("client-delete", f"/clients/{portal}/delete"),
            ("registration-tokens", "/registration-tokens"),
            ("throttle", "/throttle?user=S1000001"),
            ("settings", "/settings"),
            ("audit", "/audit"),
            ("user-revoke-role", f"/users/{ada}/roles/revoke?role=idp:security"),
        ],
        axe_source,
    )
    # The pages that show a secret once: a new client's, and a registration token's.
    identity.goto(console.console.url + "/clients/new")
    identity.locator("#client_name").fill("Timetable")
    identity.locator("#redirect_uris").fill("https://timetable.example.edu/callback")
    identity.locator("#client_name").press("Enter")
    expect(identity.locator("#client-secret")).to_be_visible()
    check(identity, axe_source, f"console-client-created-{lang}")
    identity.goto(console.console.url + "/registration-tokens")
    identity.locator("#team").fill("timetable")
    identity.locator("#team").press("Enter")
    expect(identity.locator("#token")).to_be_visible()
    check(identity, axe_source, f"console-registration-token-issued-{lang}")
    identity.locator("#tokens a").first.click()  # revoke the token just issued: its confirmation
    expect(identity.locator("#question")).to_be_visible()
    check(identity, axe_source, f"console-registration-token-revoke-{lang}")
    identity.locator("button.danger").click()
    expect(identity.locator("#no-tokens")).to_be_visible()
    identity.context.close()

    # Failed sign-ins an hour apart, so the anomalies chart has two bars to draw.
    for failures in (2, 4):
        for _ in range(failures):
            attempt = console.provider.browser()
            attempt.submit_login(attempt.get("/login"), password="not the password")
        console.provider.clock.advance(3600)
    security = new_page(browser, "desktop", lang)
    sign_in(security, console, "security")
    kid = None
    security.goto(console.console.url + "/keys")
    kid = security.locator("tr.state-current code").first.inner_text()
    walk(
        security,
        console,
        lang,
        "security",
        [
            ("keys", "/keys"),
            ("keys-rotate", "/keys/rotate"),
            ("key-revoke", f"/keys/{kid}/revoke"),
            ("anomalies", "/anomalies"),
        ],
        axe_source,
    )
    heights = [
        float(h)
        for h in security.locator("#failures-chart rect").evaluate_all("rs => rs.map(r => r.getAttribute('height'))")
    ]
    assert len(heights) == 24 and sum(1 for h in heights if h > 0) == 2 and max(heights) == heights[-2]
    security.context.close()

    team = new_page(browser, "phone", lang)
    sign_in(team, console, "team")
    walk(
        team,
        console,
        lang,
        "team",
        [("home-team", "/"), ("clients-team", "/clients"), ("client-team", f"/clients/{dashboard}")],
        axe_source,
    )
    team.goto(console.console.url + f"/clients/{portal}")  # another team's: the not-found page
    check(team, axe_source, f"console-not-found-{lang}")
    team.context.close()
