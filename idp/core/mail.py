"""Mailer service: how the provider sends e-mail.

``OutboxMailer`` (the embedded default) writes each message as an ``.eml`` file into the outbox
folder (``IDP_OUTBOX_DIR``, default ``<instance>/outbox/``) and logs where, so a demo shows the
links it would have mailed. ``SMTPMailer`` talks to a real server (``IDP_SMTP_*``): STARTTLS or
implicit TLS, certificate verified, optional authentication.

``Postman`` wraps either one: it retries a failed delivery, and a message that still cannot be
delivered is kept as an ``.eml`` file in ``<outbox>/failed/`` and reported in the error log, so no
mail is silently lost. ``deliver_later`` runs delivery on a background thread, so a page never
waits for (or, by its timing, reveals) a mail.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import TYPE_CHECKING

from idp.core.ports import Mailer

if TYPE_CHECKING:
    from idp.core.settings import Settings

log = logging.getLogger(__name__)


def build_message(sender: str, to: str, subject: str, text: str, html: str | None = None) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="spom-login.invalid")
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message


def write_eml(directory: Path, message: EmailMessage) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / (message["Message-ID"].strip("<>").replace("@", "_") + ".eml")
    path.write_bytes(bytes(message))
    return path


class OutboxMailer:
    def __init__(self, directory: str | Path, sender: str = "SPOM Login <no-reply@localhost>") -> None:
        self.directory = Path(directory)
        self.sender = sender

    def send(self, to: str, subject: str, text: str, html: str | None = None) -> None:
        path = write_eml(self.directory, build_message(self.sender, to, subject, text, html))
        # The path, not the link: tokens never go to the log. Open the .eml file to follow the link.
        log.info("mail to %s (%s) written to outbox: %s", to, subject, path)


class SMTPMailer:
    """Sends through an SMTP server. ``security`` is ``starttls`` (RFC 3207), ``tls`` (implicit
    TLS, RFC 8314) or ``none`` (loopback relays only; settings refuse it for other hosts)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        security: str = "starttls",
        username: str = "",
        password: str = "",
        sender: str = "SPOM Login <no-reply@localhost>",
        timeout: float = 10,
        ca_file: str = "",
    ) -> None:
        self.host, self.port, self.security = host, port, security
        self.username, self.password, self.sender, self.timeout = username, password, sender, timeout
        self.context = ssl.create_default_context(cafile=ca_file or None)

    def send(self, to: str, subject: str, text: str, html: str | None = None) -> None:
        message = build_message(self.sender, to, subject, text, html)
        client: smtplib.SMTP
        if self.security == "tls":
            client = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=self.context)
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with client:
            if self.security == "starttls":
                client.starttls(context=self.context)  # raises unless the server offers it: no silent downgrade
            if self.username:
                client.login(self.username, self.password)
            client.send_message(message)


class Postman:
    """Delivery with retries; undeliverable mail is kept in ``failed_dir`` and logged as an error."""

    def __init__(
        self,
        mailer: Mailer,
        failed_dir: str | Path,
        *,
        sender: str,
        attempts: int = 3,
        retry_seconds: float = 5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.mailer, self.failed_dir, self.sender = mailer, Path(failed_dir), sender
        self.attempts, self.retry_seconds, self.sleep = attempts, retry_seconds, sleep
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="idp-mail")
        self._pending: set[Future] = set()
        self._lock = threading.Lock()

    def deliver(self, to: str, subject: str, text: str, html: str | None = None) -> bool:
        """Send now, retrying; True when delivered. Never raises for a delivery problem."""
        delay = self.retry_seconds
        for attempt in range(1, self.attempts + 1):
            try:
                self.mailer.send(to, subject, text, html)
                return True
            except (OSError, smtplib.SMTPException) as exc:  # OSError covers refused, timeouts and TLS errors
                log.warning(
                    "mail to %s failed (attempt %d of %d): %s: %s",
                    to,
                    attempt,
                    self.attempts,
                    exc.__class__.__name__,
                    exc,
                )
                if attempt < self.attempts:
                    self.sleep(delay)
                    delay *= 2
        path = write_eml(self.failed_dir, build_message(self.sender, to, subject, text, html))
        log.error("mail to %s NOT delivered after %d attempts; kept in %s", to, self.attempts, path)
        return False

    def run_later(self, job: Callable[[], object]) -> Future:
        """Run ``job`` on the mail thread (one at a time, in order)."""
        future = self._executor.submit(self._guard, job)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._forget)
        return future

    def deliver_later(self, to: str, subject: str, text: str, html: str | None = None) -> Future:
        return self.run_later(lambda: self.deliver(to, subject, text, html))

    def wait_idle(self, timeout: float = 30) -> None:
        """Block until every queued job has finished (CLI commands and tests)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                pending = list(self._pending)
            if not pending:
                return
            pending[0].result(timeout=max(0.0, deadline - time.monotonic()))

    def _forget(self, future: Future) -> None:
        with self._lock:
            self._pending.discard(future)

    @staticmethod
    def _guard(job: Callable[[], object]) -> object:
        try:
            return job()
        except Exception:  # a background job has nobody to raise to: report it
            log.exception("background mail job failed")
            return None


def mailer_from_settings(settings: Settings) -> Mailer:
    if not settings.mail.smtp_host:
        return OutboxMailer(settings.mail.outbox_path, settings.mail.from_address)
    return SMTPMailer(
        settings.mail.smtp_host,
        settings.mail.smtp_port,
        security=settings.mail.smtp_security,
        username=settings.mail.smtp_username,
        password=settings.mail.smtp_password,
        sender=settings.mail.from_address,
        timeout=settings.mail.smtp_timeout,
        ca_file=settings.mail.smtp_ca_file,
    )
