"""A real SMTP server for the tests: aiosmtpd on a loopback port, optionally with STARTTLS,
implicit TLS (a self-signed certificate made here) and authentication."""

from __future__ import annotations

import datetime
import re
import ssl
import threading
import time
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


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
    """A server TLS context for 127.0.0.1 and the CA file a client needs to trust it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return context, cert_path
