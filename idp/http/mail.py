"""The provider's e-mails: what they say (English and German through the gettext catalogues of
idp/translations, plain text + HTML) and how they leave (through the ``Postman``, so failures are
retried and kept, never lost)."""

from __future__ import annotations

from typing import Any

from flask import Flask, has_app_context, render_template
from flask_babel import force_locale, gettext

from idp.core.languages import DEFAULT, LANGUAGES
from idp.core.mail import Postman
from idp.http.i18n import when


def N_(message: str) -> str:  # noqa: N802 - mark for translation; translated when the mail is composed
    return message


SUBJECTS = {
    "reset": N_("Reset your SPOM Login password"),
    "invite": N_("Your SPOM Login account is ready"),
    "changed": N_("Your SPOM Login password was changed"),
    "device": N_("Approve a new device for SPOM Login"),
    "recovery_used": N_("A recovery code was used for your SPOM Login account"),
    "mfa_reset": N_("The second sign-in step of your SPOM Login account was reset"),
}
#: Epoch times of a mail's context, shown as ``when`` in the mail's language (``changed_at``: the password
#: mails; ``at``: the second-factor mails of ``idp.domain.factors.service``).
TIMES = ("changed_at", "at")


def compose(kind: str, lang: str, **context: Any) -> tuple[str, str, str]:
    """(subject, text, html) for a mail ``kind`` (reset, invite, changed, device, recovery_used, mfa_reset) in
    ``lang``, from the same gettext catalogues as the pages; a ``changed_at`` or ``at`` epoch time becomes
    ``when`` in that language."""
    lang = lang if lang in LANGUAGES else DEFAULT
    with force_locale(lang):
        subject = gettext(SUBJECTS[kind])
        for name in TIMES:
            if name in context:
                context["when"] = when(context.pop(name), "long")
        context.update(lang=lang, subject=subject)
        text = render_template(f"mail/{kind}.txt", **context)
        html = render_template(f"mail/{kind}.html", **context)
    return subject, text, html


class TemplateNotifier:
    """The ``Notifier`` port: mail composed from this app's templates and catalogues, sent by the
    postman (``later`` hands delivery to the mail thread: a page never waits for SMTP)."""

    def __init__(self, app: Flask, postman: Postman) -> None:
        self.app, self.postman = app, postman

    def send(self, kind: str, to: str, lang: str, *, later: bool = True, **context: Any) -> Any:
        """Returns the delivery result (``later=False``) or its future."""
        if has_app_context():
            subject, text, html = compose(kind, lang, **context)
        else:  # the mail thread, a CLI command: templates need this app's context
            with self.app.app_context():
                subject, text, html = compose(kind, lang, **context)
        if later:
            return self.postman.deliver_later(to, subject, text, html)
        return self.postman.deliver(to, subject, text, html)
