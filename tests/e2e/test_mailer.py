"""The embedded mailer writes real RFC 5322 messages to the outbox folder."""

from email import policy
from email.parser import BytesParser

from idp.core.mail import OutboxMailer


def test_outbox_mailer_writes_a_readable_multipart_message(tmp_path):
    OutboxMailer(tmp_path / "outbox").send(
        "ada@example.edu",
        "Reset your password",
        "Open: https://x/r?t=1",
        "<p>Open: <a href='https://x/r?t=1'>link</a></p>",
    )
    [path] = list((tmp_path / "outbox").glob("*.eml"))
    message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
    assert message["To"] == "ada@example.edu"
    assert message["Subject"] == "Reset your password"
    assert "https://x/r?t=1" in message.get_body(("plain",)).get_content()
    assert "<a href=" in message.get_body(("html",)).get_content()


# -- SMTP, against a real server (aiosmtpd on loopback) ---------------------------------------

import smtplib  # noqa: E402
import ssl  # noqa: E402

import pytest  # noqa: E402

from idp.core.mail import Postman, SMTPMailer  # noqa: E402
from tests.support.live import free_port  # noqa: E402
from tests.support.mailserver import MailServer, html_of, self_signed, text_of  # noqa: E402


def test_smtp_starttls_with_authentication(tmp_path):
    context, ca_file = self_signed(tmp_path)
    with MailServer(free_port(), tls_context=context, credentials=("idp", "s3cret")) as server:
        mailer = SMTPMailer(
            "127.0.0.1",
            server.port,
            security="starttls",
            username="idp",
            password="s3cret",
            ca_file=str(ca_file),
            sender="SPOM Login <login@example.edu>",
        )
        mailer.send("ada@example.edu", "Hello", "plain body", "<p>html body</p>")
        [message] = server.wait_for("ada@example.edu")
    assert message["X-Test-TLS"] == "True" and message["X-Test-Auth"] == "True"
    assert message["From"] == "SPOM Login <login@example.edu>"
    assert text_of(message).strip() == "plain body" and "html body" in html_of(message)


def test_smtp_implicit_tls(tmp_path):
    context, ca_file = self_signed(tmp_path)
    with MailServer(free_port(), tls_context=context, implicit_tls=True) as server:
        SMTPMailer("127.0.0.1", server.port, security="tls", ca_file=str(ca_file)).send("ada@example.edu", "Hi", "x")
        [message] = server.wait_for("ada@example.edu")
    assert message["Subject"] == "Hi"


def test_smtp_wrong_password_is_an_error(tmp_path):
    context, ca_file = self_signed(tmp_path)
    with MailServer(free_port(), tls_context=context, credentials=("idp", "s3cret")) as server:
        mailer = SMTPMailer("127.0.0.1", server.port, username="idp", password="wrong", ca_file=str(ca_file))
        with pytest.raises(smtplib.SMTPAuthenticationError):
            mailer.send("ada@example.edu", "Hi", "x")
    assert server.messages == []


def test_starttls_is_never_silently_skipped_or_unverified(tmp_path):
    with MailServer(free_port()) as plain, pytest.raises(smtplib.SMTPNotSupportedError):  # offers no STARTTLS
        SMTPMailer("127.0.0.1", plain.port, security="starttls").send("ada@example.edu", "Hi", "x")
    context, _ca_file = self_signed(tmp_path)
    # The certificate is not in the CA file.
    with MailServer(free_port(), tls_context=context) as untrusted, pytest.raises(ssl.SSLCertVerificationError):
        SMTPMailer("127.0.0.1", untrusted.port, security="starttls").send("ada@example.edu", "Hi", "x")
    assert plain.messages == [] and untrusted.messages == []


class FlakyMailer:
    def __init__(self, failures: int):
        self.failures, self.sent = failures, []

    def send(self, to, subject, text, html=None):
        if self.failures:
            self.failures -= 1
            raise smtplib.SMTPServerDisconnected("connection dropped")
        self.sent.append((to, subject))


def test_postman_retries_with_growing_pauses(tmp_path):
    pauses = []
    mailer = FlakyMailer(failures=2)
    postman = Postman(
        mailer, tmp_path / "failed", sender="x@example.edu", attempts=3, retry_seconds=2, sleep=pauses.append
    )
    assert postman.deliver("ada@example.edu", "Hi", "body")
    assert mailer.sent == [("ada@example.edu", "Hi")] and pauses == [2, 4]
    assert not (tmp_path / "failed").exists()


def test_postman_keeps_what_it_cannot_deliver(tmp_path, caplog):
    postman = Postman(
        FlakyMailer(failures=5),
        tmp_path / "failed",
        sender="x@example.edu",
        attempts=3,
        retry_seconds=0,
        sleep=lambda s: None,
    )
    assert postman.deliver_later("ada@example.edu", "Reset", "the link", "<p>the link</p>").result(timeout=10) is False
    [kept] = list((tmp_path / "failed").glob("*.eml"))
    message = BytesParser(policy=policy.default).parsebytes(kept.read_bytes())
    assert message["To"] == "ada@example.edu" and "the link" in message.get_body(("plain",)).get_content()
    assert any(r.levelname == "ERROR" and str(kept) in r.getMessage() for r in caplog.records)
