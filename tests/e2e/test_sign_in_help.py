"""Help where the problem happens: what to check after "Invalid credentials", the registration
number in any case and with stray spaces, cookies refused, an old tab, the throttle's wait, the
/help page with the institution's contact details, and branding from settings."""

from __future__ import annotations

import html
import re

from tests.support.helpers import PASSWORD, parse_form

CHECK_LINE = "Caps Lock is off: passwords are case-sensitive"


def sign_in(browser, username="S1000001", password=PASSWORD, headers=None):
    page = browser.get("/login", headers=headers)
    form = parse_form(page.text)
    form.update(username=username, password=password)
    return browser.post(form.pop("_action"), data=form, headers=headers)


def alert(response) -> str:
    block = re.search(
        r'<div role="alert" aria-live="assertive" class="alert-region" id="form-alert">(.*?)</div>', response.text, re.S
    ).group(1)
    return html.unescape(re.sub(r"\s+", " ", block))


def test_invalid_credentials_say_what_to_check_the_same_way_for_every_cause(provider):
    provider.create_user()
    provider.create_user(registration_number="S1000002", email="grace@example.edu", active=False)
    causes = {"S1000001": "wrong password", "S9999999": PASSWORD, "S1000002": PASSWORD}
    alerts = {alert(sign_in(provider.browser(), u, p)).replace(u, "<user>") for u, p in causes.items()}
    assert len(alerts) == 1
    text = alerts.pop()
    assert "Invalid credentials." in text and "registration number (for example S1234567)" in text
    assert CHECK_LINE in text and 'href="/password/forgot"' in text


def test_the_wrong_password_page_puts_the_focus_on_the_password(provider):
    provider.create_user()
    refused = sign_in(provider.browser(), password="nope")
    password_input = re.search(r'<input id="password"[^>]*>', refused.text, re.S).group(0)
    username_input = re.search(r'<input id="username"[^>]*>', refused.text, re.S).group(0)
    assert "autofocus" in password_input and "autofocus" not in username_input
    assert 'value="S1000001"' in username_input and 'aria-describedby="form-error"' in username_input


def test_registration_number_in_any_case_and_with_stray_spaces_signs_in(provider):
    provider.create_user()
    for typed in ("s1000001", "  S1000001 ", "\ts1000001\n", " ADA@Example.EDU "):
        response = sign_in(provider.browser(), username=typed)
        assert response.status_code == 302, typed


def test_cookies_refused_are_explained_with_what_to_do(provider):
    provider.create_user()
    browser = provider.browser()
    page = browser.get("/login")
    browser.http.cookies.clear()
    form = parse_form(page.text)
    response = browser.post(form.pop("_action"), data={**form, "username": "S1000001", "password": PASSWORD})
    assert response.status_code == 400
    text = alert(response)
    assert "Cookies are disabled in your browser" in text and "Allow cookies for this site" in text


def test_an_old_tab_gets_a_fresh_form_with_the_username_kept(provider):
    provider.create_user()
    browser = provider.browser()
    old = browser.get("/login")
    provider.clock.advance(3600)
    response = browser.submit_login(old, username="s1000001 ")
    assert response.status_code == 400
    assert "kept your username: enter your password again" in alert(response)
    assert 'value="s1000001 "' in response.text
    # One more click (with the password typed again) and the user is in.
    assert browser.submit_login(response, username="s1000001 ").status_code == 302


def test_throttled_text_names_the_wait_and_is_the_same_for_every_account(make_provider):
    provider = make_provider(throttle_account_free=1, throttle_delay_seconds=90)
    provider.create_user()
    texts = set()
    for username in ("S1000001", "S7777777"):
        sign_in(provider.browser(), username=username, password="wrong")
        blocked = sign_in(provider.browser(), username=username, password="wrong")
        assert blocked.status_code == 429
        texts.add(alert(blocked).replace(username, "<user>"))
    assert len(texts) == 1
    text = texts.pop()
    assert "Try again in 2 minutes." in text and "The wait is the same for every account" in text


def test_help_page_covers_the_problems_and_the_institutions_contact(make_provider):
    provider = make_provider(
        help_contact_name="IT-Servicedesk der Hochschule",
        help_contact_email="it@example.edu",
        help_contact_phone="+49 30 1234 5678",
        help_contact_hours="Mon–Fri 8:00–16:00",
    )
    page = provider.browser().get("/help")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    for heading in (
        "“Invalid credentials”",
        "Forgotten password",
        "“Session expired” or signed out at once",
        "“Too many attempts”",
        "Who to contact",
    ):
        assert f">{heading}</h2>" in page.text, heading
    assert "after 30 minutes without activity" in page.text  # IDP_SESSION_IDLE_SECONDS
    assert '<a href="mailto:it@example.edu">it@example.edu</a>' in page.text
    assert '<a href="tel:+493012345678">+49 30 1234 5678</a>' in page.text
    assert "IT-Servicedesk der Hochschule" in page.text and "Mon–Fri 8:00–16:00" in page.text
    german = provider.browser().get("/help", headers={"Accept-Language": "de"})
    assert "Nicht gefunden, was Sie suchen? Wir helfen Ihnen gerne!" in german.text


def test_help_page_leaves_out_contact_lines_that_are_not_configured(provider):
    page = provider.browser().get("/help")
    assert "IT service desk" in page.text and "mailto:" not in page.text and "tel:" not in page.text


def test_every_page_links_to_help(provider):
    for path in ("/", "/login", "/password/forgot", "/help"):
        assert '<a href="/help">Help with signing in</a>' in provider.browser().get(path).text, path


def test_branding_comes_from_settings(make_provider):
    provider = make_provider(
        brand_name="Hochschule Login", brand_logo_url="https://www.example.edu/logo.svg", brand_primary_color="#6a1b9a"
    )
    page = provider.browser().get("/login")
    assert "<title>Sign in – Hochschule Login</title>" in page.text
    assert '<img class="brand-logo" src="https://www.example.edu/logo.svg" alt="">' in page.text
    css = provider.browser().get("/brand.css")
    assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")
    assert css.text.strip() == ":root { --accent: #6a1b9a; }"


def test_comfort_script_is_a_file_the_csp_allows_and_the_page_works_without_it(provider):
    browser = provider.browser()
    page = browser.get("/login")
    assert '<script src="/static/idp.js" defer></script>' in page.text
    assert "script-src 'self';" in page.headers["Content-Security-Policy"]
    script = browser.get("/static/idp.js")
    assert script.status_code == 200 and "getModifierState" in script.text
    # Without the script the toggle stays hidden (it needs JS) and the form posts normally.
    assert re.search(r'<button type="button" class="toggle-password secondary"[^>]*\bhidden\b', page.text, re.S)
    assert re.search(r'<p class="capslock" id="password-capslock" aria-live="polite" hidden>', page.text)
