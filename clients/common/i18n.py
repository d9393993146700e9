"""Languages of the relying parties' pages (Flask-Babel, their own gettext catalogue).

Which language a page speaks, first match wins:

1. the ``locale`` claim of the signed-in user (ID token or ``/userinfo``): the language they chose
   at SPOM Login follows them into the app;
2. the browser's ``Accept-Language``;
3. English.

The catalogue lives in ``clients/translations/<lang>/LC_MESSAGES/messages.po`` (in git), apart from
the provider's: a relying party stands for an independent app and never imports the provider.
The ``.mo`` files are compiled from it when the app starts (next to the ``.po`` when that folder is
writable, else in a per-user cache folder), as the provider does. ``python -m clients.common.i18n
update`` (part of ``make translations``) adds new strings of ``clients/`` to the ``.po``.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Flask, g, has_request_context, request, session
from flask_babel import Babel, format_currency, format_date, format_decimal, get_locale

if TYPE_CHECKING:
    from babel.messages.catalog import Catalog

TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"
DOMAIN = "messages"
DEFAULT = "en"
LANGUAGES = ("en", "de")


def N_(message: str) -> str:  # noqa: N802  (the gettext convention: marks a string for the catalogue)
    """Mark a string for extraction; it is translated where it is shown."""
    return message


def best_language(value: object) -> str | None:
    """``de``, ``de-DE``, ``de_AT`` -> ``de``; anything not offered -> None."""
    if not isinstance(value, str):
        return None
    for tag in value.replace(",", " ").split():
        base = tag.replace("_", "-").split("-")[0].lower()
        if base in LANGUAGES:
            return base
    return None


def select_locale() -> str:
    if not has_request_context():
        return DEFAULT
    cached = g.get("rp_locale")
    if cached:
        return str(cached)
    user = session.get("user") or {}
    chosen = best_language(user.get("locale")) or request.accept_languages.best_match(LANGUAGES) or DEFAULT
    g.rp_locale = chosen
    return chosen


def page_language() -> str:
    return str(get_locale() or DEFAULT)


def date(ts: float, fmt: str = "medium") -> str:
    """An epoch time as a date the reader's language writes (UTC)."""
    return format_date(datetime.fromtimestamp(ts, tz=UTC), fmt)


def money(amount: float, currency: str = "EUR") -> str:
    """An amount as the reader's language writes it: €4,820.00 or 4.820,00 €."""
    return str(format_currency(amount, currency))


def number(value: float) -> str:
    """A score as the reader's language writes it: 15.2 or 15,2."""
    return str(format_decimal(value))


def compile_catalogues(source: Path = TRANSLATIONS) -> Path:
    """Compile every ``.po`` whose ``.mo`` is missing or older; return the folder holding the ``.mo``."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    target = source if os.access(source, os.W_OK) else _cache_dir(source)
    for po in sorted(source.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        mo = target / po.relative_to(source).with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as fh:
            catalog = read_po(fh, locale=po.parent.parent.name)
        mo.parent.mkdir(parents=True, exist_ok=True)
        partial = mo.with_suffix(f".mo.{os.getpid()}")
        with partial.open("wb") as fh:
            write_mo(fh, catalog)
        partial.replace(mo)  # atomic: a concurrent worker never reads half a catalogue
    return target


def _cache_dir(source: Path) -> Path:
    digest = hashlib.sha256(str(source).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"spom-clients-translations-{os.getuid()}-{digest}"


def init_app(app: Flask) -> None:
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(compile_catalogues())
    app.config["BABEL_DEFAULT_LOCALE"] = DEFAULT
    app.config["BABEL_DEFAULT_TIMEZONE"] = "UTC"
    Babel(app, locale_selector=select_locale)
    app.jinja_env.globals.update(page_language=page_language, date=date, money=money, number=number)


# -- maintaining the catalogue -------------------------------------------------------------------

CLIENTS = TRANSLATIONS.parent
METHODS = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "N_": None}


def extract_messages() -> Catalog:
    """A catalogue template of every user-facing string in ``clients/`` (code and templates)."""
    from babel.messages.catalog import Catalog
    from babel.messages.extract import extract_from_dir

    template = Catalog(project="SPOM Login demo apps", copyright_holder="SPOM Login contributors")
    for filename, lineno, message, comments, context in extract_from_dir(
        str(CLIENTS), METHODS, keywords=KEYWORDS, comment_tags=("Translators:",)
    ):
        template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return template


def update_catalogues() -> list[str]:
    """Merge new strings of ``clients/`` into every ``.po``; returns the msgids still untranslated."""
    from babel.messages.pofile import read_po, write_po

    template, todo = extract_messages(), []
    for po in sorted(TRANSLATIONS.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        with po.open("rb") as fh:
            catalog = read_po(fh, locale=po.parent.parent.name)
        catalog.update(template, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        with po.open("wb") as fh:
            write_po(fh, catalog, no_location=True, sort_output=True, width=120, omit_header=False)
        todo += [f"{po.parent.parent.name}: {m.id}" for m in catalog if m.id and not _translated(m.string)]
    return todo


def _translated(string: str | tuple[str, ...]) -> bool:
    return all(string) if isinstance(string, tuple) else bool(string)


if __name__ == "__main__":
    # python -m clients.common.i18n          compile the .mo files
    # python -m clients.common.i18n update   add new strings of clients/ to every .po
    import sys

    if sys.argv[1:] == ["update"]:
        print("\n".join(update_catalogues()) or "every string is translated")
    else:
        print(compile_catalogues())
