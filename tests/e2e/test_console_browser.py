"""The console (issue 20) in a real browser, as each of its three kinds of user: the pages a role
may not use are neither linked nor reachable, an app team cannot see or guess another team's client,
the identity team's disable ends the user's sessions in the apps (back-channel logout), and security
staff rotate and revoke keys while the relying parties keep signing people in. Every action is an
admin API call under the signed-in person, and the audit trail names them. Every console page passes
axe in English and German (``test_console_accessibility.py``)."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from tests.support.console_app import STAFF, sign_in, start_console
from tests.support.helpers import PASSWORD


@pytest.fixture
def console(make_provider, tmp_path, clock):
    started = start_console(make_provider, tmp_path, clock)
    yield started
    started.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def nav(page) -> list[str]:
    return page.locator("nav.console-nav a").all_inner_texts()


def test_an_app_team_member_manages_its_own_clients_only(console, page):
    sign_in(page, console, "team")
    expect(page.get_by_role("heading", name="SPOM Login console")).to_be_visible()
    assert nav(page) == ["Overview", "Clients"]
    page.get_by_role("link", name="Your clients").first.click()
    expect(page.locator("#clients")).to_contain_text("SPOM Dashboard")
    expect(page.locator("#clients")).not_to_contain_text("Supplier Portal")

    # Another team's client, by its URL: not found, as if it did not exist (no hint that it does).
    page.goto(console.console.url + "/clients/" + console.apps.portal.client_id)
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    expect(page.locator("#problem-detail")).to_contain_text("belongs to another team")
    # The identity team's pages are not for it either.
    page.goto(console.console.url + "/users")
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()

    # Register a client by the rules of /register: a bad redirect URI is explained, then it works.
    page.goto(console.console.url + "/clients/new")
    page.get_by_label("Name shown to users").fill("Timetable")
    page.get_by_label("Redirect URIs (one per line)").fill("http://timetable.example.edu/callback")
    page.get_by_role("button", name="Register").click()
    expect(page.locator("#error")).to_contain_text("https")
    expect(page.get_by_label("Redirect URIs (one per line)")).to_have_attribute("aria-invalid", "true")
    page.get_by_label("Redirect URIs (one per line)").fill("https://timetable.example.edu/callback")
    page.get_by_role("button", name="Register").click()
    expect(page.get_by_role("heading", name="Timetable is registered")).to_be_visible()
    client_id = page.locator("#client-id").inner_text()
    first_secret = page.locator("#client-secret").inner_text()
    assert len(first_secret) >= 32
    with console.provider.transaction() as db:
        from idp.storage.sql.models import Client

        row = db.get(Client, client_id)
        assert (row.team, row.trusted, row.created_by) == ("dashboard", False, "user:" + _sub(console, "team"))

    # Edit the addresses, rotate the secret (shown once), then delete with the typed name.
    page.get_by_role("link", name="Go to the client").click()
    page.get_by_label("After sign-out (one per line)").fill("https://timetable.example.edu/bye")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#notice")).to_have_text("The client is saved.")
    expect(page.get_by_label("After sign-out (one per line)")).to_have_value("https://timetable.example.edu/bye")
    page.get_by_role("link", name="Rotate the secret").click()
    page.get_by_role("button", name="Rotate the secret").click()
    expect(page.get_by_role("heading", name="New secret for Timetable")).to_be_visible()
    assert page.locator("#client-secret").inner_text() != first_secret
    page.get_by_role("link", name="Go to the client").click()
    page.get_by_role("link", name="Delete the client").click()
    page.get_by_label(re.compile("Type the client's name")).fill("Timetables")
    page.get_by_role("button", name="Delete the client").click()
    expect(page.locator("#error")).to_contain_text("does not match")
    page.get_by_label(re.compile("Type the client's name")).fill("Timetable")
    page.get_by_role("button", name="Delete the client").click()
    expect(page.locator("#notice")).to_have_text("Timetable is deleted.")
    expect(page.locator("#clients")).not_to_contain_text("Timetable")
    actors = {
        e.details.get("actor") or e.details.get("source") for e in console.provider.audit_events("client.deleted")
    }
    assert actors == {"user:" + _sub(console, "team")}


def _sub(console, kind: str) -> str:
    from tests.support.factors import user

    with console.provider.transaction() as db:
        return user(db, STAFF[kind]["registration_number"]).sub


def test_the_identity_team_disables_a_user_and_the_apps_sessions_end(console, page, browser):
    # Ada is signed in to the dashboard in her own browser.
    ada = browser.new_context().new_page()
    ada.goto(console.apps.dashboard.url + "/")
    ada.locator("#username").fill("S1000001")
    ada.locator("#password").fill(PASSWORD)
    ada.locator("#password").press("Enter")
    expect(ada).to_have_url(console.apps.dashboard.url + "/")
    assert len(console.apps.dashboard.sessions()) == 1

    sign_in(page, console, "identity")
    page.get_by_role("link", name="Users").first.click()
    page.get_by_label("Registration number, e-mail or name").fill("S1000001")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="S1000001").click()
    expect(page.get_by_role("heading", name="Ada Lovelace")).to_be_visible()
    expect(page.locator("#activity")).to_contain_text("login.success")
    page.get_by_role("link", name="Disable").click()
    expect(page.locator("#question")).to_contain_text("every session ends")
    page.get_by_role("button", name="Disable the account").click()
    expect(page.locator("#notice")).to_have_text("The account is disabled and its sessions have ended.")
    expect(page.locator("#status")).to_have_text("disabled")

    console.provider.flush_logouts()  # the back-channel logout reaches the dashboard
    assert console.apps.dashboard.sessions() == []
    ada.reload()
    expect(ada.get_by_role("heading", name=re.compile("signed out", re.I))).to_be_visible()
    disabled = console.provider.audit_events("user.disabled")
    assert [e.details.get("source") for e in disabled] == ["user:" + _sub(console, "identity")]

    # Roles are data: the identity team gives Ada the security role, and takes it away again.
    page.get_by_role("link", name="Enable").click()
    page.get_by_role("button", name="Enable the account").click()
    page.locator("#kind-security").check()
    page.get_by_role("button", name="Give the role").click()
    expect(page.locator("#roles")).to_contain_text("idp:security")
    page.get_by_role("link", name="Take away idp:security").click()
    page.get_by_role("button", name="Take the role away").click()
    expect(page.locator("#roles")).to_have_count(0)

    # Every form carries a CSRF token: the same action posted without one (another site's form) is refused.
    from tests.support.factors import user

    with console.provider.transaction() as db:
        ada_sub = user(db, "S1000001").sub
    forged = page.request.post(console.console.url + f"/users/{ada_sub}/disable", form={"confirm": "yes"})
    assert forged.status == 400 and "This form has expired" in forged.text()
    with console.provider.transaction() as db:
        assert user(db, "S1000001").active


def test_security_staff_rotate_and_revoke_keys_while_the_apps_keep_working(console, page, browser):
    dashboard = console.apps.dashboard

    def ada_signs_in() -> None:
        ada = browser.new_context().new_page()
        ada.goto(dashboard.url + "/")
        ada.locator("#username").fill("S1000001")
        ada.locator("#password").fill(PASSWORD)
        ada.locator("#password").press("Enter")
        expect(ada).to_have_url(dashboard.url + "/")
        ada.context.close()

    ada_signs_in()  # the dashboard has the provider's keys (current and next) from its JWKS
    sign_in(page, console, "security")
    assert nav(page) == ["Overview", "Throttle", "Audit trail", "Signing keys", "Anomalies"]
    page.get_by_role("link", name="Signing keys").first.click()
    # The ID tokens' key (the console's own access tokens are ES256: revoking their key would end its
    # session, which asks the person to sign in again).
    current = page.locator("section:has(h2:text-is('RS256')) tr.state-current code").inner_text()
    page.get_by_role("link", name="Rotate the keys").click()
    page.get_by_role("button", name="Rotate now").click()
    # The next key was published moments ago: refused, with the reason and the choice to go on.
    expect(page.locator("#error")).to_be_visible()
    page.get_by_label(re.compile("Rotate anyway")).check()
    page.get_by_role("button", name="Rotate now").click()
    expect(page.locator("#notice")).to_contain_text("Rotated")
    expect(page.locator(f"tr.state-retired:has-text('{current}')")).to_have_count(1)
    ada_signs_in()  # a new ID token, signed by the promoted key: the dashboard verifies it

    page.get_by_role("link", name=f"Revoke {current}").click()
    page.get_by_label("Reason (kept in the audit trail)").fill("Key file copied to a laptop")
    page.get_by_label(re.compile("Type the key ID")).fill(current + "x")
    page.get_by_role("button", name="Revoke the key").click()
    expect(page.locator("#error")).to_contain_text("does not match")
    page.get_by_label(re.compile("Type the key ID")).fill(current)
    page.get_by_role("button", name="Revoke the key").click()
    expect(page.locator("#notice")).to_contain_text(f"Key {current} is revoked")
    expect(page.locator(f"tr.state-revoked:has-text('{current}')")).to_have_count(1)  # listed until removed
    jwks = json.loads(page.request.get(console.provider.url + "/jwks.json").text())
    assert current not in {k["kid"] for k in jwks["keys"]}
    ada_signs_in()

    # The audit trail shows it, filtered by type in the (bookmarkable) query string, and exports it.
    page.goto(console.console.url + "/audit?type=key.revoked")
    expect(page.locator("#events tbody tr")).to_have_count(1)
    expect(page.locator("#events")).to_contain_text("Key file copied to a laptop")
    with page.expect_download() as download:
        page.locator("#export").click()
    lines = download.value.path().read_text().splitlines()
    assert [json.loads(line)["type"] for line in lines] == ["key.revoked"]


def test_the_console_signs_in_with_code_pkce_and_a_second_factor_and_pages_its_client_list(console, page):
    import requests

    first = requests.get(console.console.url + "/login", allow_redirects=False, timeout=10)
    location = first.headers["Location"]
    assert location.startswith(console.provider.url + "/authorize?")
    for part in ("response_type=code", "code_challenge_method=S256", "acr_values=urn%3Aspom%3Aacr%3Amfa"):
        assert part in location, part
    assert "idp%3Aconsole" in location or "idp:console" in location

    # 31 clients in the identity team's view: 25 on the first page, by name, the rest on the second.
    for n in range(28):
        console.provider.create_client(name=f"App {n:02d}", redirect_uris=[f"https://app{n}.example.edu/cb"])
    sign_in(page, console, "identity", "/clients")
    expect(page.locator("#clients tbody tr")).to_have_count(25)
    expect(page.get_by_text("Page 1 of 2")).to_be_visible()
    page.locator("#next-page").click()
    expect(page).to_have_url(re.compile(r"/clients\?page=2$"))
    expect(page.locator("#clients tbody tr")).to_have_count(6)  # 28 + the dashboard, portal and console
    expect(page.locator("#clients")).to_contain_text("Supplier Portal")
