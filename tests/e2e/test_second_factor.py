"""Second factors through the pages and a relying party (issue 19): an authenticator app enrolled on
the account page, asked after the password, with skew, replay and its own throttle on the test's
clock; recovery codes; step-up of a session in place for ``acr_values``; the per-role policy with its
grace; a password reset that leaves the second step in place; acr/amr in what apps receive."""

from __future__ import annotations

import re
from urllib.parse import urljoin

import pytest
import requests

from idp.domain.factors.policy import MFA_ACR, PWD_ACR
from idp.storage.sql import users
from tests.support.factors import code, enrol_totp, form, recovery_codes, shown_secret, submit_code
from tests.support.helpers import CALLBACK, PASSWORD, parse_form, query, stored_user

pytestmark = pytest.mark.usefixtures("clean_database")


def password_sign_in(browser, username="S1000001", password=PASSWORD):
    page = browser.get("/login")
    fields = parse_form(page.text)
    fields.update(username=username, password=password)
    return browser.post(fields.pop("_action"), data=fields)


def signed_in_with_totp(provider, browser=None):
    """A user with an authenticator app (enrolled from a password session); the key and the codes."""
    provider.create_user()
    browser = browser or provider.browser()
    assert password_sign_in(browser).status_code == 302
    secret, codes = enrol_totp(browser, provider.clock.now())
    provider.clock.advance(90)  # the enrolment spent its step; these are steps no code was used in
    return secret, codes


def app_sign_in_until_second_step(provider, rp, browser, **params):
    """The code flow up to the second-factor page (the password typed on the way)."""
    page = browser.follow(browser.get(rp.authorization_url(**params)))
    if "/login" in page.url and 'name="password"' in page.text:
        page = browser.follow(browser.submit_login(page))
    assert "/login/second-factor" in page.url, page.url
    return page


def test_enrolment_on_the_account_page_shows_a_qr_code_and_ten_recovery_codes_once(provider):
    provider.create_user()
    browser = provider.browser()
    password_sign_in(browser)
    page = browser.get("/account/factors/add")
    assert "<svg" in page.text and 'src="http' not in page.text  # inline SVG, no third-party QR service
    secret = shown_secret(page.text)
    fields = form(page.text, "/account/factors/totp")
    action = fields.pop("_action")

    wrong = browser.post(
        action,
        data={
            **fields,
            "code": "000000" if code(secret, provider.clock.now()) != "000000" else "111111",
            "name": "Phone",
        },
    )
    assert wrong.status_code == 400 and "That code does not match" in wrong.text
    assert shown_secret(wrong.text) == secret  # the same key, to try again without rescanning

    done = browser.post(action, data={**fields, "code": code(secret, provider.clock.now()), "name": "Pixel 8"})
    codes = recovery_codes(done.text)
    assert len(codes) == 10 and len(set(codes)) == 10
    account = browser.get("/account")
    assert "Pixel 8" in account.text and "10 unused recovery codes left" in account.text
    assert not any(c in account.text for c in codes)  # shown once only
    assert [e.details["factor"] for e in provider.audit_events("factor.enrolled")] == ["totp"]
    assert "Sign-in method added" in account.text  # the user's own "Recent activity"


def test_the_secret_is_stored_sealed_not_in_clear(provider):
    secret, _codes = signed_in_with_totp(provider)
    from idp.storage.sql.models import Factor

    with provider.transaction() as db:
        stored = db.query(Factor).one().secret
    assert secret not in stored and stored.startswith("v1.")


def test_a_relying_party_gets_pwd_otp_mfa_after_password_and_code(provider):
    secret, _codes = signed_in_with_totp(provider)
    rp, browser = provider.create_client(), provider.browser()
    page = app_sign_in_until_second_step(provider, rp, browser)
    assert "Second step" in page.text and "Test RP" in page.text

    wrong = submit_code(browser, page, "123456" if code(secret, provider.clock.now()) != "123456" else "654321")
    assert wrong.status_code == 401 and "That code is not correct" in wrong.text

    callback = browser.follow(submit_code(browser, wrong, code(secret, provider.clock.now())))
    assert callback.headers["Location"].startswith(CALLBACK)
    tokens = rp.exchange(callback.headers["Location"])
    claims = rp.verify_id_token(tokens["id_token"])
    assert claims["amr"] == ["pwd", "otp", "mfa"] and claims["acr"] == MFA_ACR


def test_no_session_exists_until_the_second_factor_is_shown(provider):
    signed_in_with_totp(provider)
    browser = provider.browser()
    response = password_sign_in(browser)
    assert "/login/second-factor" in response.headers["Location"]
    assert not any("idp_session" in c.name for c in browser.http.cookies)
    assert "You are signed in as" not in browser.get("/").text
    # The pending sign-in belongs to this browser: its address is worth nothing in another one.
    other = provider.browser()
    stolen = other.get(urljoin(provider.url, response.headers["Location"]))
    assert stolen.status_code == 400 and "Sign in again with your password" in stolen.text


def test_codes_within_one_step_of_skew_pass_and_further_ones_do_not(provider):
    secret, _codes = signed_in_with_totp(provider)
    now = provider.clock.now()
    browser = provider.browser()
    page = browser.follow(password_sign_in(browser))
    too_old = submit_code(browser, page, code(secret, now, steps=-2))
    assert too_old.status_code == 401
    too_new = submit_code(browser, too_old, code(secret, now, steps=2))
    assert too_new.status_code == 401
    late_phone = submit_code(browser, too_new, code(secret, now, steps=-1))
    assert late_phone.status_code == 303  # a phone clock up to 30 s behind still works


def test_a_code_is_refused_a_second_time_even_within_its_step(provider):
    secret, _codes = signed_in_with_totp(provider)
    value = code(secret, provider.clock.now())
    first = provider.browser()
    assert submit_code(first, first.follow(password_sign_in(first)), value).status_code == 303
    second = provider.browser()
    page = second.follow(password_sign_in(second))
    replay = submit_code(second, page, value)
    assert replay.status_code == 401
    provider.clock.advance(30)
    assert submit_code(second, replay, code(secret, provider.clock.now())).status_code == 303


def test_wrong_codes_are_throttled_on_their_own_allowance(make_provider):
    provider = make_provider(throttle_account_free=3)
    secret, _codes = signed_in_with_totp(provider)
    browser = provider.browser()
    page = browser.follow(password_sign_in(browser))
    bad = "000000" if code(secret, provider.clock.now()) != "000000" else "999999"
    statuses = []
    for _ in range(5):
        page = submit_code(browser, page, bad)
        statuses.append(page.status_code)
    assert statuses[:3] == [401, 401, 401] and 429 in statuses[3:]
    assert "Retry-After" in page.headers
    # Even the right code waits now; the password's allowance was not spent by the code guesses.
    assert submit_code(browser, page, code(secret, provider.clock.now())).status_code == 429
    fresh = provider.browser()
    assert "/login/second-factor" in password_sign_in(fresh).headers["Location"]
    throttled = provider.audit_events("factor.failed")
    assert any(e.details.get("reason") == "throttled" for e in throttled)


def test_a_recovery_code_works_once(provider):
    _secret, codes = signed_in_with_totp(provider)
    browser = provider.browser()
    page = browser.follow(password_sign_in(browser))
    recovery_page = browser.get(page.url + "&method=recovery")
    assert "Recovery code" in recovery_page.text
    used = submit_code(browser, recovery_page, codes[0].upper().replace("-", " "), method="recovery")
    assert used.status_code == 303
    again = provider.browser()
    page = again.follow(password_sign_in(again))
    refused = submit_code(again, page, codes[0], method="recovery")
    assert refused.status_code == 401 and "recovery code is not correct" in refused.text
    assert [e.details["codes_left"] for e in provider.audit_events("mfa.recovery_code_used")] == [9]


def test_a_session_made_with_one_factor_is_stepped_up_in_place_for_acr_values(provider):
    provider.create_user()
    rp, browser = provider.create_client(), provider.browser()
    first = rp.exchange(rp.sign_in(browser))
    claims = rp.verify_id_token(first["id_token"])
    assert claims["amr"] == ["pwd"] and claims["acr"] == PWD_ACR
    # The app asks for a second factor; the user has none yet: set one up, no password asked.
    page = browser.follow(browser.get(rp.authorization_url(acr_values=MFA_ACR)))
    assert "/login/second-factor" in page.url and "Set up a second step" in page.text
    assert 'name="password"' not in page.text
    secret = shown_secret(page.text)
    fields = form(page.text, "/login/second-factor/enrol")
    action = fields.pop("_action")
    codes_page = browser.post(action, data={**fields, "code": code(secret, provider.clock.now()), "name": "Phone"})
    assert len(recovery_codes(codes_page.text)) == 10
    next_url = parse_form_link(codes_page.text)
    callback = browser.follow(browser.get(next_url))
    second = rp.exchange(callback.headers["Location"])
    stepped = rp.verify_id_token(second["id_token"])
    assert stepped["amr"] == ["pwd", "otp", "mfa"] and stepped["acr"] == MFA_ACR
    assert stepped["sid"] == claims["sid"]  # the same session, stepped up
    assert stepped["auth_time"] == claims["auth_time"]  # the password was not asked again


def parse_form_link(page_html: str) -> str:
    return re.search(r'<a class="button" href="([^"]+)"', page_html).group(1).replace("&amp;", "&")


def test_step_up_asks_the_existing_factor_and_max_age_bounds_it(provider):
    secret, _codes = signed_in_with_totp(provider)
    rp, browser = provider.create_client(), provider.browser()
    page = app_sign_in_until_second_step(provider, rp, browser)
    callback = browser.follow(submit_code(browser, page, code(secret, provider.clock.now())))
    rp.exchange(callback.headers["Location"])
    # Within max_age: the session's second factor counts, no page.
    quiet = browser.follow(browser.get(rp.authorization_url(acr_values=MFA_ACR, max_age="600")))
    assert quiet.headers["Location"].startswith(CALLBACK)
    # Later than max_age: signed in again (the password too: auth_time is older than max_age).
    provider.clock.advance(900)
    again = browser.follow(browser.get(rp.authorization_url(acr_values=MFA_ACR, max_age="600")))
    assert 'name="password"' in again.text


def test_prompt_none_with_a_second_factor_missing_is_interaction_required(provider):
    provider.create_user()
    rp, browser = provider.create_client(), provider.browser()
    rp.exchange(rp.sign_in(browser))
    response = browser.follow(browser.get(rp.authorization_url(acr_values=MFA_ACR, prompt="none")))
    assert query(response.headers["Location"])["error"] == "interaction_required"


def test_discovery_lists_the_acr_values(provider):
    meta = requests.get(provider.url + "/.well-known/openid-configuration", timeout=5).json()
    assert meta["acr_values_supported"] == [PWD_ACR, MFA_ACR]
    assert "acr" in meta["claims_supported"]


def test_introspection_reports_acr_and_amr(provider):
    secret, _codes = signed_in_with_totp(provider)
    rp = provider.create_client(trusted=True)
    browser = provider.browser()
    page = app_sign_in_until_second_step(provider, rp, browser)
    callback = browser.follow(submit_code(browser, page, code(secret, provider.clock.now())))
    tokens = rp.exchange(callback.headers["Location"])
    found = requests.post(
        provider.url + "/introspect",
        data={"token": tokens["access_token"]},
        auth=(rp.client_id, rp.client_secret),
        timeout=5,
    ).json()
    assert found["active"] and found["acr"] == MFA_ACR and found["amr"] == ["pwd", "otp", "mfa"]


def test_grace_sign_ins_are_counted_then_enrolment_is_forced(make_provider):
    provider = make_provider(mfa_required_roles="employee", mfa_grace_signins=2)
    provider.create_user(registration_number="E1000001", email="grace@example.edu", role="employee")
    rp = provider.create_client()

    def sign_in_once():
        browser = provider.browser()
        page = browser.follow(browser.get(rp.authorization_url()))
        return browser, browser.follow(browser.submit_login(page, username="E1000001"))

    browser, page = sign_in_once()
    assert "You can sign in without it 1 more time" in page.text
    later = re.search(r'href="(/login/second-factor/continue[^"]*)"', page.text).group(1)
    callback = browser.follow(browser.get(later.replace("&amp;", "&")))
    assert callback.headers["Location"].startswith(CALLBACK)

    _browser, page = sign_in_once()
    assert "This was your last sign-in without it" in page.text

    browser, page = sign_in_once()  # the grace is over: set it up before any code is issued
    assert "Set up a second step" in page.text and "must be protected" in page.text
    assert not any(CALLBACK in (r.headers.get("Location") or "") for r in [page])
    secret = shown_secret(page.text)
    fields = form(page.text, "/login/second-factor/enrol")
    action = fields.pop("_action")
    codes_page = browser.post(action, data={**fields, "code": code(secret, provider.clock.now()), "name": "Phone"})
    callback = browser.follow(browser.get(parse_form_link(codes_page.text)))
    tokens = rp.exchange(callback.headers["Location"])
    assert rp.verify_id_token(tokens["id_token"])["amr"] == ["pwd", "otp", "mfa"]
    assert stored_user(provider, "E1000001").mfa_enrol_required is False


def test_grace_days_end_the_grace_too(make_provider):
    provider = make_provider(mfa_required_roles="employee", mfa_grace_days=3, mfa_grace_signins=100)
    provider.create_user(registration_number="E1000001", email="grace@example.edu", role="employee")
    browser = provider.browser()
    assert "/login/second-factor/later" in password_sign_in(browser, "E1000001").headers["Location"]
    provider.clock.advance(3 * 86400 + 1)
    forced = provider.browser()
    assert "/login/second-factor?" in password_sign_in(forced, "E1000001").headers["Location"]


def remove_first_factor(browser):
    removal = form(browser.get("/account").text, "/account/factors/remove")
    return browser.post(removal.pop("_action"), data=removal)


def test_the_last_factor_cannot_be_removed_while_policy_requires_one(make_provider):
    provider = make_provider(mfa_required_roles="student")
    provider.create_user()
    browser = provider.browser()
    assert "/login/second-factor/later" in password_sign_in(browser).headers["Location"]  # in its grace
    enrol_totp(browser, provider.clock.now())
    refused = remove_first_factor(browser)
    assert refused.status_code == 400 and "last second factor" in refused.text
    assert provider.audit_events("factor.removed") == []


def test_removing_the_factor_when_not_required_ends_the_second_step(provider):
    browser = provider.browser()
    signed_in_with_totp(provider, browser)
    removed = remove_first_factor(browser)
    assert removed.status_code == 303 and "done=factor_removed" in removed.headers["Location"]
    assert "No second step yet" in browser.get("/account").text
    assert password_sign_in(provider.browser()).headers["Location"].endswith("/")  # straight in
    assert [e.details["factor"] for e in provider.audit_events("factor.removed")] == ["totp"]


def test_a_password_reset_leaves_the_second_step_in_place(provider):
    signed_in_with_totp(provider)
    with provider.transaction() as db:
        user = users.get_user_by_login(db, "S1000001")
        link = provider.accounts(db).issue_link(user)
    browser = provider.browser()
    page = browser.get(link)
    fields = parse_form(page.text)
    fields.update(password="a brand new passphrase 2026", confirm="a brand new passphrase 2026")
    assert browser.post(fields.pop("_action"), data=fields).status_code in (302, 303)
    after = password_sign_in(provider.browser(), password="a brand new passphrase 2026")
    assert "/login/second-factor" in after.headers["Location"]  # ASVS 6.4.3: the reset skips nothing


def mfa_count(provider, factor: str, outcome: str) -> float:
    """``idp_mfa_events_total`` as an operator's scrape shows it (the counters live for the process)."""
    metrics = requests.get(provider.url + "/metrics", timeout=5).text
    found = re.search(rf'^idp_mfa_events_total{{factor="{factor}",outcome="{outcome}"}} (\S+)$', metrics, re.M)
    return float(found.group(1)) if found else 0.0


def test_the_user_sees_the_second_steps_in_recent_activity_and_operators_count_them(make_provider):
    provider = make_provider(metrics_networks=("127.0.0.1/32",))
    browser = provider.browser()
    secret, _codes = signed_in_with_totp(provider, browser)
    used, failed = mfa_count(provider, "totp", "used"), mfa_count(provider, "code", "failed")
    other = provider.browser()
    page = other.follow(password_sign_in(other))
    page = submit_code(other, page, "000000" if code(secret, provider.clock.now()) != "000000" else "111111")
    submit_code(other, page, code(secret, provider.clock.now()))
    activity = browser.get("/account").text.split('id="activity-h"')[1]
    for label in (
        "Sign-in method added",
        "Password correct, second step asked",
        "Wrong code or refused passkey",
        "Second step of sign-in completed",
    ):
        assert label in activity, label
    events = provider.audit_events("factor.used")
    assert events and events[0].ip == "127.0.0.1"
    assert mfa_count(provider, "totp", "used") == used + 1
    assert mfa_count(provider, "code", "failed") == failed + 1


def test_the_counters_only_move_forward_once_when_two_uses_race(provider):
    """The conditional UPDATEs behind replay and clone checks, on the real database: of two uses that
    read the same state, one wins (a TOTP step, a passkey's signature counter)."""
    from idp.storage.sql import factors as factor_repo
    from idp.storage.sql.models import Factor

    provider.create_user()
    with provider.transaction() as db:
        user = users.get_user_by_login(db, "S1000001")
        db.add(
            Factor(id="f-pk", user_id=user.id, kind="passkey", name="Key", created_at=0, sign_count=4, transports=[])
        )
        db.add(Factor(id="f-totp", user_id=user.id, kind="totp", name="App", created_at=0, last_step=9, transports=[]))
    with provider.transaction() as db:
        assert factor_repo.advance_sign_count(db, "f-pk", 4, 5, 1.0, False)
        assert not factor_repo.advance_sign_count(db, "f-pk", 4, 5, 1.0, False)  # the loser of the race
        assert factor_repo.advance_step(db, "f-totp", 10, 1.0)
        assert not factor_repo.advance_step(db, "f-totp", 10, 1.0)
        assert not factor_repo.advance_step(db, "f-totp", 8, 1.0)


def test_changing_sign_in_methods_needs_a_recent_sign_in(provider):
    """A session taken over later must not add an app the owner then lacks, nor remove one."""
    browser = provider.browser()
    signed_in_with_totp(provider, browser)
    provider.clock.advance(1000)  # still signed in (idle limit 1800 s), but not recently
    page = browser.get("/account/factors/add")
    assert page.status_code == 403 and "needs a recent sign-in" in page.text and "<svg" not in page.text
    removal = form(browser.get("/account").text, "/account/factors/remove")
    refused = browser.post(removal.pop("_action"), data=removal)
    assert refused.status_code == 403 and provider.audit_events("factor.removed") == []


def test_a_second_step_left_too_long_leads_back_to_the_apps_sign_in(provider):
    signed_in_with_totp(provider)
    rp, browser = provider.create_client(), provider.browser()
    page = app_sign_in_until_second_step(provider, rp, browser)
    provider.clock.advance(provider.deps.settings.sessions.interaction_seconds + 1)
    gone = submit_code(browser, page, "123456")
    assert gone.status_code == 400 and "Sign in again with your password" in gone.text
    again = re.search(r'<a class="button" href="([^"]+)">Continue to Test RP', gone.text)
    assert again, gone.text[:500]
    assert 'name="password"' in browser.get(again.group(1).replace("&amp;", "&")).text


def test_after_a_helpdesk_reset_the_next_sign_in_sets_up_a_new_factor_first(provider):
    """``reset-mfa``: the factors go, and the next sign-in (a student: no role policy, no grace) must
    enrol a new one before any session or code exists."""
    signed_in_with_totp(provider)
    with provider.transaction() as db:
        user = users.get_user_by_login(db, "S1000001")
        assert provider.factors(db).reset(user, "lost phone, identity checked (ticket 4711)") == 1
    rp, browser = provider.create_client(), provider.browser()
    page = browser.follow(browser.get(rp.authorization_url()))
    page = browser.follow(browser.submit_login(page))
    assert "Set up a second step" in page.text and "must be protected" in page.text
    assert not any("idp_session" in c.name for c in browser.http.cookies)
    [reset] = provider.audit_events("mfa.reset")
    assert reset.details["reason"].startswith("lost phone") and reset.details["factors_removed"] == 1
