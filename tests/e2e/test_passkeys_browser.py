"""Passkeys in a real browser (Playwright + Debian's chromium, its virtual authenticator through CDP):
added on the account page (two, named), the second step after the password through a relying party's
code flow, a sign-in with a passkey alone from the login page, an answer made on another web address
refused, and a removed passkey that no longer works. The pages keep their real CSP (the script's
``fetch`` of the options must be allowed by it).

WebAuthn refuses IP addresses as relying party IDs, so these providers' issuer is
``http://localhost:<port>``; the browser resolves ``localhost`` and its subdomains to 127.0.0.1."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from idp.app import create_app
from idp.domain.factors.policy import MFA_ACR
from idp.storage.sql import audit
from idp.storage.store.memory import MemoryStore
from tests.e2e.test_accessibility import axe_source, check  # noqa: F401  (axe_source is a fixture)
from tests.support.constants import CHROMIUM, CHROMIUM_ARGS, FAST_HASHER
from tests.support.helpers import CALLBACK, PASSWORD, Provider, update_user
from tests.support.live import LiveServer, free_port

RESOLVE = "--host-resolver-rules=MAP localhost 127.0.0.1, MAP *.localhost 127.0.0.1"


@pytest.fixture(scope="module")
def chromium(playwright_instance):
    browser = playwright_instance.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, RESOLVE])
    yield browser
    browser.close()


@pytest.fixture
def make_provider(settings_factory, clean_database, clock):
    """``start(**settings) -> Provider``: live, its issuer ``http://localhost:<port>`` (a valid RP ID),
    with the user S1000001."""
    started = []

    def start(**overrides) -> Provider:
        port = free_port()
        settings = settings_factory(port, issuer=f"http://localhost:{port}", **overrides)
        store = MemoryStore(now=clock.now)
        app = create_app(settings, clock=clock, database=clean_database, store=store, hasher=FAST_HASHER)
        started.append(LiveServer(app, port).__enter__())
        found = Provider(app=app, url=settings.server.issuer, clock=clock)
        found.create_user()
        return found

    yield start
    for server in started:
        server.__exit__()


@pytest.fixture
def provider(make_provider):
    return make_provider()


@pytest.fixture
def page(chromium):
    context = chromium.new_context(locale="en", extra_http_headers={"Accept-Language": "en"})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


class Authenticator:
    """A virtual platform authenticator (CTAP2, internal, resident keys, user verification) of the page."""

    def __init__(self, page):
        self.cdp = page.context.new_cdp_session(page)
        self.cdp.send("WebAuthn.enable", {"enableUI": False})
        self.id = None
        self.plug_in()

    def plug_in(self) -> None:
        options = {
            "protocol": "ctap2",
            "transport": "internal",
            "hasResidentKey": True,
            "hasUserVerification": True,
            "isUserVerified": True,
            "automaticPresenceSimulation": True,
        }
        self.id = self.cdp.send("WebAuthn.addVirtualAuthenticator", {"options": options})["authenticatorId"]

    def replace(self) -> None:
        """Another device: this authenticator (and its passkeys) goes, a new empty one comes."""
        self.cdp.send("WebAuthn.removeVirtualAuthenticator", {"authenticatorId": self.id})
        self.plug_in()

    def credentials(self) -> list[dict]:
        return self.cdp.send("WebAuthn.getCredentials", {"authenticatorId": self.id})["credentials"]


#: A browser whose autofill offers no passkeys (no conditional mediation): the login page's passkey
#: request would otherwise be answered at once by the virtual authenticator.
NO_AUTOFILL = "PublicKeyCredential.isConditionalMediationAvailable = () => Promise.resolve(false);"


def sign_in_with_password(page, url: str) -> None:
    page.goto(url)
    page.get_by_label("Registration number or e-mail").fill("S1000001")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()


def add_passkey(page, name: str) -> None:
    page.get_by_label("Name of this passkey").fill(name)
    page.get_by_role("button", name="Add a passkey").click()


def passkey_on_account(provider, page, name: str = "Laptop") -> None:
    """Sign in with the password and add a passkey on the account page (the account's first factor)."""
    sign_in_with_password(page, provider.url + "/login")
    page.goto(provider.url + "/account")
    add_passkey(page, name)
    page.get_by_role("link", name="I have saved them, continue").click()
    expect(page.get_by_role("status")).to_have_text("Your passkey was added.")


def events(provider, type: str) -> list:
    """The audit events of ``type``, oldest first."""
    return provider.audit_events(type)[::-1]


def amr_of(rp, callback_url: str) -> dict:
    return rp.verify_id_token(rp.exchange(callback_url)["id_token"])


def test_two_passkeys_are_added_and_named_on_the_account_page(provider, page):
    key = Authenticator(page)
    sign_in_with_password(page, provider.url + "/login")
    page.goto(provider.url + "/account")
    add_passkey(page, "Laptop")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your recovery codes")  # the first factor
    page.get_by_role("link", name="I have saved them, continue").click()
    expect(page.get_by_role("status")).to_have_text("Your passkey was added.")

    provider.clock.advance(60)
    key.replace()  # a second device
    add_passkey(page, "Phone")
    expect(page.get_by_role("status")).to_have_text("Your passkey was added.")
    listed = page.locator("li[data-kind=passkey] strong")
    expect(listed).to_have_text(["Laptop", "Phone"])
    assert len(key.credentials()) == 1 and key.credentials()[0]["isResidentCredential"]
    enrolled = events(provider, audit.FACTOR_ENROLLED)
    assert [e.details["name"] for e in enrolled] == ["Laptop", "Phone"]


def test_adding_a_passkey_needs_a_recent_sign_in(provider, page):
    """A passkey signs in alone: a session left open (or taken over) cannot add one without a fresh sign-in."""
    Authenticator(page)
    sign_in_with_password(page, provider.url + "/login")
    provider.clock.advance(901)
    page.goto(provider.url + "/account")
    add_passkey(page, "Laptop")
    expect(page.locator("#passkey-alert")).to_have_text(
        "For your security, adding a passkey needs a recent sign-in. Sign out, sign in again, and then add the passkey."
    )
    assert events(provider, audit.FACTOR_ENROLLED) == []


def test_password_then_passkey_as_the_second_step_of_an_apps_sign_in(provider, page):
    page.add_init_script(NO_AUTOFILL)
    Authenticator(page)
    passkey_on_account(provider, page)
    rp = provider.create_client(name="Library")
    sign_in_with_password(page, rp.authorization_url(prompt="login"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Second step")
    expect(page.get_by_text("to continue to Library")).to_be_visible()
    with page.expect_response(re.compile(r"/authorize/resume\?")) as answer:
        page.get_by_role("button", name="Use your passkey").click()
    callback = answer.value.headers["location"]
    assert callback.startswith(CALLBACK + "?code=")
    claims = amr_of(rp, callback)
    assert {"pwd", "mfa"} <= set(claims["amr"]) and {"hwk", "swk"} & set(claims["amr"]), claims["amr"]
    assert claims["acr"] == MFA_ACR
    used = events(provider, audit.FACTOR_USED)
    assert [e.details["factor"] for e in used] == ["passkey"]


def test_a_passkey_alone_signs_in_from_the_login_page_without_a_password(provider, page):
    page.add_init_script(NO_AUTOFILL)  # the button, this time; the autofill is the next test
    Authenticator(page)
    passkey_on_account(provider, page)
    page.context.clear_cookies()  # signed out: a new browser session, the same device
    rp = provider.create_client(name="Library")
    page.goto(rp.authorization_url())
    expect(page.get_by_text("to continue to Library")).to_be_visible()
    username = page.get_by_label("Registration number or e-mail")
    expect(username).to_have_attribute("autocomplete", "username webauthn")  # the autofill's field
    with page.expect_response(re.compile(r"/authorize/resume\?")) as answer:
        page.get_by_role("button", name="Sign in with a passkey").click()
    claims = amr_of(rp, answer.value.headers["location"])
    assert {"hwk", "user", "mfa"} <= set(claims["amr"]) and "pwd" not in claims["amr"], claims["amr"]
    assert claims["acr"] == MFA_ACR
    [signed_in] = events(provider, audit.LOGIN_SUCCESS)[-1:]
    assert signed_in.details["method"] == "passkey"


def test_the_username_fields_autofill_offers_the_passkey(provider, page):
    Authenticator(page)
    passkey_on_account(provider, page)
    page.context.clear_cookies()
    rp = provider.create_client(name="Library")
    with page.expect_response(re.compile(r"/authorize/resume\?")) as answer:
        page.goto(rp.authorization_url())  # the virtual authenticator picks the passkey at once
    assert "user" in amr_of(rp, answer.value.headers["location"])["amr"]


def test_an_answer_made_on_another_web_address_is_refused(provider, page):
    """The same provider, also reachable on another port of the same host: the browser signs for the RP
    ID ``localhost`` there, with that origin in clientDataJSON; the provider accepts only its issuer's."""
    Authenticator(page)
    passkey_on_account(provider, page)
    page.context.clear_cookies()
    other = free_port()
    with LiveServer(provider.app, other):
        page.goto(f"http://localhost:{other}/login")  # the autofill answers, the form posts it
        expect(page.get_by_role("alert")).to_have_text(
            "This passkey answer was made for another web address and is refused."
        )
    [failed] = events(provider, audit.FACTOR_FAILED)
    assert failed.details["reason"] == "origin" and failed.details["origin"] == f"http://localhost:{other}"
    assert failed.user_id is not None
    assert not [c for c in page.context.cookies() if c["name"] == "idp_session"]


def test_a_removed_passkey_no_longer_signs_in(provider, page):
    page.add_init_script(NO_AUTOFILL)
    Authenticator(page)
    passkey_on_account(provider, page)
    page.get_by_role("button", name=re.compile(r"^Remove.*Laptop")).click()
    expect(page.get_by_role("status")).to_have_text("The sign-in method was removed.")
    expect(page.locator("li[data-kind=passkey]")).to_have_count(0)
    page.context.clear_cookies()
    page.goto(provider.url + "/login")
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page.get_by_role("alert")).to_contain_text("This passkey is not registered for an account here")
    assert events(provider, audit.FACTOR_FAILED)[-1].details["reason"] == "unknown_credential"
    assert not [c for c in page.context.cookies() if c["name"] == "idp_session"]


def test_a_passkey_set_up_where_the_policy_forces_enrolment_completes_the_apps_sign_in(make_provider, page):
    provider = make_provider(mfa_required_roles="student", mfa_grace_days=0)
    page.add_init_script(NO_AUTOFILL)
    Authenticator(page)
    rp = provider.create_client(name="Library")
    sign_in_with_password(page, rp.authorization_url())
    expect(page.get_by_role("heading", level=1)).to_have_text("Set up a second step of sign-in")
    page.get_by_label("Name of this passkey").fill("Work laptop")
    page.get_by_role("button", name="Set up a passkey").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your recovery codes")
    with page.expect_response(re.compile(r"/authorize/resume\?")) as answer:
        page.get_by_role("link", name="I have saved them, continue to Library").click()
    claims = amr_of(rp, answer.value.headers["location"])
    assert {"pwd", "hwk", "user", "mfa"} <= set(claims["amr"]), claims["amr"]
    assert [e.details["name"] for e in events(provider, audit.FACTOR_ENROLLED)] == ["Work laptop"]


def test_an_expired_challenge_is_refused_with_a_message(provider, page):
    page.add_init_script(NO_AUTOFILL)
    Authenticator(page)
    passkey_on_account(provider, page)
    page.context.clear_cookies()
    page.goto(provider.url + "/login")

    def later(route):
        provider.clock.advance(301)  # the answer arrives after the challenge's five minutes
        route.continue_()

    page.route("**/login/passkey/signin", later)
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page.get_by_role("alert")).to_have_text(
        "This passkey request has expired or was already used. Please try again."
    )
    assert events(provider, audit.FACTOR_FAILED)[-1].details["reason"] == "challenge"


def test_in_german_a_refused_passkey_is_explained_in_german(provider, page):
    page.add_init_script(NO_AUTOFILL)
    Authenticator(page)
    passkey_on_account(provider, page)
    page.get_by_role("button", name=re.compile(r"^Remove.*Laptop")).click()
    page.context.clear_cookies()
    page.goto(provider.url + "/login")
    page.get_by_role("link", name="Deutsch").click()
    page.get_by_role("button", name="Mit Passkey anmelden").click()
    expect(page.get_by_role("alert")).to_have_text(
        "Dieser Passkey ist hier für kein Konto registriert (vielleicht wurde er entfernt)."
    )


def test_a_browser_without_webauthn_gets_the_password_form_and_no_passkey_button(provider, page):
    page.add_init_script("delete window.PublicKeyCredential;")
    page.goto(provider.url + "/login")
    expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Sign in with a passkey")).to_be_hidden()
    sign_in_with_password(page, provider.url + "/login")
    page.goto(provider.url + "/account")
    expect(page.get_by_text("This browser cannot create passkeys.")).to_be_visible()
    expect(page.get_by_role("button", name="Add a passkey")).to_be_hidden()


def test_on_an_ip_address_the_passkey_button_stays_hidden(provider, page):
    """WebAuthn refuses IP addresses as RP IDs: a provider reached as 127.0.0.1 offers no passkeys."""
    page.goto(provider.url.replace("localhost", "127.0.0.1") + "/login")
    expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Sign in with a passkey")).to_be_hidden()
    # Signed in there, the account page says why (the address), not that the browser lacks passkeys.
    page.locator("#username").fill("S1000001")
    page.locator("#password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(provider.url.replace("localhost", "127.0.0.1") + "/")  # signed in: the provider's home
    page.goto(provider.url.replace("localhost", "127.0.0.1") + "/account")
    expect(page.locator("[data-passkey-address]")).to_be_visible()
    expect(page.locator("[data-passkey-unsupported]")).to_be_hidden()


@pytest.mark.parametrize("lang", ["en", "de"])
def test_the_pages_with_passkeys_pass_axe(make_provider, chromium, axe_source, lang):
    """No serious or critical WCAG 2.2 A/AA violation where the passkey parts are shown."""
    provider = make_provider(mfa_required_roles="student", mfa_grace_days=0)
    context = chromium.new_context(locale=lang, extra_http_headers={"Accept-Language": lang}, bypass_csp=True)
    page = context.new_page()
    try:
        page.add_init_script(NO_AUTOFILL)
        Authenticator(page)
        rp = provider.create_client(name="Library")
        page.goto(rp.authorization_url())
        expect(page.locator("form[data-passkey=signin]")).to_be_visible()
        check(page, axe_source, f"passkey-login-{lang}")
        page.locator("#username").fill("S1000001")
        page.locator("#password").fill(PASSWORD)
        page.locator("form[action$='/login'] button[type=submit]").click()
        expect(page.locator("form[data-passkey=enrol]")).to_be_visible()
        check(page, axe_source, f"passkey-enrol-{lang}")
        page.locator("form[data-passkey=enrol] button[type=submit]").click()
        page.locator(".actions a").click()
        page.goto(provider.url + "/account")
        expect(page.locator("form[data-passkey=account]")).to_be_visible()
        check(page, axe_source, f"passkey-account-{lang}")
        page.goto(rp.authorization_url(prompt="login"))
        page.locator("#username").fill("S1000001")
        page.locator("#password").fill(PASSWORD)
        page.locator("form[action$='/login'] button[type=submit]").click()
        expect(page.locator("form[data-passkey=second_factor]")).to_be_visible()
        check(page, axe_source, f"passkey-second-step-{lang}")
    finally:
        context.close()


def test_a_disabled_accounts_passkey_does_not_sign_in(provider, page):
    page.add_init_script(NO_AUTOFILL)
    Authenticator(page)
    passkey_on_account(provider, page)
    update_user(provider, active=False)
    page.context.clear_cookies()
    page.goto(provider.url + "/login")
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page.get_by_role("alert")).to_have_text("This account is disabled. Contact the service desk.")
    assert events(provider, audit.FACTOR_FAILED)[-1].details["reason"] == "disabled"
    assert not [c for c in page.context.cookies() if c["name"] == "idp_session"]
