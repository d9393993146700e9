"""A pending sign-in belongs to the browser that started it, and its results to who made them.

The attack these tests replay (found in an outside attack run): Mallory signs in as herself, starts
``/authorize`` for a client that needs consent with her own PKCE challenge, posts "allow" on the
consent page without following the redirect, and sends ``/authorize/resume?interaction=<id>`` to a
victim. Before the fix the victim's browser got ``302 …/cb?code=…`` for the victim's account without
ever seeing a consent page, and Mallory redeemed the code with her verifier.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.support.helpers import CALLBACK, parse_form, query

MALLORY = dict(registration_number="S2000002", email="mallory@example.edu", name="Mallory Moe")
OTHER_BROWSER = "started in another browser"


@pytest.fixture
def people(provider):
    provider.create_user()  # the victim, S1000001
    provider.create_user(**MALLORY)
    return provider


def sign_in_directly(browser, username="S1000001"):
    """Sign in on the provider's own page (no relying party), as a user does on /account."""
    response = browser.submit_login(browser.get("/login"), username=username)
    assert response.status_code == 302 and urlsplit(response.headers["Location"]).path == "/"


def start(browser, rp, **params):
    """Open the authorization request; return the provider page it lands on."""
    page = browser.follow(browser.get(rp.authorization_url(**params)))
    assert page.status_code == 200, page.text[:300]
    return page


def consent_link_of_mallory(provider, rp, **params) -> str:
    """Mallory signs in, posts "allow", and keeps the resume link instead of following it."""
    mallory = provider.browser()
    page = start(mallory, rp, **params)
    page = mallory.follow(mallory.submit_login(page, username="S2000002"))
    assert "Allow" in page.text
    allowed = mallory.submit_consent(page)
    assert allowed.status_code == 302 and "/authorize/resume" in allowed.headers["Location"]
    return allowed.headers["Location"]


def assert_refused_here(response):
    assert response.status_code == 400
    assert OTHER_BROWSER in response.text
    assert "code=" not in response.headers.get("Location", "")


def test_a_consent_resume_link_gives_a_signed_in_victim_no_code(people):
    rp = people.create_client(trusted=False)
    link = consent_link_of_mallory(people, rp)
    victim = people.browser()
    sign_in_directly(victim)

    assert_refused_here(victim.get(link))


def test_a_consent_resume_link_gives_a_signed_out_victim_no_code_and_no_skipped_consent(people):
    rp = people.create_client(trusted=False)
    link = consent_link_of_mallory(people, rp)
    victim = people.browser()

    assert_refused_here(victim.get(link))


def test_the_browser_that_consented_continues_to_the_app(people):
    """The binding does not get in the way of the person who started it."""
    rp = people.create_client(trusted=False)
    mallory = people.browser()
    page = start(mallory, rp)
    page = mallory.follow(mallory.submit_login(page, username="S2000002"))
    done = mallory.follow(mallory.submit_consent(page))
    assert done.status_code == 302 and done.headers["Location"].startswith(CALLBACK)
    claims = rp.verify_id_token(rp.exchange(done.headers["Location"])["id_token"])
    assert claims["preferred_username"] == "S2000002"


def test_a_login_page_link_of_another_browser_is_refused(people):
    rp = people.create_client()
    mallory = people.browser()
    page = start(mallory, rp)
    login_url = mallory.last.url
    victim = people.browser()

    probe = victim.get(login_url)  # no cookie of the provider's yet: one is set, then looked for
    assert probe.status_code == 302 and probe.headers["Location"].endswith("&probe=1")
    shown = victim.follow(probe)
    assert shown.status_code == 400 and OTHER_BROWSER in shown.text
    assert 'name="interaction"' not in shown.text  # the form does not carry her request on

    # Posting her form from the victim's browser (her hidden interaction id) signs nobody in for it.
    form = parse_form(page.text)
    victim.get("/login")  # the victim's own CSRF cookie and token
    token = parse_form(victim.last.text)["csrf_token"]
    form.update(username="S1000001", password="correct horse battery staple", csrf_token=token)
    posted = victim.post(form.pop("_action"), data=form)
    assert_refused_here(posted)


def test_a_login_resume_link_of_another_browser_is_refused(people):
    """Mallory finishes the sign-in step of a trusted client and sends the resume link on."""
    rp = people.create_client()
    mallory = people.browser()
    page = start(mallory, rp)
    signed = mallory.submit_login(page, username="S2000002")
    assert "/authorize/resume" in signed.headers["Location"]
    victim = people.browser()
    sign_in_directly(victim)

    assert_refused_here(victim.get(signed.headers["Location"]))


@pytest.mark.parametrize("prompt", ["login", "select_account"])
def test_a_fresh_sign_in_by_one_user_does_not_count_for_the_next_user_of_the_browser(people, prompt):
    """A shared lab PC: Ada answers ``prompt=login``, signs out before the app gets its code, and
    Mallory signs in on the same browser. Ada's answer must not satisfy the prompt for Mallory."""
    rp = people.create_client()
    lab_pc = people.browser()
    page = start(lab_pc, rp, prompt=prompt)
    resume = lab_pc.submit_login(page).headers["Location"]
    lab_pc.post("/logout", data={"confirm": "yes", "csrf_token": parse_form(lab_pc.get("/logout").text)["csrf_token"]})
    sign_in_directly(lab_pc, username="S2000002")

    again = lab_pc.follow(lab_pc.get(resume))
    assert again.status_code == 200 and 'name="password"' in again.text  # asked to sign in, no code
    done = lab_pc.follow(lab_pc.submit_login(again, username="S2000002"))
    assert done.status_code == 302 and done.headers["Location"].startswith(CALLBACK)
    claims = rp.verify_id_token(rp.exchange(done.headers["Location"])["id_token"])
    assert claims["preferred_username"] == "S2000002"


def test_a_consent_given_by_one_user_is_not_taken_for_the_next_user_of_the_browser(people):
    rp = people.create_client(trusted=False)
    lab_pc = people.browser()
    page = start(lab_pc, rp, prompt="consent")
    page = lab_pc.follow(lab_pc.submit_login(page))
    resume = lab_pc.submit_consent(page).headers["Location"]
    lab_pc.post("/logout", data={"confirm": "yes", "csrf_token": parse_form(lab_pc.get("/logout").text)["csrf_token"]})
    sign_in_directly(lab_pc, username="S2000002")

    shown = lab_pc.follow(lab_pc.get(resume))
    assert shown.status_code == 200 and "Allow" in shown.text  # Mallory is asked herself
    assert "code" not in query(shown.url)


def test_a_consent_made_in_an_earlier_session_of_the_same_user_is_asked_again_for_prompt_consent(people):
    rp = people.create_client(trusted=False)
    browser = people.browser()
    page = start(browser, rp, prompt="consent")
    page = browser.follow(browser.submit_login(page))
    resume = browser.submit_consent(page).headers["Location"]
    browser.post(
        "/logout", data={"confirm": "yes", "csrf_token": parse_form(browser.get("/logout").text)["csrf_token"]}
    )
    sign_in_directly(browser)

    shown = browser.follow(browser.get(resume))
    assert shown.status_code == 200 and "Allow" in shown.text


def test_the_binding_cookie_is_httponly_and_samesite_lax(people):
    rp = people.create_client()
    browser = people.browser()
    response = browser.get(rp.authorization_url())
    cookie = next(c for c in response.raw.headers.getlist("Set-Cookie") if c.startswith("idp_browser="))
    lowered = cookie.lower()
    assert "httponly" in lowered and "samesite=lax" in lowered and "path=/" in lowered
