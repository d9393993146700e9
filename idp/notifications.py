"""The provider's e-mails: what they say (English and German, plain text + HTML) and how they
leave (through the ``Postman``, so failures are retried and kept, never lost)."""

from __future__ import annotations

from flask import current_app, render_template

LANGUAGES = ("en", "de")

SUBJECTS = {
    ("reset", "en"): "Reset your SPOM Login password",
    ("reset", "de"): "Ihr SPOM-Login-Passwort zurücksetzen",
    ("invite", "en"): "Your SPOM Login account is ready",
    ("invite", "de"): "Ihr SPOM-Login-Konto ist eingerichtet",
    ("changed", "en"): "Your SPOM Login password was changed",
    ("changed", "de"): "Ihr SPOM-Login-Passwort wurde geändert",
}


def choose_language(ui_locales: str | None = None, accept_language=None) -> str:
    """The first of ``ui_locales`` (OIDC Core §3.1.2.1, space-separated BCP 47 tags) we speak,
    else the browser's best match (``request.accept_languages``), else English."""
    for tag in (ui_locales or "").split():
        primary = tag.split("-")[0].lower()
        if primary in LANGUAGES:
            return primary
    if accept_language is not None:
        return accept_language.best_match(LANGUAGES, default="en")
    return "en"


def compose(kind: str, lang: str, **context) -> tuple[str, str, str]:
    """(subject, text, html) for a mail ``kind`` (reset, invite, changed) in ``lang``."""
    lang = lang if lang in LANGUAGES else "en"
    context.update(lang=lang, subject=SUBJECTS[(kind, lang)])
    text = render_template(f"mail/{kind}.txt", **context)
    html = render_template(f"mail/{kind}.html", **context)
    return SUBJECTS[(kind, lang)], text, html


def postman():
    return current_app.extensions["idp.postman"]


def send(kind: str, to: str, lang: str, *, later: bool = True, **context):
    """Compose and send; ``later`` hands delivery to the mail thread (a page never waits for SMTP).
    Returns the delivery result (``later=False``) or its future."""
    subject, text, html = compose(kind, lang, **context)
    if later:
        return postman().deliver_later(to, subject, text, html)
    return postman().deliver(to, subject, text, html)
