"""Mailer service: how the provider sends e-mail.

``OutboxMailer`` (the embedded default) writes each message as an ``.eml`` file into
``<instance>/outbox/`` and logs where, so a demo shows the links it would have mailed.
The SMTP implementation (``IDP_SMTP_*``) plugs in behind the same interface.
"""

from __future__ import annotations

import logging
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)


class Mailer(Protocol):
    def send(self, to: str, subject: str, text: str, html: str | None = None) -> None:
        """Deliver one message (plain text, optionally with an HTML alternative) or raise."""


def build_message(sender: str, to: str, subject: str, text: str, html: str | None = None) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="spom-login.invalid")
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message


class OutboxMailer:
    def __init__(self, directory: str | Path, sender: str = "SPOM Login <no-reply@localhost>"):
        self.directory = Path(directory)
        self.sender = sender

    def send(self, to: str, subject: str, text: str, html: str | None = None) -> None:
        message = build_message(self.sender, to, subject, text, html)
        self.directory.mkdir(parents=True, exist_ok=True)
        name = message["Message-ID"].strip("<>").replace("@", "_") + ".eml"
        (self.directory / name).write_bytes(bytes(message))
        log.info("mail to %s written to outbox: %s", to, name)


def init_app(app, mailer: Mailer | None = None) -> None:
    settings = app.extensions["idp.settings"]
    app.extensions["idp.mailer"] = mailer or OutboxMailer(Path(settings.instance_dir) / "outbox")
