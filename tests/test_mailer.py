"""The embedded mailer writes real RFC 5322 messages to the outbox folder."""

from email import policy
from email.parser import BytesParser

from idp.mailer import OutboxMailer


def test_outbox_mailer_writes_a_readable_multipart_message(tmp_path):
    OutboxMailer(tmp_path / "outbox").send("ada@example.edu", "Reset your password", "Open: https://x/r?t=1",
                                           "<p>Open: <a href='https://x/r?t=1'>link</a></p>")
    [path] = list((tmp_path / "outbox").glob("*.eml"))
    message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
    assert message["To"] == "ada@example.edu"
    assert message["Subject"] == "Reset your password"
    assert "https://x/r?t=1" in message.get_body(("plain",)).get_content()
    assert "<a href=" in message.get_body(("html",)).get_content()
