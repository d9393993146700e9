"""The language a user chose outlasts the sign-in page (issue 18): the ``idp_lang`` cookie keeps it
for /help and /account, the account stores it (``users.locale``) for its pages in other browsers
and for every mail, and relying parties read it as the ``locale`` claim of the ``profile`` scope."""

from __future__ import annotations

import re

import requests

from tests.support.helpers import PASSWORD, bearer, stored_user, update_user
from tests.support.mailserver import link_in, text_of

ENGLISH = {"Accept-Language": "en-GB,en;q=0.9"}
ADA = "ada@example.edu"
NEW_PASSWORD = "lantern orchard velvet compass"


def lang_of(response) -> str:
    return re.search(r'<html lang="([a-z]+)">', response.text).group(1)


def english_browser(provider, cookie_lang: str | None = None):
    """A browser whose Accept-Language asks for English (and, optionally, with an ``idp_lang`` cookie)."""
    browser = provider.browser()
    browser.http.headers.update(ENGLISH)
    if cookie_lang:
        browser.http.cookies.set("idp_lang", cookie_lang, domain="127.0.0.1", path="/")
    return browser


def sign_in_through(rp, browser, scope="openid profile email", **params) -> tuple[str, object]:
    """The code flow for S1000001 in whatever language the pages speak; (callback URL, login page)."""
    page = browser.follow(browser.get(rp.authorization_url(scope, **params)), stop_at="never")
    assert page.status_code == 200 and 'name="password"' in page.text, page.text[:300]
    response = browser.follow(browser.submit_login(page))
    assert response.status_code == 302, response.text[:300]
    return response.headers["Location"], page


# -- pages --------------------------------------------------------------------------------------


def test_after_a_german_sign_in_help_and_account_are_german(provider):
    provider.create_user()
    rp = provider.create_client()
    browser = english_browser(provider)
    _, login = sign_in_through(rp, browser, ui_locales="de")
    assert lang_of(login) == "de"
    # The German sign-in page remembered the language in this browser (HttpOnly, SameSite=Lax).
    [cookie] = [h for h in login.raw.headers.getlist("Set-Cookie") if h.startswith("idp_lang=")]
    assert cookie.startswith("idp_lang=de;") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    help_page = browser.get(re.search(r'<a href="(/help)">', login.text).group(1))
    assert lang_of(help_page) == "de" and "<h1>Hilfe zur Anmeldung</h1>" in help_page.text
    account = browser.get("/account")
    assert lang_of(account) == "de" and "<h1>Ihr Konto</h1>" in account.text
    assert stored_user(provider).locale == "de"


def test_the_account_speaks_its_stored_language_in_another_browser(provider):
    provider.create_user()
    sign_in_through(provider.create_client(), english_browser(provider), ui_locales="de")
    other = english_browser(provider)  # no idp_lang cookie, an English Accept-Language
    assert lang_of(other.get("/login")) == "en"
    assert other.submit_login(other.get("/login")).status_code == 302
    account = other.get("/account")
    assert lang_of(account) == "de" and "<h1>Ihr Konto</h1>" in account.text
    # An explicit choice in this browser still wins, and becomes the account's.
    switched = other.get("/language", params={"lang": "en", "next": "/account"})
    assert switched.status_code == 303
    assert lang_of(other.get("/account")) == "en" and stored_user(provider).locale == "en"


def test_the_language_switch_while_signed_in_is_stored_on_the_account(provider):
    provider.create_user()
    browser = english_browser(provider)
    assert browser.submit_login(browser.get("/login")).status_code == 302
    assert stored_user(provider).locale is None  # Accept-Language alone is no choice
    assert browser.get("/language", params={"lang": "de", "next": "/account"}).status_code == 303
    assert stored_user(provider).locale == "de"


def test_a_cookie_choice_is_stored_on_an_account_that_has_none(provider):
    provider.create_user()
    browser = english_browser(provider, cookie_lang="de")
    assert browser.submit_login(browser.get("/login")).status_code == 302
    assert stored_user(provider).locale == "de"


def test_signing_in_without_a_choice_keeps_the_stored_language(provider):
    provider.create_user()
    update_user(provider, locale="de")
    browser = english_browser(provider)
    assert browser.submit_login(browser.get("/login")).status_code == 302
    assert stored_user(provider).locale == "de"
    assert lang_of(browser.get("/account")) == "de"


# -- claims -------------------------------------------------------------------------------------


def test_the_locale_claim_is_released_with_the_profile_scope_only(provider):
    provider.create_user()
    rp = provider.create_client()
    callback, _ = sign_in_through(rp, english_browser(provider), scope="openid profile email", ui_locales="de")
    tokens = rp.exchange(callback)
    assert rp.verify_id_token(tokens["id_token"])["locale"] == "de"
    userinfo = requests.get(provider.url + "/userinfo", headers=bearer(tokens["access_token"]), timeout=5).json()
    assert userinfo["locale"] == "de" and userinfo["preferred_username"] == "S1000001"

    without = provider.create_client(name="No profile")
    callback, _ = sign_in_through(without, english_browser(provider), scope="openid email", ui_locales="de")
    tokens = without.exchange(callback)
    assert "locale" not in without.verify_id_token(tokens["id_token"])
    userinfo = requests.get(provider.url + "/userinfo", headers=bearer(tokens["access_token"]), timeout=5).json()
    assert "locale" not in userinfo and userinfo["email"] == ADA


def test_no_locale_claim_until_the_user_chose_a_language(provider):
    provider.create_user()
    rp = provider.create_client()
    callback, _ = sign_in_through(rp, english_browser(provider))
    tokens = rp.exchange(callback)
    assert "locale" not in rp.verify_id_token(tokens["id_token"])
    userinfo = requests.get(provider.url + "/userinfo", headers=bearer(tokens["access_token"]), timeout=5).json()
    assert "locale" not in userinfo


def test_discovery_lists_the_locale_claim(provider):
    metadata = requests.get(provider.url + "/.well-known/openid-configuration", timeout=5).json()
    assert "locale" in metadata["claims_supported"]


# -- mail ---------------------------------------------------------------------------------------


def post_password_change(browser):
    page = browser.get("/account")
    form = re.search(r'<form method="post" action="/account/password"[^>]*>(.*?)</form>', page.text, re.S).group(1)
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form))
    fields.update(current_password=PASSWORD, password=NEW_PASSWORD, confirm=NEW_PASSWORD)
    return browser.post("/account/password", data=fields)


def test_password_changed_mail_is_in_the_stored_language_not_the_browsers(mail_provider, smtp_server):
    provider = mail_provider()
    provider.create_user()
    update_user(provider, locale="de")
    browser = english_browser(provider, cookie_lang="en")  # this browser's pages are English
    assert browser.submit_login(browser.get("/login")).status_code == 302
    # The cookie (an earlier choice on this computer) does not replace the account's language...
    assert stored_user(provider).locale == "de"
    # ...but it still chooses this browser's pages.
    assert lang_of(browser.get("/account")) == "en"
    assert post_password_change(browser).status_code == 303
    [mail] = smtp_server.wait_for(ADA)
    assert mail["Subject"] == "Ihr SPOM-Login-Passwort wurde geändert"
    assert "Hallo Ada Lovelace," in text_of(mail)


def request_reset(browser):
    page = browser.get("/password/forgot")
    form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text), username="S1000001")
    return browser.post("/password/forgot", data=form)


def test_reset_and_changed_mails_are_in_the_stored_language_not_the_browsers(mail_provider, smtp_server):
    provider = mail_provider()
    provider.create_user()
    update_user(provider, locale="de")
    browser = english_browser(provider, cookie_lang="en")
    sent = request_reset(browser)
    assert sent.status_code == 200 and lang_of(sent) == "en"
    [mail] = smtp_server.wait_for(ADA)
    assert mail["Subject"] == "Ihr SPOM-Login-Passwort zurücksetzen"
    assert "Der Link gilt 30 Minuten" in text_of(mail)

    page = browser.get(link_in(mail))
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
    fields.update(password=NEW_PASSWORD, confirm=NEW_PASSWORD)
    assert browser.post("/password/reset", data=fields).status_code == 303
    [_, notice] = smtp_server.wait_for(ADA, count=2)
    assert notice["Subject"] == "Ihr SPOM-Login-Passwort wurde geändert"


def test_without_a_stored_language_mail_follows_the_page(mail_provider, smtp_server):
    provider = mail_provider()
    provider.create_user()
    browser = english_browser(provider, cookie_lang="de")  # German pages, English Accept-Language
    sent = request_reset(browser)
    assert lang_of(sent) == "de"
    [mail] = smtp_server.wait_for(ADA)
    assert mail["Subject"] == "Ihr SPOM-Login-Passwort zurücksetzen"


# -- upgrade ------------------------------------------------------------------------------------


def test_the_migration_keeps_existing_users_with_no_language_chosen(tmp_path):
    import sqlalchemy as sa

    from idp.storage.sql.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0010_require_pkce")
    engine = sa.create_engine(url)
    users = sa.Table("users", sa.MetaData(), autoload_with=engine)
    assert "locale" not in users.c
    with engine.begin() as db:
        db.execute(
            users.insert(),
            [
                dict(
                    sub="sub-1",
                    registration_number="S1",
                    registration_number_norm="S1",
                    display_name="Ada",
                    role="student",
                    active=True,
                    email_verified=False,
                    created_at=0.0,
                )
            ],
        )
    upgrade(url)
    with engine.connect() as db:
        assert db.execute(sa.text("SELECT registration_number, locale FROM users")).all() == [("S1", None)]
    engine.dispose()
