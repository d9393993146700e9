"""A German user sees no English sentence: every page and every error the provider shows a person is
rendered with Accept-Language: de (or ui_locales=de), and its visible text is searched for the English
msgids of the catalogue (any of three words or more that appears verbatim is a leak)."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from tests.support.helpers import CALLBACK, PASSWORD, parse_form

CATALOGUE = Path(__file__).resolve().parents[2] / "idp/translations/de/LC_MESSAGES/messages.po"
GERMAN = {"Accept-Language": "de", "Accept": "text/html"}


def _english_fragments() -> set[str]:
    """The English text of every msgid, split at placeholders and markup, of three words or more; not
    those whose German is the same text (brand and proper nouns)."""
    with CATALOGUE.open("rb") as f:
        catalogue = read_po(f)
    fragments = set()
    for message in catalogue:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for english in ids:
            if english in strings:
                continue
            for part in re.split(r"%\(\w+\)[sd]|<[^>]+>|%[sd]", english):
                part = part.strip(" .,:;()")
                if len(part.split()) >= 3:
                    fragments.add(part)
    return fragments


FRAGMENTS = _english_fragments()


def visible_text(page: str) -> str:
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    page = re.sub(r"<[^>]+>", " ", page)
    return re.sub(r"\s+", " ", html.unescape(page))


def english_left(page: str) -> list[str]:
    text = visible_text(page)
    return sorted(fragment for fragment in FRAGMENTS if fragment in text)


def test_the_catalogue_yields_english_sentences_to_look_for():
    assert any(f.startswith("Most sign-in problems") for f in FRAGMENTS) and len(FRAGMENTS) > 100
    assert "Your session has expired. Please sign in again" in english_left(
        "<p>Your session has expired. Please sign in again.</p>"
    )


@pytest.fixture
def http(provider):
    provider.create_user(role="employee")
    return provider.app.test_client()


def _german(response, status=200):
    assert response.status_code == status, response.text[:300]
    assert '<html lang="de"' in response.text
    assert english_left(response.text) == []
    return response.text


def _sign_in(http, provider, trusted=True):
    client = provider.create_client(trusted=trusted)
    params = {
        "client_id": client.client_id,
        "redirect_uri": CALLBACK,
        "response_type": "code",
        "scope": "openid profile email offline_access",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuz_AT-Bsa0",
        "code_challenge_method": "S256",
        "nonce": "n",
        "ui_locales": "de",
    }
    login = http.get("/authorize", query_string=params, headers=GERMAN, follow_redirects=True)
    _german(login)
    form = parse_form(login.text)
    form.update(username="S1000001", password=PASSWORD)
    return http.post(form.pop("_action"), data=form, headers=GERMAN)


@pytest.mark.parametrize(
    "path",
    ["/", "/login", "/help", "/password/forgot", "/login/device", "/logout", "/password/reset?token=nonsense"],
)
def test_pages_for_everyone_are_all_german(http, path):
    response = http.get(path, headers=GERMAN)
    _german(response, response.status_code)
    assert response.status_code < 500


def test_the_html_404_page_is_german(http):
    _german(http.get("/no-such-page", headers=GERMAN), 404)


def test_the_default_help_contact_is_german(http):
    page = _german(http.get("/help", headers=GERMAN))
    assert "IT-Servicedesk" in page and "IT service desk" not in page


@pytest.mark.parametrize(
    "params",
    [
        {"response_type": "code"},
        {"client_id": "nobody", "response_type": "code"},
        {"client_id": "{client}", "response_type": "code", "redirect_uri": "https://elsewhere.example/cb"},
    ],
    ids=["missing_client_id", "unknown_client", "unregistered_redirect_uri"],
)
def test_authorize_errors_shown_to_the_user_are_german(http, provider, params):
    client = provider.create_client()
    params = {k: v.replace("{client}", client.client_id) for k, v in params.items()}
    page = _german(http.get("/authorize", query_string={**params, "ui_locales": "de"}, headers=GERMAN), 400)
    assert "The client does not exist" not in page


def test_consent_and_account_pages_are_german(http, provider):
    consent = _sign_in(http, provider, trusted=False)
    while consent.status_code in (302, 303) and not consent.headers["Location"].startswith(CALLBACK):
        consent = http.get(consent.headers["Location"], headers=GERMAN)
    page = _german(consent)
    assert "Die Anwendung darf:" in page and "Ihre E-Mail-Adresse sehen" in page
    account = _german(http.get("/account", headers=GERMAN))
    assert "Beschäftigte/r" in account and "employee" not in visible_text(account)
    _german(http.get("/logout", headers=GERMAN))  # the confirmation, signed in
    _german(http.get("/consent?interaction=gone", headers=GERMAN), 400)  # an expired sign-in


def test_sent_page_of_a_reset_request_is_german(http):
    form = parse_form(http.get("/password/forgot", headers=GERMAN).text)
    form["username"] = "S1000001"
    sent = http.post(form.pop("_action"), data=form, headers=GERMAN, follow_redirects=True)
    page = _german(sent)
    assert "Prüfen Sie Ihr E-Mail-Postfach" in page


def test_throttled_sign_in_and_device_pages_are_german(http):
    login = http.get("/login", headers=GERMAN)
    for _ in range(30):
        form = parse_form(login.text)
        form.update(username="S1000001", password="wrong password")
        login = http.post(form.pop("_action"), data=form, headers=GERMAN)
        _german(login, login.status_code)
        if login.status_code == 429:
            break
    assert login.status_code == 429 and "Zu viele Versuche" in login.text
    form = parse_form(login.text[login.text.index('<section class="device-link"') :])
    form["username"] = "S1000001"
    sent = http.post(form.pop("_action"), data=form, headers=GERMAN, follow_redirects=True)
    _german(sent, sent.status_code)
    assert sent.status_code == 200 and "Prüfen Sie Ihr E-Mail-Postfach" in sent.text
    _german(http.get("/login/device?token=nonsense", headers=GERMAN), 400)  # a link that is not valid
    _german(http.get("/login/device/approved", headers=GERMAN), 200)


@pytest.mark.parametrize("kind", ["reset", "invite", "changed", "device"])
def test_every_mail_is_german_in_german_and_english_mail_continues_with_a_capital(provider, kind):
    from idp.http.mail import compose

    context = {
        "name": "Grace Hopper",
        "registration_number": "S1000002",
        "link": "http://127.0.0.1:8000/x",
        "forgot_link": "http://127.0.0.1:8000/password/forgot",
        "minutes": 15,
        "days": 7,
        "changed_at": 1_700_000_000,
        "signed_out": True,
    }
    with provider.app.test_request_context("/"):
        _subject, text, html_body = compose(kind, "de", **dict(context))
        assert english_left(text) == [] and english_left(html_body) == []
        _subject, text, _html = compose(kind, "en", **dict(context))
    first, second = [line for line in text.splitlines() if line.strip()][:2]
    assert first == "Hello Grace Hopper," and second[0].isupper(), second
