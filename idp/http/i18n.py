"""Languages of the provider's pages and mail (Flask-Babel, gettext catalogues).

Which language a page speaks, first match wins:

1. ``ui_locales`` of the pending authorization request (OIDC Core §3.1.2.1), carried by the
   interaction; the language switch on a page of that interaction replaces it with the user's choice;
2. the user's earlier choice, remembered in the ``idp_lang`` cookie (set by ``/language``, and by
   any page shown in a ``ui_locales`` language, so that /help and /account opened from the sign-in
   page keep it);
3. the signed-in user's stored language (``users.locale``: set at sign-in from 1, or from 2 when
   the account has none yet, and by ``/language`` while signed in), so another browser shows the
   account in the language chosen;
4. the browser's ``Accept-Language``;
5. English.

Mail does not follow the page: it goes out in the user's stored language when there is one
(``idp.domain.accounts.mail_language``), else in the language of the page that caused it.

Catalogues live as ``.po`` files in ``idp/translations`` (in git); the binary ``.mo`` files are
compiled from them, never committed: by ``compile_catalogues`` when the app starts (next to the
``.po`` when that folder is writable, as in a checkout or ``pip install -e .``, otherwise in a
per-user cache folder) and once at image build time in the Dockerfile (``python -m idp.http.i18n``).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from flask import Flask, Response, g, has_request_context, request
from flask_babel import Babel, format_datetime, gettext, lazy_gettext
from sqlalchemy.exc import SQLAlchemyError

from idp.core.errors import StoreUnavailable
from idp.core.languages import DEFAULT, LANGUAGES, NAMES, best_language  # noqa: F401  (the page layer's)
from idp.core.text import Text
from idp.http import uow
from idp.http.context import deps
from idp.storage.sql import users as user_repo

if TYPE_CHECKING:
    from babel.messages.catalog import Catalog

    from idp.storage.sql.models import User

COOKIE = "idp_lang"
YEAR = 365 * 86400
TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"
DOMAIN = "messages"


def _outdated(po: Path, mo: Path) -> bool:
    return not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime


def compile_catalogues(source: Path = TRANSLATIONS) -> Path:
    """Compile every ``<lang>/LC_MESSAGES/messages.po`` whose ``.mo`` is missing or older; return
    the folder that holds the compiled catalogues (``source`` when writable, else a cache folder)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    target = source if os.access(source, os.W_OK) else _cache_dir(source)
    for po in sorted(source.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        mo = target / po.relative_to(source).with_suffix(".mo")
        if not _outdated(po, mo):
            continue
        with po.open("rb") as fh:
            catalog = read_po(fh, locale=po.parent.parent.name)
        mo.parent.mkdir(parents=True, exist_ok=True)
        partial = mo.with_suffix(f".mo.{os.getpid()}")
        with partial.open("wb") as fh:
            write_mo(fh, catalog)  # fuzzy entries are left out, as msgfmt does
        partial.replace(mo)  # atomic: a concurrent worker never reads half a catalogue
    return target


def _cache_dir(source: Path) -> Path:
    digest = hashlib.sha256(str(source).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"spom-login-translations-{os.getuid()}-{digest}"


def select_locale() -> str:
    if not has_request_context():  # mail thread, CLI: the caller forces a locale when it matters
        return DEFAULT
    cached = g.get("idp_locale")
    if cached:
        return cached
    from idp.http.protocol import interactions

    try:
        interaction = (
            interactions.load(request.values.get("interaction")) if request.values.get("interaction") else None
        )
    except (StoreUnavailable, SQLAlchemyError):
        # The store or database is down: this may be the 503 page itself being rendered, which must
        # not fail in turn (that was a 500). The cookie or Accept-Language still choose.
        interaction = None
    ui_locales = interaction.param("ui_locales") if interaction else request.values.get("ui_locales")
    cookie = request.cookies.get(COOKIE)
    chosen, source = best_language(ui_locales), "ui_locales"
    if not chosen and cookie in LANGUAGES:
        chosen, source = cookie, "cookie"
    if not chosen:
        chosen, source = _account_locale(), "account"
    if not chosen:
        chosen, source = request.accept_languages.best_match(LANGUAGES) or DEFAULT, "browser"
    g.idp_locale, g.idp_locale_source = chosen, source
    return chosen


def _account_locale() -> str | None:
    """The signed-in user's stored language, if any (never fails: the 503 page renders too)."""
    from idp.http import session as web_session

    try:
        signed_in = web_session.current()
    except (StoreUnavailable, SQLAlchemyError):
        return None
    locale = signed_in.user.locale if signed_in is not None else None
    return locale if locale in LANGUAGES else None


def page_language() -> str:
    """The language of this request's page (``select_locale``)."""
    return select_locale()


def explicit_choice() -> str | None:
    """The page language when the user (or the relying party's ``ui_locales``) chose it for this
    request or earlier in this browser; None when it only follows the account or the browser."""
    chosen = select_locale()
    return chosen if g.get("idp_locale_source") in ("ui_locales", "cookie") else None


def remember_choice(user: User) -> None:
    """At sign-in: the language chosen for it (the relying party's ``ui_locales`` or the switch on a
    page of this sign-in) becomes the account's, which its pages in any browser, its mail and its
    ``locale`` claim follow. A language only remembered by this browser (the ``idp_lang`` cookie) is
    stored when the account has none yet: a shared computer's earlier choice never replaces it."""
    choice = explicit_choice()
    if choice and (g.get("idp_locale_source") == "ui_locales" or user.locale not in LANGUAGES):
        user_repo.set_locale(uow.session(), user, choice)


def set_cookie(response: Response, lang: str) -> None:
    """Remember ``lang`` in this browser (the ``idp_lang`` cookie, a year)."""
    response.set_cookie(
        COOKIE,
        lang,
        max_age=YEAR,
        httponly=True,
        samesite="Lax",
        secure=deps().settings.server.secure_cookies,
        path="/",
    )


def _remember_ui_locales(response: Response) -> Response:
    """A page shown in a ``ui_locales`` language sets the cookie, so that the pages opened from it
    (/help, /account after sign-in, a new tab) keep that language."""
    if (
        g.get("idp_locale_source") == "ui_locales"
        and response.mimetype == "text/html"
        and request.cookies.get(COOKIE) != g.idp_locale
    ):
        set_cookie(response, g.idp_locale)
    return response


def select_timezone() -> str:
    return deps().settings.branding.time_zone


def when(ts: float | None, fmt: str = "medium") -> str:
    """An epoch time as the reader's locale writes it, in the configured time zone (``IDP_TIME_ZONE``),
    labelled with that zone ("Jan 1, 2026, 10:50:00 PM CET", "01.01.2026, 22:50:00 MEZ"): a reader
    elsewhere must not take Berlin time for their own. ``long`` and ``full`` carry a zone already."""
    if not ts:
        return ""
    moment = datetime.fromtimestamp(ts, tz=UTC)
    text = format_datetime(moment, fmt)
    return text if fmt in ("long", "full") else f"{text} {zone_label(moment)}"


def zone_label(moment: datetime) -> str:
    """The configured zone's abbreviation at ``moment`` in the reader's language (MEZ, CET, EST), or
    the IANA name in parentheses where a zone has only a numeric one ("(Europe/Istanbul)")."""
    name = format_datetime(moment, "z")
    if any(c.isalpha() for c in name) and not name.startswith(("GMT", "UTC")):
        return name
    zone = deps().settings.branding.time_zone
    abbreviation = moment.astimezone(ZoneInfo(zone)).tzname() or ""
    return abbreviation if abbreviation.isalpha() else f"({zone})"


def translate(value: object) -> object:
    """A use case's ``Text`` in the reader's language (anything else unchanged)."""
    return value.translate(gettext) if isinstance(value, Text) else value


def init_app(app: Flask) -> None:
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(compile_catalogues())
    app.config["BABEL_DEFAULT_LOCALE"] = DEFAULT
    app.config["BABEL_DEFAULT_TIMEZONE"] = app.extensions["idp"].settings.branding.time_zone
    Babel(app, locale_selector=select_locale, timezone_selector=select_timezone)
    app.jinja_env.globals["when"] = when
    app.jinja_env.globals["role_label"] = role_label
    # Every {{ value }} that is a use case's Text is shown in the page's language.
    app.jinja_env.finalize = translate
    app.after_request(_remember_ui_locales)


ROLE_LABELS = {
    "student": lazy_gettext("Student"),
    "employee": lazy_gettext("Employee"),
    "vendor": lazy_gettext("Vendor"),
}


def role_label(role: str) -> str:
    """The role of an account (a stored value such as ``student``) as shown to people."""
    return str(ROLE_LABELS.get(role, role))


# -- maintaining the catalogues (docs/ux.md) ------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
KEYWORDS = {
    "_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "_l": None,
    "lazy_gettext": None,
    "N_": None,
    "Text": None,
    "N_plural": (1, 2),
}


def extract_messages() -> Catalog:
    """A catalogue template of every user-facing string in the code and templates (babel.cfg)."""
    from babel.messages.catalog import Catalog
    from babel.messages.extract import extract_from_dir
    from babel.messages.frontend import parse_mapping_cfg

    with (ROOT / "babel.cfg").open() as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    template = Catalog(project="SPOM Login", copyright_holder="SPOM Login contributors")
    for filename, lineno, message, comments, context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS, comment_tags=("Translators:",)
    ):
        template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return template


def update_catalogues() -> list[str]:
    """Merge new strings into every ``.po`` (they show up untranslated: the catalogue test fails until
    someone translates them); returns the msgids that still need a translation."""
    from babel.messages.pofile import read_po, write_po

    template, todo = extract_messages(), []
    for po in sorted(TRANSLATIONS.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        with po.open("rb") as fh:
            catalog = read_po(fh, locale=po.parent.parent.name)
        catalog.update(template, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        with po.open("wb") as fh:
            write_po(fh, catalog, no_location=True, sort_output=True, width=120, omit_header=False)
        todo += [f"{po.parent.parent.name}: {m.id}" for m in catalog if m.id and not m.string]
    return todo


if __name__ == "__main__":
    # python -m idp.http.i18n            compile the .mo files (the Dockerfile's build step does this)
    # python -m idp.http.i18n update     add new strings from the code and templates to every .po
    import sys

    if sys.argv[1:] == ["update"]:
        print("\n".join(update_catalogues()) or "every string is translated")
    else:
        print(compile_catalogues())
