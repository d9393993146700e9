"""The second-factor mails (issue 19): ``recovery_used`` when a recovery code signs someone in, and
``mfa_reset`` when the help desk removed the factors; in the user's stored language, English and German,
with the time written as the other mails write it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.support.factors import enrol_totp_for as enrol_totp
from tests.support.factors import user
from tests.support.helpers import update_user
from tests.support.mailserver import html_of, text_of

MOMENT = datetime(2026, 12, 24, 17, 5, tzinfo=UTC).timestamp()  # 18:05 in Berlin (CET)
COMMON = {
    "name": "Ada <Lovelace>",
    "registration_number": "S1000001",
    "at": MOMENT,
    "ip": "192.0.2.7",
    "account_link": "https://login.example.edu/account",
}


def compose(provider, kind, lang, **context):
    from idp.http import mail as notifications

    with provider.app.app_context():
        return notifications.compose(kind, lang, **{**COMMON, **context})


def test_recovery_used_in_english_and_german(provider):
    subject, text, html = compose(provider, "recovery_used", "en", codes_left=7)
    assert subject == "A recovery code was used for your SPOM Login account"
    assert (
        "A recovery code was used to sign in to your SPOM Login account (S1000001) on December 24, 2026, 6:05:00"
        in text
    )
    assert "from the address 192.0.2.7." in text and "You have 7 recovery codes left." in text
    assert "https://login.example.edu/account" in text and "contact the IT service desk" in text
    assert 'href="https://login.example.edu/account"' in html and "Ada &lt;Lovelace&gt;" in html

    subject, text, html = compose(provider, "recovery_used", "de", codes_left=1)
    assert subject == "Für Ihr SPOM-Login-Konto wurde ein Wiederherstellungscode verwendet"
    assert "am 24. Dezember 2026, 18:05:00 MEZ wurde ein Wiederherstellungscode verwendet" in text
    assert "von der Adresse 192.0.2.7 aus" in text and "Sie haben noch 1 Wiederherstellungscode." in text
    assert "wenden Sie sich an den IT-Service" in text and '<html lang="de">' in html


def test_recovery_used_with_no_code_left(provider):
    _subject, text, _html = compose(provider, "recovery_used", "en", codes_left=0)
    assert "You have no recovery codes left." in text
    _subject, text, _html = compose(provider, "recovery_used", "de", codes_left=0)
    assert "Sie haben keine Wiederherstellungscodes mehr." in text


def test_mfa_reset_in_english_and_german(provider):
    subject, text, html = compose(provider, "mfa_reset", "en", reason="Ticket 4711 <lost phone>")
    assert subject == "The second sign-in step of your SPOM Login account was reset"
    assert "On December 24, 2026, 6:05:00" in text and "the IT service desk removed" in text
    assert "Reason given: Ticket 4711 <lost phone>" in text and "Ticket 4711 &lt;lost phone&gt;" in html
    assert "asked to set up a new second step" in text and "Contact the IT service desk at once." in text

    subject, text, _html = compose(provider, "mfa_reset", "de", reason="Ticket 4711")
    assert subject == "Der zweite Anmeldeschritt Ihres SPOM-Login-Kontos wurde zurückgesetzt"
    assert "am 24. Dezember 2026, 18:05:00 MEZ hat der IT-Service" in text
    assert "Angegebener Grund: Ticket 4711" in text and "Bei Ihrer nächsten Anmeldung" in text


@pytest.mark.parametrize("kind", ["recovery_used", "mfa_reset"])
def test_the_mails_greet_then_continue_like_the_others(provider, kind):
    """English continues with a capital after the greeting, German with a small letter (like ``changed``)."""
    for lang, greeting, first in (
        ("en", "Hello Ada <Lovelace>,", str.isupper),
        ("de", "Hallo Ada <Lovelace>,", str.islower),
    ):
        _subject, text, _html = compose(provider, kind, lang, codes_left=3, reason="r")
        lines = [line for line in text.splitlines() if line.strip()]
        assert lines[0] == greeting and first(lines[1][0]), lines[:2]


def test_a_used_recovery_code_mails_the_user_in_their_language(mail_provider, smtp_server):
    provider = mail_provider()
    provider.create_user()
    update_user(provider, locale="de")
    _secret, codes = enrol_totp(provider)
    from idp.core.request import RequestInfo

    with provider.transaction() as db:
        used = provider.factors(db, info=RequestInfo(ip="198.51.100.4")).verify_code(user(db), codes[0])
    assert used == "otp"
    [mail] = smtp_server.wait_for("ada@example.edu")
    assert mail["Subject"] == "Für Ihr SPOM-Login-Konto wurde ein Wiederherstellungscode verwendet"
    body = text_of(mail)
    assert "Hallo Ada Lovelace," in body and "von der Adresse 198.51.100.4 aus" in body
    assert "Sie haben noch 9 Wiederherstellungscodes." in body
    assert "/account" in html_of(mail)


def test_a_helpdesk_reset_mails_the_user_in_their_language(mail_provider, smtp_server):
    provider = mail_provider()
    provider.create_user()
    enrol_totp(provider)
    with provider.transaction() as db:
        assert provider.factors(db, source="test").reset(user(db), "phone lost") == 1
    [mail] = smtp_server.wait_for("ada@example.edu")  # no language stored: English
    assert mail["Subject"] == "The second sign-in step of your SPOM Login account was reset"
    assert "Reason given: phone lost" in text_of(mail)


def test_no_mail_when_the_reset_rolls_back(mail_provider, smtp_server):
    provider = mail_provider()
    provider.create_user()
    enrol_totp(provider)
    with pytest.raises(RuntimeError), provider.transaction() as db:
        provider.factors(db).reset(user(db), "phone lost")
        raise RuntimeError("the command failed after the reset")
    provider.app.extensions["idp"].postman.wait_idle()
    assert smtp_server.messages == []
