"""The demo apps' language: the ``locale`` claim the provider sends (ID token or /userinfo) wins over
the browser's Accept-Language, which wins over English; the German catalogue is complete."""

from __future__ import annotations

import pytest
from babel.messages.pofile import read_po
from flask import Flask, render_template_string, session

from clients.common import i18n
from clients.common.app import _profile


def app() -> Flask:
    flask_app = Flask(__name__)
    flask_app.config["SECRET_KEY"] = "k" * 32
    i18n.init_app(flask_app)
    return flask_app


SIGN_OUT = "{{ _('Sign out') }} {{ _('Security and sign-in history') }}"


@pytest.mark.parametrize(
    ("claim", "accept", "expected"),
    [
        ("de", "en", "Abmelden Sicherheit und Anmeldeverlauf"),  # chosen at SPOM Login: followed
        ("de-DE", "en-GB,en", "Abmelden Sicherheit und Anmeldeverlauf"),
        ("en", "de", "Sign out Security and sign-in history"),
        (None, "de-AT,de;q=0.9", "Abmelden Sicherheit und Anmeldeverlauf"),  # no claim: the browser's
        ("fr", "de", "Abmelden Sicherheit und Anmeldeverlauf"),  # a language not offered: the browser's
        (None, "fr", "Sign out Security and sign-in history"),  # neither offered: English
    ],
)
def test_the_locale_claim_wins_over_the_browser_language(claim, accept, expected):
    flask_app = app()
    with flask_app.test_request_context("/", headers={"Accept-Language": accept}):
        session["user"] = _profile({"sub": "x", "name": "Ada", "locale": claim})
        assert render_template_string(SIGN_OUT) == expected


def test_the_profile_keeps_the_locale_claim():
    assert _profile({"locale": "de-DE", "preferred_username": "S1000001"})["locale"] == "de-DE"
    assert _profile({"preferred_username": "S1000001"})["locale"] is None


def test_dates_and_amounts_are_written_the_readers_way():
    flask_app = app()
    with flask_app.test_request_context("/", headers={"Accept-Language": "de"}):
        assert i18n.date(1_764_633_600) == "02.12.2025"
        assert i18n.money(4820) == "4.820,00\xa0€"
        assert i18n.number(15.2) == "15,2"
    with flask_app.test_request_context("/", headers={"Accept-Language": "en"}):
        assert i18n.date(1_764_633_600) == "Dec 2, 2025"
        assert i18n.money(4820) == "€4,820.00"


def test_every_german_entry_is_translated_and_none_is_fuzzy():
    po = i18n.TRANSLATIONS / "de" / "LC_MESSAGES" / "messages.po"
    with po.open("rb") as fh:
        catalog = read_po(fh, locale="de")
    entries = [m for m in catalog if m.id]
    assert len(entries) > 50
    untranslated = [m.id for m in entries if not (all(m.string) if isinstance(m.string, tuple) else m.string)]
    assert not untranslated
    assert not [m.id for m in entries if m.fuzzy]


def test_the_german_catalogue_has_every_string_of_the_apps_and_no_stale_one():
    po = i18n.TRANSLATIONS / "de" / "LC_MESSAGES" / "messages.po"
    with po.open("rb") as fh:
        catalog = read_po(fh, locale="de")
    in_code = {m.id for m in i18n.extract_messages() if m.id}
    in_catalogue = {m.id for m in catalog if m.id}
    assert in_code - in_catalogue == set(), "run `make translations` and translate the new strings"
    assert in_catalogue - in_code == set(), "strings the apps no longer use"
