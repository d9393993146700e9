"""The second-factor pages in German (issue 19): enrolment with its QR code, the recovery codes, the
second step with each method, the grace notice and the account page's "Sign-in methods", searched for
any English sentence of the catalogue (``test_german_pages``)."""

from __future__ import annotations

from tests.http.test_german_pages import GERMAN, _german, visible_text
from tests.support.factors import code, form, shown_secret
from tests.support.helpers import PASSWORD, parse_form


def form_fields(page: str, action_part: str) -> tuple[str, dict]:
    fields = form(page, action_part)
    return fields.pop("_action"), fields


def password(http, username: str):
    login = http.get("/login", headers=GERMAN)
    fields = parse_form(login.text)
    fields.update(username=username, password=PASSWORD)
    return http.post(fields.pop("_action"), data=fields, headers=GERMAN)


def test_enrolment_second_step_and_account_are_german(make_provider):
    provider = make_provider(mfa_required_roles="employee", mfa_grace_signins=2)
    provider.create_user(registration_number="E1000001", email="e@example.edu", role="employee")
    http = provider.app.test_client()

    grace = http.get(password(http, "E1000001").headers["Location"], headers=GERMAN)
    assert "Sie können sich noch 1 Mal ohne ihn anmelden" in _german(grace)

    add = _german(http.get("/account/factors/add", headers=GERMAN))
    assert "Authenticator-App" in add and "QR-Code" in add
    action, fields = form_fields(add, "/account/factors/totp")
    wrong = http.post(action, data={**fields, "code": "12345", "name": "Telefon"}, headers=GERMAN)
    assert "Dieser Code passt nicht" in _german(wrong, 400)
    secret = shown_secret(add)
    codes = http.post(
        action, data={**fields, "code": code(secret, provider.clock.now()), "name": "Telefon"}, headers=GERMAN
    )
    assert "Ihre Wiederherstellungscodes" in _german(codes)
    account = _german(http.get("/account", headers=GERMAN))
    assert "Anmeldemethoden" in account and "10 unbenutzte Wiederherstellungscodes" in account
    assert "Telefon" in visible_text(account)

    provider.clock.advance(90)
    other = provider.app.test_client()
    step = other.get(password(other, "E1000001").headers["Location"], headers=GERMAN)
    assert "Zweiter Schritt" in _german(step)
    action, fields = form_fields(step.text, "/login/second-factor")
    wrong_code = "000000" if code(secret, provider.clock.now()) != "000000" else "111111"
    refused = other.post(action, data={**fields, "code": wrong_code}, headers=GERMAN)
    assert "Dieser Code ist nicht richtig" in _german(refused, 401)
    recovery = other.get(
        step.request.path + "?" + step.request.query_string.decode() + "&method=recovery", headers=GERMAN
    )
    assert "Wiederherstellungscode" in _german(recovery)


def test_the_forced_enrolment_and_help_are_german(make_provider):
    provider = make_provider(mfa_required_roles="employee", mfa_grace_days=0)
    provider.create_user(registration_number="E1000001", email="e@example.edu", role="employee")
    http = provider.app.test_client()
    forced = http.get(password(http, "E1000001").headers["Location"], headers=GERMAN)
    assert "Zweiten Anmeldeschritt einrichten" in _german(forced)
    help_page = _german(http.get("/help", headers=GERMAN))
    assert "Smartphone oder Sicherheitsschlüssel verloren" in help_page
    gone = http.get("/login/second-factor?pending=nothing", headers=GERMAN)
    assert "Diese Anmeldung hat zu lange gedauert" in _german(gone, 400)
