"""The languages the provider speaks (pages, mail, discovery's ``ui_locales_supported``)."""

from __future__ import annotations

LANGUAGES = ("en", "de")
NAMES = {"en": "English", "de": "Deutsch"}
DEFAULT = "en"


def best_language(ui_locales: str | None) -> str | None:
    """The first of space-separated BCP 47 tags that we speak (``de-AT`` → ``de``)."""
    for tag in (ui_locales or "").split():
        primary = tag.split("-")[0].lower()
        if primary in LANGUAGES:
            return primary
    return None
