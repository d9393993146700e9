"""A real SMTP server for the tests: aiosmtpd on a loopback port, optionally with STARTTLS,
implicit TLS (a self-signed certificate made here) and authentication."""

from __future__ import annotations

import re
import ssl
import threading
import time
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


class _Collector:
    def __init__(self):
        self.messages: list[EmailMessage] = []
        self.condition = threading.Condition()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802  the name aiosmtpd calls
        message = BytesParser(policy=policy.default).parsebytes(envelope.original_content or envelope.content)
        message["X-Test-Auth"] = str(session.authenticated)
        message["X-Test-TLS"] = str(session.ssl is not None)
        with self.condition:
            self.messages.append(message)
            self.condition.notify_all()
        return "250 OK"


class MailServer:
    """``with MailServer(port) as smtp:`` … ``smtp.wait_for("ada@example.edu")``."""

    def __init__(
        self,
        port: int,
        *,
        tls_context: ssl.SSLContext | None = None,
        implicit_tls: bool = False,
        credentials: tuple[str, str] | None = None,
    ):
        self.port = port
        self.collector = _Collector()
        kwargs = {}
        if tls_context is not None and not implicit_tls:
            kwargs.update(tls_context=tls_context, require_starttls=True)
        if credentials is not None:
            kwargs.update(
                authenticator=self._authenticator(credentials), auth_required=True, auth_exclude_mechanism=["LOGIN"]
            )
        if implicit_tls:
            kwargs["ssl_context"] = tls_context
            kwargs["auth_require_tls"] = False  # the whole connection is TLS already
        self.controller = Controller(self.collector, hostname="127.0.0.1", port=port, **kwargs)

    @staticmethod
    def _authenticator(credentials):
        def check(server, session, envelope, mechanism, auth_data):
            ok = (auth_data.login.decode(), auth_data.password.decode()) == credentials
            return AuthResult(success=ok, handled=False)

        return check

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()

    @property
    def messages(self) -> list[EmailMessage]:
        with self.collector.condition:
            return list(self.collector.messages)

    def wait_for(self, to: str, count: int = 1, timeout: float = 15) -> list[EmailMessage]:
        """The messages to ``to`` once at least ``count`` have arrived (waits on delivery, not on time)."""
        deadline = time.monotonic() + timeout
        with self.collector.condition:
            while True:
                found = [m for m in self.collector.messages if m["To"] == to]
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"no mail to {to} arrived (got {[m['To'] for m in self.collector.messages]})"
                self.collector.condition.wait(remaining)


def text_of(message: EmailMessage) -> str:
    return message.get_body(("plain",)).get_content()


def html_of(message: EmailMessage) -> str:
    return message.get_body(("html",)).get_content()


def link_in(message: EmailMessage, path: str = "/password/reset") -> str:
    return re.search(r"https?://\S+" + re.escape(path) + r"\?token=[\w-]+", text_of(message)).group(0)


def self_signed(directory: Path) -> tuple[ssl.SSLContext, Path]:
    """A server TLS context for 127.0.0.1 and the CA file a client needs to trust it (trustme, as the
    outbound client's tests use)."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca_path = directory / "smtp-ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    return context, ca_path
