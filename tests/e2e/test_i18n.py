"""Languages on the pages: the language is chosen by the relying party's ui_locales, then the user's
choice (cookie), then Accept-Language; dates follow the reader's locale in IDP_TIME_ZONE; discovery
names the languages (the catalogue itself is checked in tests/unit/test_i18n_catalogue.py)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from idp.http import i18n
from tests.support.helpers import PASSWORD, parse_form

GERMAN = i18n.TRANSLATIONS / "de" / "LC_MESSAGES" / "messages.po"


# -- choosing the language --------------------------------------------------------------------


def lang_of(response) -> str:
    return re.search(r'<html lang="([a-z]+)">', response.text).group(1)


def test_english_by_default_and_german_by_accept_language(provider):
    english = provider.browser().get("/login")
    assert lang_of(english) == "en" and "<h1>Sign in</h1>" in english.text
    german = provider.browser().get("/login", headers={"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"})
    assert lang_of(german) == "de"
    assert "<h1>Anmelden</h1>" in german.text and "Matrikel-/Personalnummer oder E-Mail" in german.text
    assert provider.browser().get("/login", headers={"Accept-Language": "fr, it"}).text.count("<h1>Sign in</h1>")


def test_ui_locales_of_the_authorization_request_wins_over_the_browser(provider):
    rp = provider.create_client()
    browser = provider.browser()
    accept = {"Accept-Language": "en"}
    page = browser.follow(
        browser.get(rp.authorization_url(ui_locales="fr-CA de-AT en"), headers=accept), stop_at="never"
    )
    assert lang_of(page) == "de" and "um mit <strong>Test RP</strong> fortzufahren" in page.text
    # The form post carries the interaction: the wrong-password page stays German too.
    refused = browser.submit_login(page, password="wrong")
    assert refused.status_code == 401 and lang_of(refused) == "de"
    assert "Ungültige Anmeldedaten." in refused.text


def test_the_language_switch_is_remembered_and_overrides_ui_locales(provider):
    provider.create_user()
    rp = provider.create_client()
    browser = provider.browser()
    page = browser.follow(browser.get(rp.authorization_url(ui_locales="de")), stop_at="never")
    assert lang_of(page) == "de"
    switch = re.search(r'<a href="([^"]+)" lang="en" hreflang="en">English</a>', page.text).group(1)
    back = browser.get(switch.replace("&amp;", "&"))
    assert back.status_code == 303 and back.headers["Location"].startswith("/login?interaction=")
    cookie = [h for h in back.raw.headers.getlist("Set-Cookie") if h.startswith("idp_lang=")]
    assert cookie and "HttpOnly" in cookie[0] and "SameSite=Lax" in cookie[0]
    again = browser.get(back.headers["Location"])
    assert lang_of(again) == "en" and "to continue to <strong>Test RP</strong>" in again.text
    # Remembered for later pages without an authorization request, whatever the browser prefers.
    assert lang_of(browser.get("/help", headers={"Accept-Language": "de"})) == "en"


def test_the_language_switch_only_redirects_on_this_server(provider):
    browser = provider.browser()
    # The TAB case was an open redirect: browsers drop the tab and go to //evil.example.
    for target in (
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
        "/\t/evil.example",
        "/\n/evil.example",
        "/ /evil.example",
        "/.//evil.example",
    ):
        response = browser.get("/language", params={"lang": "de", "next": target})
        assert response.status_code == 303 and response.headers["Location"] == "/", target
    unknown = browser.get("/language", params={"lang": "xx", "next": "/help"})
    assert unknown.headers["Location"] == "/help" and "idp_lang" not in unknown.headers.get("Set-Cookie", "")


def test_the_language_switch_judges_next_as_a_browser_reads_it(provider):
    """Browsers drop tabs and newlines from a URL and read '\\' as '/': "/<TAB>/evil.example" was
    sent on as "//evil.example", another host."""
    browser = provider.browser()
    for target in (
        "/\t/evil.example",
        "/\n/evil.example",
        "\t//evil.example",
        "/ /evil.example",
        "/%5C%5Cevil.example\\",
        "/é",
    ):
        response = browser.get("/language", params={"lang": "de", "next": target})
        assert response.status_code == 303 and response.headers["Location"] == "/", repr(target)
    kept = browser.get("/language", params={"lang": "de", "next": "/login?interaction=abc-_~.%20x"})
    assert kept.headers["Location"] == "/login?interaction=abc-_~.%20x"


def test_every_page_offers_the_other_language(provider):
    browser = provider.browser()
    for path in ("/", "/login", "/help", "/password/forgot", "/password/reset?token=nope", "/password/no-such-page"):
        text = browser.get(path).text
        assert 'hreflang="de">Deutsch</a>' in text and 'aria-current="true" lang="en">English' in text, path


def test_a_switch_after_a_form_post_returns_to_the_same_page(provider):
    browser = provider.browser()
    page = browser.get("/password/forgot")
    form = parse_form(page.text)
    refused = browser.post(form.pop("_action"), data={**form, "username": ""})
    switch = re.search(r'<a href="([^"]+)" lang="de"', refused.text).group(1).replace("&amp;", "&")
    assert browser.get(switch).headers["Location"] == "/password/forgot"


def test_throttle_wait_is_translated_with_plural(provider):
    from idp.core.errors import TooManyAttempts
    from idp.http.errors import describe

    with provider.app.test_request_context("/login", headers={"Accept-Language": "de"}):
        assert describe(TooManyAttempts(60)).text() == "Zu viele Versuche. Versuchen Sie es in 1 Minute erneut."
        assert describe(TooManyAttempts(121)).text() == "Zu viele Versuche. Versuchen Sie es in 3 Minuten erneut."


def test_discovery_lists_the_page_languages(provider):
    metadata = provider.browser().get("/.well-known/openid-configuration").json()
    assert metadata["ui_locales_supported"] == ["en", "de"]


# -- dates and times --------------------------------------------------------------------------


def test_dates_are_shown_in_the_readers_locale_and_the_configured_time_zone(provider):
    moment = datetime(2026, 7, 1, 10, 30, tzinfo=UTC).timestamp()  # 12:30 in Berlin (CEST)
    with provider.app.test_request_context("/", headers={"Accept-Language": "de"}):
        assert i18n.when(moment) == "01.07.2026, 12:30:00 MESZ"
    with provider.app.test_request_context("/", headers={"Accept-Language": "en"}):
        assert i18n.when(moment) == "Jul 1, 2026, 12:30:00\u202fPM CEST"


def test_time_zone_setting_moves_the_dates(make_provider):
    provider = make_provider(time_zone="America/New_York")
    moment = datetime(2026, 1, 15, 15, 0, tzinfo=UTC).timestamp()
    with provider.app.test_request_context("/", headers={"Accept-Language": "en"}):
        assert i18n.when(moment, "short") == "1/15/26, 10:00\u202fAM EST"


def test_a_zone_without_a_letter_abbreviation_is_named_in_full(make_provider):
    provider = make_provider(time_zone="Asia/Dubai")  # tzname() is "+04"
    moment = datetime(2026, 1, 15, 15, 0, tzinfo=UTC).timestamp()
    with provider.app.test_request_context("/", headers={"Accept-Language": "en"}):
        assert i18n.when(moment, "short") == "1/15/26, 7:00\u202fPM (Asia/Dubai)"


def test_account_page_in_german_shows_german_dates(provider):
    provider.create_user()
    browser = provider.browser()
    headers = {"Accept-Language": "de"}
    page = browser.get("/login", headers=headers)
    signed_in = browser.submit_login(page)
    assert signed_in.status_code == 302
    account = browser.get("/account", headers=headers)
    assert "<h1>Ihr Konto</h1>" in account.text and "(dieser Browser)" in account.text
    assert re.search(r"angemeldet \d\d\.\d\d\.\d{4}, \d\d:\d\d:\d\d", account.text), account.text
    assert PASSWORD not in account.text


# -- mail -------------------------------------------------------------------------------------


def test_mail_comes_from_the_same_catalogues_with_local_time(provider):
    from idp.http import mail as notifications

    moment = datetime(2026, 12, 24, 17, 5, tzinfo=UTC).timestamp()  # 18:05 in Berlin (CET)
    with provider.app.app_context():
        subject, text, html = notifications.compose(
            "changed",
            "de",
            changed_at=moment,
            signed_out=True,
            name="Ada <Lovelace>",
            registration_number="S1000001",
            forgot_link="https://login.example.edu/password/forgot",
        )
        assert subject == "Ihr SPOM-Login-Passwort wurde geändert"
        assert "wurde am 24. Dezember 2026, 18:05:00 MEZ geändert." in text
        assert "Hallo Ada <Lovelace>," in text and "Hallo Ada &lt;Lovelace&gt;," in html
        assert '<html lang="de">' in html
        subject, text, _ = notifications.compose(
            "changed",
            "fr",
            changed_at=moment,
            signed_out=False,
            name="Ada",
            registration_number="S1000001",
            forgot_link="x",
        )
        assert subject == "Your SPOM Login password was changed" and "December 24, 2026" in text
        assert "signed out of every application" not in text


def test_password_strength_hint_in_german(provider):
    from idp.domain.password_policy import strength
    from idp.http.i18n import translate

    with provider.app.test_request_context("/", headers={"Accept-Language": "de"}):
        hint = strength("password1")
        label, suggestions = translate(hint["label"]), [translate(s) for s in hint["suggestions"]]
    assert label == "sehr schwach"
    assert suggestions == [
        "Dies ist ein sehr häufiges Passwort.",
        "Fügen Sie ein oder zwei Wörter hinzu. Ungewöhnliche Wörter sind besser.",
    ]
